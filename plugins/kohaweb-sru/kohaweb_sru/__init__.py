"""The ``sru`` service: an SRU 1.1/1.2 server (explain, searchRetrieve, scan) at ``/sru`` and at
``/biblios`` (the base path Koha sites publish for Zebra), answering CQL queries from the core
search index, which the data layer keeps in step with the catalogue in the same transaction.
"""

from __future__ import annotations

from pyramid.config import Configurator

from kohaweb.plugin_api import Setting

SETTINGS = [
    Setting("sru.default_records", "int", 10, "maximumRecords when a request gives none (Zebra's explain "
            "advertises 0, which gives naive clients nothing).", minimum=0),
    Setting("sru.maximum_records", "int", 100, "Largest maximumRecords honoured (larger requests get this "
            "many).", minimum=1),
    Setting("sru.default_terms", "int", 20, "maximumTerms of a scan when a request gives none.", minimum=1),
    Setting("sru.maximum_terms", "int", 100, "Largest maximumTerms of a scan.", minimum=1),
    Setting("sru.default_schema", "str", "marcxml", "recordSchema when a request gives none (a short name or "
            "URI of the format registry)."),
    Setting("sru.default_version", "choice", "1.2", "SRU version of responses to requests without one "
            "(explain with no parameters).", choices=("1.1", "1.2")),
    Setting("sru.title", "str", "", "Database title in explain; empty means kohaweb.library_name."),
    Setting("sru.description", "str", "", "Database description in explain."),
    Setting("sru.database", "str", "biblios", "Database name in explain when the path does not give one."),
    Setting("sru.stylesheet", "str", "", "XSLT stylesheet referenced from every response unless the request "
            "gives its own `stylesheet` URL: `default` is the one kohaweb serves (at /sru/static/sru.xsl), "
            "another value a site's own URL; empty for none (as Zebra)."),
    Setting("sru.max_query_length", "int", 4096, "Longest query or scanClause in characters (diagnostic 12 "
            "beyond).", minimum=64),
    Setting("sru.max_query_depth", "int", 32, "Deepest nesting of parentheses in a query (diagnostic 13 "
            "beyond).", minimum=1),
    Setting("sru.max_query_booleans", "int", 100, "Most boolean operators (and, or, not, prox) in a query "
            "(diagnostic 38 beyond).", minimum=1),
    Setting("sru.max_post_size", "int", 65536, "Largest POST body in bytes (413 beyond); a form holding the "
            "longest query fits easily.", minimum=1024),
    Setting("sru.relevance_order", "bool", True, "Results of a query without sortBy/sortKeys come in relevance "
            "order (term frequency, index weight, phrase proximity; ties by record number), as Koha's default "
            "sort; off: record number order unless the query asks with the relevant modifier."),
    Setting("sru.staff_path", "str", "", "Path of an extra SRU endpoint for staff (e.g. /sru/staff): it needs "
            "the catalogue permission and also finds and shows what the public may not see (suppressed "
            "records, records and items hidden by OpacHiddenItems). Empty: no such endpoint; /sru and "
            "/biblios always answer as the public catalogue."),
]


def includeme(config: Configurator) -> None:
    from kohaweb.plugin_api import DatabaseUnavailable

    settings = config.registry.kohaweb.settings["sru"]
    routes = ["sru", "sru_biblios"]
    config.add_route("sru", "/sru")
    # the default stylesheet (sru.stylesheet = default; a request may also name it in `stylesheet`)
    config.add_static_view("sru/static", "kohaweb_sru:static", cache_max_age=3600)
    config.add_home_link("SRU", "Explain", "/biblios?version=1.1&operation=explain",
                         "searching the catalogue in CQL (Koha's Zebra address; also at /sru)")
    config.add_home_link("SRU", "Example search", "/biblios?version=1.1&operation=searchRetrieve"
                         "&query=dc.title%3Dhistory&maximumRecords=5",
                         "titles with the word history, as MARCXML")
    config.add_route("sru_biblios", "/biblios")
    for route in ("sru", "sru_biblios"):
        config.add_view("kohaweb_sru.protocol.handle", route_name=route, request_method=("GET", "POST", "HEAD"),
                        max_body_size=settings["max_post_size"])
    # the authorities database (Koha's Zebra serves it as /authorities beside /biblios)
    routes += ["sru_authorities", "sru_authorities_koha"]
    config.add_route("sru_authorities", "/sru/authorities")
    config.add_route("sru_authorities_koha", "/authorities")
    for route in ("sru_authorities", "sru_authorities_koha"):
        config.add_view("kohaweb_sru.authorities.handle", route_name=route, request_method=("GET", "POST", "HEAD"),
                        max_body_size=settings["max_post_size"])
    config.add_home_link("SRU", "Authorities", "/sru/authorities?version=1.1&operation=explain",
                         "the authority records (names, subjects) in CQL: Heading, See-from, authtype...")
    staff_path = settings["staff_path"].strip()
    if staff_path:
        routes.append("sru_staff")
        config.add_route("sru_staff", "/" + staff_path.strip("/"))
        config.add_view("kohaweb_sru.protocol.handle_staff", route_name="sru_staff",
                        request_method=("GET", "POST", "HEAD"), permission="catalogue",
                        max_body_size=settings["max_post_size"])
    for route in routes:  # while the database is away: diagnostic 2 in the operation's own response
        config.add_exception_view("kohaweb_sru.protocol.unavailable", context=DatabaseUnavailable, route_name=route)
