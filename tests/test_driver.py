"""kohaweb.driver.read_rows: the hot reads run on the driver's cursor, with the rows, events and
errors a statement run by SQLAlchemy would have."""

from __future__ import annotations

import pytest
from sqlalchemy import Integer, bindparam, column, event, select, table, text
from sqlalchemy.exc import DBAPIError

from kohaweb import driver
from kohaweb.formats import pages
from kohaweb.preferences import _several_statement, set_preference
from kohaweb.search import postings


def _driver_path(session, statement) -> bool:
    return driver._plan(statement, session.connection().dialect) is not None


def test_the_search_reads_take_the_driver_path_with_the_same_rows(dbsession, sample_records):
    numbers = sample_records(5)
    set_preference(dbsession, "SearchIndexStatus", "ready", "Choice")
    dbsession.commit()
    checks = [
        (postings._pairs_statement(2), {"idx0": "_all", "term0": "", "idx1": "title", "term1": "zzz"}),
        (postings._pairs_statement(1, positional=False), {"idx0": "_all", "term0": ""}),
        (postings._one_term(True), {"idx": "_all", "term": ""}),
        (postings._blocks_statement(True), {"idx": "_all", "term": "", "low": 0, "high": 3}),
        (_several_statement(2), {"name_0": "searchindexstatus", "name_1": "nothing"}),
        (postings._size_statement(), {"idx": "_all", "term": ""}),
    ]
    for statement, params in checks:
        assert _driver_path(dbsession, statement), statement
        rows = driver.read_rows(dbsession, statement, params)
        assert rows == [tuple(row) for row in dbsession.execute(statement, params)], statement
        assert rows and all(type(row) is tuple for row in rows)
    assert postings.size(dbsession) == 5
    page = pages._records_statement(8)
    params = {f"n{i}": numbers[min(i, len(numbers) - 1)] for i in range(8)}
    # SQLite's dates (stored as text) need converting: that statement goes through SQLAlchemy there
    assert _driver_path(dbsession, page) == (dbsession.get_bind().dialect.name != "sqlite")
    assert driver.read_rows(dbsession, page, params) == [tuple(r) for r in dbsession.execute(page, params)]


def test_statements_sqlalchemy_must_process_go_through_it(dbsession):
    t = table("search_records", column("biblionumber", Integer))
    expanding = select(t.c.biblionumber).where(t.c.biblionumber.in_(bindparam("numbers", expanding=True)))
    fixed = select(t.c.biblionumber).where(t.c.biblionumber == 5)  # a value bound in the statement
    for statement in (expanding, fixed):
        assert not _driver_path(dbsession, statement)
    assert driver.read_rows(dbsession, expanding, {"numbers": [1, 2]}) == []
    assert driver.read_rows(dbsession, fixed, {}) == []


def test_cursor_events_see_the_statement(dbsession):
    seen = []

    def note(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    engine = dbsession.get_bind()
    event.listen(engine, "before_cursor_execute", note)
    try:
        driver.read_rows(dbsession, postings._one_term(False), {"idx": "title", "term": "x"})
    finally:
        event.remove(engine, "before_cursor_execute", note)
    reads = [statement for statement, _ in seen if "search_postings" in statement]  # SQLite's BEGIN aside
    assert len(reads) == 1


def test_driver_errors_are_sqlalchemys_and_the_session_goes_on(dbsession):
    missing = select(table("no_such_table", column("x")).c.x).where(column("x") == bindparam("x"))
    with pytest.raises(DBAPIError) as raised:
        driver.read_rows(dbsession, missing, {"x": 1})
    assert not raised.value.connection_invalidated
    dbsession.rollback()
    assert driver.read_rows(dbsession, postings._one_term(False), {"idx": "title", "term": "x"}) == []


def test_a_lost_connection_is_invalidated(dbsession, engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("ending another session's connection from the server: PostgreSQL")
    pid = dbsession.execute(text("SELECT pg_backend_pid()")).scalar()
    with engine.connect() as admin:
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        admin.commit()
    with pytest.raises(DBAPIError) as raised:
        driver.read_rows(dbsession, postings._one_term(False), {"idx": "title", "term": "x"})
    assert raised.value.connection_invalidated
    dbsession.rollback()
    assert driver.read_rows(dbsession, postings._one_term(False), {"idx": "title", "term": "x"}) == []
