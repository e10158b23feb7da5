"""POST /api/v1/oauth/token (client credentials) and the bearer tokens it issues."""

from __future__ import annotations

import base64
import hashlib
import time

import pytest
from sqlalchemy import select

from kohaweb.models import OAuthAccessToken

TOKEN_URL = "/api/v1/oauth/token"
SERVICES = ["apikeys", "status"]  # /status/details (permission `parameters`) is a protected resource


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


@pytest.fixture
def app(make_app):
    return make_app(services=SERVICES)


@pytest.fixture
def admin_key(staff_user, new_key):
    """A key of a patron holding `parameters` (enough for /status/details)."""
    _, _, patron_id = staff_user("keeper", "parameters", "catalogue")
    return new_key(patron_id)


def fetch(app, client_id, secret, status=200, **extra):
    params = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, **extra}
    return app.post(TOKEN_URL, params, status=status)


def test_token_with_body_credentials_then_api_call(app, admin_key, dbsession, key_row):
    client_id, secret = admin_key
    response = fetch(app, client_id, secret)
    body = response.json
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert response.headers["Cache-Control"] == "no-store"
    token = body["access_token"]
    assert len(token) >= 43
    stored = dbsession.scalars(select(OAuthAccessToken)).all()
    # only a hash is stored, and it expires in the configured lifetime
    assert [t.access_token for t in stored] == [hashlib.sha256(token.encode()).hexdigest()]
    assert stored[0].client_id == client_id and stored[0].scope is None
    assert abs(stored[0].expires - (time.time() + 3600)) < 120
    assert key_row(client_id).last_used_on is not None
    details = app.get("/status/details", headers=bearer(token))
    assert details.json["status"] == "ok"


def test_token_with_http_basic(app, admin_key):
    client_id, secret = admin_key
    token = app.post(TOKEN_URL, {"grant_type": "client_credentials"}, headers=basic(client_id, secret)).json
    app.get("/status/details", headers=bearer(token["access_token"]))


