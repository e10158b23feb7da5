"""Server-side sessions: a saved cookie stops working at logout, password change, restriction,
lost card, expiry or max_age."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import webtest
from sqlalchemy import select

from kohaweb.auth import end_sessions, set_password
from kohaweb.circulation import restrict
from kohaweb.models import ApiKey, LoginSession, OAuthAccessToken, Patron

JSON = {"Accept": "application/json"}
PROTECTED = "/api/v1/biblios"  # needs the catalogue permission


@pytest.fixture
def app(make_app):
    return make_app()


def csrf(browser: webtest.TestApp, path: str = "/login") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', browser.get(path).text).group(1)


def log_in(app, userid: str, password: str) -> tuple[webtest.TestApp, str]:
    """A browser signed in through the form, and a copy of its session cookie."""
    browser = webtest.TestApp(app.app)
    browser.post("/login", {"userid": userid, "password": password, "csrf_token": csrf(browser)}, status=303)
    return browser, browser.cookies["kohaweb_session"]


def with_cookie(app, cookie: str) -> dict[str, str]:
    return {"Cookie": f"kohaweb_session={cookie}", **JSON}


def rows(dbsession, model) -> list:
    dbsession.rollback()  # a fresh snapshot, and no read left open while the server writes
    found = list(dbsession.scalars(select(model)))
    dbsession.rollback()
    return found


def test_logout_ends_a_saved_copy_of_the_cookie(app, staff_user, dbsession):
    userid, password, patron_id = staff_user("cat", "catalogue")
    browser, saved = log_in(app, userid, password)
    assert app.get(PROTECTED, headers=with_cookie(app, saved)).status_int == 200
    (row,) = rows(dbsession, LoginSession)
    assert row.borrowernumber == patron_id and saved not in row.token_hash  # only a hash is kept
    browser.post("/logout", {"csrf_token": csrf(browser, "/")}, status=302)
    assert app.get(PROTECTED, headers=with_cookie(app, saved), status=401).json["error_code"] == \
        "authentication_required"
    assert rows(dbsession, LoginSession) == []


def test_a_second_login_ends_the_first_session_of_that_browser(app, staff_user, dbsession):
    userid, password, _ = staff_user("cat", "catalogue")
    browser, first = log_in(app, userid, password)
    browser.post("/login", {"userid": userid, "password": password, "csrf_token": csrf(browser)}, status=303)
    app.get(PROTECTED, headers=with_cookie(app, first), status=401)
    app.get(PROTECTED, headers=with_cookie(app, browser.cookies["kohaweb_session"]), status=200)
    assert len(rows(dbsession, LoginSession)) == 1


def _add_token(dbsession, patron_id: int) -> None:
    dbsession.add(ApiKey(client_id=f"key-{patron_id}", secret="x", description="d", patron_id=patron_id))
    dbsession.add(OAuthAccessToken(access_token=f"hash-{patron_id}", client_id=f"key-{patron_id}", expires=2**31 - 1))
    dbsession.commit()


def test_set_password_ends_every_session_and_token_of_the_patron(app, staff_user, dbsession):
    userid, password, patron_id = staff_user("cat", "catalogue")
    other = staff_user("other", "catalogue")
    _, saved = log_in(app, userid, password)
    _, other_saved = log_in(app, *other[:2])
    _add_token(dbsession, patron_id)
    _add_token(dbsession, other[2])
    set_password(dbsession, dbsession.get(Patron, patron_id), "a new password 123")
    dbsession.commit()
    app.get(PROTECTED, headers=with_cookie(app, saved), status=401)
    app.get(PROTECTED, headers=with_cookie(app, other_saved), status=200)
    assert [t.client_id for t in rows(dbsession, OAuthAccessToken)] == [f"key-{other[2]}"]
    log_in(app, userid, "a new password 123")


def test_a_password_changed_behind_our_back_ends_sessions_too(app, staff_user, dbsession):
    userid, password, patron_id = staff_user("cat", "catalogue")
    _, saved = log_in(app, userid, password)
    patron = dbsession.get(Patron, patron_id)
    patron.password = "$2b$04$" + "x" * 53  # e.g. changed by Koha or by SQL, without set_password
    dbsession.commit()
    app.get(PROTECTED, headers=with_cookie(app, saved), status=401)
    assert rows(dbsession, LoginSession) == []


def _restricted(dbsession, patron):
    restrict(dbsession, patron, comment="overdue")


def _lost(dbsession, patron):
    patron.lost = True


def _expired(dbsession, patron):
    patron.dateexpiry = dt.date.today() - dt.timedelta(days=2)


@pytest.mark.parametrize("change", [_restricted, _lost, _expired], ids=["restricted", "lost", "expired"])
def test_patron_state_ends_sessions_and_tokens(app, staff_user, dbsession, change):
    # a patron without staff permissions (expiry spares staff): the session shows as 403 while
    # valid (signed in, not allowed) and 401 once ended
    userid, password, patron_id = staff_user("reader")
    _, saved = log_in(app, userid, password)
    app.get(PROTECTED, headers=with_cookie(app, saved), status=403)
    _add_token(dbsession, patron_id)
    change(dbsession, dbsession.get(Patron, patron_id))
    dbsession.commit()
    app.get(PROTECTED, headers=with_cookie(app, saved), status=401)
    assert rows(dbsession, LoginSession) == [] and rows(dbsession, OAuthAccessToken) == []
    browser = webtest.TestApp(app.app)
    refused = browser.post("/login", {"userid": userid, "password": password, "csrf_token": csrf(browser)},
                           status=401)
    assert "may not log in" in refused.text


def test_expiry_spares_staff_but_restriction_does_not(app, staff_user, dbsession):
    userid, password, patron_id = staff_user("cat", "catalogue")
    _, saved = log_in(app, userid, password)
    _expired(dbsession, dbsession.get(Patron, patron_id))
    dbsession.commit()
    app.get(PROTECTED, headers=with_cookie(app, saved), status=200)
    _restricted(dbsession, dbsession.get(Patron, patron_id))
    dbsession.commit()
    app.get(PROTECTED, headers=with_cookie(app, saved), status=401)


def test_a_session_ends_after_max_age(make_app, staff_user, dbsession, monkeypatch):
    app = make_app(**{"kohaweb.session.max_age": "3600"})
    userid, password, _ = staff_user("cat", "catalogue")
    _, saved = log_in(app, userid, password)
    (row,) = rows(dbsession, LoginSession)
    assert row.expires - row.created == dt.timedelta(seconds=3600)
    import kohaweb.auth

    later = row.expires + dt.timedelta(seconds=1)
    monkeypatch.setattr(kohaweb.auth, "utcnow", lambda: later)
    app.get(PROTECTED, headers=with_cookie(app, saved), status=401)
    assert rows(dbsession, LoginSession) == []


def test_end_sessions_leaves_other_patrons_alone(staff_user, dbsession):
    ids = [staff_user(name)[2] for name in ("a", "b")]
    for patron_id in ids:
        _add_token(dbsession, patron_id)
    end_sessions(dbsession, ids[0])
    dbsession.commit()
    assert [t.client_id for t in dbsession.scalars(select(OAuthAccessToken))] == [f"key-{ids[1]}"]
    assert len(dbsession.scalars(select(ApiKey)).all()) == 2  # the keys stay; only their tokens end
