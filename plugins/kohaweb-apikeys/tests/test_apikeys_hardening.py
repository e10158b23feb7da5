"""Tokens under load and under attack: concurrent token requests never fail, wrong client secrets
are throttled with OAuth2's own error, and patrons who may not sign in get and keep no tokens."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import select

import kohaweb.throttle
from kohaweb.auth import set_password
from kohaweb.circulation import restrict
from kohaweb.models import OAuthAccessToken, Patron

TOKEN = "/api/v1/oauth/token"
REQUESTERS = 8
ATTACKER = {"REMOTE_ADDR": "192.0.2.66"}
ELSEWHERE = {"REMOTE_ADDR": "198.51.100.7"}


@pytest.fixture
def app(make_app):
    return make_app(services=["apikeys"], **{"kohaweb.auth.basic": "true"})


@pytest.fixture
def clock(monkeypatch):
    """The throttle's time, moved by the test instead of sleeping."""
    now = [dt.datetime(2026, 12, 3, 9, 0, 0)]
    monkeypatch.setattr(kohaweb.throttle, "current_time", lambda: now[0])
    return now


def ask(app, client_id: str, secret: str, status: int, environ: dict | None = None):
    return app.post(TOKEN, {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
                    extra_environ=environ or ATTACKER, status=status)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


def test_concurrent_token_requests_all_succeed(live_server, staff_user, new_key, dbsession):
    _, _, patron_id = staff_user("robot")
    client_id, secret = new_key(patron_id)
    with live_server(services=["apikeys"]) as base:
        def fetch(_: int) -> tuple[int, str]:
            response = requests.post(f"{base}{TOKEN}", data={"grant_type": "client_credentials"},
                                     auth=(client_id, secret), timeout=120)
            return response.status_code, response.text

        with ThreadPoolExecutor(REQUESTERS) as pool:
            answers = list(pool.map(fetch, range(REQUESTERS)))
        assert [status for status, _ in answers] == [200] * REQUESTERS, answers
        tokens = [requests.models.complexjson.loads(text)["access_token"] for _, text in answers]
        keys_url = f"{base}/api/v1/patrons/{patron_id}/api_keys"
        assert all(requests.get(keys_url, headers=bearer(t), timeout=60).status_code == 200 for t in tokens)
    dbsession.rollback()
    assert len(dbsession.scalars(select(OAuthAccessToken)).all()) == REQUESTERS


def test_wrong_secrets_are_throttled_with_an_oauth2_error(app, staff_user, new_key, clock):
    _, _, patron_id = staff_user("robot")
    client_id, secret = new_key(patron_id)
    for _ in range(60):
        assert ask(app, client_id, "wrong", 401).json["error"] == "invalid_client"
    refused = ask(app, client_id, secret, 401)
    assert refused.json["error"] == "invalid_client" and "try again in 30 seconds" in refused.json["error_description"]
    assert refused.headers["Retry-After"] == "30" and refused.headers["Cache-Control"] == "no-store"
    ask(app, client_id, secret, 401, ELSEWHERE)  # per client id, whatever the address
    clock[0] += dt.timedelta(seconds=30)
    assert ask(app, client_id, secret, 200).json["access_token"]


def test_guessing_many_client_ids_from_one_address_is_throttled(app, staff_user, new_key, clock):
    _, _, patron_id = staff_user("robot")
    client_id, secret = new_key(patron_id)
    for n in range(60):
        ask(app, f"00000000-0000-0000-0000-{n:012d}", "wrong", 401)
    assert ask(app, client_id, secret, 401).headers["Retry-After"] == "30"
    ask(app, client_id, secret, 200, ELSEWHERE)


def test_unknown_client_is_checked_against_a_hash(app, monkeypatch, clock):
    import bcrypt

    checked = []
    real = bcrypt.checkpw
    monkeypatch.setattr(bcrypt, "checkpw", lambda password, hashed: checked.append(hashed) or real(password, hashed))
    ask(app, "00000000-0000-0000-0000-000000000000", "wrong", 401)
    assert len(checked) == 1


def _restricted(session, patron):
    restrict(session, patron, comment="overdue")


def _lost(session, patron):
    patron.lost = True


def _expired(session, patron):
    patron.dateexpiry = dt.date.today() - dt.timedelta(days=1)


def _new_password(session, patron):
    set_password(session, patron, "another password 42")


@pytest.mark.parametrize("change", [_restricted, _lost, _expired, _new_password],
                         ids=["restricted", "lost", "expired", "password"])
def test_a_refused_patron_loses_tokens_and_gets_none(app, staff_user, new_key, dbsession, change):
    _, _, patron_id = staff_user("reader")  # no staff permission: expiry applies
    client_id, secret = new_key(patron_id)
    token = ask(app, client_id, secret, 200).json["access_token"]
    keys_url = f"/api/v1/patrons/{patron_id}/api_keys"
    app.get(keys_url, headers=bearer(token), status=200)
    change(dbsession, dbsession.get(Patron, patron_id))
    dbsession.commit()
    app.get(keys_url, headers=bearer(token), status=401)
    dbsession.rollback()
    assert dbsession.scalars(select(OAuthAccessToken)).all() == []
    dbsession.rollback()
    if change is _new_password:
        ask(app, client_id, secret, 200)  # the key itself stays valid
        return
    refused = ask(app, client_id, secret, 400).json
    assert refused["error"] == "unauthorized_client" and "may not sign in" in refused["error_description"]
