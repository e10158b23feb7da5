"""/api/v1/public/biblios/{id}[/items]: anyone may read, under the visibility policy
(kohaweb.visibility); hidden records are indistinguishable from missing ones."""

from __future__ import annotations

import pytest

from kohaweb.auth import hash_password
from kohaweb.models import Patron
from kohaweb.testing import assert_valid, basic_auth

MARCXML = "application/marcxml+xml"
MARC_NS = {"m": "http://www.loc.gov/MARC21/slim"}


@pytest.fixture
def exempt_patron(dbsession, reference_data):
    """A patron of category ST, listed in OpacHiddenItemsExceptions by ``hidden_catalogue``."""
    dbsession.add(Patron(userid="student", cardnumber="ST-1", surname="Student", branchcode="CPL",
                         categorycode="ST", password=hash_password("correct horse battery")))
    dbsession.commit()
    return basic_auth("student", "correct horse battery")


def barcodes(response) -> list[str]:
    return [item["external_id"] for item in response.json]


def test_anonymous_reads_visible_records_only(api, hidden_catalogue, xml_schema):
    from lxml import etree

    h = hidden_catalogue
    response = api.get(f"/api/v1/public/biblios/{h.open}", headers={"Accept": MARCXML})
    assert response.content_type == MARCXML
    assert_valid(xml_schema("MARC21slim"), response.body)
    record = etree.fromstring(response.body)
    assert record.xpath("//m:datafield[@tag='245']/m:subfield[@code='a']/text()", namespaces=MARC_NS) == [
        "Alpha of the lighthouse"]
    assert not record.xpath("//m:datafield[@tag='952']", namespaces=MARC_NS)  # as Koha: no items here
    text = api.get(f"/api/v1/public/biblios/{h.bare}", headers={"Accept": "text/plain"})
    assert "Delta of the lighthouse" in text.text
    missing = api.get("/api/v1/public/biblios/999999", headers={"Accept": MARCXML}, status=404).json
    for number in (h.suppressed, h.all_hidden):
        assert api.get(f"/api/v1/public/biblios/{number}", headers={"Accept": MARCXML}, status=404).json == missing
        api.get(f"/api/v1/public/biblios/{number}/items", status=404)
    assert api.get(f"/api/v1/public/biblios/{h.open}", headers={"Accept": "application/json"},
                   status=406).json["error_code"] == "not_acceptable"


def test_public_items_are_the_visible_ones_with_public_fields(api, hidden_catalogue, dbsession):
    from kohaweb.catalog import Catalog

    h = hidden_catalogue
    Catalog(dbsession).update_item(h.open_shown, itemnotes_nonpublic="mould on cover", price=12)
    dbsession.commit()
    response = api.get(f"/api/v1/public/biblios/{h.open}/items")
    assert barcodes(response) == ["VIS-1"] and response.headers["X-Total-Count"] == "1"
    assert "internal_notes" not in response.json[0] and "purchase_price" not in response.json[0]
    assert api.get(f"/api/v1/public/biblios/{h.open}/items", params={"item_type_id": "REF"}).json == []
    assert api.get(f"/api/v1/public/biblios/{h.bare}/items").json == []
    api.get(f"/api/v1/public/biblios/{h.open}/items", params={"internal_notes": "mould"}, status=400)


def test_exempt_category_sees_hidden_items_but_not_suppressed_records(api, hidden_catalogue, exempt_patron):
    h = hidden_catalogue
    assert barcodes(api.get(f"/api/v1/public/biblios/{h.open}/items", headers=exempt_patron)) == ["VIS-1", "VIS-2"]
    assert barcodes(api.get(f"/api/v1/public/biblios/{h.all_hidden}/items", headers=exempt_patron)) == [
        "HID-1", "HID-2"]
    api.get(f"/api/v1/public/biblios/{h.all_hidden}", headers={**exempt_patron, "Accept": MARCXML})
    api.get(f"/api/v1/public/biblios/{h.suppressed}", headers={**exempt_patron, "Accept": MARCXML}, status=404)


def test_hidelostitems_and_staff(api, hidden_catalogue, dbsession, staff_user):
    from kohaweb.catalog import Catalog
    from kohaweb.preferences import set_preference

    h = hidden_catalogue
    set_preference(dbsession, "hidelostitems", "1")
    Catalog(dbsession).update_item(h.open_shown, itemlost=1)  # open's last visible item is lost
    dbsession.commit()
    api.get(f"/api/v1/public/biblios/{h.open}/items", status=404)
    staff = basic_auth(*staff_user("cataloguer", "catalogue")[:2])
    # staff read everything through the staff routes; the public routes stay the OPAC view
    api.get(f"/api/v1/public/biblios/{h.open}/items", headers=staff, status=404)
    assert api.get(f"/api/v1/biblios/{h.suppressed}", headers=staff).json["opac_suppressed"] is True
    assert len(api.get(f"/api/v1/biblios/{h.open}/items", headers=staff).json) == 2


def test_public_routes_are_documented(api):
    document = api.get("/api/v1/").json
    assert "/public/biblios/{biblio_id}" in document["paths"]
    operation = document["paths"]["/public/biblios/{biblio_id}/items"]["get"]
    assert operation.get("x-koha-authorization") in (None, {})


def test_head_answers_as_get_without_a_body(api, hidden_catalogue):
    """An operation declared for GET answers HEAD through the same view (Pyramid's GET predicate
    admits HEAD; kohaweb registers no copy for HEAD): same status and headers, no body; a
    method the path does not have is still a 405 naming HEAD among those it has."""
    h = hidden_catalogue
    for path, status in ((f"/api/v1/public/biblios/{h.open}/items", 200), ("/api/v1/public/biblios/999999/items", 404)):
        got = api.get(path, status=status)
        head = api.head(path, status=status)
        assert head.body == b"" and got.body
        assert head.content_type == got.content_type
        assert head.headers["Content-Length"] == got.headers["Content-Length"]
    refused = api.delete(f"/api/v1/public/biblios/{h.open}/items", status=405)
    assert {"GET", "HEAD"} <= {m.strip() for m in refused.headers["Allow"].split(",")}
