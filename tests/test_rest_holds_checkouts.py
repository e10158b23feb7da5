"""/api/v1 hold lifecycle, renewals, checkout availability, patron accounts, embeds and q in
the body: one client test per path family, on the three databases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import delete, select

from kohaweb.models import AccountLine, CirculationRule, Hold, Item, Library, Patron
from kohaweb.preferences import set_preference
from kohaweb.testing import basic_auth


@pytest.fixture
def staff(staff_user):
    userid, password, patron_id = staff_user("desk", "catalogue", "circulate", "borrowers", "reserveforothers",
                                             "updatecharges")
    return {**basic_auth(userid, password), "patron_id": str(patron_id)}


@pytest.fixture
def setup(dbsession, sample_records, staff_user):
    records = sample_records(2)
    readers = [staff_user(f"reader{n}", password="Reader-pass-1")[2] for n in range(3)]
    items = dbsession.scalars(select(Item).where(Item.biblionumber == records[0]).order_by(Item.itemnumber)).all()
    return {"records": records, "readers": readers, "items": items}


def headers(staff: dict) -> dict:
    return {k: v for k, v in staff.items() if k != "patron_id"}


def test_hold_changes_suspension_priority_pickup(api, staff, setup, dbsession):
    h = headers(staff)
    biblio_id = setup["records"][0]
    ids = [api.post_json("/api/v1/holds", {"patron_id": p, "biblio_id": biblio_id, "pickup_library_id": "CPL"},
                         headers=h, status=201).json["hold_id"] for p in setup["readers"]]
    assert [api.get(f"/api/v1/holds/{i}", headers=h).json["priority"] for i in ids] == [1, 2, 3]

    # priority: the last moves first, the others move down; beyond the end = last
    assert api.put_json(f"/api/v1/holds/{ids[2]}/priority", 1, headers=h).json == 1
    assert [api.get(f"/api/v1/holds/{i}", headers=h).json["priority"] for i in ids] == [2, 3, 1]
    assert api.put_json(f"/api/v1/holds/{ids[2]}/priority", 99, headers=h).json == 3
    api.put_json(f"/api/v1/holds/{ids[0]}/priority", 0, headers=h, status=400)

    # suspension with and without an end, resumption
    end = (dt.date.today() + dt.timedelta(days=7)).isoformat()
    created = api.post_json(f"/api/v1/holds/{ids[0]}/suspension", {"end_date": end}, headers=h, status=201)
    assert created.json == {"end_date": end} and created.location.endswith(f"/holds/{ids[0]}/suspension")
    got = api.get(f"/api/v1/holds/{ids[0]}", headers=h).json
    assert got["suspended"] is True and got["suspended_until"].startswith(end)
    api.post_json(f"/api/v1/holds/{ids[0]}/suspension", {}, headers=h, status=201)
    assert api.get(f"/api/v1/holds/{ids[0]}", headers=h).json["suspended_until"] is None
    api.delete(f"/api/v1/holds/{ids[0]}/suspension", headers=h, status=204)
    assert api.get(f"/api/v1/holds/{ids[0]}", headers=h).json["suspended"] is False
    past = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    assert api.post_json(f"/api/v1/holds/{ids[0]}/suspension", {"end_date": past}, headers=h,
                         status=400).json["error_code"] == "invalid_date"

    # PATCH / PUT: several fields at once; suspended_until null resumes
    patched = api.patch_json(f"/api/v1/holds/{ids[1]}", {"notes": "front desk", "suspended_until": end + "T10:00:00Z",
                                                         "expiration_date": "2099-01-01"}, headers=h).json
    assert patched["notes"] == "front desk" and patched["suspended"] and patched["expiration_date"] == "2099-01-01"
    assert api.put_json(f"/api/v1/holds/{ids[1]}", {"suspended_until": None}, headers=h).json["suspended"] is False
    api.patch_json(f"/api/v1/holds/{ids[1]}", {"unknown": 1}, headers=h, status=400)
    api.patch_json("/api/v1/holds/999999", {"notes": "x"}, headers=h, status=404)

    # pickup locations: all pickup libraries are valid under hold_fulfillment_policy "any"
    locations = api.get(f"/api/v1/holds/{ids[0]}/pickup_locations", headers=h).json
    pickup = {lib.branchcode for lib in dbsession.scalars(select(Library).where(Library.pickup_location.is_(True)))}
    assert {loc["library_id"] for loc in locations} == pickup and not any(loc["needs_override"] for loc in locations)
    assert api.put_json(f"/api/v1/holds/{ids[0]}/pickup_location", {"pickup_library_id": "FFL"},
                        headers=h).json == {"pickup_library_id": "FFL"}
    # a library that is not a pickup location needs the override
    dbsession.rollback()
    dbsession.get(Library, "MPL").pickup_location = False
    dbsession.commit()
    refused = api.put_json(f"/api/v1/holds/{ids[0]}/pickup_location", {"pickup_library_id": "MPL"}, headers=h,
                           status=400).json
    assert refused["error_code"] == "pickupNotInHoldGroup"
    api.put_json(f"/api/v1/holds/{ids[0]}/pickup_location", {"pickup_library_id": "MPL"},
                 headers={**h, "x-koha-override": "pickup_location"}, status=200)
    api.put_json(f"/api/v1/holds/{ids[0]}/pickup_location", {"pickup_library_id": "NOPE"},
                 headers={**h, "x-koha-override": "any"}, status=400)
    # hold_fulfillment_policy homebranch: only the items' home libraries, the others need an override
    dbsession.rollback()
    dbsession.add(CirculationRule(rule_name="hold_fulfillment_policy", rule_value="homebranch"))
    dbsession.commit()
    homes = {item.homebranch for item in setup["items"]} & (pickup - {"MPL"})
    listed = api.get(f"/api/v1/holds/{ids[0]}/pickup_locations", headers=h).json
    assert {loc["library_id"] for loc in listed} == homes
    set_preference(dbsession, "AllowHoldPolicyOverride", "1")
    dbsession.commit()
    flagged = {loc["library_id"]: loc["needs_override"]
               for loc in api.get(f"/api/v1/holds/{ids[0]}/pickup_locations", headers=h).json}
    assert flagged == {code: code not in homes for code in pickup - {"MPL"}}
    dbsession.rollback()
    dbsession.execute(delete(CirculationRule).where(CirculationRule.rule_name == "hold_fulfillment_policy"))
    dbsession.commit()

    # a waiting hold cannot be suspended nor moved in the queue
    dbsession.rollback()
    waiting = dbsession.get(Hold, ids[2])
    waiting.found, waiting.priority = "W", 0
    dbsession.commit()
    assert api.post_json(f"/api/v1/holds/{ids[2]}/suspension", {}, headers=h, status=400).json["error_code"] == \
        "hold_found"
    api.put_json(f"/api/v1/holds/{ids[2]}/priority", 1, headers=h, status=409)

    # lists of a record's and a patron's holds, with embeds and counts
    on_record = api.get(f"/api/v1/biblios/{biblio_id}/holds", headers={**h, "x-koha-embed": "patron,pickup_library"})
    assert on_record.headers["X-Total-Count"] == "3"
    assert all(x["patron"]["patron_id"] == x["patron_id"] and x["pickup_library"]["library_id"] ==
               x["pickup_library_id"] for x in on_record.json)
    mine = api.get(f"/api/v1/patrons/{setup['readers'][0]}/holds", headers={**h, "x-koha-embed": "biblio,+strings"}).json
    assert [x["hold_id"] for x in mine] == [ids[0]]
    assert mine[0]["biblio"]["biblio_id"] == biblio_id
    assert mine[0]["_strings"]["pickup_library_id"]["type"] == "library"
    counted = api.get(f"/api/v1/biblios/{biblio_id}", headers={**h, "x-koha-embed": "holds+count,items"}).json
    assert counted["holds_count"] == 3 and counted["items"] and "holds" not in counted
    api.get(f"/api/v1/holds/{ids[0]}", headers={**h, "x-koha-embed": "patron.nothing"}, status=400)
    api.get(f"/api/v1/holds/{ids[0]}", headers={**h, "x-koha-embed": "biblio+count"}, status=400)

    # x-koha-override: any places a hold the rules refuse
    body = {"patron_id": setup["readers"][0], "biblio_id": biblio_id, "pickup_library_id": "CPL"}
    api.post_json("/api/v1/holds", body, headers=h, status=403)
    api.post_json("/api/v1/holds", body, headers={**h, "x-koha-override": "any"}, status=201)


def test_renewals_allows_renewal_and_availability(api, staff, setup, dbsession):
    h = headers(staff)
    reader, other = setup["readers"][0], setup["readers"][1]
    item = setup["items"][0]
    available = api.get(f"/api/v1/checkouts/availability?patron_id={reader}&item_id={item.itemnumber}", headers=h).json
    assert available == {"blockers": {}, "confirms": {}, "warnings": {}, "confirmation_token": None}
    made = api.post_json("/api/v1/checkouts", {"patron_id": reader, "item_id": item.itemnumber}, headers=h,
                         status=201).json
    assert made["issuer_id"] == int(staff["patron_id"]) and made["unseen_renewals"] == 0
    again = api.get(f"/api/v1/checkouts/availability?patron_id={other}&item_id={item.itemnumber}", headers=h).json
    assert "ISSUED_TO_ANOTHER" in again["confirms"] and again["confirmation_token"]
    api.get(f"/api/v1/checkouts/availability?patron_id={other}", headers=h, status=400)
    api.get(f"/api/v1/checkouts/availability?patron_id={other}&item_id=999999", headers=h, status=400)

    checkout_id = made["checkout_id"]
    allows = api.get(f"/api/v1/checkouts/{checkout_id}/allows_renewal", headers=h).json
    assert allows["allows_renewal"] is True and allows["error"] is None and allows["current_renewals"] == 0
    renewed = api.post(f"/api/v1/checkouts/{checkout_id}/renewals?seen=0", headers=h, status=201)
    assert renewed.location.endswith(f"/checkouts/{checkout_id}/renewals")
    assert renewed.json["renewals_count"] == 1 and renewed.json["unseen_renewals"] == 1
    listed = api.get(f"/api/v1/checkouts/{checkout_id}/renewals", headers=h).json
    assert [(r["checkout_id"], r["renewer_id"], r["seen"], r["interface"]) for r in listed] == \
        [(checkout_id, int(staff["patron_id"]), False, "api")]
    embedded = api.get(f"/api/v1/checkouts/{checkout_id}", headers={**h, "x-koha-embed": "renewals,item.biblio,"
                                                                                          "renewals+count,+strings"})
    assert embedded.json["renewals_count"] == 1 and embedded.json["renewals"][0]["renewal_type"] == "Manual"
    assert embedded.json["item"]["biblio"]["biblio_id"] == item.biblionumber

    # another patron's hold blocks renewal: allows_renewal says why
    api.post_json("/api/v1/holds", {"patron_id": other, "biblio_id": item.biblionumber, "pickup_library_id": "CPL"},
                  headers=h, status=201)
    blocked = api.get(f"/api/v1/checkouts/{checkout_id}/allows_renewal", headers=h).json
    assert blocked["allows_renewal"] is False and blocked["error"] == "on_reserve"
    assert api.post(f"/api/v1/checkouts/{checkout_id}/renewal", headers=h, status=403).json["error"] == \
        "Renewal not authorized (on_reserve)"
    api.get("/api/v1/checkouts/999999/allows_renewal", headers=h, status=404)
    api.get("/api/v1/checkouts/999999/renewals", headers=h, status=404)

    # the record's checkouts and the patron's
    assert [c["checkout_id"] for c in api.get(f"/api/v1/biblios/{item.biblionumber}/checkouts", headers=h).json] == \
        [checkout_id]
    assert [c["checkout_id"] for c in api.get(f"/api/v1/patrons/{reader}/checkouts", headers=h).json] == [checkout_id]
    assert api.get(f"/api/v1/patrons/{other}/checkouts", headers=h).json == []


def test_account_debits_credits_and_payment(api, staff, setup, dbsession):
    h = headers(staff)
    reader = setup["readers"][0]
    now = dt.datetime(2026, 1, 1, 12)
    dbsession.rollback()
    for number, amount in enumerate(("5.00", "3.00")):
        dbsession.add(AccountLine(borrowernumber=reader, amount=Decimal(amount), amountoutstanding=Decimal(amount),
                                  debit_type_code="OVERDUE", description=f"fine {number}",
                                  date=now + dt.timedelta(days=number)))
    dbsession.commit()
    account = api.get(f"/api/v1/patrons/{reader}/account", headers=h).json
    assert account["balance"] == 8.0 and account["outstanding_debits"]["total"] == 8.0
    assert account["outstanding_credits"] == {"total": 0.0, "lines": []}
    paid = api.post_json(f"/api/v1/patrons/{reader}/account/credits", {"amount": 6, "payment_type": "CASH"},
                         headers=h, status=201).json
    assert paid["amount"] == -6.0 and paid["amount_outstanding"] == 0.0 and paid["credit_type"] == "PAYMENT"
    after = api.get(f"/api/v1/patrons/{reader}/account", headers=h).json
    assert after["balance"] == 2.0
    assert [line["amount_outstanding"] for line in after["outstanding_debits"]["lines"]] == [2.0]  # oldest paid first
    api.post_json(f"/api/v1/patrons/{reader}/account/credits", {"amount": 5}, headers=h, status=201)
    assert api.get(f"/api/v1/patrons/{reader}/account", headers=h).json["balance"] == -3.0
    assert len(api.get(f"/api/v1/patrons/{reader}/account/debits", headers=h).json) == 2
    credits = api.get(f"/api/v1/patrons/{reader}/account/credits", headers=h).json
    assert sorted(c["amount"] for c in credits) == [-6.0, -5.0]
    api.post_json(f"/api/v1/patrons/{reader}/account/credits", {"amount": 0}, headers=h, status=400)
    api.get("/api/v1/patrons/999999/account", headers=h, status=404)
    embedded = api.get(f"/api/v1/patrons/{reader}", headers={**h, "x-koha-embed": "account_balance,library,"
                                                                                  "checkouts+count"}).json
    assert embedded["account_balance"] == -3.0 and embedded["library"]["library_id"] == embedded["library_id"]
    assert embedded["checkouts_count"] == 0


def test_password_policy_and_validation(api, staff, setup, dbsession):
    h = headers(staff)
    reader = setup["readers"][0]
    url = f"/api/v1/patrons/{reader}/password"
    assert api.post_json(url, {"password": "Abcdefg1", "password_2": "Abcdefg2"}, headers=h,
                         status=400).json["error"] == "Passwords don't match"
    assert "shorter" in api.post_json(url, {"password": "Ab1", "password_2": "Ab1"}, headers=h, status=400).json["error"]
    assert api.post_json(url, {"password": "abcdefgh", "password_2": "abcdefgh"}, headers=h,
                         status=400).json["error"] == "Password is too weak"
    api.post_json(url, {"password": " Abcdefg1", "password_2": " Abcdefg1"}, headers=h, status=400)
    api.post_json(url, {"password": "Abcdefg1", "password_2": "Abcdefg1"}, headers=h, status=200)
    userid = dbsession.get(Patron, reader).userid
    ok = api.post_json("/api/v1/auth/password/validation", {"userid": userid, "password": "Abcdefg1"}, headers=h,
                       status=201).json
    assert ok == {"cardnumber": dbsession.get(Patron, reader).cardnumber, "patron_id": reader, "userid": userid}
    api.post_json("/api/v1/auth/password/validation", {"identifier": userid, "password": "Reader-pass-1"},
                  headers=h, status=400)
    api.post_json("/api/v1/auth/password/validation", {"password": "x"}, headers=h, status=400)
    api.post_json("/api/v1/auth/password/validation", {"identifier": userid, "password": "Abcdefg1"}, status=401)


def test_q_in_body_and_deleted_biblios(api, staff, setup, dbsession):
    h = headers(staff)
    first, second = setup["records"]
    found = api.request("/api/v1/biblios", method="GET", headers={**h, "Content-Type": "application/json"},
                        body=f'{{"biblio_id": {second}}}'.encode())
    assert [b["biblio_id"] for b in found.json] == [second]
    wrapped = api.request("/api/v1/biblios", method="GET", headers={**h, "Content-Type": "application/json"},
                          body=f'{{"q": {{"biblio_id": {{"-in": [{first}]}}}}}}'.encode())
    assert [b["biblio_id"] for b in wrapped.json] == [first]
    api.request("/api/v1/biblios", method="GET", headers=h, body=b"{nope", status=400)
    record = api.get(f"/api/v1/biblios/{first}", headers={**h, "Accept": "application/json"}).json
    assert "publication_year" in record and "pages" in record
    dbsession.rollback()
    from kohaweb.catalog import Catalog

    catalog = Catalog(dbsession)
    for item in dbsession.scalars(select(Item).where(Item.biblionumber == second)).all():
        catalog.delete_item(item.itemnumber)
    catalog.delete_record(second)
    dbsession.commit()
    deleted = api.get("/api/v1/deleted/biblios", headers=h).json
    assert [d["biblio_id"] for d in deleted] == [second] and deleted[0]["deleted_on"]
    assert api.get(f"/api/v1/deleted/biblios/{second}", headers=h).json["title"] == deleted[0]["title"]
    api.get(f"/api/v1/deleted/biblios/{first}", headers=h, status=404)
    pickups = api.get(f"/api/v1/biblios/{first}/pickup_locations?patron_id={setup['readers'][0]}", headers=h).json
    assert pickups and all(p["needs_override"] is False for p in pickups)
    unknown = api.get(f"/api/v1/biblios/{first}/pickup_locations?patron_id=999999", headers=h, status=400)
    assert unknown.json["error_code"] == "patron_not_found"


def test_q_filters_on_embedded_objects(api, staff, setup, dbsession):
    import json

    h = headers(staff)
    reader, other = setup["readers"][0], setup["readers"][1]
    first, second = setup["items"][0], setup["items"][1]
    made = api.post_json("/api/v1/checkouts", {"patron_id": reader, "item_id": first.itemnumber}, headers=h,
                         status=201).json
    api.post_json("/api/v1/checkouts", {"patron_id": other, "item_id": second.itemnumber}, headers=h, status=201)

    def ids(url: str, query: dict, key: str) -> list:
        return [row[key] for row in api.get(url, {"q": json.dumps(query)}, headers=h).json]

    assert ids("/api/v1/checkouts", {"item.external_id": first.barcode}, "checkout_id") == [made["checkout_id"]]
    assert ids("/api/v1/checkouts", {"item.biblio.biblio_id": first.biblionumber, "patron.patron_id": reader},
               "checkout_id") == [made["checkout_id"]]
    userid = dbsession.get(Patron, other).userid
    assert ids("/api/v1/checkouts", {"patron.userid": {"-like": userid}}, "checkout_id") != [made["checkout_id"]]
    title = api.get(f"/api/v1/biblios/{first.biblionumber}", headers=h).json["title"]
    with_title = ids("/api/v1/items", {"biblio.title": title, "me.item_id": first.itemnumber}, "item_id")
    assert with_title == [first.itemnumber]
    assert ids("/api/v1/biblios", {"items.external_id": first.barcode}, "biblio_id") == [first.biblionumber]
    assert ids("/api/v1/items", {"-or": [{"checkout.patron_id": reader}, {"checkout.patron_id": other}]},
               "item_id") == sorted([first.itemnumber, second.itemnumber])
    for bad in ({"item.nope": 1}, {"nothing.title": "x"}, {"item.biblio.": 1}):
        assert api.get("/api/v1/checkouts", {"q": json.dumps(bad)}, headers=h, status=400).json["error_code"] == \
            "invalid_query"


def test_json_only_operations_refuse_other_media_types(api, staff, setup):
    h = headers(staff)
    refused = api.get("/api/v1/holds", headers={**h, "Accept": "application/xml"}, status=406).json
    assert refused["error_code"] == "not_acceptable" and refused["acceptable"] == ["application/json"]
    for accept in ("application/json", "*/*", "text/html,application/xhtml+xml,*/*;q=0.8", "application/*"):
        api.get("/api/v1/holds", headers={**h, "Accept": accept}, status=200)
    api.get("/api/v1/holds", headers=h, status=200)
    # content-negotiated operations keep their own answer
    api.get(f"/api/v1/biblios/{setup['records'][0]}", headers={**h, "Accept": "application/marcxml+xml"}, status=200)
    document = api.get("/api/v1/").json
    assert "406" in document["paths"]["/holds"]["get"]["responses"]
