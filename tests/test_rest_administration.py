"""/api/v1 cities, patron attribute types and values, password expiration, circulation rule
kinds, item pickup locations, the lowest-priority flag of holds and self-checkout."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kohaweb.models import Item, Patron, PatronAttributeType
from kohaweb.preferences import set_preference
from kohaweb.testing import basic_auth


@pytest.fixture
def staff(staff_user):
    return basic_auth(*staff_user("admin", "catalogue", "parameters", "borrowers", "reserveforothers",
                                  "circulate")[:2])


def test_cities_crud(api, staff, staff_user):
    made = api.post_json("/api/v1/cities", {"name": "Centerville", "state": "OH", "postal_code": "45458",
                                            "country": "USA"}, headers=staff, status=201)
    city_id = made.json["city_id"]
    assert made.location.endswith(f"/api/v1/cities/{city_id}")
    assert api.get(f"/api/v1/cities/{city_id}", headers=staff).json == made.json
    changed = api.put_json(f"/api/v1/cities/{city_id}", {"name": "Springfield"}, headers=staff).json
    assert changed["name"] == "Springfield" and changed["state"] == "OH"
    assert [c["name"] for c in api.get("/api/v1/cities?name=spring", headers=staff).json] == ["Springfield"]
    api.post_json("/api/v1/cities", {"state": "OH"}, headers=staff, status=400)
    reader = basic_auth(*staff_user("cat", "catalogue")[:2])
    api.get("/api/v1/cities", headers=reader, status=200)
    api.post_json("/api/v1/cities", {"name": "X"}, headers=reader, status=403)
    api.delete(f"/api/v1/cities/{city_id}", headers=staff, status=204)
    api.get(f"/api/v1/cities/{city_id}", headers=staff, status=404)


def test_patron_attributes_and_password_expiration(api, staff, staff_user, dbsession):
    patron_id = staff_user("reader")[2]
    dbsession.add_all([PatronAttributeType(code="SCHOOL", description="School", opac_display=True),
                       PatronAttributeType(code="CARD2", description="Second card")])
    dbsession.commit()
    types = api.get("/api/v1/extended_attribute_types", headers=staff).json
    assert {t["extended_attribute_type_id"] for t in types} == {"SCHOOL", "CARD2"}
    url = f"/api/v1/patrons/{patron_id}/extended_attributes"
    first = api.post_json(url, {"type": "SCHOOL", "value": "North"}, headers=staff, status=201).json
    api.post_json(url, {"type": "NOPE", "value": "x"}, headers=staff, status=400)
    assert api.get(url, headers=staff).json == [first]
    changed = api.patch_json(f"{url}/{first['extended_attribute_id']}", {"value": "South"}, headers=staff).json
    assert changed["value"] == "South"
    replaced = api.put_json(url, [{"type": "CARD2", "value": "99"}, {"type": "SCHOOL", "value": "East"}],
                            headers=staff).json
    assert sorted((a["type"], a["value"]) for a in replaced) == [("CARD2", "99"), ("SCHOOL", "East")]
    embedded = api.get(f"/api/v1/patrons/{patron_id}", headers={**staff, "x-koha-embed": "extended_attributes"}).json
    assert sorted(a["type"] for a in embedded["extended_attributes"]) == ["CARD2", "SCHOOL"]
    api.delete(f"{url}/{replaced[0]['extended_attribute_id']}", headers=staff, status=204)
    api.delete(f"{url}/{replaced[0]['extended_attribute_id']}", headers=staff, status=404)
    assert len(api.get(url, headers=staff).json) == 1

    expiry = f"/api/v1/patrons/{patron_id}/password/expiration_date"
    assert api.put_json(expiry, {"expiration_date": "2030-01-31"}, headers=staff).json == \
        {"expiration_date": "2030-01-31"}
    dbsession.rollback()
    assert str(dbsession.get(Patron, patron_id).password_expiration_date) == "2030-01-31"
    assert api.get(f"/api/v1/patrons/{patron_id}", headers=staff).json["password_expiration_date"] == "2030-01-31"
    api.put_json(expiry, {"expiration_date": None}, headers=staff)
    api.put_json(expiry, {"expiration_date": "soon"}, headers=staff, status=400)


def test_rule_kinds_item_pickups_and_lowest_priority(api, staff, staff_user, sample_records, dbsession):
    kinds = api.get("/api/v1/circulation_rules/kinds", headers=staff).json
    assert kinds["issuelength"]["scope"] == ["branchcode", "categorycode", "itemtype"]
    assert kinds["holdallowed"] == {"scope": ["branchcode", "itemtype"], "can_be_blank": False}
    biblio_id = sample_records(1)[0]
    item = dbsession.scalars(select(Item).where(Item.biblionumber == biblio_id)).first()
    readers = [staff_user(f"r{n}")[2] for n in range(3)]
    pickups = api.get(f"/api/v1/items/{item.itemnumber}/pickup_locations?patron_id={readers[0]}", headers=staff).json
    assert pickups and {"library_id", "name", "needs_override"} <= set(pickups[0])
    api.get(f"/api/v1/items/999999/pickup_locations?patron_id={readers[0]}", headers=staff, status=404)

    holds = [api.post_json("/api/v1/holds", {"patron_id": r, "biblio_id": biblio_id, "pickup_library_id": "CPL"},
                           headers=staff, status=201).json["hold_id"] for r in readers]
    assert api.put(f"/api/v1/holds/{holds[0]}/lowest_priority", headers=staff).json == 1
    order = sorted(holds, key=lambda h: api.get(f"/api/v1/holds/{h}", headers=staff).json["priority"])
    assert order == [holds[1], holds[2], holds[0]]
    assert api.get(f"/api/v1/holds/{holds[0]}", headers=staff).json["lowest_priority"] is True
    assert api.put(f"/api/v1/holds/{holds[0]}/lowest_priority", headers=staff).json == 0


def test_self_checkout_and_its_availability(api, staff_user, sample_records, dbsession):
    userid, password, patron_id = staff_user("me")
    me = basic_auth(userid, password)
    other = basic_auth(*staff_user("other")[:2])
    biblio_id = sample_records(1)[0]
    item = dbsession.scalars(select(Item).where(Item.biblionumber == biblio_id)).first()
    url = f"/api/v1/public/patrons/{patron_id}/checkouts"
    api.post_json(url, {"item_id": item.itemnumber}, headers=me, status=403)  # not enabled
    api.get(f"/api/v1/public/checkouts/availability?item_id={item.itemnumber}", status=401)
    dbsession.rollback()
    set_preference(dbsession, "OpacTrustedCheckout", "1")
    dbsession.commit()
    assert api.get(f"/api/v1/public/checkouts/availability?item_id={item.itemnumber}", headers=me).json["blockers"] == {}
    api.post_json(url, {"item_id": item.itemnumber}, headers=other, status=403)
    made = api.post_json(url, {"item_id": item.itemnumber}, headers=me, status=201).json
    assert made["patron_id"] == patron_id and made["issuer_id"] == patron_id
    again = api.post_json(url, {"item_id": item.itemnumber}, headers=me, status=403).json
    assert again["error_code"] == "ALREADY_ISSUED"
    busy = api.get(f"/api/v1/public/checkouts/availability?item_id={item.itemnumber}", headers=other).json
    assert "ISSUED_TO_ANOTHER" in busy["confirms"]
    api.post_json(url, {"item_id": 999999}, headers=me, status=400)
    assert [c["checkout_id"] for c in api.get(url, headers=me).json] == [made["checkout_id"]]
