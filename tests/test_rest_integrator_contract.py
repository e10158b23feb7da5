"""The requests real integrators send to Koha's /api/v1, replayed against kohaweb.

Each test follows one driver (docs/REST-INTEGRATORS.md lists their calls and where they come
from): VuFind's KohaRest ILS driver and Aspen Discovery's Koha driver. The requests carry what
the drivers send (method, path, query, headers such as x-koha-embed, x-koha-library and
x-koha-override, bodies), authenticated as they are with an OAuth2 client-credentials token;
the assertions read the answers the way the drivers read them (status codes, field names, error
texts they match).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from kohaweb import circulation
from kohaweb.models import AccountLine, AuthorisedValue, Checkout, Item, Patron
from kohaweb.testing import basic_auth

STAFF_PERMISSIONS = ("catalogue", "circulate", "borrowers", "reserveforothers", "updatecharges", "parameters")


@pytest.fixture
def api(make_app):
    return make_app(services=["apikeys"], **{"kohaweb.auth.basic": "true"})


@pytest.fixture
def token(api, staff_user):
    """The integrator's OAuth2 client credentials, exchanged for a bearer token as both drivers do."""
    userid, password, patron_id = staff_user("discovery", *STAFF_PERMISSIONS)
    key = api.post_json(f"/api/v1/patrons/{patron_id}/api_keys", {"description": "discovery layer"},
                        headers=basic_auth(userid, password), status=201).json
    answer = api.post("/api/v1/oauth/token", {"grant_type": "client_credentials", "client_id": key["client_id"],
                                              "client_secret": key["secret"]},
                      headers={"Accept": "application/json"}).json
    assert answer["token_type"].lower() == "bearer" and answer["expires_in"] > 0
    return {"Authorization": f"Bearer {answer['access_token']}", "Accept": "application/json"}


@pytest.fixture
def library(api, token, dbsession, staff_user, sample_records):
    """A catalogue with items, a reader with a password, and a shelving location list."""
    records = sample_records(3)
    userid, password, reader_id = staff_user("reader", password="Reader-pass-1")
    reader = dbsession.get(Patron, reader_id)
    reader.firstname, reader.surname, reader.email = "Ada", "Reader", "ada@example.org"
    reader.cardnumber, reader.branchcode = "23000001", "CPL"
    dbsession.add(AuthorisedValue(category="LOC", authorised_value="GEN", lib="General stacks",
                                  lib_opac="Stacks"))
    dbsession.commit()
    items = {b: dbsession.scalars(select(Item).where(Item.biblionumber == b).order_by(Item.itemnumber)).all()
             for b in records}
    return {"records": records, "items": items, "reader_id": reader_id, "userid": userid, "password": password}


def loan(dbsession, patron_id: int, item: Item) -> Checkout:
    dbsession.rollback()  # a fresh transaction: the API has written since this session last read
    made = circulation.checkout(dbsession, patron_id, item.itemnumber)
    dbsession.commit()
    return made


# --- VuFind: module/VuFind/src/VuFind/ILS/Driver/KohaRest.php --------------------------------------

