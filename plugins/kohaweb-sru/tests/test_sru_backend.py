"""SRU answers through the site's search backend (``kohaweb.search.backend``), so a backend a
plugin offers (OpenSearch...) answers searchRetrieve and scan, and says when it is not ready."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from lxml import etree

from kohaweb.hookspecs import hookimpl
from kohaweb.plugin_api import ScanTerm, SearchResult

NS = {"zs": "http://www.loc.gov/zing/srw/", "diag": "http://www.loc.gov/zing/srw/diagnostic/"}


class OutsideBackend:
    """A backend outside the database that answers with the records it was told to."""

    name = "outside"
    transactional = False

    def __init__(self):
        self.ready = True
        self.answer: list[int] = []
        self.queries: list = []

    def index(self, session, change):
        pass

    def remove(self, session, biblionumber):
        pass

    def search(self, session, query, *, offset=0, limit=10, sort=(), public=True, rank=False):
        self.queries.append(query)
        return SearchResult(len(self.answer), self.answer[offset:offset + limit])

    def scan(self, session, index, term, *, position=1, count=20, public=True):
        return [ScanTerm("outside", 7)]

    def sort(self, session, biblionumbers, keys):
        return sorted(biblionumbers)

    def is_ready(self, session):
        return self.ready


class OutsidePlugin:
    def __init__(self):
        self.backend = OutsideBackend()

    @hookimpl
    def register_search_backends(self):
        return {"outside": lambda site: self.backend}


@pytest.fixture
def outside(with_plugins):
    plugin = OutsidePlugin()
    with_plugins(**{"outside-backend": plugin})
    return plugin.backend


def _get(app, **params):
    return etree.fromstring(app.get("/sru?" + urlencode({"version": "1.1", **params})).body)


def test_search_retrieve_and_scan_are_answered_by_the_sites_backend(make_app, sample_records, outside):
    numbers = sample_records(3)
    outside.answer = [numbers[2], numbers[0]]
    app = make_app(services=["sru"], **{"kohaweb.search.backend": "outside"})
    doc = _get(app, operation="searchRetrieve", query='dc.title="anything"', maximumRecords="5",
               recordSchema="marcxml")
    assert doc.findtext("zs:numberOfRecords", namespaces=NS) == "2"
    assert len(doc.findall(".//zs:record", NS)) == 2
    assert len(outside.queries) == 1
    scanned = _get(app, operation="scan", scanClause='dc.title="a"')
    assert scanned.findtext(".//zs:term/zs:value", namespaces=NS) == "outside"
    outside.ready = False
    refused = _get(app, operation="searchRetrieve", query='dc.title="anything"')
    assert refused.findtext(".//diag:uri", namespaces=NS) == "info:srw/diagnostic/1/2"