@pytest.mark.parametrize("how", ["wrong secret", "unknown client", "nothing", "basic wrong", "basic garbage"])
def test_invalid_client_is_401_with_challenge(app, admin_key, how):
    client_id, secret = admin_key
    if how == "wrong secret":
        response = fetch(app, client_id, secret + "x", status=401)
    elif how == "unknown client":
        response = fetch(app, "6d3c3c38-0000-4000-8000-000000000000", secret, status=401)
    elif how == "nothing":
        response = app.post(TOKEN_URL, {"grant_type": "client_credentials"}, status=401)
    elif how == "basic wrong":
        response = app.post(TOKEN_URL, {"grant_type": "client_credentials"}, headers=basic(client_id, "nope"),
                            status=401)
    else:
        response = app.post(TOKEN_URL, {"grant_type": "client_credentials"},
                            headers={"Authorization": "Basic %%%"}, status=401)
    assert response.json["error"] == "invalid_client"
    assert response.json["error_code"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith('Basic realm="kohaweb"')
    assert "access_token" not in response.json


def test_request_errors(app, admin_key):
    client_id, secret = admin_key
    missing = app.post(TOKEN_URL, {"client_id": client_id, "client_secret": secret}, status=400)
    assert missing.json["error"] == "invalid_request"
    other = fetch(app, client_id, secret, status=400, grant_type="password")
    assert other.json["error"] == "unsupported_grant_type"
    both = app.post(TOKEN_URL, {"grant_type": "client_credentials", "client_id": client_id,
                                "client_secret": secret}, headers=basic(client_id, secret), status=400)
    assert both.json["error"] == "invalid_request"
    twice = app.post(TOKEN_URL, f"grant_type=client_credentials&grant_type=client_credentials"
                                f"&client_id={client_id}&client_secret={secret}",
                     content_type="application/x-www-form-urlencoded", status=400)
    assert twice.json["error"] == "invalid_request"
    as_json = app.post_json(TOKEN_URL, {"grant_type": "client_credentials", "client_id": client_id,
                                        "client_secret": secret}, status=415)
    assert as_json.json["error_code"] == "unsupported_media_type"  # the OpenAPI document's check
    not_utf8 = app.post(TOKEN_URL, b"grant_type=\xff\xfe", content_type="application/x-www-form-urlencoded",
                        status=400)
    assert not_utf8.json["error"] == "invalid_request"


def test_grant_switched_off(make_app, admin_key):
    client_id, secret = admin_key
    on = make_app(services=SERVICES)
    token = fetch(on, client_id, secret).json["access_token"]
    off = make_app(services=SERVICES, **{"apikeys.client_credentials": "false"})
    refused = fetch(off, client_id, secret, status=400)
    assert refused.json["error"] == "unsupported_grant_type"
    denied = off.get("/status/details", headers=bearer(token), status=401)
    assert "WWW-Authenticate" in denied.headers


def test_token_lifetime_setting_and_expiry(make_app, admin_key, dbsession):
    client_id, secret = admin_key
    app = make_app(services=SERVICES, **{"apikeys.token_lifetime": "120"})
    token = fetch(app, client_id, secret).json
    assert token["expires_in"] == 120
    app.get("/status/details", headers=bearer(token["access_token"]))
    hashed = hashlib.sha256(token["access_token"].encode()).hexdigest()
    stored = dbsession.get(OAuthAccessToken, hashed)
    stored.expires = int(time.time()) - 1
    dbsession.commit()
    expired = app.get("/status/details", headers=bearer(token["access_token"]), status=401)
    assert "access token expired" in expired.text
    # the next issue purges the dead row
    fetch(app, client_id, secret)
    dbsession.expire_all()
    assert dbsession.get(OAuthAccessToken, hashed) is None


def test_bad_tokens_are_401(app, admin_key):
    for token in ["nonsense", "x" * 600, ""]:
        response = app.get("/status/details", headers={"Authorization": f"Bearer {token}"}, status=401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_token_acts_with_the_patrons_permissions(app, staff_user, new_key):
    _, _, patron_id = staff_user("reader", "catalogue")
    client_id, secret = new_key(patron_id)
    token = fetch(app, client_id, secret).json["access_token"]
    denied = app.get("/status/details", headers={**bearer(token), "Accept": "application/json"}, status=403)
    assert denied.json["required_permissions"] == {"parameters": 1}


def test_scopes_narrow_permissions(app, admin_key):
    client_id, secret = admin_key
    narrow = fetch(app, client_id, secret, scope="catalogue").json
    assert narrow["scope"] == "catalogue"
    app.get("/status/details", headers=bearer(narrow["access_token"]), status=403)
    wide = fetch(app, client_id, secret, scope="parameters catalogue").json
    app.get("/status/details", headers=bearer(wide["access_token"]))
    assert fetch(app, client_id, secret, status=400, scope="reports").json["error"] == "invalid_scope"
    assert fetch(app, client_id, secret, status=400, scope="no_such_thing").json["error"] == "invalid_scope"


def test_revoked_or_deleted_key_kills_its_tokens(app, admin_key, dbsession, key_row):
    from kohaweb_apikeys import keys

    client_id, secret = admin_key
    token = fetch(app, client_id, secret).json["access_token"]
    app.get("/status/details", headers=bearer(token))
    keys.revoke(dbsession, key_row(client_id, load=True))
    dbsession.commit()
    assert "invalid access token" in app.get("/status/details", headers=bearer(token), status=401).text
    refused = fetch(app, client_id, secret, status=400)
    assert refused.json["error"] == "unauthorized_client"
    keys.activate(dbsession, key_row(client_id, load=True))
    dbsession.commit()
    # re-activation does not bring old tokens back, but new ones work
    app.get("/status/details", headers=bearer(token), status=401)
    token = fetch(app, client_id, secret).json["access_token"]
    app.get("/status/details", headers=bearer(token))
    keys.delete_key(dbsession, key_row(client_id, load=True))
    dbsession.commit()
    app.get("/status/details", headers=bearer(token), status=401)
    fetch(app, client_id, secret, status=401)


def test_inactive_key_refused_even_if_token_row_remains(app, admin_key, dbsession, key_row):
    """Defence in depth: the validator checks the key itself, not only the token row."""
    client_id, secret = admin_key
    token = fetch(app, client_id, secret).json["access_token"]
    key_row(client_id, load=True).active = False
    dbsession.commit()
    response = app.get("/status/details", headers=bearer(token), status=401)
    assert "revoked" in response.text


def test_token_endpoint_refuses_query_and_other_methods(app, admin_key):
    client_id, secret = admin_key
    # undeclared query parameters are refused by the core's OpenAPI validation, like Koha
    response = app.post(TOKEN_URL + "?client_secret=" + secret,
                        {"grant_type": "client_credentials", "client_id": client_id}, status=400)
    assert response.json["errors"][0]["path"] == "/query/client_secret"
    assert app.get(TOKEN_URL, status=405).json["error_code"] == "method_not_allowed"


@pytest.mark.parametrize("client_id", ["%00", "a%00b", "%ED%A0%80", "%ff%fe", "x" * 300, "%F0%9F%94%91"])
def test_odd_client_ids_are_invalid_client(app, client_id):
    body = f"grant_type=client_credentials&client_id={client_id}&client_secret=s%00"
    response = app.post(TOKEN_URL, body, content_type="application/x-www-form-urlencoded", status=(400, 401))
    assert response.json["error"] in ("invalid_client", "invalid_request")
    encoded = base64.b64encode(b"\x00\xff:\x00").decode()
    response = app.post(TOKEN_URL, {"grant_type": "client_credentials"},
                        headers={"Authorization": f"Basic {encoded}"}, status=401)
    assert response.json["error"] == "invalid_client"


def test_last_used_on_follows_use_at_the_configured_interval(make_app, admin_key, dbsession, key_row):
    import datetime as dt

    client_id, secret = admin_key
    long_ago = dt.datetime(2020, 1, 1)
    for interval, expect_update in (("3600", False), ("0", True)):
        app = make_app(services=SERVICES, **{"apikeys.last_used_interval": interval})
        token = fetch(app, client_id, secret).json["access_token"]
        key_row(client_id, load=True).last_used_on = dt.datetime.now(dt.UTC).replace(tzinfo=None) \
            if not expect_update else long_ago
        dbsession.commit()
        before = key_row(client_id).last_used_on
        app.get("/status/details", headers=bearer(token))
        after = key_row(client_id).last_used_on
        assert (after != before) is expect_update
        if expect_update:
            assert after > long_ago


def test_scopes_name_modules_or_sub_permissions(app, staff_user, new_key, reference_data):
    """A patron holding only Koha sub-permissions may narrow a token to their module or to one
    of them; the token holds what both the patron and its scopes give."""
    _, _, patron_id = staff_user("clerk", "catalogue", "parameters:manage_patron_categories",
                                 "reserveforothers:place_holds")
    client_id, secret = new_key(patron_id)
    json_bearer = lambda token: {**bearer(token), "Accept": "application/json"}  # noqa: E731

    by_module = fetch(app, client_id, secret, scope="parameters").json
    assert by_module["scope"] == "parameters"
    assert app.get("/api/v1/patron_categories", headers=json_bearer(by_module["access_token"])).json
    # the module scope gives no more than the patron's sub-permissions of it
    app.get("/status/details", headers=json_bearer(by_module["access_token"]), status=403)
    app.get("/api/v1/holds", headers=json_bearer(by_module["access_token"]), status=403)

    by_code = fetch(app, client_id, secret, scope="reserveforothers:place_holds catalogue").json
    assert set(by_code["scope"].split()) == {"catalogue", "reserveforothers:place_holds"}
    assert app.get("/api/v1/holds", headers=json_bearer(by_code["access_token"])).json == []
    refused = app.get("/api/v1/patron_categories", headers=json_bearer(by_code["access_token"]), status=403).json
    assert refused["required_permissions"] == {"parameters": "manage_patron_categories"}

    # only what the patron holds, and only known names
    for scope in ("reserveforothers:modify_holds_priority", "circulate", "parameters:manage_cities",
                  "reserveforothers:fly", "nothing:place_holds"):
        assert fetch(app, client_id, secret, status=400, scope=scope).json["error"] == "invalid_scope", scope


def test_superlibrarian_token_narrowed_to_a_sub_permission(app, staff_user, new_key, reference_data):
    _, _, patron_id = staff_user("chief", "superlibrarian")
    client_id, secret = new_key(patron_id)
    token = fetch(app, client_id, secret, scope="parameters:manage_patron_categories").json["access_token"]
    headers = {**bearer(token), "Accept": "application/json"}
    assert app.get("/api/v1/patron_categories", headers=headers).json
    app.get("/status/details", headers=headers, status=403)