def test_vufind_koharest(api, token, library, dbsession):
    reader_id = library["reader_id"]
    biblio_id = library["records"][0]
    item = library["items"][biblio_id][0]

    # patronLogin (dontValidatePasswords): GET v1/patrons?userid=...&_match=exact
    found = api.get("/api/v1/patrons", {"userid": library["userid"], "_match": "exact"}, headers=token).json
    assert [p["patron_id"] for p in found] == [reader_id]
    assert {"firstname", "surname", "email", "library_id"} <= set(found[0])
    # getMyProfile: GET v1/patrons/{id}
    profile = api.get(f"/api/v1/patrons/{reader_id}", headers=token).json
    for field in ("firstname", "surname", "phone", "mobile", "email", "address", "address2", "postal_code",
                  "city", "country", "expiry_date", "date_of_birth"):
        assert field in profile
    assert profile["surname"] == "Reader"

    # getLibraries: GET v1/libraries?_per_page=-1 (library_id, name, pickup_location)
    libraries = api.get("/api/v1/libraries?_per_page=-1", headers=token).json
    assert {"CPL", "FFL"} <= {lib["library_id"] for lib in libraries}
    assert all(isinstance(lib["pickup_location"], bool) and lib["name"] for lib in libraries)
    # getShelvingLocations: the category is asked for in lower case
    locations = api.get("/api/v1/authorised_value_categories/loc/authorised_values?_per_page=-1",
                        headers=token).json
    assert [(v["value"], v["description"]) for v in locations] == [("GEN", "General stacks")]

    # getBiblio / getItem with Accept: application/json
    biblio = api.get(f"/api/v1/biblios/{biblio_id}", headers=token).json
    for field in ("title", "subtitle", "part_number", "part_name", "isbn", "issn", "copyright_date",
                  "publication_year", "item_type"):
        assert field in biblio
    assert biblio["title"]
    got_item = api.get(f"/api/v1/items/{item.itemnumber}", headers=token).json
    assert got_item["biblio_id"] == biblio_id and "serial_issue_number" in got_item
    assert "holding_library_id" in got_item and "home_library_id" in got_item and "callnumber" in got_item

    # placeHold: POST v1/holds, title level (expiration_date null, notes "") then PUT suspended_until
    body = {"biblio_id": biblio_id, "patron_id": reader_id, "pickup_library_id": "CPL", "notes": "",
            "expiration_date": None}
    placed = api.post_json("/api/v1/holds", body, headers=token, status=201).json
    hold_id = placed["hold_id"]
    start = (dt.date.today() + dt.timedelta(days=10)).isoformat()
    changed = api.put_json(f"/api/v1/holds/{hold_id}", {"suspended_until": f"{start} 23:59:59"}, headers=token)
    assert changed.status_int < 300 and changed.json["suspended"] is True
    # a second hold on the same record is refused with the text VuFind matches
    other = library["records"][1]
    api.post_json("/api/v1/holds", {**body, "biblio_id": other}, headers=token, status=201)
    refused = api.post_json("/api/v1/holds", {**body, "biblio_id": other}, headers=token, status=403).json
    assert refused["error"] == "Hold cannot be placed. Reason: tooManyHoldsForThisRecord"

    # updateHolds: frozen without a date -> POST suspension {}, thawed -> DELETE suspension {}
    assert api.post_json(f"/api/v1/holds/{hold_id}/suspension", {}, headers=token).status_int < 300
    assert api.delete_json(f"/api/v1/holds/{hold_id}/suspension", {}, headers=token).status_int < 300
    # ... frozen until a date: PUT suspended_until in RFC 3339; pickup change: PUT pickup_library_id
    until = (dt.date.today() + dt.timedelta(days=3)).isoformat() + "T23:59:59+02:00"
    assert api.put_json(f"/api/v1/holds/{hold_id}", {"suspended_until": until}, headers=token).status_int < 300
    moved = api.put_json(f"/api/v1/holds/{hold_id}", {"pickup_library_id": "FFL"}, headers=token)
    assert moved.status_int < 300 and moved.json["pickup_library_id"] == "FFL"

    # getMyHolds: GET v1/holds?patron_id=...&_match=exact&_per_page=-1
    mine = api.get("/api/v1/holds", {"patron_id": reader_id, "_match": "exact", "_per_page": -1},
                   headers=token).json
    assert len(mine) == 2
    entry = next(h for h in mine if h["hold_id"] == hold_id)
    for field in ("biblio_id", "item_id", "suspended", "waiting_date", "status", "expiration_date",
                  "pickup_library_id", "hold_date", "priority", "suspended_until"):
        assert field in entry
    assert entry["suspended"] is True and entry["suspended_until"].startswith(until[:10])

    # cancelHolds: DELETE v1/holds/{id} -> 200 or 204
    assert api.delete(f"/api/v1/holds/{hold_id}", headers=token).status_int in (200, 204)

    # renewMyItems: POST v1/checkouts/{id}/renewal -> 201 with due_date; refused -> not 201
    checkout = loan(dbsession, reader_id, library["items"][library["records"][2]][0])
    allowed = circulation.renewals_allowed(dbsession, checkout)
    assert allowed >= 1
    for count in range(1, allowed + 1):
        renewed = api.post(f"/api/v1/checkouts/{checkout.issue_id}/renewal", headers=token, status=201).json
        assert renewed["due_date"] and renewed["renewals_count"] == count
    too_many = api.post(f"/api/v1/checkouts/{checkout.issue_id}/renewal", headers=token, status=403).json
    assert too_many["error"] == "Renewal not authorized (too_many)"

    # getMyFines: GET v1/patrons/{id}/account -> outstanding_debits.lines
    dbsession.rollback()
    dbsession.add(AccountLine(borrowernumber=reader_id, itemnumber=item.itemnumber, amount=Decimal("2.50"),
                              amountoutstanding=Decimal("2.50"), description="Overdue", debit_type_code="OVERDUE"))
    dbsession.commit()
    account = api.get(f"/api/v1/patrons/{reader_id}/account", headers=token).json
    line = account["outstanding_debits"]["lines"][0]
    assert (line["item_id"], line["debit_type"], line["description"]) == (item.itemnumber, "OVERDUE", "Overdue")
    assert line["amount"] == 2.5 and line["amount_outstanding"] == 2.5 and line["date"]

    # changePassword: POST v1/patrons/{id}/password {password, password_2} -> 200; 400 when invalid
    api.post_json(f"/api/v1/patrons/{reader_id}/password", {"password": "New-pass-22", "password_2": "New-pass-22"},
                  headers=token, status=200)
    api.post_json(f"/api/v1/patrons/{reader_id}/password", {"password": "short", "password_2": "short"},
                  headers=token, status=400)


