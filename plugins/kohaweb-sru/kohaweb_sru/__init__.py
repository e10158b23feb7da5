"""The ``sru`` service: an SRU 1.1/1.2 server (explain, searchRetrieve, scan) at ``/sru`` and at
``/biblios`` (the base path Koha sites publish for Zebra), answering CQL queries from the core
search index, which the data layer keeps in step with the catalogue in the same transaction.
"""

from __future__ import annotations

from pyramid.config import Configurator

from kohaweb.settings import Setting

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
    Setting("sru.stylesheet", "str", "", "URL of an XSLT stylesheet referenced from every response unless "
            "the request gives its own `stylesheet`."),
    Setting("sru.show_suppressed", "bool", False, "Also find records hidden from the OPAC (suppressed)."),
]


def includeme(config: Configurator) -> None:
    config.add_route("sru", "/sru")
    config.add_route("sru_biblios", "/biblios")
    for route in ("sru", "sru_biblios"):
        config.add_view("kohaweb_sru.protocol.handle", route_name=route, request_method=("GET", "POST", "HEAD"))
