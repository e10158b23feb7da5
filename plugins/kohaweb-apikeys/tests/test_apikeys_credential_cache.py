"""A client secret verified once is remembered for a short time (kohaweb.credential_cache): the
next token requests skip bcrypt, yet a revoked or deleted key, a changed secret hash or a refused
patron is refused at once, and wrong secrets are never remembered."""

from __future__ import annotations

import bcrypt
import pytest

from kohaweb.auth import hash_password
from kohaweb.credential_cache import site_cache
from kohaweb.models import Patron

TOKEN_URL = "/api/v1/oauth/token"
SERVICES = ["apikeys", "status"]


@pytest.fixture
def checkpw_calls(monkeypatch) -> list[bytes]:
    """Every bcrypt.checkpw call, still checking for real."""
    calls: list[bytes] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        calls.append(password)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    return calls


@pytest.fixture
def app(make_app):
    return make_app(services=SERVICES)


@pytest.fixture
def admin_key(staff_user, new_key):
    _, _, patron_id = staff_user("keeper", "parameters", "catalogue")
    return (*new_key(patron_id), patron_id)


def fetch(app, client_id: str, secret: str, status: int = 200):
    return app.post(TOKEN_URL, {"grant_type": "client_credentials", "client_id": client_id,
                                "client_secret": secret}, status=status)


def test_second_token_request_does_not_run_bcrypt(app, admin_key, checkpw_calls):
    client_id, secret, _ = admin_key
    first = fetch(app, client_id, secret).json["access_token"]
    second = fetch(app, client_id, secret).json["access_token"]
    assert first != second
    assert len(checkpw_calls) == 1
    app.get("/status/details", headers={"Authorization": f"Bearer {second}"})


def test_revoked_key_is_refused_at_once(app, admin_key, dbsession, key_row, checkpw_calls):
    from kohaweb_apikeys import keys

    client_id, secret, _ = admin_key
    fetch(app, client_id, secret)
    fetch(app, client_id, secret)
    keys.revoke(dbsession, key_row(client_id, load=True))
    dbsession.commit()
    assert fetch(app, client_id, secret, status=400).json["error"] == "unauthorized_client"
    keys.activate(dbsession, key_row(client_id, load=True))
    dbsession.commit()
    fetch(app, client_id, secret)
    keys.delete_key(dbsession, key_row(client_id, load=True))
    dbsession.commit()
    assert fetch(app, client_id, secret, status=401).json["error"] == "invalid_client"


def test_a_changed_secret_hash_is_checked_again(app, admin_key, dbsession, key_row, checkpw_calls):
    client_id, secret, _ = admin_key
    fetch(app, client_id, secret)
    key_row(client_id, load=True).secret = hash_password("a replacement secret")
    dbsession.commit()
    calls = len(checkpw_calls)
    assert fetch(app, client_id, secret, status=401).json["error"] == "invalid_client"
    assert len(checkpw_calls) == calls + 1
    fetch(app, client_id, "a replacement secret")


def test_refused_patron_gets_no_token_despite_the_cache(app, admin_key, dbsession, checkpw_calls):
    client_id, secret, patron_id = admin_key
    fetch(app, client_id, secret)
    dbsession.rollback()
    dbsession.get(Patron, patron_id).lost = 1
    dbsession.commit()
    refused = fetch(app, client_id, secret, status=400).json
    assert refused["error"] == "unauthorized_client" and "lost" in refused["error_description"]
    assert len(checkpw_calls) == 1


def test_wrong_secrets_are_never_cached(app, admin_key, checkpw_calls):
    client_id, secret, _ = admin_key
    for _ in range(3):
        fetch(app, client_id, secret + "x", status=401)
    fetch(app, "6d3c3c38-0000-4000-8000-000000000000", secret, status=401)
    assert len(checkpw_calls) == 4
    cache = site_cache(app.app.registry.kohaweb)
    assert cache is not None and len(cache) == 0
    fetch(app, client_id, secret)
    assert len(cache) == 1


def test_zero_seconds_disables_the_cache(make_app, admin_key, checkpw_calls):
    app = make_app(services=SERVICES, **{"kohaweb.auth.credential_cache_seconds": "0"})
    client_id, secret, _ = admin_key
    fetch(app, client_id, secret)
    fetch(app, client_id, secret)
    assert len(checkpw_calls) == 2
