"""/api/v1 items, patrons, libraries, holds and checkouts."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import quote

import pytest
from sqlalchemy import select
from test_api import session_headers

from kohaweb import circulation
from kohaweb.models import DeletedItem, Hold, Item, OldHold, Patron
from kohaweb.testing import see_other_writers


@pytest.fixture
def users(api, staff_user):
    """Headers by role: each role has exactly the permission its resources need."""
    roles = {"cat": ("catalogue",), "editor": ("catalogue", "editcatalogue"), "circ": ("circulate",),
             "holds": ("reserveforothers",), "patrons": ("borrowers",)}
    return {name: session_headers(api, *staff_user(name, *perms)[:2]) for name, perms in roles.items()}


def add_record(session, title: str = "Another record") -> int:
    import pymarc

    from kohaweb.catalog import Catalog

    record = pymarc.Record()
    record.leader = "00000nam a2200000 a 4500"
    record.add_field(pymarc.Field(tag="245", indicators=["1", "0"], subfields=[pymarc.Subfield("a", title)]))
    number = Catalog(session).add_record(record).biblionumber
    session.commit()
    return number


# --- items -------------------------------------------------------------------------------------

def test_items_list_get_and_permissions(api, users, sample_records, dbsession):
    ids = sample_records(3)
    total = len(dbsession.query(Item).all())
    response = api.get("/api/v1/items?_per_page=-1", headers=users["cat"])
    assert len(response.json) == total and response.headers["X-Total-Count"] == str(total)
    first = response.json[0]
    row = dbsession.get(Item, first["item_id"])
    assert first["external_id"] == row.barcode and first["biblio_id"] == row.biblionumber
    assert first["home_library_id"] == row.homebranch and first["callnumber"] == row.itemcallnumber
    assert api.get(f"/api/v1/items/{row.itemnumber}", headers=users["cat"]).json == first
    by_barcode = api.get(f"/api/v1/items?external_id={quote(row.barcode)}&_match=exact", headers=users["cat"])
    assert [i["item_id"] for i in by_barcode.json] == [row.itemnumber]
    api.get("/api/v1/items", status=401)
    assert api.get("/api/v1/items", headers=users["circ"], status=403).json["required_permissions"] == \
        {"catalogue": 1}
    api.get("/api/v1/items/999999", headers=users["cat"], status=404)
    of_record = api.get(f"/api/v1/biblios/{ids[1]}/items", headers=users["cat"])
    assert {i["biblio_id"] for i in of_record.json} == {ids[1]}
    assert of_record.headers["X-Base-Total-Count"] == str(len(of_record.json))
    api.get("/api/v1/biblios/999999/items", headers=users["cat"], status=404)
    api.get(f"/api/v1/biblios/{ids[1]}/items?biblio_id={ids[0]}", headers=users["cat"], status=400)


def test_items_q_on_numbers_and_dates(api, users, sample_records, dbsession):
    sample_records(4)
    rows = dbsession.query(Item).all()
    cheap = [r.itemnumber for r in rows if r.price is not None and float(r.price) < 30]
    q = quote(json.dumps({"purchase_price": {"<": 30}}))
    got = [i["item_id"] for i in api.get(f"/api/v1/items?q={q}&_per_page=-1", headers=users["cat"]).json]
    assert got == sorted(cheap)
    q = quote(json.dumps({"acquisition_date": {">=": "1900-01-01"}, "lost_status": 0}))
    assert api.get(f"/api/v1/items?q={q}", headers=users["cat"]).headers["X-Total-Count"] == \
        str(sum(1 for r in rows if r.dateaccessioned is not None and not r.itemlost))


def test_item_create_update_delete(api, users, sample_records, dbsession):
    (biblio_id,) = sample_records(1)
    body = {"external_id": "API-0001", "home_library_id": "CPL", "holding_library_id": "FFL",
            "item_type_id": "BK", "callnumber": "551.4 COR", "purchase_price": 12.5,
            "acquisition_date": "2024-03-01"}
    created = api.post_json(f"/api/v1/biblios/{biblio_id}/items", body, headers=users["editor"], status=201)
    item = created.json
    assert item["external_id"] == "API-0001" and item["biblio_id"] == biblio_id
    assert item["purchase_price"] == 12.5 and item["acquisition_date"] == "2024-03-01"
    assert created.headers["Location"].endswith(f"/api/v1/items/{item['item_id']}")
    # duplicates, unknown codes, unknown fields, wrong types
    assert api.post_json(f"/api/v1/biblios/{biblio_id}/items", {"external_id": "API-0001"},
                         headers=users["editor"], status=409).json["error_code"] == "duplicate_barcode"
    api.post_json(f"/api/v1/biblios/{biblio_id}/items", {"home_library_id": "NOPE"}, headers=users["editor"],
                  status=400)
    api.post_json(f"/api/v1/biblios/{biblio_id}/items", {"item_id": 5}, headers=users["editor"], status=400)
    api.post_json(f"/api/v1/biblios/{biblio_id}/items", {"withdrawn": "yes"}, headers=users["editor"],
                  status=400)
    api.post_json(f"/api/v1/biblios/{biblio_id}/items", {"acquisition_date": "0999-01-01"},
                  headers=users["editor"], status=400)
    api.post_json(f"/api/v1/biblios/{biblio_id}/items", {}, headers=users["cat"], status=403)
    api.post_json("/api/v1/biblios/999999/items", {}, headers=users["editor"], status=404)
    # update: only the fields given change
    updated = api.put_json(f"/api/v1/biblios/{biblio_id}/items/{item['item_id']}",
                           {"callnumber": "551.46 COR", "withdrawn": 1}, headers=users["editor"]).json
    assert updated["callnumber"] == "551.46 COR" and updated["withdrawn"] == 1
    assert updated["external_id"] == "API-0001"
    other = add_record(dbsession)
    api.put_json(f"/api/v1/biblios/{other}/items/{item['item_id']}", {"withdrawn": 0},
                 headers=users["editor"], status=404)
    # delete
    api.delete(f"/api/v1/items/{item['item_id']}", headers=users["cat"], status=403)
    api.delete(f"/api/v1/items/{item['item_id']}", headers=users["editor"], status=204)
    see_other_writers(dbsession)  # read what the API committed
    assert dbsession.get(Item, item["item_id"]) is None
    assert dbsession.get(DeletedItem, item["item_id"]) is not None
    api.delete(f"/api/v1/items/{item['item_id']}", headers=users["editor"], status=404)


# --- patrons -----------------------------------------------------------------------------------

def test_patrons_never_expose_passwords(api, users, dbsession):
    rows = api.get("/api/v1/patrons?_per_page=-1", headers=users["patrons"])
    assert rows.headers["X-Total-Count"] == str(dbsession.query(Patron).count())
    text = rows.text
    hashes = [p.password for p in dbsession.query(Patron).all() if p.password]
    assert hashes and not any(h in text for h in hashes)
    assert all("password" not in p for p in rows.json)
    me = next(p for p in rows.json if p["userid"] == "patrons")
    assert me["library_id"] == "CPL" and me["category_id"] == "S" and me["restricted"] is False
    assert api.get(f"/api/v1/patrons/{me['patron_id']}", headers=users["patrons"]).json == me
    # the hash cannot be reached by filters or sorting either
    api.get("/api/v1/patrons?password=x", headers=users["patrons"], status=400)
    api.get(f"/api/v1/patrons?q={quote(json.dumps({'password': {'-like': '$2%'}}))}",
            headers=users["patrons"], status=400)
    api.get("/api/v1/patrons?_order_by=password", headers=users["patrons"], status=400)
    api.get("/api/v1/patrons/999999", headers=users["patrons"], status=404)
    api.get("/api/v1/patrons", headers=users["cat"], status=403)
    api.get("/api/v1/patrons", status=401)


def test_patron_search_like_koha(api, users):
    rows = api.get("/api/v1/patrons?surname=OLD&_match=contains", headers=users["patrons"]).json
    assert [p["userid"] for p in rows] == ["holds"]
    rows = api.get("/api/v1/patrons?_order_by=-userid&_per_page=2", headers=users["patrons"]).json
    assert [p["userid"] for p in rows] == ["patrons", "holds"]


# --- libraries ---------------------------------------------------------------------------------

def test_libraries(api, users):
    rows = api.get("/api/v1/libraries", headers=users["cat"]).json
    assert {r["library_id"] for r in rows} == {"CPL", "FFL", "MPL", "FPL"}
    cpl = api.get("/api/v1/libraries/CPL", headers=users["cat"]).json
    assert cpl["name"] == "Centerville" and cpl["pickup_location"] is True
    api.get("/api/v1/libraries/NOPE", headers=users["cat"], status=404)
    api.get("/api/v1/libraries", headers=users["circ"], status=403)
    api.get("/api/v1/libraries", status=401)
    named = api.get("/api/v1/libraries?name=fair&_order_by=name", headers=users["cat"]).json
    assert [r["library_id"] for r in named] == ["FFL", "FPL"]


# --- holds -------------------------------------------------------------------------------------

def test_holds_place_list_get_cancel(api, users, sample_records, dbsession):
    ids = sample_records(2)
    patron_id = dbsession.query(Patron).filter_by(userid="cat").one().borrowernumber
    dbsession.rollback()  # SQLite: no read transaction left open while the API writes
    placed = api.post_json("/api/v1/holds", {"patron_id": patron_id, "biblio_id": ids[0],
                                             "pickup_library_id": "CPL", "notes": "by API"},
                           headers=users["holds"], status=201)
    hold = placed.json
    assert hold["patron_id"] == patron_id and hold["biblio_id"] == ids[0] and hold["priority"] == 1
    assert hold["notes"] == "by API" and hold["item_id"] is None and hold["status"] is None
    assert placed.headers["Location"].endswith(f"/api/v1/holds/{hold['hold_id']}")
    listed = api.get(f"/api/v1/holds?patron_id={patron_id}", headers=users["holds"])
    assert [h["hold_id"] for h in listed.json] == [hold["hold_id"]]
    assert api.get(f"/api/v1/holds/{hold['hold_id']}", headers=users["holds"]).json == hold
    # Koha's rule: one hold per record and patron by default -> 403 with the reason
    again = api.post_json("/api/v1/holds", {"patron_id": patron_id, "biblio_id": ids[0],
                                            "pickup_library_id": "CPL"}, headers=users["holds"], status=403)
    assert "Hold cannot be placed" in again.json["error"]
    bad = {"patron_id": 999999, "biblio_id": ids[1], "pickup_library_id": "CPL"}
    assert api.post_json("/api/v1/holds", bad, headers=users["holds"], status=400).json["error_code"] == \
        "PATRON_NOT_FOUND"
    api.post_json("/api/v1/holds", {"patron_id": patron_id, "pickup_library_id": "CPL"},
                  headers=users["holds"], status=400)
    api.post_json("/api/v1/holds", {"patron_id": patron_id, "biblio_id": ids[1], "pickup_library_id": "XX"},
                  headers=users["holds"], status=400)
    api.post_json("/api/v1/holds", {}, headers=users["cat"], status=403)
    api.get("/api/v1/holds", headers=users["cat"], status=403)
    api.get("/api/v1/holds", status=401)
    api.get("/api/v1/holds/999999", headers=users["holds"], status=404)
    api.delete(f"/api/v1/holds/{hold['hold_id']}", headers=users["holds"], status=204)
    see_other_writers(dbsession)  # read what the API committed
    assert dbsession.get(Hold, hold["hold_id"]) is None
    assert dbsession.get(OldHold, hold["hold_id"]).cancellationdate is not None
    api.delete(f"/api/v1/holds/{hold['hold_id']}", headers=users["holds"], status=404)


def test_item_level_hold(api, users, sample_records, dbsession):
    (biblio_id,) = sample_records(1)
    item_id = dbsession.query(Item).filter_by(biblionumber=biblio_id).first().itemnumber
    patron_id = dbsession.query(Patron).filter_by(userid="circ").one().borrowernumber
    other = add_record(dbsession)
    hold = api.post_json("/api/v1/holds", {"patron_id": patron_id, "item_id": item_id,
                                           "pickup_library_id": "FFL"}, headers=users["holds"], status=201).json
    assert hold["item_id"] == item_id and hold["biblio_id"] == biblio_id and hold["item_level"] is True
    api.post_json("/api/v1/holds", {"patron_id": patron_id, "item_id": item_id, "biblio_id": other,
                                    "pickup_library_id": "FFL"}, headers=users["holds"], status=400)


# --- checkouts ---------------------------------------------------------------------------------

def test_checkouts_create_list_renew_and_history(api, users, sample_records, dbsession):
    (biblio_id,) = sample_records(1)
    item = dbsession.query(Item).filter_by(biblionumber=biblio_id).first()
    item_id = item.itemnumber
    dbsession.rollback()
    patron_id = dbsession.query(Patron).filter_by(userid="cat").one().borrowernumber
    dbsession.rollback()  # SQLite: no read transaction left open while the API writes
    created = api.post_json("/api/v1/checkouts", {"patron_id": patron_id, "item_id": item_id},
                            headers=users["circ"], status=201).json
    assert created["patron_id"] == patron_id and created["item_id"] == item_id
    assert created["checkin_date"] is None and created["renewals_count"] == 0
    due = dt.datetime.fromisoformat(created["due_date"])
    assert due > dt.datetime.now(dt.UTC)
    listed = api.get(f"/api/v1/checkouts?patron_id={patron_id}", headers=users["circ"]).json
    assert [c["checkout_id"] for c in listed] == [created["checkout_id"]]
    assert api.get(f"/api/v1/checkouts/{created['checkout_id']}", headers=users["circ"]).json == created
    # the item is on loan: checking it out again is refused with Koha's reason
    again = api.post_json("/api/v1/checkouts", {"patron_id": patron_id, "item_id": item_id},
                          headers=users["circ"], status=403).json
    assert again["error_code"] == "ALREADY_ISSUED"
    assert api.post_json("/api/v1/checkouts", {"patron_id": patron_id, "item_id": 999999},
                         headers=users["circ"], status=400).json["error_code"] == "UNKNOWN_BARCODE"
    # renewals follow the rules (sample rules allow some renewals, or refuse with a reason)
    renewal = api.post(f"/api/v1/checkouts/{created['checkout_id']}/renewal", headers=users["circ"],
                       expect_errors=True)
    assert renewal.status_int in (201, 403)
    if renewal.status_int == 201:
        assert renewal.json["renewals_count"] == 1
    api.post("/api/v1/checkouts/999999/renewal", headers=users["circ"], status=404)
    # the item cannot be deleted while on loan
    api.delete(f"/api/v1/items/{item_id}", headers=users["editor"], status=409)
    # check in, then the loan is history
    see_other_writers(dbsession)  # the loan the API made (and renewed)
    circulation.checkin(dbsession, item_id)
    dbsession.commit()
    assert api.get("/api/v1/checkouts", headers=users["circ"]).json == []
    old = api.get("/api/v1/checkouts?checked_in=true", headers=users["circ"]).json
    assert [c["checkout_id"] for c in old] == [created["checkout_id"]] and old[0]["checkin_date"]
    assert api.get(f"/api/v1/checkouts/{created['checkout_id']}", headers=users["circ"]).json["checkin_date"]
    api.get("/api/v1/checkouts", headers=users["cat"], status=403)
    api.get("/api/v1/checkouts", status=401)
    api.get("/api/v1/checkouts/999999", headers=users["circ"], status=404)


def test_patron_create_update_delete(api, users, dbsession):
    body = {"surname": "Lefèvre", "firstname": "Chloé", "cardnumber": "P-0001", "userid": "chloe",
            "library_id": "FFL", "category_id": "PT", "email": "chloe@example.org", "date_of_birth": "1990-05-01"}
    created = api.post_json("/api/v1/patrons", body, headers=users["patrons"], status=201)
    patron = created.json
    assert {k: patron[k] for k in body} == body and "password" not in patron
    assert created.headers["Location"].endswith(f"/api/v1/patrons/{patron['patron_id']}")
    assert api.get(f"/api/v1/patrons/{patron['patron_id']}", headers=users["patrons"]).json == patron
    # uniqueness (case-insensitive, like logins), references, unknown or read-only fields
    dup = api.post_json("/api/v1/patrons", {**body, "cardnumber": "P-0002", "userid": "CHLOE"},
                        headers=users["patrons"], status=409).json
    assert dup["error_code"] == "duplicate_userid"
    api.post_json("/api/v1/patrons", {**body, "cardnumber": "X", "userid": "x", "library_id": "NOPE"},
                  headers=users["patrons"], status=400)
    api.post_json("/api/v1/patrons", {"surname": "No library"}, headers=users["patrons"], status=400)
    api.post_json("/api/v1/patrons", {**body, "password": "secret"}, headers=users["patrons"], status=400)
    api.post_json("/api/v1/patrons", {**body, "patron_id": 1}, headers=users["patrons"], status=400)
    api.post_json("/api/v1/patrons", body, headers=users["cat"], status=403)
    updated = api.put_json(f"/api/v1/patrons/{patron['patron_id']}", {"city": "Montréal", "email": None},
                           headers=users["patrons"]).json
    assert updated["city"] == "Montréal" and updated["email"] is None and updated["surname"] == "Lefèvre"
    api.put_json(f"/api/v1/patrons/{patron['patron_id']}", {"userid": "patrons"}, headers=users["patrons"],
                 status=409)
    api.put_json("/api/v1/patrons/999999", {"city": "X"}, headers=users["patrons"], status=404)
    api.delete(f"/api/v1/patrons/{patron['patron_id']}", headers=users["cat"], status=403)
    api.delete(f"/api/v1/patrons/{patron['patron_id']}", headers=users["patrons"], status=204)
    api.get(f"/api/v1/patrons/{patron['patron_id']}", headers=users["patrons"], status=404)
    see_other_writers(dbsession)  # read what the API deleted
    assert dbsession.get(Patron, patron["patron_id"]) is None


def test_patron_with_checkouts_cannot_be_deleted(api, users, sample_records, dbsession):
    (biblio_id,) = sample_records(1)
    item_id = dbsession.query(Item).filter_by(biblionumber=biblio_id).first().itemnumber
    patron_id = dbsession.query(Patron).filter_by(userid="cat").one().borrowernumber
    dbsession.rollback()
    api.post_json("/api/v1/checkouts", {"patron_id": patron_id, "item_id": item_id}, headers=users["circ"],
                  status=201)
    refused = api.delete(f"/api/v1/patrons/{patron_id}", headers=users["patrons"], status=409).json
    assert refused["error_code"] == "has_checkouts"


def test_item_effective_type_and_not_for_loan_status(api, users, sample_records, dbsession):
    """Koha's derived item fields: the item type that applies (the item's, else the record's) and
    the not-for-loan status that applies (the item's, else 1 when that item type is not for loan)."""
    from kohaweb.models import Biblio, ItemType

    biblio_id = sample_records(1)[0]
    items = dbsession.scalars(select(Item).where(Item.biblionumber == biblio_id).order_by(Item.itemnumber)).all()
    typed, untyped = items[0], items[1]
    dbsession.add(ItemType(itemtype="REFONLY", description="Reference only", notforloan=True))
    dbsession.flush()
    typed.itype, typed.notforloan = "REFONLY", 0
    untyped.itype, untyped.notforloan = None, 0
    dbsession.get(Biblio, biblio_id).itemtype = "BK"
    dbsession.commit()
    got = api.get(f"/api/v1/items/{typed.itemnumber}", headers=users["cat"]).json
    assert (got["effective_item_type_id"], got["effective_not_for_loan_status"], got["not_for_loan_status"]) == \
        ("REFONLY", 1, 0)
    got = api.get(f"/api/v1/items/{untyped.itemnumber}", headers=users["cat"]).json
    assert (got["item_type_id"], got["effective_item_type_id"], got["effective_not_for_loan_status"]) == \
        (None, "BK", 0)
    dbsession.rollback()
    dbsession.get(Item, untyped.itemnumber).notforloan = 2
    dbsession.commit()
    assert api.get(f"/api/v1/items/{untyped.itemnumber}", headers=users["cat"]).json[
        "effective_not_for_loan_status"] == 2
    schema = api.get("/api/v1/").json["paths"]["/items/{item_id}"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]
    assert {"effective_item_type_id", "effective_not_for_loan_status"} <= set(schema["properties"])
