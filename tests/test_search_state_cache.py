"""The search state (index status, see-from, number layout) is read once and trusted for
``STATE_CACHE_SECONDS`` per process and database: what this process writes is seen at once,
another process's change within that time, and a rebuild waits it out before emptying the index."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from kohaweb import search
from kohaweb.db import make_engine, make_session_factory
from kohaweb.search import indexer, state


@pytest.fixture
def clock(monkeypatch):
    now = [5000.0]
    monkeypatch.setattr(state, "clock", lambda: now[0])
    return now


@pytest.fixture
def other_process(database_url):
    """A second engine on the same database, writing as another process would: with SQL of its
    own, which this process's preference writes count nothing of."""
    engine = make_engine(database_url)

    def write(variable: str, value: str) -> None:
        with engine.begin() as conn:
            done = conn.execute(text("UPDATE systempreferences SET value = :v WHERE variable = :n"),
                                {"v": value, "n": variable}).rowcount
            if not done:
                conn.execute(text("INSERT INTO systempreferences (variable, value) VALUES (:n, :v)"),
                             {"n": variable, "v": value})

    yield write
    engine.dispose()


def _state(engine):
    session = make_session_factory(engine)()
    try:
        return search.search_state(session)
    finally:
        session.close()


def test_another_processs_change_is_seen_once_the_cache_expires(clean_db, clock, other_process):
    assert _state(clean_db).ready
    other_process(state.PREFERENCE, state.REBUILDING)
    assert _state(clean_db).ready  # trusted for STATE_CACHE_SECONDS
    clock[0] += state.STATE_CACHE_SECONDS / 2
    assert _state(clean_db).ready
    clock[0] += state.STATE_CACHE_SECONDS / 2 + 0.001
    current = _state(clean_db)
    assert not current.ready and current.status == state.REBUILDING
    other_process(state.SEE_FROM_PREFERENCE, "1")
    assert not _state(clean_db).see_from
    clock[0] += state.STATE_CACHE_SECONDS + 0.001
    assert _state(clean_db).see_from


def test_a_preference_this_process_writes_is_seen_at_once(clean_db, clock, dbsession):
    assert _state(clean_db).ready and not _state(clean_db).see_from
    state.set_status(dbsession, state.REBUILDING)
    from kohaweb.preferences import set_preference

    set_preference(dbsession, state.SEE_FROM_PREFERENCE, "1", "YesNo")
    dbsession.commit()
    current = _state(clean_db)
    assert current.status == state.REBUILDING and current.see_from


def test_each_database_has_its_own_state(clean_db, clock, other_process, database_url):
    assert _state(clean_db).ready
    other_process(state.PREFERENCE, state.STALE)
    fresh = make_engine(database_url)  # another engine (another database, for all it knows)
    try:
        assert _state(fresh).status == state.STALE
        assert _state(clean_db).ready
    finally:
        fresh.dispose()


def test_the_session_keeps_the_layout_the_state_gave(clean_db, clock, other_process):
    other_process(state.MULTI_NUMBERS_PREFERENCE, "1")
    session = make_session_factory(clean_db)()
    try:
        assert search.search_state(session).multi_numbers
        other_process(state.MULTI_NUMBERS_PREFERENCE, "2")
        assert state.number_layout(session) == 1  # as read by search_state in this transaction
    finally:
        session.close()


def test_a_range_search_takes_the_layout_from_the_cache_without_a_statement(clean_db, clock, other_process):
    """A request whose ``search_state`` came from the cache has run no statement yet, so its
    session has no transaction to keep the layout with: the query's number range takes the
    layout from the cache too (it read the preference again, one round trip of a date range
    search), within ``STATE_CACHE_SECONDS`` as the rest of the state, then reads it again."""
    from sqlalchemy import event

    other_process(state.MULTI_NUMBERS_PREFERENCE, "1")
    _state(clean_db)  # cached by an earlier request
    seen: list[str] = []

    def note(conn, cursor, statement, *args) -> None:
        if "systempreferences" in statement:
            seen.append(statement)

    event.listen(clean_db, "before_cursor_execute", note)
    try:
        session = make_session_factory(clean_db)()
        try:
            assert search.search_state(session).multi_numbers and not seen
            assert session.get_transaction() is None  # nothing read yet
            other_process(state.MULTI_NUMBERS_PREFERENCE, "2")
            assert state.number_layout(session) == 1 and not seen
        finally:
            session.close()
        clock[0] += state.STATE_CACHE_SECONDS + 0.001
        session = make_session_factory(clean_db)()
        try:
            assert state.number_layout(session) == 2 and len(seen) == 1
        finally:
            session.close()
    finally:
        event.remove(clean_db, "before_cursor_execute", note)


def test_a_rebuild_waits_out_the_cache_before_it_empties_the_index(session_factory, monkeypatch, sample_records):
    sample_records(3)
    seen: list[str] = []

    def wait() -> None:
        with session_factory() as session:
            seen.append(state.status(session))
            seen.append(f"{session.scalar(text('SELECT COUNT(*) FROM search_records'))} records indexed")

    monkeypatch.setattr(state, "wait_for_searches", wait)
    assert indexer.rebuild(session_factory) == 3
    # marked (and committed) before the wait, the index still whole during it
    assert seen == [state.REBUILDING, "3 records indexed"]
