"""The ``ilsdi`` service: Koha's ILS-DI at ``/ilsdi`` and ``/cgi-bin/koha/ilsdi.pl``.

Processing follows Koha's ilsdi.pl: no ``service`` -> the self-documentation page;
``service=Describe&verb=X`` -> that service's page; then the caller's address is checked
against ``ilsdi.authorized_ips`` (NotAllowed); then the parameters (MissingParameter,
IllegalParameter, MultipleValuesNotAllowed); then the service runs. Every answer, errors
included, has HTTP status 200 like Koha's, because discovery clients read the XML, not the
status; ``ilsdi.http_error_status = true`` switches protocol errors to 400/403.
"""

from __future__ import annotations

from pyramid.config import Configurator

from kohaweb.plugin_api import Setting

SETTINGS = [
    Setting("ilsdi.authorized_ips", "list", [], "Client addresses and CIDR networks (IPv4/IPv6) allowed to use "
            "ILS-DI. Empty allows nobody, as current Koha."),
    Setting("ilsdi.trusted_proxies", "list", [], "Reverse proxies whose X-Forwarded-For is believed for ILS-DI "
            "(empty: those of kohaweb.trusted_proxies)."),
    Setting("ilsdi.max_ids", "int", 200, "Most distinct ids in one GetAvailability, GetRecords or "
            "GetAuthorityRecords call (IllegalParameter beyond); repeated ids are answered once.", minimum=1),
    Setting("ilsdi.http_error_status", "bool", False, "Answer protocol errors with HTTP 400 (bad parameters, "
            "unknown service) and 403 (NotAllowed) instead of Koha's 200."),
]


def includeme(config: Configurator) -> None:
    from kohaweb.plugin_api import DatabaseUnavailable

    from .access import parse_networks
    from .views import ilsdi_view, unavailable

    site = config.registry.kohaweb
    settings = site.settings["ilsdi"]
    proxies = settings["trusted_proxies"] or site.core["trusted_proxies"]
    site.extras["ilsdi"] = {
        "authorized": parse_networks(settings["authorized_ips"], "ilsdi.authorized_ips"),
        "trusted": parse_networks(proxies, "ilsdi.trusted_proxies" if settings["trusted_proxies"]
                                  else "kohaweb.trusted_proxies"),
        "http_error_status": settings["http_error_status"],
        "max_ids": settings["max_ids"],
    }
    config.add_home_link("ILS-DI", "Availability of record 1",
                         "/cgi-bin/koha/ilsdi.pl?service=GetAvailability&id=1&id_type=bib",
                         "availability, records and circulation for discovery layers (also at /ilsdi)")
    for name, pattern in (("ilsdi", "/ilsdi"), ("ilsdi_koha", "/cgi-bin/koha/ilsdi.pl")):
        config.add_route(name, pattern)
        config.add_view(ilsdi_view, route_name=name, request_method=("GET", "POST"))
        config.add_exception_view(unavailable, context=DatabaseUnavailable, route_name=name)
