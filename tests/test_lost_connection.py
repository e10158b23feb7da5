"""A connection the server dropped while it rested in the pool for less than the ping delay
(kohaweb.db.PING_AFTER_IDLE) is met mid-request: the request runs again once, on a new
connection, and the client sees nothing (a database restart costs no failed request)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
import webtest
from sqlalchemy import create_engine, event, text

from kohaweb import db
from kohaweb.app import make_app
from kohaweb.testing import make_settings, selected_backend

pytestmark = pytest.mark.skipif(selected_backend() == "sqlite", reason="SQLite has no server connection to lose")


def _server_ids(engine) -> list[int]:
    """The server ids of the connections the site's engine makes, its readers' included (on
    MariaDB a pool of their own, kohaweb.db.for_reading)."""
    ids: list[int] = []

    def remember(dbapi_connection, record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT pg_backend_pid()" if selected_backend() == "postgresql" else "SELECT CONNECTION_ID()")
        ids.append(int(cursor.fetchone()[0]))
        cursor.close()
        if selected_backend() == "postgresql":
            dbapi_connection.commit()

    readers = db.for_reading(engine)
    for pooled in [engine] if readers.pool is engine.pool else [engine, readers]:
        event.listen(pooled, "connect", remember)
    return ids


def _drop(database_url: str, ids: list[int]) -> None:
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for server_id in ids:
            if selected_backend() == "postgresql":
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": server_id})
            else:
                conn.execute(text(f"KILL {server_id}"))
    admin.dispose()


def test_a_request_meeting_a_dropped_connection_runs_again(database_url, clean_db, sample_records, monkeypatch):
    sample_records(3)
    engine = db.make_engine(database_url)
    ids = _server_ids(engine)
    app = webtest.TestApp(make_app(make_settings(database_url, ["sru"]), engine=engine))
    query = "/sru?" + urlencode({"version": "1.1", "operation": "searchRetrieve", "query": "cql.allRecords=1"})
    try:
        assert b"<zs:numberOfRecords>3<" in app.get(query).body
        monkeypatch.setattr(db, "PING_AFTER_IDLE", 3600.0)  # the pooled connection goes out unchecked
        first = list(ids)
        _drop(database_url, first)
        assert b"<zs:numberOfRecords>3<" in app.get(query).body  # answered by a second attempt
        assert len(ids) > len(first)  # on a new connection
        _drop(database_url, ids[len(first):])
        monkeypatch.setattr(db, "PING_AFTER_IDLE", 0.0)  # the usual way: found by the ping, replaced
        assert b"<zs:numberOfRecords>3<" in app.get(query).body
    finally:
        engine.dispose()
