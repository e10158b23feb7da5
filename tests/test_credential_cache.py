"""Credentials verified once are remembered for a short time (kohaweb.credential_cache): the next
HTTP Basic calls skip bcrypt, yet a password change, a lost card or a restriction is refused at
once, failures are never remembered, and the cache holds no password."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading

import bcrypt
import pytest

import kohaweb.throttle
from kohaweb.auth import set_password
from kohaweb.circulation import restrict
from kohaweb.credential_cache import CredentialCache, site_cache, stamp_of, verify_cached
from kohaweb.models import Patron
from kohaweb.settings import ConfigError
from kohaweb.testing import basic_auth, selected_backend

JSON = {"Accept": "application/json"}
PROTECTED = "/api/v1/biblios"  # needs the catalogue permission
database_independent = pytest.mark.skipif(selected_backend() != "sqlite",
                                          reason="no database involved: run once, with SQLite")


@pytest.fixture
def checkpw_calls(monkeypatch) -> list[bytes]:
    """Every bcrypt.checkpw call (the passwords it was given), still checking for real."""
    calls: list[bytes] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        calls.append(password)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    return calls


@pytest.fixture
def app(make_app):
    return make_app(**{"kohaweb.auth.basic": "true"})


def cache_of(app) -> CredentialCache:
    cache = site_cache(app.app.registry.kohaweb)
    assert cache is not None
    return cache


def get(app, userid: str, password: str, status: int = 200, environ: dict | None = None):
    return app.get(PROTECTED, headers={**basic_auth(userid, password), **JSON}, status=status,
                   extra_environ=environ or {})


def patron_row(dbsession, patron_id: int) -> Patron:
    dbsession.rollback()  # a fresh snapshot
    return dbsession.get(Patron, patron_id)


def test_second_basic_call_does_not_run_bcrypt(app, staff_user, checkpw_calls):
    userid, password, _ = staff_user("cat", "catalogue")
    get(app, userid, password)
    assert len(checkpw_calls) == 1
    for _ in range(3):
        get(app, userid, password)
    assert len(checkpw_calls) == 1
    assert len(cache_of(app)) == 1


def test_password_change_refuses_the_old_password_at_once(app, staff_user, dbsession, checkpw_calls):
    userid, password, patron_id = staff_user("cat", "catalogue")
    get(app, userid, password)
    get(app, userid, password)
    set_password(dbsession, patron_row(dbsession, patron_id), "a brand new password")
    dbsession.commit()
    before = len(checkpw_calls)
    get(app, userid, password, status=403)  # Koha's REST API: "Invalid password"
    assert len(checkpw_calls) == before + 1  # checked again, not taken from the cache
    get(app, userid, "a brand new password")
    get(app, userid, "a brand new password")
    get(app, userid, password, status=403)


@pytest.mark.parametrize("refusal", ["lost", "restricted"])
def test_refused_patron_is_refused_at_once_despite_the_cache(app, staff_user, dbsession, checkpw_calls, refusal):
    userid, password, patron_id = staff_user("cat", "catalogue")
    get(app, userid, password)
    get(app, userid, password)
    patron = patron_row(dbsession, patron_id)
    if refusal == "lost":
        patron.lost = 1
    else:
        restrict(dbsession, patron, comment="unpaid fines")
    dbsession.commit()
    dbsession.rollback()
    body = get(app, userid, password, status=401).json
    assert body["error_code"] == "invalid_token" and ("lost" in body["error"] or "restricted" in body["error"]), body
    assert len(checkpw_calls) == 1  # the password was right (from the cache); the patron is refused


def test_wrong_passwords_are_never_cached(app, staff_user, checkpw_calls):
    userid, password, _ = staff_user("cat", "catalogue")
    for _ in range(3):
        get(app, userid, "wrong password", status=403)
    get(app, "nobody", "wrong password", status=403)
    assert len(checkpw_calls) == 4
    assert len(cache_of(app)) == 0
    get(app, userid, password)
    assert len(cache_of(app)) == 1


def test_a_cached_password_is_still_throttled(app, staff_user, checkpw_calls, monkeypatch):
    """The throttle is consulted before the cache: after many failures even a remembered right
    password waits, like any other attempt."""
    now = [dt.datetime(2026, 12, 3, 9, 0, 0)]
    monkeypatch.setattr(kohaweb.throttle, "current_time", lambda: now[0])
    userid, password, _ = staff_user("cat", "catalogue")
    get(app, userid, password)
    for _ in range(5):  # kohaweb.login.max_failures
        get(app, userid, "wrong", status=403)
    refused = get(app, userid, password, status=401)
    assert int(refused.headers["Retry-After"]) > 0
    now[0] += dt.timedelta(seconds=3600)
    calls = len(checkpw_calls)
    get(app, userid, password)
    assert len(checkpw_calls) == calls  # remembered again once the wait is over


def test_another_patron_taking_over_the_login_gets_no_cached_access(app, staff_user, dbsession):
    userid, password, patron_id = staff_user("cat", "catalogue")
    get(app, userid, password)
    patron = patron_row(dbsession, patron_id)
    patron.userid = "renamed"
    dbsession.commit()
    other_id = staff_user("other", "catalogue", password="another password")[2]
    other = patron_row(dbsession, other_id)
    other.userid = userid
    dbsession.commit()
    get(app, userid, password, status=403)
    get(app, "renamed", password)


def test_zero_seconds_disables_the_cache(make_app, staff_user, checkpw_calls):
    app = make_app(**{"kohaweb.auth.basic": "true", "kohaweb.auth.credential_cache_seconds": "0"})
    userid, password, _ = staff_user("cat", "catalogue")
    for _ in range(3):
        get(app, userid, password)
    assert len(checkpw_calls) == 3
    assert len(cache_of(app)) == 0


@database_independent
def test_the_setting_is_declared_and_checked(make_app):
    with pytest.raises(ConfigError, match="credential_cache_seconds"):
        make_app(**{"kohaweb.auth.credential_cache_seconds": "-1"})


def test_the_cache_holds_no_password(app, staff_user):
    userid, password, patron_id = staff_user("cat", "catalogue")
    get(app, userid, password)
    cache = cache_of(app)
    ((key, entry),) = list(cache._entries.items())
    secret = password.encode()
    plain_hashes = {hashlib.sha256(secret).digest(), hashlib.sha256(secret).hexdigest().encode(),
                    hashlib.sha256(f"{userid}:{password}".encode()).digest()}
    assert len(key) == 32 and secret not in key and key not in plain_hashes
    assert entry.subject == patron_id
    assert password not in repr(entry) and entry.stamp not in {h.hex() for h in plain_hashes}
    # the key is an HMAC under this process's own random key: another cache keys differently
    assert CredentialCache(60).key("patron", userid, password) != key
    assert cache.key("patron", userid, password) == key


# --- the cache alone -------------------------------------------------------------------------------

class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@database_independent
def test_entries_expire_after_the_ttl():
    clock = FakeClock()
    cache = CredentialCache(60, clock=clock)
    cache.put("patron", "cat", "pw", 7, "$2b$hash")
    assert cache.matches("patron", "cat", "pw", 7, "$2b$hash")
    clock.now += 59
    assert cache.matches("patron", "cat", "pw", 7, "$2b$hash")
    clock.now += 2
    assert not cache.matches("patron", "cat", "pw", 7, "$2b$hash")
    assert len(cache) == 0


@database_independent
def test_an_entry_is_used_only_for_its_subject_and_hash():
    cache = CredentialCache(60)
    cache.put("patron", "cat", "pw", 7, "$2b$old")
    assert not cache.matches("patron", "cat", "pw", 8, "$2b$old")
    cache.put("patron", "cat", "pw", 7, "$2b$old")
    assert not cache.matches("patron", "cat", "pw", 7, "$2b$new")
    assert len(cache) == 0  # a stale entry is dropped
    cache.put("patron", "cat", "pw", 7, "$2b$old")
    assert not cache.matches("client", "cat", "pw", 7, "$2b$old")  # kinds are apart
    assert not cache.matches("patron", "ca", "tpw", 7, "$2b$old")  # parts cannot run together
    assert cache.get("patron", "cat", "pw").stamp == stamp_of("$2b$old")


@database_independent
def test_size_is_bounded_least_recently_used_first():
    cache = CredentialCache(60, max_entries=3)
    for n in range(3):
        cache.put("patron", f"u{n}", "pw", n, "h")
    assert cache.get("patron", "u0", "pw") is not None  # u0 used: u1 is now the oldest
    cache.put("patron", "u3", "pw", 3, "h")
    assert len(cache) == 3
    assert cache.get("patron", "u1", "pw") is None
    assert all(cache.get("patron", f"u{n}", "pw") is not None for n in (0, 2, 3))


@database_independent
def test_verify_cached_remembers_only_successes():
    cache = CredentialCache(60)
    checks: list[str] = []

    def verify(secret: str, stored: str | None) -> bool:
        checks.append(secret)
        return stored == "h" and secret == "right"

    assert not verify_cached(cache, "patron", "cat", "wrong", 7, "h", verify)
    assert not verify_cached(cache, "patron", "cat", "wrong", 7, "h", verify)
    assert not verify_cached(cache, "patron", "nobody", "right", None, None, verify)
    assert len(cache) == 0 and len(checks) == 3
    assert verify_cached(cache, "patron", "cat", "right", 7, "h", verify)
    assert verify_cached(cache, "patron", "cat", "right", 7, "h", verify)
    assert len(checks) == 4
    assert not verify_cached(None, "patron", "cat", "wrong", 7, "h", verify)
    assert verify_cached(None, "patron", "cat", "right", 7, "h", verify) and len(checks) == 6


@database_independent
def test_threads_share_the_cache_safely():
    cache = CredentialCache(60, max_entries=500)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for n in range(2000):
                login = f"u{(worker * 7919 + n) % 800}"
                cache.put("patron", login, "pw", n, "h")
                cache.matches("patron", login, "pw", n, "h")
                cache.get("patron", f"u{n % 800}", "pw")
        except BaseException as exc:  # noqa: BLE001  (reported by the assertion below)
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(cache) <= 500

