"""Failed sign-ins are throttled per account and per address (kohaweb.throttle), on the login form
and HTTP Basic; unknown names cost a password check like known ones."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import webtest
from sqlalchemy import select

import kohaweb.throttle
from kohaweb.models import LoginFailure
from kohaweb.testing import basic_auth, selected_backend

ATTACKER = {"REMOTE_ADDR": "192.0.2.66"}
ELSEWHERE = {"REMOTE_ADDR": "198.51.100.7"}
PROTECTED = "/api/v1/biblios"
JSON = {"Accept": "application/json"}
database_independent = pytest.mark.skipif(selected_backend() != "sqlite",
                                          reason="no database involved: run once, with SQLite")


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 3, 9, 0, 0)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: int) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """The throttle's time, moved by the test instead of sleeping."""
    clock = Clock()
    monkeypatch.setattr(kohaweb.throttle, "current_time", clock)
    return clock


@pytest.fixture
def app(make_app):
    return make_app(**{"kohaweb.auth.basic": "true"})


def form_login(app, userid: str, password: str, environ: dict, status: int) -> webtest.TestResponse:
    browser = webtest.TestApp(app.app, extra_environ=environ)
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/login").text).group(1)
    return browser.post("/login", {"userid": userid, "password": password, "csrf_token": token}, status=status)


def basic(app, userid: str, password: str, environ: dict, status: int) -> webtest.TestResponse:
    return app.get(PROTECTED, headers={**basic_auth(userid, password), **JSON}, extra_environ=environ,
                   status=status)


def test_form_sixty_wrong_passwords_then_the_right_one_waits_for_the_backoff(app, staff_user, clock):
    userid, password, _ = staff_user("cat", "catalogue")
    for _ in range(60):
        form_login(app, userid, "wrong", ATTACKER, 401)
    refused = form_login(app, userid, password, ATTACKER, 401)
    assert "Too many failed log-in attempts" in refused.text
    wait = int(refused.headers["Retry-After"])
    assert wait == 30  # kohaweb.login.backoff after kohaweb.login.max_failures (5) failures
    # per account: another address is refused as well
    assert "Too many" in form_login(app, userid, password, ELSEWHERE, 401).text
    clock.advance(wait - 1)
    form_login(app, userid, password, ATTACKER, 401)
    clock.advance(1)
    form_login(app, userid, password, ATTACKER, 303)


def test_the_wait_doubles_with_each_further_failure(app, staff_user, clock):
    userid, password, _ = staff_user("cat", "catalogue")
    for _ in range(5):
        form_login(app, userid, "wrong", ATTACKER, 401)
    assert form_login(app, userid, password, ATTACKER, 401).headers["Retry-After"] == "30"
    clock.advance(30)
    form_login(app, userid, "wrong", ATTACKER, 401)  # checked again: a sixth failure
    assert form_login(app, userid, password, ATTACKER, 401).headers["Retry-After"] == "60"
    clock.advance(60)
    form_login(app, userid, password, ATTACKER, 303)
    # the success cleared the account's failures: the next wrong password is one of one
    form_login(app, userid, "wrong", ATTACKER, 401)
    form_login(app, userid, password, ATTACKER, 303)


def test_basic_sixty_wrong_passwords_then_the_right_one_waits(app, staff_user, clock):
    userid, password, _ = staff_user("cat", "catalogue")
    for _ in range(60):
        basic(app, userid, "wrong", ATTACKER, (401, 403))  # 403 "Invalid password", 401 once throttled
    refused = basic(app, userid, password, ATTACKER, 401)
    assert refused.headers["Retry-After"] == "30"
    assert "too many failed sign-ins" in refused.json["error"]
    assert "Basic" in " ".join(refused.headers.getall("WWW-Authenticate"))
    basic(app, userid, password, ELSEWHERE, 401)
    clock.advance(30)
    basic(app, userid, password, ATTACKER, 200)


def test_per_address_many_names_from_one_address(app, staff_user, clock):
    userid, password, _ = staff_user("cat", "catalogue")
    for n in range(60):  # a different name each time: no account reaches its threshold
        basic(app, f"guess{n}", "wrong", ATTACKER, (401, 403))
    assert basic(app, userid, password, ATTACKER, 401).headers["Retry-After"] == "30"
    assert "Too many" in form_login(app, userid, password, ATTACKER, 401).text
    basic(app, userid, password, ELSEWHERE, 200)  # the account itself is fine
    clock.advance(30)
    basic(app, userid, password, ATTACKER, 200)


def test_unknown_names_are_throttled_like_real_ones(app, clock):
    for _ in range(5):
        assert basic(app, "nobody", "wrong", ATTACKER, 403).json["error"] == "Invalid password"
    assert basic(app, "nobody", "wrong", ELSEWHERE, 401).headers["Retry-After"] == "30"


def test_failures_expire_after_the_window(app, staff_user, clock, dbsession):
    userid, password, _ = staff_user("cat", "catalogue")
    for _ in range(4):
        form_login(app, userid, "wrong", ATTACKER, 401)
    clock.advance(901)
    for _ in range(4):
        form_login(app, userid, "wrong", ATTACKER, 401)
    form_login(app, userid, password, ATTACKER, 303)
    dbsession.rollback()
    # old rows were purged; the address keeps its own four recent failures
    assert sorted(f.scope for f in dbsession.scalars(select(LoginFailure))) == ["address"] * 4


def test_unknown_user_is_checked_against_a_hash(app, staff_user, monkeypatch, clock):
    import bcrypt

    checked = []
    real = bcrypt.checkpw
    monkeypatch.setattr(bcrypt, "checkpw", lambda password, hashed: checked.append(hashed) or real(password, hashed))
    basic(app, "no-such-user", "secret", ATTACKER, 403)
    form_login(app, "no-such-user", "secret", ATTACKER, 401)
    assert len(checked) == 2 and all(h.startswith(b"$2") for h in checked)
    userid, _, _ = staff_user("cat", "catalogue")
    basic(app, userid, "wrong", ATTACKER, 403)
    assert len(checked) == 3


def test_throttle_settings_are_declared_and_checked(make_app):
    from kohaweb.settings import ConfigError

    with pytest.raises(ConfigError) as failure:
        make_app(**{"kohaweb.login.window": "10"})
    assert "kohaweb.login.window: must be at least 60" in str(failure.value)


@database_independent
def test_policy_delay():
    policy = kohaweb.throttle.Policy(max_failures=5, address_max_failures=20, window=900, backoff=30)
    assert [policy.delay("account", n) for n in (0, 4, 5, 6, 7, 10, 500)] == [0, 0, 30, 60, 120, 900, 900]
    assert policy.delay("address", 19) == 0 and policy.delay("address", 20) == 30


@database_independent
def test_forwarded_for_is_believed_only_from_trusted_proxies(make_app):
    from pyramid.request import Request

    app = make_app(**{"kohaweb.trusted_proxies": "10.0.0.0/8"})
    registry = app.app.registry

    def address(remote: str, forwarded: str | None) -> str:
        request = Request.blank("/", remote_addr=remote, headers={"X-Forwarded-For": forwarded} if forwarded else {})
        request.registry = registry
        return kohaweb.throttle.client_address(request)

    assert address("10.1.1.1", "203.0.113.9, 10.2.2.2") == "203.0.113.9"
    assert address("192.0.2.1", "203.0.113.9") == "192.0.2.1"  # not a proxy of ours: ignored
    assert address("10.1.1.1", "garbage") == "10.1.1.1"
    assert address("::ffff:192.0.2.5", None) == "192.0.2.5"
