"""Fixtures of the apikeys tests (the core's fixtures come from kohaweb.testing). Helpers are
fixtures too: test modules are imported with importlib, so they cannot import each other."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from kohaweb_apikeys.keys import create_key

from kohaweb.models import ApiKey


@pytest.fixture
def new_key(dbsession):
    """``new_key(patron_id, "description")`` -> (client_id, secret) of a fresh active key."""

    def create(patron_id: int, description: str = "test key") -> tuple[str, str]:
        fresh = create_key(dbsession, patron_id, description)
        dbsession.commit()
        return fresh.key.client_id, fresh.secret

    return create


@pytest.fixture
def key_row(dbsession):
    """``key_row(client_id)`` -> the stored ApiKey as the server sees it now. The test's read
    transaction is ended before and after, so it neither sees a stale snapshot nor holds locks
    the application's writes would wait for; change a row with ``key_row(id, load=True)``."""

    def load(client_id: str, load: bool = False) -> ApiKey | SimpleNamespace | None:
        dbsession.rollback()
        key = dbsession.get(ApiKey, client_id)
        if load or key is None:
            return key
        snapshot = SimpleNamespace(**{c.key: getattr(key, c.key) for c in ApiKey.__table__.columns})
        dbsession.rollback()
        return snapshot

    return load


def _login(app, userid: str, password: str):
    page = app.get("/login")
    form = next(f for f in page.forms.values() if "userid" in f.fields)
    form["userid"] = userid
    form["password"] = password
    return form.submit(status=303)


@pytest.fixture
def login():
    """``login(webtest_app, userid, password)``: log in through the core's /login form."""
    return _login
