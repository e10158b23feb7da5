"""/api/v1/public: a patron's own holds, checkouts, password and guarantor choices (the patron
signed in by Basic, session or bearer token; others refused), public items and libraries under
the visibility policy."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kohaweb import circulation
from kohaweb.models import Hold, Item, Library, Patron
from kohaweb.preferences import set_preference
from kohaweb.testing import basic_auth


@pytest.fixture
def api(make_app):
    return make_app(services=["apikeys"], **{"kohaweb.auth.basic": "true"})


@pytest.fixture
def readers(staff_people):
    """Two patrons (no staff permission) and a librarian, as id, Basic headers and userid."""
    made = staff_people(ann=(), bob=(), lib=("superlibrarian",))
    return {name: {"id": made[f"{name}_id"], "auth": made[name], "userid": made[f"{name}_login"][0]}
            for name in ("ann", "bob", "lib")}


def test_own_holds_place_list_cancel_and_refusals(api, readers, hidden_catalogue, dbsession):
    ann, bob = readers["ann"], readers["bob"]
    url = f"/api/v1/public/patrons/{ann['id']}/holds"
    api.get(url, status=401)
    assert api.get(url, headers=bob["auth"], status=403).json["error"] == \
        "Unprivileged user cannot access another user's resources"
    # staff permissions do not open another patron's public routes
    api.get(url, headers=readers["lib"]["auth"], status=403)
    assert api.get(url, headers=ann["auth"]).json == []

    # records and items the patron may not see cannot be held
    for body in ({"biblio_id": hidden_catalogue.suppressed}, {"biblio_id": hidden_catalogue.all_hidden},
                 {"item_id": hidden_catalogue.open_hidden}, {"biblio_id": 999999}):
        api.post_json(url, {**body, "pickup_library_id": "CPL"}, headers=ann["auth"], status=400)
    placed = api.post_json(url, {"biblio_id": hidden_catalogue.open, "pickup_library_id": "CPL"},
                           headers=ann["auth"], status=201)
    hold_id = placed.json["hold_id"]
    assert placed.json["patron_id"] == ann["id"] and placed.location.endswith(f"{url}/{hold_id}")
    refused = api.post_json(url, {"biblio_id": hidden_catalogue.open, "pickup_library_id": "CPL"},
                            headers=ann["auth"], status=403).json
    assert refused["error"] == "Hold cannot be placed. Reason: tooManyHoldsForThisRecord"
    assert [h["hold_id"] for h in api.get(url, headers={**ann["auth"], "x-koha-embed": "biblio"}).json] == [hold_id]

    # pickup location changes follow OPACAllowUserToChangeBranch (none by default)
    pickup = f"/api/v1/public/holds/{hold_id}/pickup_location"
    api.put_json(pickup, {"pickup_library_id": "FFL"}, headers=ann["auth"], status=403)
    dbsession.rollback()
    set_preference(dbsession, "OPACAllowUserToChangeBranch", "pending,intransit")
    dbsession.commit()
    api.put_json(pickup, {"pickup_library_id": "FFL"}, headers=bob["auth"], status=404)
    assert api.put_json(pickup, {"pickup_library_id": "FFL"}, headers=ann["auth"]).json == {"pickup_library_id": "FFL"}
    api.put_json(pickup, {"pickup_library_id": "NOPE"}, headers=ann["auth"], status=400)
    api.put_json(pickup, {"pickup_library_id": "FFL"}, status=401)

    # cancel: not another's, not once waiting
    api.delete(f"{url}/{hold_id}", headers=bob["auth"], status=403)
    api.delete(f"/api/v1/public/patrons/{bob['id']}/holds/{hold_id}", headers=bob["auth"], status=404)
    dbsession.rollback()
    dbsession.get(Hold, hold_id).found = "W"
    dbsession.commit()
    api.delete(f"{url}/{hold_id}", headers=ann["auth"], status=403)
    dbsession.rollback()
    dbsession.get(Hold, hold_id).found = None
    dbsession.commit()
    api.delete(f"{url}/{hold_id}", headers=ann["auth"], status=204)
    assert api.get(url, headers=ann["auth"]).json == []

    # the OPAC may take no holds at all
    dbsession.rollback()
    set_preference(dbsession, "RequestOnOpac", "0")
    dbsession.commit()
    api.post_json(url, {"biblio_id": hidden_catalogue.open, "pickup_library_id": "CPL"}, headers=ann["auth"],
                  status=403)


def test_own_checkouts_password_and_guarantor_choices(api, readers, hidden_catalogue, dbsession):
    ann, bob = readers["ann"], readers["bob"]
    dbsession.rollback()
    loan = circulation.checkout(dbsession, ann["id"], hidden_catalogue.open_shown)
    dbsession.commit()
    checkouts = f"/api/v1/public/patrons/{ann['id']}/checkouts"
    assert [c["checkout_id"] for c in api.get(checkouts, headers=ann["auth"]).json] == [loan.issue_id]
    api.get(checkouts, headers=bob["auth"], status=403)
    circulation.checkin(dbsession, hidden_catalogue.open_shown)
    dbsession.commit()
    assert api.get(checkouts, headers=ann["auth"]).json == []
    assert [c["checkout_id"] for c in api.get(f"{checkouts}?checked_in=true", headers=ann["auth"]).json] == \
        [loan.issue_id]

    password = f"/api/v1/public/patrons/{ann['id']}/password"
    body = {"password": "Brand-new-2", "password_repeated": "Brand-new-2", "old_password": "wrong"}
    assert api.post_json(password, body, headers=ann["auth"], status=400).json["error"] == "Invalid password"
    body["old_password"] = "Reader-pass-1"
    api.post_json(password, {**body, "password_repeated": "other"}, headers=ann["auth"], status=400)
    api.post_json(password, body, headers=bob["auth"], status=403)
    api.post_json(password, body, headers=ann["auth"], status=200)
    api.get(checkouts, headers=ann["auth"], status=403)  # the old password no longer works: "Invalid password"
    assert api.get(checkouts, headers=basic_auth(ann["userid"], "Brand-new-2")).json == []

    fresh = basic_auth(ann["userid"], "Brand-new-2")
    charges = f"/api/v1/public/patrons/{ann['id']}/guarantors/can_see_charges"
    seen = f"/api/v1/public/patrons/{ann['id']}/guarantors/can_see_checkouts"
    api.put_json(charges, {"allowed": True}, headers=fresh, status=403)  # not enabled by the library
    dbsession.rollback()
    set_preference(dbsession, "AllowPatronToSetFinesVisibilityForGuarantor", "1")
    set_preference(dbsession, "AllowPatronToSetCheckoutsVisibilityForGuarantor", "1")
    dbsession.commit()
    api.put_json(charges, {"allowed": True}, headers=fresh)
    api.put_json(seen, {"allowed": True}, headers=fresh)
    api.put_json(seen, {"allowed": "yes"}, headers=fresh, status=400)
    dbsession.rollback()
    patron = dbsession.get(Patron, ann["id"])
    assert patron.privacy_guarantor_fines is True and patron.privacy_guarantor_checkouts is True


def test_bearer_token_of_the_patrons_own_key(api, readers, hidden_catalogue):
    ann = readers["ann"]
    key = api.post_json(f"/api/v1/patrons/{ann['id']}/api_keys", {"description": "my app"}, headers=ann["auth"],
                        status=201).json
    token = api.post("/api/v1/oauth/token", {"grant_type": "client_credentials", "client_id": key["client_id"],
                                             "client_secret": key["secret"]}).json["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    url = f"/api/v1/public/patrons/{ann['id']}/holds"
    api.post_json(url, {"biblio_id": hidden_catalogue.open, "pickup_library_id": "CPL"}, headers=bearer, status=201)
    assert len(api.get(url, headers=bearer).json) == 1
    api.get(f"/api/v1/public/patrons/{readers['bob']['id']}/holds", headers=bearer, status=403)


def test_public_items_and_libraries(api, readers, hidden_catalogue, dbsession):
    shown = api.get("/api/v1/public/items?_per_page=-1").json
    assert {i["item_id"] for i in shown} == {hidden_catalogue.open_shown}
    assert "internal_notes" not in shown[0] and "purchase_price" not in shown[0]
    dbsession.rollback()
    exempt = dbsession.get(Patron, readers["bob"]["id"])
    exempt.categorycode = "ST"
    dbsession.commit()
    seen = {i["item_id"] for i in api.get("/api/v1/public/items?_per_page=-1", headers=readers["bob"]["auth"]).json}
    every = set(dbsession.scalars(select(Item.itemnumber)).all())
    assert seen == every - {hidden_catalogue.suppressed_item}

    dbsession.get(Library, "MPL").public = False
    dbsession.commit()
    codes = {lib["library_id"] for lib in api.get("/api/v1/public/libraries?_per_page=-1").json}
    assert "MPL" not in codes and "CPL" in codes
    assert api.get("/api/v1/public/libraries/CPL").json["name"]
    api.get("/api/v1/public/libraries/MPL", status=404)
    api.get("/api/v1/public/libraries/NOPE", status=404)