# --- Aspen Discovery: code/web/Drivers/Koha.php -----------------------------------------------------

def test_aspen_koha_driver(api, token, library, dbsession):
    reader_id = library["reader_id"]
    home = {"x-koha-library": "CPL"}
    json_utf8 = {"Content-Type": "application/json;charset=UTF-8"}

    # patronLogin: POST /api/v1/auth/password/validation {identifier, password} -> 201 patron_id
    ok = api.post_json("/api/v1/auth/password/validation", {"identifier": "23000001", "password": "Reader-pass-1"},
                       headers=token, status=201).json
    assert ok["patron_id"] == reader_id
    bad = api.post_json("/api/v1/auth/password/validation", {"identifier": "23000001", "password": "wrong"},
                        headers=token, status=400).json
    assert bad["error"] == "Validation failed"

    # doReadingHistoryAction: GET the patron, PUT it back with privacy changed
    patron = api.get(f"/api/v1/patrons/{reader_id}", headers=token).json
    update = {"surname": patron["surname"], "library_id": patron["library_id"], "category_id": patron["category_id"],
              "privacy": 2}
    api.put_json(f"/api/v1/patrons/{reader_id}", update, headers={**token, **json_utf8, **home}, status=200)
    assert api.get(f"/api/v1/patrons/{reader_id}", headers=token).json["privacy"] == 2
    # updateHomeLibrary / updatePatronInfo: PUT with Koha's field names, JSON answer with patron_id
    profile = {"surname": "Reader", "address": "1 Main St", "city": "Centerville", "library_id": "FFL",
               "category_id": patron["category_id"], "secondary_email": "ada@work.example",
               "altaddress_city": "Elsewhere", "altcontact_surname": "Lovelace", "preferred_name": "Ada"}
    answer = api.put_json(f"/api/v1/patrons/{reader_id}", profile, headers={**token, **json_utf8, **home}).json
    assert answer["patron_id"] == reader_id and answer["library_id"] == "FFL"
    assert answer["altaddress_city"] == "Elsewhere" and answer["secondary_email"] == "ada@work.example"

    # placeHold: POST /api/v1/holds with x-koha-library; item-level with item_id
    biblio_id = library["records"][0]
    item = library["items"][biblio_id][0]
    title = api.post_json("/api/v1/holds", {"patron_id": reader_id, "pickup_library_id": "CPL", "biblio_id": biblio_id},
                          headers={**token, **home}, status=201).json
    hold_id = title["hold_id"]
    other = library["records"][1]
    other_item = library["items"][other][0]
    api.post_json("/api/v1/holds", {"patron_id": reader_id, "pickup_library_id": "CPL", "biblio_id": other,
                                    "item_id": other_item.itemnumber,
                                    "expiration_date": (dt.date.today() + dt.timedelta(days=60)).isoformat()},
                  headers={**token, **home}, status=201)
    refused = api.post_json("/api/v1/holds", {"patron_id": reader_id, "pickup_library_id": "CPL", "biblio_id": other},
                            headers={**token, **home}, status=403).json
    assert refused["error"]

    # freezeHold: POST suspension {} or {end_date}; thawHold: DELETE suspension -> 204
    end = (dt.date.today() + dt.timedelta(days=5)).isoformat()
    frozen = api.post_json(f"/api/v1/holds/{hold_id}/suspension", {"end_date": end}, headers={**token, **home})
    assert frozen.status_int in (201, 204) and frozen.json["end_date"] == end
    api.delete(f"/api/v1/holds/{hold_id}/suspension", headers={**token, **home}, status=204)

    # changeHoldPickupLocation: GET /api/v1/holds?hold_id=..., PUT .../pickup_location
    listed = api.get(f"/api/v1/holds?hold_id={hold_id}", headers={**token, **home}).json
    assert [h["hold_id"] for h in listed] == [hold_id] and listed[0]["priority"] == 1
    moved = api.put_json(f"/api/v1/holds/{hold_id}/pickup_location", {"pickup_library_id": "MPL"},
                         headers={**token, **home}).json
    assert moved["pickup_library_id"] == "MPL"

    # cancelHold: DELETE with x-koha-override: cancellation-request-flow -> 204 (or 202 pending)
    cancel = api.delete(f"/api/v1/holds/{hold_id}", headers={**token, "x-koha-override": "cancellation-request-flow"})
    assert cancel.status_int in (202, 204)

    # getReadingHistory: GET /api/v1/checkouts?patron_id&checked_in&_page&_per_page&_match=exact
    # with x-koha-embed: item,item.biblio
    third = library["records"][2]
    current = loan(dbsession, reader_id, library["items"][third][0])
    returned_item = library["items"][third][1] if len(library["items"][third]) > 1 else library["items"][other][-1]
    finished = loan(dbsession, reader_id, returned_item)
    circulation.checkin(dbsession, returned_item.itemnumber)
    finished_id = finished.issue_id
    dbsession.commit()
    embed = {**token, "x-koha-embed": "item,item.biblio"}
    for checked_in, expected in (("false", current.issue_id), ("true", finished_id)):
        page = api.get(f"/api/v1/checkouts?patron_id={reader_id}&checked_in={checked_in}&_page=1&_per_page=100"
                       "&_match=exact", headers=embed).json
        assert [c["checkout_id"] for c in page] == [expected]
        entry = page[0]
        assert entry["checkout_date"] and ("checkin_date" in entry)
        assert (entry["checkin_date"] is not None) == (checked_in == "true")
        assert entry["item"]["biblio"]["biblio_id"] in (third, other)
        for field in ("external_id", "item_type_id", "callnumber", "serial_issue_number"):
            assert field in entry["item"]
        assert entry["item"]["biblio"]["title"] and "author" in entry["item"]["biblio"]

    # checkAllowRenewals: GET /api/v1/checkouts/{id}/allows_renewal
    allows = api.get(f"/api/v1/checkouts/{current.issue_id}/allows_renewal", headers={**token, **home}).json
    assert allows == {"allows_renewal": True, "max_renewals": circulation.renewals_allowed(dbsession, current),
                      "current_renewals": 0, "unseen_renewals": 0, "error": None}

    # patronEligibleForRenewals: GET /api/v1/patron_categories (category_type, block_expired_...)
    categories = api.get("/api/v1/patron_categories", headers=token).json
    assert all("category_type" in c and "block_expired_patron_opac_actions" in c for c in categories)
    # getItemTypeRentalCharge / getItemForRenewal / getRawCirculationRule
    types = api.get("/api/v1/item_types", headers=token).json
    assert all("item_type_id" in t and "rentalcharge" in t for t in types)
    renewal_item = api.get(f"/api/v1/items/{int(item.itemnumber)}", headers=token).json
    assert {"holding_library_id", "home_library_id", "item_type_id"} <= set(renewal_item)
    rules = api.get(f"/api/v1/circulation_rules?effective=true&item_type_id={renewal_item['item_type_id']}"
                    f"&library_id=CPL&patron_category_id={patron['category_id']}&rules=renewalsallowed",
                    headers=token).json
    assert rules[0]["renewalsallowed"] in ("2", "1")

    # getOutstandingCreditTotal: GET /api/v1/patrons/{id}/account -> outstanding_credits.total
    dbsession.rollback()
    dbsession.add(AccountLine(borrowernumber=reader_id, amount=Decimal("-3"), amountoutstanding=Decimal("-3"),
                              credit_type_code="CREDIT"))
    dbsession.commit()
    account = api.get(f"/api/v1/patrons/{reader_id}/account", headers={**token, **home}).json
    assert account["outstanding_credits"]["total"] == -3.0 and account["balance"] == -3.0

    # unknown embeds are refused as Koha refuses them
    wrong = api.get(f"/api/v1/checkouts?patron_id={reader_id}", headers={**token, "x-koha-embed": "item,nothing"},
                    status=400).json
    assert wrong["errors"][0]["path"] == "/headers/x-koha-embed"
