"""Fixtures of the apikeys tests (the core's fixtures come from kohaweb.testing)."""

from __future__ import annotations

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
    """``key_row(client_id)`` -> the stored ApiKey, read afresh."""

    def load(client_id: str) -> ApiKey | None:
        dbsession.expire_all()
        return dbsession.get(ApiKey, client_id)

    return load
