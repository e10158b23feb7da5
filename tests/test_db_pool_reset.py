"""A MariaDB connection goes back to the pool without a second ROLLBACK when its transaction has
ended, and with one when it may still be in a transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from kohaweb.db import new_session


@pytest.fixture
def mariadb(clean_db):
    if clean_db.dialect.name not in ("mysql", "mariadb"):
        pytest.skip("MariaDB's drivers send ROLLBACK as a round trip; the other drivers know when no transaction is open")
    return clean_db


def _rollbacks(engine, work) -> list[str]:
    """The ROLLBACKs the driver sends to the server while ``work`` runs."""
    sent: list[str] = []
    with engine.connect() as conn:  # the pooled connection the work will reuse
        dbapi_connection = conn.connection.dbapi_connection
    original = type(dbapi_connection).rollback

    def rollback(self):
        sent.append("ROLLBACK")
        return original(self)

    type(dbapi_connection).rollback = rollback
    try:
        work()
    finally:
        type(dbapi_connection).rollback = original
    return sent


def test_a_closed_read_session_sends_no_rollback(mariadb, session_factory):
    """A reader's statements run in autocommit (kohaweb.db.for_reading): nothing to roll back.
    (Before, the session's ROLLBACK was sent, and before that the pool added a second.)"""
    def read():
        session = new_session(session_factory, read=True)
        session.execute(text("SELECT COUNT(*) FROM systempreferences")).scalar()
        session.close()

    assert _rollbacks(mariadb, read) == []


def test_a_closed_session_that_may_write_rolls_back_once(mariadb, session_factory):
    def work():
        session = new_session(session_factory)
        session.execute(text("SELECT COUNT(*) FROM systempreferences")).scalar()
        session.close()

    assert _rollbacks(mariadb, work) == ["ROLLBACK"]  # the session's; the pool adds none


def test_a_committed_transaction_needs_no_rollback(mariadb, session_factory):
    def write():
        with session_factory() as session:
            session.execute(text("SELECT COUNT(*) FROM systempreferences")).scalar()
            session.commit()

    assert _rollbacks(mariadb, write) == []


def test_a_connection_given_back_in_a_transaction_is_rolled_back(mariadb):
    """Work done on the driver's connection directly, past SQLAlchemy's transactions: the pool
    cannot know that it ended, so it rolls back, and nothing of it stays."""
    with mariadb.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS pool_reset_probe (n INT)"))
    try:
        raw = mariadb.raw_connection()
        cursor = raw.cursor()
        cursor.execute("INSERT INTO pool_reset_probe (n) VALUES (1)")
        cursor.close()
        raw.close()  # back to the pool, the INSERT neither committed nor rolled back
        with mariadb.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM pool_reset_probe")).scalar() == 0
    finally:
        with mariadb.begin() as conn:
            conn.execute(text("DROP TABLE pool_reset_probe"))
