"""Hold cancellation as Koha 25.x does it: a patron's request to cancel a waiting hold (202),
staff's cancellation-request-flow and cancellation reason, DELETE /holds/cancellation_bulk, and
Koha's sub-permissions on the hold routes (reserveforothers: place_holds, modify_holds_priority)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from kohaweb import circulation
from kohaweb.auth import Identity
from kohaweb.models import CirculationRule, Hold, Item, OldHold
from kohaweb.models.circulation import HoldCancellationRequest


@pytest.fixture
def people(staff_people):
    """A reader, a librarian holding only Koha's place_holds sub-permission, one holding the whole
    module, and a cataloguer (no hold permission), as Basic headers plus their ids."""
    return staff_people(reader=(), placer=("reserveforothers:place_holds",), holdstaff=("reserveforothers",),
                        cataloguer=("catalogue",))


@pytest.fixture
def record(dbsession, sample_records):
    biblio_id = sample_records(1)[0]
    items = dbsession.scalars(select(Item).where(Item.biblionumber == biblio_id).order_by(Item.itemnumber)).all()
    return biblio_id, items


def _waiting_hold(dbsession, patron_id: int, biblio_id: int, item: Item) -> int:
    hold = circulation.place_hold(dbsession, patron_id, biblio_id, item=item.itemnumber, pickup_branch="CPL",
                                  force=True)
    hold.found, hold.waitingdate = "W", hold.reservedate
    dbsession.commit()
    return hold.reserve_id


def _requests(dbsession, hold_id: int) -> int:
    dbsession.rollback()  # a fresh snapshot: the API wrote in its own transaction
    return dbsession.scalar(select(func.count()).select_from(HoldCancellationRequest)
                            .where(HoldCancellationRequest.hold_id == hold_id))


def test_patron_requests_cancellation_of_a_waiting_hold(api, people, record, dbsession):
    biblio_id, items = record
    reader_id = people["reader_id"]
    base = f"/api/v1/public/patrons/{reader_id}/holds"
    waiting = _waiting_hold(dbsession, reader_id, biblio_id, items[0])
    # no waiting_hold_cancellation rule: the patron may not even ask
    assert api.delete(f"{base}/{waiting}", headers=people["reader"], status=403).json["error"] == \
        "Cancellation forbidden"
    assert _requests(dbsession, waiting) == 0

    dbsession.add(CirculationRule(rule_name="waiting_hold_cancellation", rule_value="1"))
    dbsession.commit()
    api.delete(f"{base}/{waiting}", headers=people["reader"], status=202)
    assert _requests(dbsession, waiting) == 1
    assert dbsession.get(Hold, waiting).found == "W"  # still waiting: staff decide

    # staff see the request, and cancelling the hold ends it
    listed = api.get(f"/api/v1/holds?hold_id={waiting}", headers={**people["placer"],
                                                                  "x-koha-embed": "cancellation_requested"}).json
    assert listed[0]["cancellation_requested"] is True
    api.delete(f"/api/v1/holds/{waiting}", headers=people["placer"], status=204)
    assert _requests(dbsession, waiting) == 0 and dbsession.get(OldHold, waiting) is not None

    # a hold not yet found is simply cancelled; a rule set to 0 refuses requests again
    pending = circulation.place_hold(dbsession, reader_id, biblio_id, pickup_branch="CPL", force=True).reserve_id
    dbsession.commit()
    api.delete(f"{base}/{pending}", headers=people["reader"], status=204)
    other = _waiting_hold(dbsession, reader_id, biblio_id, items[1])
    dbsession.scalars(select(CirculationRule).where(CirculationRule.rule_name == "waiting_hold_cancellation")) \
        .one().rule_value = "0"
    dbsession.commit()
    api.delete(f"{base}/{other}", headers=people["reader"], status=403)
    # another patron's hold, or a hold that does not exist, is not found
    api.delete(f"/api/v1/public/patrons/{reader_id}/holds/999999", headers=people["reader"], status=404)
    api.delete(f"/api/v1/public/patrons/{people['placer_id']}/holds/{other}", headers=people["reader"], status=403)


def test_staff_cancellation_request_flow_and_reason(api, people, record, dbsession):
    biblio_id, items = record
    reader_id = people["reader_id"]
    flow = {**people["placer"], "x-koha-override": "cancellation-request-flow"}
    waiting = _waiting_hold(dbsession, reader_id, biblio_id, items[0])
    api.delete(f"/api/v1/holds/{waiting}", headers=flow, status=202)
    assert _requests(dbsession, waiting) == 1
    pending = circulation.place_hold(dbsession, reader_id, biblio_id, pickup_branch="CPL", force=True).reserve_id
    dbsession.commit()
    api.delete(f"/api/v1/holds/{pending}", headers=flow, status=204)  # not waiting: cancelled
    # the body, a JSON string, is the cancellation reason (as Koha reads it)
    api.delete(f"/api/v1/holds/{waiting}", params='"DAMAGED"', content_type="application/json",
               headers=people["placer"], status=204)
    dbsession.rollback()
    assert dbsession.get(OldHold, waiting).cancellation_reason == "DAMAGED"
    assert dbsession.get(OldHold, pending).cancellation_reason is None


def test_cancellation_bulk(api, people, record, dbsession):
    biblio_id, items = record
    ids = [circulation.place_hold(dbsession, patron, biblio_id, pickup_branch="CPL", force=True).reserve_id
           for patron in (people["reader_id"], people["cataloguer_id"], people["holdstaff_id"])]
    dbsession.commit()
    url = "/api/v1/holds/cancellation_bulk"
    body = {"hold_ids": ids[:2], "cancellation_reason": "DAMAGED"}
    api.delete_json(url, body, status=401)
    refused = api.delete_json(url, body, headers=people["cataloguer"], status=403).json
    assert refused["required_permissions"] == {"reserveforothers": "place_holds"}
    # one id missing: nothing is cancelled
    missing = api.delete_json(url, {"hold_ids": [ids[0], 999999]}, headers=people["placer"], status=404).json
    assert missing == {"error": "Hold not found", "error_code": "not_found"}
    dbsession.rollback()
    assert dbsession.get(Hold, ids[0]) is not None
    api.delete_json(url, body, headers=people["placer"], status=204)
    dbsession.rollback()
    assert [dbsession.get(Hold, i) is None for i in ids] == [True, True, False]
    assert {dbsession.get(OldHold, i).cancellation_reason for i in ids[:2]} == {"DAMAGED"}
    assert dbsession.get(Hold, ids[2]).priority == 1  # the queue moved up
    # POST does the same (a body with DELETE is not possible for every client)
    api.post_json(url, {"hold_ids": [ids[2]]}, headers=people["holdstaff"], status=204)
    for bad in ({}, {"hold_ids": []}, {"hold_ids": ["x"]}, {"hold_ids": [1], "other": 1}):
        api.delete_json(url, bad, headers=people["placer"], status=400)
    api.get(url, headers=people["placer"], status=405)


def test_hold_sub_permissions(api, people, record, dbsession):
    biblio_id, _ = record
    hold_id = circulation.place_hold(dbsession, people["reader_id"], biblio_id, pickup_branch="CPL",
                                     force=True).reserve_id
    dbsession.commit()
    doc = api.get("/api/v1/").json["paths"]
    assert doc["/holds"]["get"]["x-koha-authorization"] == {"permissions": {"reserveforothers": "place_holds"}}
    assert doc["/holds"]["post"]["x-koha-authorization"] == {"permissions": {"reserveforothers": "1"}}
    assert doc["/holds/{hold_id}/priority"]["put"]["x-koha-authorization"] == {
        "permissions": {"reserveforothers": "modify_holds_priority"}}
    # place_holds alone: reading and cancelling, not reordering the queue nor placing (the whole module)
    api.get(f"/api/v1/holds/{hold_id}", headers=people["placer"])
    refused = api.put_json(f"/api/v1/holds/{hold_id}/priority", 1, headers=people["placer"], status=403).json
    assert refused["required_permissions"] == {"reserveforothers": "modify_holds_priority"}
    api.post_json("/api/v1/holds", {"patron_id": people["reader_id"], "biblio_id": biblio_id,
                                    "pickup_library_id": "CPL"}, headers=people["placer"], status=403)
    # the whole module implies every sub-permission
    assert api.put_json(f"/api/v1/holds/{hold_id}/priority", 1, headers=people["holdstaff"]).json == 1
    api.get(f"/api/v1/holds/{hold_id}", headers=people["cataloguer"], status=403)


def test_identity_sub_permissions_and_scopes():
    sub = Identity(1, "a", frozenset({"reserveforothers:place_holds"}), "basic")
    assert sub.has("reserveforothers:place_holds") and not sub.has("reserveforothers:modify_holds_priority")
    assert not sub.has("reserveforothers")
    module = Identity(1, "a", frozenset({"circulate"}), "basic")
    assert module.has("circulate:override_renewals") and not module.has("borrowers:edit_borrowers")
    root = Identity(1, "a", frozenset({"superlibrarian"}), "basic")
    assert root.has("parameters:manage_libraries") and root.has("borrowers")
    # a bearer token's scopes (module names) narrow, sub-permissions included
    scoped = Identity(1, "a", frozenset({"circulate", "reserveforothers:place_holds"}), "bearer",
                      frozenset({"reserveforothers"}))
    assert scoped.has("reserveforothers:place_holds") and not scoped.has("circulate:circulate_remaining_permissions")
    scoped_root = Identity(1, "a", frozenset({"superlibrarian"}), "bearer", frozenset({"circulate"}))
    assert scoped_root.has("circulate:override_renewals") and not scoped_root.has("borrowers")


def test_check_in_ends_a_waiting_hold_whose_cancellation_was_requested(api, people, record, dbsession):
    """Koha's check-in cancels such holds first; the item then goes to the next hold in the queue."""
    biblio_id, items = record
    item = items[0]
    item.notforloan = item.itemlost = item.withdrawn = item.damaged = 0
    dbsession.add(CirculationRule(rule_name="waiting_hold_cancellation", rule_value="1"))
    dbsession.commit()
    waiting = _waiting_hold(dbsession, people["reader_id"], biblio_id, item)
    nextone = circulation.place_hold(dbsession, people["holdstaff_id"], biblio_id, pickup_branch="CPL",
                                     force=True).reserve_id
    dbsession.commit()
    api.delete(f"/api/v1/public/patrons/{people['reader_id']}/holds/{waiting}", headers=people["reader"], status=202)
    dbsession.rollback()
    # without a request the waiting hold keeps its item
    other = dbsession.get(Item, items[1].itemnumber)
    assert circulation.cancel_requested_waiting_holds(dbsession, other) == []
    trapped = circulation.trap_hold(dbsession, item.itemnumber, branchcode="CPL")
    dbsession.commit()
    assert dbsession.get(Hold, waiting) is None and dbsession.get(OldHold, waiting).cancellationdate is not None
    assert trapped is not None and trapped.reserve_id == nextone and trapped.found == "W"
    assert _requests(dbsession, waiting) == 0
