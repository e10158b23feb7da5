"""The REST operations on /api/v1/patrons/{patron_id}/api_keys and their OpenAPI document."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kohaweb.auth import verify_password
from kohaweb.models import ApiKey, OAuthAccessToken
from kohaweb.testing import basic_auth

JSON = {"Accept": "application/json"}


@pytest.fixture
def app(make_app):
    return make_app(services=["apikeys"], **{"kohaweb.auth.basic": "true"})


@pytest.fixture
def owner(staff_user):
    return staff_user("owner")


@pytest.fixture
def as_owner(owner):
    return basic_auth(owner[0], owner[1])


def keys_url(patron_id: int, *rest: str) -> str:
    return "/".join([f"/api/v1/patrons/{patron_id}/api_keys", *rest])


def token_for(app, client_id: str, secret: str, **extra) -> dict[str, str]:
    body = app.post("/api/v1/oauth/token", {"grant_type": "client_credentials", "client_id": client_id,
                                            "client_secret": secret, **extra}).json
    return {"Authorization": f"Bearer {body['access_token']}"}


def test_owner_creates_lists_gets_revokes_activates_deletes(app, owner, as_owner, dbsession):
    patron_id = owner[2]
    assert app.get(keys_url(patron_id), headers=as_owner).json == []
    created = app.post_json(keys_url(patron_id), {"description": "Discovery layer"}, headers=as_owner, status=201)
    body = created.json
    assert set(body) == {"client_id", "description", "patron_id", "active", "created_on", "last_used_on",
                         "secret"}
    assert body["patron_id"] == patron_id and body["active"] is True and body["last_used_on"] is None
    assert created.location.endswith(keys_url(patron_id, body["client_id"]))
    assert created.headers["Cache-Control"] == "no-store"
    stored = dbsession.scalars(select(ApiKey)).one()
    assert stored.secret != body["secret"] and verify_password(body["secret"], stored.secret)
    client_id = body["client_id"]

    listed = app.get(keys_url(patron_id), headers=as_owner)
    assert [k["client_id"] for k in listed.json] == [client_id] and "secret" not in listed.json[0]
    one = app.get(keys_url(patron_id, client_id), headers=as_owner).json
    assert one["description"] == "Discovery layer" and "secret" not in one

    assert app.post(keys_url(patron_id, client_id, "revoke"), headers=as_owner).json["active"] is False
    again = app.post(keys_url(patron_id, client_id, "revoke"), headers=as_owner, status=409)
    assert again.json["error_code"] == "already_revoked"
    assert app.post(keys_url(patron_id, client_id, "activate"), headers=as_owner).json["active"] is True
    assert app.post(keys_url(patron_id, client_id, "activate"), headers=as_owner,
                    status=409).json["error_code"] == "already_active"
    app.delete(keys_url(patron_id, client_id), headers=as_owner, status=204)
    app.delete(keys_url(patron_id, client_id), headers=as_owner, status=404)
    dbsession.rollback()
    assert dbsession.scalars(select(ApiKey)).all() == []


@pytest.mark.parametrize("method, suffix", [("GET", ""), ("POST", ""), ("GET", "/{key}"), ("DELETE", "/{key}"),
                                            ("POST", "/{key}/revoke"), ("POST", "/{key}/activate")])
def test_every_operation_401_403_404(app, owner, as_owner, staff_user, new_key, key_row, dbsession, method,
                                    suffix):
    patron_id = owner[2]
    client_id, _ = new_key(patron_id)
    url = keys_url(patron_id) + suffix.format(key=client_id)
    body = {"description": "x"} if method == "POST" and not suffix else None

    def call(target, headers=None, status=None):
        kwargs = {"headers": {**JSON, **(headers or {})}, "status": status}
        if body is not None:
            return app.post_json(target, body, **kwargs)
        return app.request(target, method=method, **kwargs)

    anonymous = call(url, status=401)
    assert anonymous.json["error_code"] == "authentication_required" and "WWW-Authenticate" in anonymous.headers
    call(url, headers=basic_auth(owner[0], "wrong password"), status=403)  # Koha: "Invalid password"
    stranger = staff_user("stranger", "catalogue", "borrowers")
    denied = call(url, headers=basic_auth(stranger[0], stranger[1]), status=403)
    assert denied.json["required_permissions"] == {"superlibrarian": 1}
    # a stranger asking about a patron that does not exist learns nothing: still 403
    call(url.replace(f"/patrons/{patron_id}/", "/patrons/999999/"), headers=basic_auth(stranger[0], stranger[1]),
         status=403)
    boss = staff_user("boss", "superlibrarian")
    as_boss = basic_auth(boss[0], boss[1])
    missing = call(url.replace(f"/patrons/{patron_id}/", "/patrons/999999/"), headers=as_boss, status=404)
    assert missing.json["error_code"] == "not_found"
    if suffix:
        call(keys_url(patron_id) + suffix.format(key="no-such-key"), headers=as_owner, status=404)
        # a key of another patron is not found under this patron
        call(keys_url(boss[2]) + suffix.format(key=client_id), headers=as_boss, status=404)
    # allowed: the superlibrarian, then the owner (on a second key), each once
    second, _ = new_key(patron_id)
    if suffix.endswith("activate"):
        for key in (client_id, second):
            key_row(key, load=True).active = False
            dbsession.commit()
    call(url, headers=as_boss, status=None)
    call(keys_url(patron_id) + suffix.format(key=second), headers=as_owner, status=None)


def test_pagination_and_filters(app, owner, as_owner, new_key):
    patron_id = owner[2]
    for n in range(5):
        new_key(patron_id, f"key {n}")
    page = app.get(keys_url(patron_id), {"_per_page": 2, "_page": 2, "_order_by": "+description"},
                   headers=as_owner)
    assert [k["description"] for k in page.json] == ["key 2", "key 3"]
    assert page.headers["X-Total-Count"] == "5" and page.headers["X-Base-Total-Count"] == "5"
    assert 'rel="next"' in page.headers["Link"] and 'rel="prev"' in page.headers["Link"]
    everything = app.get(keys_url(patron_id), {"_per_page": -1}, headers=as_owner).json
    assert len(everything) == 5
    filtered = app.get(keys_url(patron_id), {"description": "key 4", "_match": "exact"}, headers=as_owner)
    assert [k["description"] for k in filtered.json] == ["key 4"] and filtered.headers["X-Total-Count"] == "1"
    app.get(keys_url(patron_id), {"secret": "x"}, headers=as_owner, status=400)  # not a field: refused
    app.get(keys_url(patron_id), {"_per_page": 0}, headers=as_owner, status=400)


def test_bad_bodies_are_400(app, owner, as_owner, dbsession):
    url = keys_url(owner[2])
    for body in [{}, {"description": ""}, {"description": "   "}, {"description": 5},
                 {"description": "x" * 256}, {"description": "ok", "secret": "mine"}, []]:
        response = app.post_json(url, body, headers=as_owner, status=400)
        assert response.json["error_code"]
    app.post(url, "description=x", headers=as_owner, content_type="application/x-www-form-urlencoded", status=415)
    assert dbsession.scalars(select(ApiKey)).all() == []


def test_bearer_token_manages_its_own_patrons_keys_unless_scoped(app, owner, as_owner, staff_user, new_key):
    client_id, secret = new_key(owner[2])
    other_id, _ = new_key(owner[2], "second")
    unscoped = token_for(app, client_id, secret)
    assert {k["client_id"] for k in app.get(keys_url(owner[2]), headers=unscoped).json} == {client_id, other_id}
    assert app.post(keys_url(owner[2], other_id, "revoke"), headers=unscoped).json["active"] is False
    boss = staff_user("boss2", "superlibrarian", "catalogue")
    boss_key, boss_secret = new_key(boss[2])
    scoped = token_for(app, boss_key, boss_secret, scope="catalogue")
    app.get(keys_url(boss[2]), headers={**scoped, **JSON}, status=403)
    app.get(keys_url(owner[2]), headers={**scoped, **JSON}, status=403)
    app.get(keys_url(owner[2]), headers=token_for(app, boss_key, boss_secret))


def test_a_bearer_token_cannot_mint_lasting_keys_for_its_own_patron(app, owner, as_owner, staff_user,
                                                                     new_key, dbsession):
    client_id, secret = new_key(owner[2])
    revoked_id, _ = new_key(owner[2], "revoked")
    app.post(keys_url(owner[2], revoked_id, "revoke"), headers=as_owner)
    unscoped = token_for(app, client_id, secret)
    refused = app.post_json(keys_url(owner[2]), {"description": "via token"}, headers=unscoped, status=403)
    assert refused.json["error_code"] == "forbidden" and "log in" in refused.json["error"]
    app.post(keys_url(owner[2], revoked_id, "activate"), headers=unscoped, status=403)
    dbsession.rollback()
    assert {k.client_id for k in dbsession.scalars(select(ApiKey))} == {client_id, revoked_id}
    assert dbsession.get(ApiKey, revoked_id).active is False
    dbsession.rollback()  # end the test's read before the server writes again
    # the patron signed in with their password may; so may a token whose patron may manage others' keys
    app.post_json(keys_url(owner[2]), {"description": "via Basic"}, headers=as_owner, status=201)
    boss = staff_user("boss3", "superlibrarian")
    boss_key, boss_secret = new_key(boss[2])
    boss_token = token_for(app, boss_key, boss_secret)
    app.post_json(keys_url(boss[2]), {"description": "boss via token"}, headers=boss_token, status=201)
    app.post(keys_url(owner[2], revoked_id, "activate"), headers=boss_token, status=200)


def test_deleting_through_the_api_kills_tokens(app, owner, as_owner, new_key, dbsession):
    client_id, secret = new_key(owner[2])
    token = token_for(app, client_id, secret)
    app.get(keys_url(owner[2]), headers=token)
    app.post(keys_url(owner[2], client_id, "revoke"), headers=as_owner)
    app.get(keys_url(owner[2]), headers={**token, **JSON}, status=401)
    dbsession.rollback()
    assert dbsession.scalars(select(OAuthAccessToken)).all() == []


def test_session_writes_need_the_csrf_header(app, owner, login):
    login(app, owner[0], owner[1])
    url = keys_url(owner[2])
    assert app.get(url).json == []  # reading with the session cookie is fine
    refused = app.post_json(url, {"description": "from the browser"}, status=403)
    assert refused.json["error_code"] == "csrf_token_invalid"
    csrf = app.get(f"/patrons/{owner[2]}/api-keys").forms["generate"]["csrf_token"].value
    app.post_json(url, {"description": "from the browser"}, headers={"X-CSRF-Token": csrf}, status=201)


def test_borrowers_setting(make_app, owner, staff_user):
    clerk = staff_user("clerk", "borrowers")
    strict = make_app(services=["apikeys"], **{"kohaweb.auth.basic": "true"})
    strict.get(keys_url(owner[2]), headers=basic_auth(clerk[0], clerk[1]), status=403)
    lenient = make_app(services=["apikeys"], **{"kohaweb.auth.basic": "true",
                                                "apikeys.borrowers_manage_keys": "true"})
    lenient.get(keys_url(owner[2]), headers=basic_auth(clerk[0], clerk[1]), status=200)
    denied = lenient.get(keys_url(owner[2]), headers={**basic_auth("owner", "nope"), **JSON}, status=403)
    assert denied.json["error_code"]


def test_openapi_document(app):
    from openapi_spec_validator import validate

    document = app.get("/api/v1/").json
    validate(document)
    paths = document["paths"]
    token = paths["/oauth/token"]["post"]
    assert token["security"] == [] and "application/x-www-form-urlencoded" in token["requestBody"]["content"]
    listing = paths["/patrons/{patron_id}/api_keys"]["get"]
    assert listing["x-koha-authorization"] == {"permissions": {"superlibrarian": "1"}}
    assert {"401", "403", "404"} <= set(listing["responses"])
    assert {"/patrons/{patron_id}/api_keys/{client_id}", "/patrons/{patron_id}/api_keys/{client_id}/revoke",
            "/patrons/{patron_id}/api_keys/{client_id}/activate"} <= set(paths)
    assert "409" in paths["/patrons/{patron_id}/api_keys/{client_id}/revoke"]["post"]["responses"]
    assert "/oauth/token" in app.get("/api/v1/.html").text


def test_out_of_range_and_odd_values(app, staff_user):
    boss = staff_user("boss4", "superlibrarian")
    as_boss = {**basic_auth(boss[0], boss[1]), **JSON}
    app.get("/api/v1/patrons/99999999999999999999/api_keys", headers=as_boss, status=400)
    app.get("/api/v1/patrons/0/api_keys", headers=as_boss, status=400)
    app.get("/api/v1/patrons/abc/api_keys", headers=as_boss, status=(400, 404))
    app.get(keys_url(boss[2], "x" * 300), headers=as_boss, status=400)
    app.get(keys_url(boss[2], "%C3%A9t%C3%A9"), headers=as_boss, status=404)
    for description in ["nul\x00byte", "tab\there ok?", "\ud800"]:
        response = app.post(keys_url(boss[2]), json_body_bytes(description), headers=as_boss,
                            content_type="application/json", expect_errors=True)
        assert response.status_int in (201, 400), response.text
        if "\x00" in description or "\ud800" in description:
            assert response.status_int == 400


def json_body_bytes(description: str) -> bytes:
    import json

    return json.dumps({"description": description}).encode()
