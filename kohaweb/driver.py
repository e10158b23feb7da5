"""Statements run on the database driver's cursor, past SQLAlchemy's execution machinery.

Two kinds of work gain from it: bulk writes (``kohaweb.bulk``: COPY, multi-row INSERTs) and the
few reads every search request makes (``read_rows``). SQLAlchemy's execution of a statement
(its compiled-cache lookup, parameter processing, execution context and result set-up) cost a
quarter of a rare-word SRU request's CPU, more than the database's answer; the driver alone
costs a fraction of that.

What SQLAlchemy would still have done is kept: the SQL is SQLAlchemy's own compilation of the
statement for the database, cursor events are dispatched (tests count statements with them),
and driver errors are raised as SQLAlchemy's (``driver_errors``), a lost connection invalidated.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select, sqltypes


@contextlib.contextmanager
def driver_errors(conn: Connection, statement: str) -> Iterator[None]:
    """The driver's errors raised as SQLAlchemy's (IntegrityError...), as a statement SQLAlchemy
    ran would raise them: callers catch those, and kohaweb.db's retry reads them. A lost
    connection is invalidated, so the pool does not hand it out again."""
    dbapi = conn.dialect.loaded_dbapi
    try:
        yield
    except dbapi.Error as exc:
        lost = conn.dialect.is_disconnect(exc, conn.connection.dbapi_connection, None)
        if lost:
            conn.invalidate(exc)
        raise DBAPIError.instance(statement, None, exc, dbapi.Error, connection_invalidated=lost,
                                  dialect=conn.dialect) from exc


# (id of the statement, database) -> (the statement, kept alive so that its id is not reused;
# its SQL, parameter order and result format, or None when it must go through SQLAlchemy)
_Plan = tuple[str, tuple[str, ...] | None, bool]
_PLANS: dict[tuple[int, str], tuple[Select, _Plan | None]] = {}
_MOST_PLANS = 512  # statements built once and kept by their modules: a few dozen in all
_plans_lock = threading.Lock()


def autoflush(session: Session) -> None:
    """Flush what the session holds when it autoflushes, as an ORM read would before reading:
    reads run on the driver (``read_rows``) then see the transaction's pending changes too.
    Nothing to do, the usual case, costs no statement."""
    if session.autoflush:
        session.flush()  # returns at once when the session holds no change


def read_rows(session: Session, statement: Select, params: Mapping[str, Any]) -> list[tuple]:
    """The rows (tuples) of a Core ``statement`` run with ``params`` in ``session``'s transaction.

    Run on the driver's cursor when SQLAlchemy has nothing to do between the two: every
    parameter is a plain named ``bindparam`` given in ``params`` (no expanding IN, no literal
    rendering, no value conversion) and no result column needs converting on this database
    (SQLite's dates, MariaDB's booleans do; such statements go through ``session.execute``,
    with the same rows). For statements built once and kept (module-level, ``functools.cache``):
    their SQL is compiled once per database and kept by the statement's identity."""
    conn = session.connection()
    plan = _plan(statement, conn.dialect)
    if plan is None:
        return [tuple(row) for row in session.execute(statement, params)]
    sql, order, binary = plan
    values: Any = params if order is None else [params[name] for name in order]
    dispatch = conn.dispatch
    with driver_errors(conn, sql):
        dbapi_connection: Any = conn.connection.dbapi_connection
        cursor = dbapi_connection.cursor(binary=True) if binary else dbapi_connection.cursor()
        try:
            if dispatch.before_cursor_execute:
                dispatch.before_cursor_execute(conn, cursor, sql, values, None, False)
            cursor.execute(sql, values)
            rows = list(cursor.fetchall())  # MariaDB's drivers give a tuple of rows
            if dispatch.after_cursor_execute:
                dispatch.after_cursor_execute(conn, cursor, sql, values, None, False)
        finally:
            cursor.close()
    return rows


def _plan(statement: Select, dialect: Dialect) -> _Plan | None:
    key = (id(statement), dialect.name)
    known = _PLANS.get(key)
    if known is not None and known[0] is statement:
        return known[1]
    plan = _compile(statement, dialect)
    with _plans_lock:
        if len(_PLANS) >= _MOST_PLANS:
            _PLANS.clear()  # statements built per call were passed: start again rather than grow
        _PLANS[key] = (statement, plan)
    return plan


# Result columns of these types come back from psycopg's binary format as the same Python values
# as from its text format. Posting lists are bytea: as text they travel hexadecimal, twice their
# size, and are decoded from it (a common word's rows at 1M records: 7 ms read as text, 3 ms as
# binary). A type outside this list (an enum, a type psycopg has no binary loader for, which it
# would return as bytes) keeps the text format.
_BINARY_SAFE = (sqltypes.Integer, sqltypes.String, sqltypes.LargeBinary, sqltypes.Boolean)


def _compile(statement: Select, dialect: Dialect) -> _Plan | None:
    compiled = statement.compile(dialect=dialect)
    binds = compiled.binds.values()
    if any(bind.expanding or bind.literal_execute or bind.callable is not None or bind.value is not None
           for bind in binds):
        return None
    if any(bind.type._cached_bind_processor(dialect) is not None for bind in binds):
        return None
    for column in compiled._result_columns:  # (key, name, objects, type) per selected column
        if column[3]._cached_result_processor(dialect, None) is not None:
            return None
    order = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup is not None else None
    if compiled.positional and order is None:
        return None
    binary = dialect.name == "postgresql" and dialect.driver == "psycopg" and all(
        isinstance(column[3], _BINARY_SAFE) and not isinstance(column[3], sqltypes.Enum)
        for column in compiled._result_columns)
    return compiled.string, order, binary
