"""Koha's item fields kept in the columns of migration 0021 (issue 20): answered in the item
object, accepted on write, the status dates set as Koha's Item->store sets them, and kept by
the deleted-items table; on the three databases."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kohaweb.models import DeletedItem, Item
from kohaweb.testing import basic_auth

NEW_FIELDS = {"acquisition_source": "Acme Books", "bookable": True, "materials_notes": "1 CD",
              "callnumber": "823 SMI", "call_number_source": "ddc", "call_number_sort": "823_000000000000000_SMI",
              "replacement_price_date": "2026-01-15", "coded_location_qualifier": "q", "new_status": "NEW"}


@pytest.fixture
def cataloguer(staff_user):
    return basic_auth(*staff_user("cataloguer", "catalogue", "editcatalogue:edit_catalogue")[:2])


def test_new_item_fields_read_and_written(api, cataloguer, sample_records, dbsession):
    biblio_id = sample_records(1)[0]
    made = api.post_json(f"/api/v1/biblios/{biblio_id}/items", {"external_id": "F-1", **NEW_FIELDS},
                         headers=cataloguer, status=201).json
    assert {k: made[k] for k in NEW_FIELDS} == NEW_FIELDS
    assert made["lost_date"] is made["withdrawn_date"] is made["damaged_date"] is None
    got = api.get(f"/api/v1/items/{made['item_id']}", headers=cataloguer).json
    assert {k: got[k] for k in NEW_FIELDS} == NEW_FIELDS
    found = api.get("/api/v1/items?materials_notes=1 CD&_match=exact", headers=cataloguer).json
    assert [i["item_id"] for i in found] == [made["item_id"]]
    api.post_json(f"/api/v1/biblios/{biblio_id}/items", {"call_number_source": "x" * 11},
                  headers=cataloguer, status=400)

    api.delete(f"/api/v1/items/{made['item_id']}", headers=cataloguer, status=204)
    dbsession.rollback()
    deleted = dbsession.get(DeletedItem, made["item_id"])
    assert (deleted.booksellerid, deleted.materials, deleted.cn_source) == ("Acme Books", "1 CD", "ddc")


def test_call_number_sort_is_computed_as_kohas(api, cataloguer, sample_records):
    """Koha's Item->store: the sort key follows the call number and its source, whatever was sent."""
    biblio_id = sample_records(1)[0]
    made = api.post_json(f"/api/v1/biblios/{biblio_id}/items",
                         {"callnumber": "823.914 Abc", "call_number_source": "ddc", "call_number_sort": "zzz"},
                         headers=cataloguer, status=201).json
    assert made["call_number_sort"] == "823_914000000000000_ABC"
    url = f"/api/v1/biblios/{biblio_id}/items/{made['item_id']}"
    changed = api.put_json(url, {"callnumber": "QA76.73 .P98 2001", "call_number_source": "lcc"},
                           headers=cataloguer).json
    assert changed["call_number_sort"] == "QA007673 P98  02001"


@pytest.mark.parametrize(("status", "date"), [("lost_status", "lost_date"), ("withdrawn", "withdrawn_date"),
                                              ("damaged_status", "damaged_date")])
def test_status_change_dates_the_item(api, cataloguer, sample_records, dbsession, status, date):
    biblio_id = sample_records(1)[0]
    item_id = dbsession.scalar(select(Item.itemnumber).where(Item.biblionumber == biblio_id))
    url = f"/api/v1/biblios/{biblio_id}/items/{item_id}"
    assert api.get(f"/api/v1/items/{item_id}", headers=cataloguer).json[date] is None
    first = api.put_json(url, {status: 1}, headers=cataloguer).json
    assert first[status] == 1 and first[date] is not None
    # another non-zero status keeps the date (moved back a year to tell it from a new one)
    column = {"lost_date": "itemlost_on", "withdrawn_date": "withdrawn_on", "damaged_date": "damaged_on"}[date]
    dbsession.rollback()
    row = dbsession.get(Item, item_id)
    setattr(row, column, getattr(row, column).replace(year=2020))
    dbsession.commit()
    again = api.put_json(url, {status: 2}, headers=cataloguer).json
    assert again[date].startswith("2020-")
    cleared = api.put_json(url, {status: 0}, headers=cataloguer).json
    assert cleared[status] == 0 and cleared[date] is None
