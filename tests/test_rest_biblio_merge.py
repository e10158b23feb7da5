"""POST /api/v1/biblios/{biblio_id}/merge: items (with their loans) and holds move to the kept
record, the merged one is deleted through the data layer, the answer is MARC-in-JSON."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from kohaweb import circulation
from kohaweb.models import Biblio, Checkout, DeletedBiblio, Hold, Item


@pytest.fixture
def people(staff_people):
    return staff_people(editor=("catalogue", "editcatalogue:edit_catalogue"), viewer=("catalogue",), reader=())


def _items(dbsession, biblio_id: int) -> list[int]:
    return list(dbsession.scalars(select(Item.itemnumber).where(Item.biblionumber == biblio_id)
                                  .order_by(Item.itemnumber)))


def test_merge_moves_items_holds_and_deletes_the_merged_record(api, people, sample_records, dbsession):
    kept_id, merged_id = sample_records(2)
    kept_items, merged_items = _items(dbsession, kept_id), _items(dbsession, merged_id)
    assert kept_items and merged_items
    reader = people["reader_id"]
    item = dbsession.get(Item, merged_items[0])
    item.notforloan = item.itemlost = item.withdrawn = item.damaged = 0
    circulation.checkout(dbsession, reader, merged_items[0])  # before any hold on the record
    kept_hold = circulation.place_hold(dbsession, reader, kept_id, pickup_branch="CPL", force=True).reserve_id
    merged_hold = circulation.place_hold(dbsession, people["viewer_id"], merged_id, pickup_branch="CPL",
                                         force=True).reserve_id
    dbsession.commit()
    url = f"/api/v1/biblios/{kept_id}/merge"
    api.post_json(url, {"biblio_id_to_merge": merged_id}, status=401)
    refused = api.post_json(url, {"biblio_id_to_merge": merged_id}, headers=people["viewer"], status=403).json
    assert refused["required_permissions"] == {"editcatalogue": "edit_catalogue"}
    assert api.post_json("/api/v1/biblios/999999/merge", {"biblio_id_to_merge": merged_id},
                         headers=people["editor"], status=404).json["error"] == "[999999] biblio to merge into not found"
    assert api.post_json(url, {"biblio_id_to_merge": 999999}, headers=people["editor"], status=404).json[
        "error"] == "[999999] from which to merge not found"
    api.post_json(url, {"biblio_id_to_merge": kept_id}, headers=people["editor"], status=400)
    api.post_json(url, {"biblio_id_to_merge": merged_id, "rules": "override", "framework_to_use": "FA"},
                  headers=people["editor"], status=404)
    api.post_json(url, {"biblio_id_to_merge": merged_id, "rules": "override_ext"}, headers=people["editor"],
                  status=400)

    merged = api.post_json(url, {"biblio_id_to_merge": merged_id}, headers=people["editor"], status=200)
    assert merged.content_type == "application/marc-in-json"
    assert "fields" in json.loads(merged.body)
    dbsession.rollback()  # a fresh snapshot: the API wrote in its own transaction
    dbsession.expunge_all()  # objects the fixtures loaded would answer get() from the identity map
    assert dbsession.get(Biblio, merged_id) is None and dbsession.get(DeletedBiblio, merged_id) is not None
    assert _items(dbsession, kept_id) == sorted(kept_items + merged_items)
    assert dbsession.get(Item, merged_items[0]).onloan is not None  # the loan went with its item
    assert dbsession.scalar(select(Checkout.borrowernumber).where(Checkout.itemnumber == merged_items[0])) == reader
    holds = {h.reserve_id: h.priority for h in dbsession.scalars(select(Hold).where(Hold.biblionumber == kept_id))}
    assert set(holds) == {kept_hold, merged_hold} and sorted(holds.values()) == [1, 2]


@pytest.mark.parametrize(("framework_to_use", "framework"), [("FA", "FA"), (None, "")])
def test_merge_with_a_replacement_record(api, people, sample_records, dbsession, framework_to_use, framework):
    """Koha's ModBiblio with framework_to_use, else with the kept record's own framework."""
    kept_id, merged_id = sample_records(2)
    record = {"leader": "00000nam a2200000 a 4500",
              "fields": [{"245": {"ind1": "1", "ind2": "0", "subfields": [{"a": "Merged title"}]}}]}
    api.post_json(f"/api/v1/biblios/{kept_id}/merge", {"biblio_id_to_merge": merged_id, "rules": "override_ext",
                                                         "datarecord": record, "framework_to_use": framework_to_use},
                  headers=people["editor"], status=200)
    dbsession.rollback()
    dbsession.expunge_all()
    kept = dbsession.get(Biblio, kept_id)
    assert kept.title == "Merged title" and kept.frameworkcode == framework
    assert dbsession.get(Biblio, merged_id) is None
