"""Read-only request sessions on the serving thread's kept connection (kohaweb.reader_connections)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select, text

from kohaweb import db, reader_connections
from kohaweb.db import make_session_factory
from kohaweb.models import SystemPreference
from kohaweb.testing import selected_backend

server_only = pytest.mark.skipif(selected_backend() == "sqlite", reason="a server's connections only")


def _server_id(session) -> int:
    """The server's id of the connection ``session`` runs on."""
    if session.get_bind().dialect.name == "postgresql":
        return session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    return session.execute(text("SELECT CONNECTION_ID()")).scalar_one()


def _one_request(factory):
    session = reader_connections.request_session(factory)
    try:
        return _server_id(session)
    finally:
        reader_connections.close(session)


@server_only
def test_requests_of_a_thread_read_on_one_connection_and_see_each_commit(session_factory):
    first = _one_request(session_factory)
    assert _one_request(session_factory) == first
    session = reader_connections.request_session(session_factory)
    try:
        before = session.scalar(select(func.count()).select_from(SystemPreference))
        with db.transaction(session_factory) as writer:  # another connection commits meanwhile
            writer.add(SystemPreference(variable="KeptReaderProbe", value="1"))
        after = session.scalar(select(func.count()).select_from(SystemPreference))
    finally:
        reader_connections.close(session)
    assert after == before + 1  # autocommit: each statement reads what had committed


@server_only
def test_a_second_reader_in_the_same_thread_uses_the_pool(session_factory):
    outer = reader_connections.request_session(session_factory)
    try:
        inner = reader_connections.request_session(session_factory)
        try:
            assert _server_id(inner) != _server_id(outer)
        finally:
            reader_connections.close(inner)
    finally:
        reader_connections.close(outer)
    assert _one_request(session_factory) == _one_request(session_factory)


@server_only
def test_a_kept_connection_the_server_dropped_is_replaced(session_factory, engine, monkeypatch):
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 0.0)  # every kept connection has rested
    lost = _one_request(session_factory)
    with engine.connect() as admin:
        if engine.dialect.name == "postgresql":
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": lost})
        else:
            admin.execute(text(f"KILL {int(lost)}"))
        admin.commit()
    replaced = _one_request(session_factory)  # pinged, found gone, connected anew: no error
    assert replaced != lost
    assert _one_request(session_factory) == replaced


@server_only
def test_threads_keep_at_most_the_pools_size_and_ended_threads_give_theirs_up(database_url):
    engine = db.make_engine(database_url, pool_size=2, max_overflow=4)
    factory = make_session_factory(engine)
    try:
        reader = db.for_reading(engine)
        ids: list[int] = []
        started, release = threading.Barrier(5), threading.Event()

        def hold() -> None:  # four threads reading at once: two keep a connection, two use the pool
            session = reader_connections.request_session(factory)
            try:
                ids.append(_server_id(session))
                started.wait(timeout=10)
                release.wait(timeout=10)
            finally:
                reader_connections.close(session)

        threads = [threading.Thread(target=hold) for _ in range(4)]
        for thread in threads:
            thread.start()
        started.wait(timeout=10)
        assert reader_connections.kept_connections(engine) == 2
        assert len(set(ids)) == 4
        release.set()
        for thread in threads:
            thread.join(timeout=10)
        assert reader.pool.checkedout() == 2  # the two kept ones, their threads now ended
        _one_request(factory)  # this thread needs a place: the ended threads' connections are closed
        assert reader_connections.kept_connections(engine) == 1
        assert reader.pool.checkedout() == 1
    finally:
        engine.dispose()
    assert reader_connections.kept_connections(engine) == 0  # disposing closes them


def test_sqlite_and_pools_that_keep_nothing_read_as_before(database_url):
    from sqlalchemy.pool import NullPool

    engine = db.make_engine(database_url, poolclass=NullPool)
    factory = make_session_factory(engine)
    try:
        session = reader_connections.request_session(factory)
        try:
            assert session.get_bind() is db.for_reading(engine)  # a session on the engine, not a kept connection
            session.execute(text("SELECT 1"))
        finally:
            reader_connections.close(session)
        assert reader_connections.kept_connections(engine) == 0
    finally:
        engine.dispose()


@server_only
def test_a_requests_read_session_is_on_its_threads_kept_connection(make_app, engine):
    app = make_app(services=["sru"])
    search = {"operation": "searchRetrieve", "version": "1.1", "query": "dc.title=anything"}
    app.get("/sru", params=search)
    kept = reader_connections.kept_connections(engine)
    in_use = db.for_reading(engine).pool.checkedout()
    assert kept >= 1  # the request's read session kept its thread's connection
    app.get("/sru", params=search)
    assert (reader_connections.kept_connections(engine), db.for_reading(engine).pool.checkedout()) == (kept, in_use)
