"""Public SRU searches never find what the visibility policy hides (kohaweb.visibility): counts,
records, sorting and scan; hidden items are not embedded; the staff endpoint (``sru.staff_path``)
needs ``catalogue`` and finds everything."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlencode

import pytest
from lxml import etree

from kohaweb.catalog import Catalog
from kohaweb.formats import FormatRegistry
from kohaweb.formats.builtin import marcxml
from kohaweb.testing import assert_valid, basic_auth

SRW = "http://www.loc.gov/zing/srw/"
MARC_NS = "http://www.loc.gov/MARC21/slim"
NS = {"zs": SRW, "marc": MARC_NS}


@pytest.fixture
def srw_schema(xml_schema):
    return xml_schema("srw-types", "MARC21slim")


@pytest.fixture
def app(make_app):
    return make_app(services=["sru"], **{"sru.staff_path": "/sru/staff", "kohaweb.auth.basic": "true"})


def sru_get(app, schema, path="/sru", headers=None, **params):
    response = app.get(path + "?" + urlencode(params), headers=headers or {})
    assert response.status_int == 200 and response.content_type == "text/xml"
    assert_valid(schema, response.body)
    return etree.fromstring(response.body)


def search(app, schema, query, path="/sru", headers=None, **params):
    doc = sru_get(app, schema, path, headers, operation="searchRetrieve", version="1.2", query=query,
                  maximumRecords=10, **params)
    titles = [r.findtext(".//marc:datafield[@tag='245']/marc:subfield[@code='a']", namespaces=NS)
              for r in doc.iterfind(".//zs:recordData/marc:record", NS)]
    return int(doc.findtext("zs:numberOfRecords", namespaces=NS)), titles


def scan(app, schema, clause, path="/sru", headers=None) -> dict[str, int]:
    doc = sru_get(app, schema, path, headers, operation="scan", version="1.2", scanClause=clause, maximumTerms=3)
    return {t.findtext("zs:value", namespaces=NS): int(t.findtext("zs:numberOfRecords", namespaces=NS))
            for t in doc.iterfind(".//zs:term", NS)}


def test_public_searches_count_sort_and_return_only_visible_records(app, srw_schema, hidden_catalogue):
    total, titles = search(app, srw_schema, "dc.title = lighthouse sortBy dc.title/sort.descending")
    assert (total, titles) == (2, ["Delta of the lighthouse", "Alpha of the lighthouse"])
    assert search(app, srw_schema, "dc.title = charlie or dc.title = bravo") == (0, [])
    assert search(app, srw_schema, f"rec.id = {hidden_catalogue.suppressed}") == (0, [])
    assert search(app, srw_schema, "cql.allRecords = 1", path="/biblios")[0] == 2


def test_public_scan_counts_only_visible_records(app, srw_schema, hidden_catalogue):
    assert scan(app, srw_schema, "dc.title = lighthouse")["lighthouse"] == 2
    # terms found only in hidden records are not listed at all
    assert "bravo" not in scan(app, srw_schema, "dc.title = bravo")
    assert "charlie" not in scan(app, srw_schema, "dc.title = charlie")


def test_staff_endpoint_needs_catalogue_and_finds_everything(app, srw_schema, hidden_catalogue, staff_user):
    app.get("/sru/staff?" + urlencode({"operation": "searchRetrieve", "version": "1.2", "query": "lighthouse"}),
            status=401)
    user, password, _ = staff_user("circ", "circulate")
    app.get("/sru/staff?operation=explain&version=1.2", headers=basic_auth(user, password), status=403)
    user, password, _ = staff_user("cataloguer", "catalogue")
    headers = basic_auth(user, password)
    total, titles = search(app, srw_schema, "dc.title = lighthouse sortBy dc.title", path="/sru/staff", headers=headers)
    assert total == 4 and titles[:3] == ["Alpha of the lighthouse", "Bravo of the lighthouse", "Charlie of the lighthouse"]
    assert scan(app, srw_schema, "dc.title = lighthouse", path="/sru/staff", headers=headers)["lighthouse"] == 4
    # credentials do not open the public endpoints
    assert search(app, srw_schema, "dc.title = lighthouse", headers=headers)[0] == 2


def test_no_staff_endpoint_unless_configured(make_app, hidden_catalogue):
    app = make_app(services=["sru"])
    app.get("/sru/staff?operation=explain&version=1.2", status=404)


def test_embedded_items_are_the_visible_ones(app, srw_schema, hidden_catalogue, staff_user):
    site = app.app.registry.kohaweb
    site.formats = FormatRegistry([dataclasses.replace(marcxml, include_items=True)])

    def barcodes(path, headers=None):
        doc = sru_get(app, srw_schema, path, headers, operation="searchRetrieve", version="1.2",
                      query=f"rec.id = {hidden_catalogue.open}", recordSchema="marcxml")
        return doc.xpath(".//marc:datafield[@tag='952']/marc:subfield[@code='p']/text()", namespaces=NS)

    assert barcodes("/sru") == ["VIS-1"]
    user, password, _ = staff_user("cataloguer", "catalogue")
    assert barcodes("/sru/staff", basic_auth(user, password)) == ["VIS-1", "VIS-2"]


def test_a_record_leaves_public_results_when_its_last_item_is_hidden(app, srw_schema, hidden_catalogue, dbsession):
    Catalog(dbsession).update_item(hidden_catalogue.open_shown, location="STAFF")
    dbsession.commit()
    assert search(app, srw_schema, "dc.title = lighthouse") == (1, ["Delta of the lighthouse"])
    Catalog(dbsession).update_item(hidden_catalogue.hidden_items[1], location="GEN")
    dbsession.commit()
    assert search(app, srw_schema, "dc.title = lighthouse sortBy dc.title")[1] == [
        "Charlie of the lighthouse", "Delta of the lighthouse"]
