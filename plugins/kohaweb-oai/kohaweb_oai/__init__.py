"""The ``oai`` service: an OAI-PMH 2.0 data provider at ``/oai`` and at Koha's
``/cgi-bin/koha/oai.pl`` (GET and POST), serving the formats of the core's format registry, the
OAI sets of ``kohaweb.sets`` and deleted records from the deleted-record tables.
"""

from __future__ import annotations

from pyramid.config import Configurator

from kohaweb.plugin_api import Setting

SETTINGS = [
    Setting("oai.repository_name", "str", "", "repositoryName in Identify; empty means kohaweb.library_name."),
    Setting("oai.admin_email", "list", [], "adminEmail(s) in Identify (user@host.domain); empty means "
            "kohaweb.admin_email."),
    Setting("oai.identifier_scheme", "choice", "oai", "Record identifiers: `oai` gives "
            "oai:<repository_identifier>:<biblionumber> (the oai-identifier scheme); `koha` gives Koha's "
            "<archive_id>:<biblionumber> for sites migrating from Koha.", choices=("oai", "koha")),
    Setting("oai.repository_identifier", "str", "", "repositoryIdentifier of the oai-identifier scheme "
            "(a domain name); empty means the host of kohaweb.base_url, or kohaweb.localhost."),
    Setting("oai.archive_id", "str", "KOHA-OAI-TEST", "Koha's OAI-PMH:archiveID, the identifier prefix "
            "when oai.identifier_scheme = koha."),
    Setting("oai.max_count", "int", 50, "Records, headers or sets per response (Koha's OAI-PMH:MaxCount).",
            minimum=1),
    Setting("oai.deleted_record", "choice", "persistent", "Deleted-record policy declared in Identify: "
            "persistent and transient list deleted records with status=\"deleted\"; no leaves them out.",
            choices=("persistent", "transient", "no")),
    Setting("oai.token_lifetime", "int", 86400, "Seconds a resumption token stays valid.", minimum=60),
    Setting("oai.compression", "bool", True, "Offer gzip and deflate content encoding."),
    Setting("oai.max_post_size", "int", 16384, "Largest POST body in bytes (413 beyond): an OAI-PMH request is a "
            "handful of short arguments, so a large body is never a harvester.", minimum=1024),
    Setting("oai.authorities", "bool", False, "Also serve the authority records as a repository of their own "
            "at /oai/authorities (MARCXML, no sets; Koha has none, hence off)."),
    Setting("oai.stylesheet", "str", "default", "XSLT stylesheet referenced from every response so that "
            "a browser shows it as a page: `default` is the one kohaweb serves (as Koha references its "
            "/opac-tmpl/xslt/OAI.xslt), another value is the URL of a site's own; empty for none."),
]


def includeme(config: Configurator) -> None:
    from .repository import Repository

    config.registry.kohaweb.extras["oai"] = Repository.from_site(config.registry.kohaweb)
    config.add_route("oai", "/oai")
    # the default stylesheet (oai.stylesheet = default) and whatever else the plugin ships for browsers
    config.add_static_view("oai/static", "kohaweb_oai:static", cache_max_age=3600)
    config.add_home_link("OAI-PMH", "Identify", "/cgi-bin/koha/oai.pl?verb=Identify",
                         "the repository harvesters pull the catalogue from (also at /oai)")
    config.add_home_link("OAI-PMH", "Metadata formats", "/cgi-bin/koha/oai.pl?verb=ListMetadataFormats",
                         "the formats records are served in")
    config.add_home_link("OAI-PMH", "Sets", "/cgi-bin/koha/oai.pl?verb=ListSets",
                         "the sets a harvest can be limited to")
    config.add_route("oai_koha", "/cgi-bin/koha/oai.pl")
    max_post_size = config.registry.kohaweb.settings["oai"]["max_post_size"]
    for route in ("oai", "oai_koha"):
        config.add_view("kohaweb_oai.views.oai_view", route_name=route, request_method=("GET", "POST", "HEAD"),
                        max_body_size=max_post_size)
    if config.registry.kohaweb.settings["oai"]["authorities"]:
        config.add_route("oai_authorities", "/oai/authorities")
        config.add_view("kohaweb_oai.authorities.authorities_view", route_name="oai_authorities",
                        request_method=("GET", "POST", "HEAD"), max_body_size=max_post_size)
    from .api import SERVICES

    for service in SERVICES:
        config.add_cornice_service(service)
    config.include(".pages")
