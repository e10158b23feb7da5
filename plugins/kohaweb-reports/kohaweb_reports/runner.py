"""Running checked report SQL so that it cannot write, cannot read secrets, cannot run for ever
and cannot fill memory.

Reports get connections of their own (never the application's pool), read-only for the whole
session, restricted to what reports may read (``access``), and each run is a read-only
transaction that is rolled back, never committed:

- SQLite: the file opened ``mode=ro`` with ``PRAGMA query_only``, the authorizer of ``access``,
  ``SQLITE_LIMIT_LENGTH`` bounding every value (``reports.max_bytes``, at least 1 MB); a progress
  handler interrupts the statement at the deadline.
- PostgreSQL: ``default_transaction_read_only`` for the session; per run ``SET TRANSACTION READ
  ONLY``, ``SET LOCAL statement_timeout`` and ``SET LOCAL ROLE`` to the reports role; rows come
  from a server-side cursor.
- MariaDB: a user of its own; ``SET SESSION TRANSACTION READ ONLY`` (a READ ONLY transaction alone
  does not stop DDL, which commits implicitly and runs outside it), ``START TRANSACTION READ ONLY``
  and ``SET STATEMENT max_statement_time=…, group_concat_max_len=… FOR`` per run; rows streamed.

Rows are read one at a time and counted in bytes: past ``reports.max_bytes`` the run stops with
``ResultTooLarge`` (a JSON 400, never a 500).
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy import URL, Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import QueuePool

from kohaweb.plugin_api import make_engine

from .access import Readable, sqlite_authorizer
from .prepare import Prepared

PG_QUERY_CANCELED = "57014"
MARIADB_STATEMENT_TIMEOUT = 1969


class ReportFailed(Exception):
    """The database refused or interrupted the report. ``message`` is the database's own words
    (for staff only); ``timeout`` tells whether the statement timeout stopped it, ``code`` the
    JSON error code (``query_failed``, ``timeout``, ``result_too_large``)."""

    def __init__(self, message: str, timeout: bool = False, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.timeout = timeout
        self.code = code or ("timeout" if timeout else "query_failed")


class ResultTooLarge(ReportFailed):
    """The result (or one value built on the way) passed ``reports.max_bytes``."""

    def __init__(self, message: str):
        super().__init__(message, code="result_too_large")


class DatabaseUnavailable(Exception):
    """No connection could be made (-> HTTP 503)."""


class ReportsUnavailable(DatabaseUnavailable):
    """No connection restricted to what reports may read could be made (-> HTTP 503); the
    message tells the administrator what to do."""


class TooBusy(Exception):
    """Too many reports are running at once (-> HTTP 429)."""


@dataclass(frozen=True)
class Result:
    columns: list[str]
    rows: list[tuple]
    truncated: bool  # more rows existed than the row limit
    size: int = 0  # bytes of the values, as counted against reports.max_bytes


@dataclass(frozen=True)
class Access:
    """How reports connect: ``url``; on PostgreSQL the role every run sets (``SET LOCAL ROLE``);
    on SQLite the authorizer's map of readable columns (see ``access``)."""

    url: URL
    set_role: str | None = None
    readable: Readable | None = None
    schema_objects: tuple[str, ...] = ()  # SQLite: every table and view (see access.sqlite_authorizer)


class Runner:
    """Runs prepared report SQL on connections of its own. ``access`` is called when the first
    connection is needed (the service sets up and checks the restricted role there)."""

    def __init__(self, backend: str, timeout_ms: int, max_rows: int, max_running: int = 0,
                 max_bytes: int = 5_000_000, access: Callable[[], Access] | None = None, url: URL | None = None):
        self.backend = backend
        self.timeout_ms = timeout_ms
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self._access = access or (lambda: Access(url))
        self._current: Access | None = None
        self._readonly: Engine | None = None
        self._lock = threading.Lock()
        self._running = threading.BoundedSemaphore(max_running) if max_running > 0 else None
        self._pool_size = max_running if max_running > 0 else 4

    def run(self, prepared: Prepared) -> Result:
        if self._running is not None and not self._running.acquire(blocking=False):
            raise TooBusy("too many reports are running; try again shortly")
        try:
            with self._connection() as conn:
                return self.execute(conn, prepared)
        finally:
            if self._running is not None:
                self._running.release()

    def dispose(self) -> None:
        with self._lock:
            if self._readonly is not None:
                self._readonly.dispose()
            self._readonly, self._current = None, None

    # --- connections --------------------------------------------------------------------------

    @contextmanager
    def _connection(self, engine: Engine | None = None) -> Iterator[Connection]:
        try:
            conn = (engine or self.engine()).connect()
        except SQLAlchemyError as exc:
            raise DatabaseUnavailable(str(exc).splitlines()[0]) from exc
        try:
            yield conn
        finally:
            try:
                conn.rollback()
            except SQLAlchemyError:
                pass
            finally:
                conn.close()

    def engine(self) -> Engine:
        """The reports' own read-only, restricted engine (created on first use)."""
        with self._lock:
            if self._readonly is None:
                self._current = self._access()
                self._readonly = self.build_engine(self._current)
            return self._readonly

    def build_engine(self, access: Access) -> Engine:
        return readonly_engine(access, self.backend, self._pool_size, self.max_bytes)

    def probe(self, access: Access, statement: str) -> str | None:
        """Run ``statement`` as a report would with ``access`` (a fresh engine); the database's
        error message, or None when it ran."""
        engine = self.build_engine(access)
        try:
            with self._connection(engine) as conn:
                self.execute(conn, Prepared(statement, ()), access)
            return None
        except ReportFailed as exc:
            return exc.message
        finally:
            engine.dispose()

    # --- execution ----------------------------------------------------------------------------

    def execute(self, conn: Connection, prepared: Prepared, access: Access | None = None) -> Result:
        """Run one statement in a read-only transaction with the timeout, the role and the
        limits; the rows up to ``max_rows`` + 1 and ``max_bytes``."""
        access = access or self._current
        sql = prepared.sql
        params = prepared.params or None
        interrupted = threading.Event()
        raw = None
        stream = conn
        started = time.monotonic()
        try:
            if self.backend == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(self.timeout_ms)}")
                if access is not None and access.set_role:
                    conn.exec_driver_sql(f"SET LOCAL ROLE {conn.dialect.identifier_preparer.quote(access.set_role)}")
                stream = conn.execution_options(stream_results=True, max_row_buffer=10)
            elif self.backend == "mariadb":
                conn.exec_driver_sql("START TRANSACTION READ ONLY")
                sql = (f"SET STATEMENT max_statement_time={self.timeout_ms / 1000:.3f}, "
                       f"group_concat_max_len={int(self.max_bytes)} FOR {sql}")
                stream = conn.execution_options(stream_results=True, max_row_buffer=10)
            else:
                raw = conn.connection.driver_connection
                deadline = time.monotonic() + self.timeout_ms / 1000

                def progress() -> int:
                    if time.monotonic() > deadline:
                        interrupted.set()
                        return 1
                    return 0

                raw.set_progress_handler(progress, 1000)
            result = stream.exec_driver_sql(sql, params)
            columns = list(result.keys())
            rows, size = self._fetch(conn, result, started + self.timeout_ms / 1000)
        except DBAPIError as exc:
            timeout = interrupted.is_set() or _is_timeout(exc)
            code = "result_too_large" if not timeout and _is_too_big(exc) else None
            raise ReportFailed(_message(exc), timeout=timeout, code=code) from exc
        finally:
            if raw is not None:
                raw.set_progress_handler(None, 0)
        if self.backend == "sqlite":
            rows = [tuple(sqlite_value(v) for v in row) for row in rows]
        return Result(columns, rows[:self.max_rows], len(rows) > self.max_rows, size)

    def _fetch(self, conn: Connection, result, deadline: float) -> tuple[list[tuple], int]:
        """Rows one at a time (streamed from the server), stopping at the row or byte limit, or
        at the deadline (PostgreSQL's statement_timeout applies to each FETCH of a cursor)."""
        rows, size = [], 0
        while len(rows) <= self.max_rows:
            row = result.fetchone()
            if row is None:
                break
            if time.monotonic() > deadline:
                result.close()
                raise ReportFailed("the report ran longer than its timeout", timeout=True)
            size += sum(value_size(v) for v in row)
            if size > self.max_bytes:
                if self.backend == "mariadb":
                    # closing a streamed result would read the rest of it: drop the connection
                    # instead, and detach the cursor so that its own close does not try either
                    cursor = getattr(result, "cursor", None)
                    unread = getattr(cursor, "_result", None)  # PyMySQL's unbuffered result (mysqlclient: closed below)
                    if unread is not None and hasattr(unread, "unbuffered_active"):
                        unread.unbuffered_active = False
                    if cursor is not None and hasattr(cursor, "connection"):
                        cursor.connection = None
                    conn.invalidate()
                else:
                    result.close()
                raise ResultTooLarge(f"the result is larger than {self.max_bytes} bytes (reports.max_bytes)")
            rows.append(tuple(row))
        else:
            result.close()
        return rows, size


def value_size(value: object) -> int:
    """Bytes a value takes in a response, near enough: text as UTF-8, binary as is, others 16."""
    if isinstance(value, str):
        return len(value) if value.isascii() else len(value.encode("utf-8", "replace"))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return len(value)
    if isinstance(value, (list, tuple)):
        return sum(value_size(v) for v in value)
    if isinstance(value, dict):  # PostgreSQL json / jsonb
        return sum(value_size(k) + value_size(v) for k, v in value.items())
    return 16


# how SQLAlchemy stores DateTime in SQLite (text); shown as ISO 8601 like the other databases
SQLITE_DATETIME = re.compile(r"^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(\.\d{1,6})?$")


def sqlite_value(value: object) -> object:
    if isinstance(value, str) and len(value) <= 26:
        match = SQLITE_DATETIME.match(value)
        if match:
            fraction = (match.group(3) or "").rstrip("0").rstrip(".")
            return f"{match.group(1)}T{match.group(2)}{fraction}"
    return value


def readonly_engine(access: Access, backend: str, pool_size: int, max_bytes: int = 5_000_000) -> Engine:
    """An engine of the reports' own whose every connection is read-only for its whole session
    (and, on SQLite, guarded by the authorizer and a bound on value length)."""
    if backend == "sqlite":
        return sqlite_readonly_engine(access.url, pool_size, access.readable or {}, max_bytes,
                                      access.schema_objects)
    engine = make_engine(access.url.render_as_string(hide_password=False), pool_size=pool_size, max_overflow=2)
    event.listen(engine, "connect", _postgres_read_only if backend == "postgresql" else _mariadb_read_only)
    return engine


def _postgres_read_only(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    cursor.close()
    dbapi_connection.commit()


def _mariadb_read_only(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("SET SESSION TRANSACTION READ ONLY")
    cursor.close()


# SQLite needs room above the result cap for the values a query builds on the way
SQLITE_MIN_VALUE_LENGTH = 1_000_000


def sqlite_readonly_engine(url: URL, pool_size: int, readable: Readable, max_bytes: int = 5_000_000,
                           schema_objects: tuple[str, ...] = ()) -> Engine:
    """A second engine on the same SQLite file that can only read it, only the readable columns,
    with only allowlisted functions, and no value longer than the byte cap."""
    database = url.database
    if not database or database == ":memory:":
        raise DatabaseUnavailable("reports need a file SQLite database (an in-memory one cannot be "
                                  "opened read-only a second time)")
    uri = f"file:{quote(os.path.abspath(database))}?mode=ro"
    authorizer = sqlite_authorizer(readable, schema_objects)
    value_length = max(max_bytes, SQLITE_MIN_VALUE_LENGTH)

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=30)
        conn.isolation_level = None  # no implicit transactions: nothing to commit, ever
        conn.execute("PRAGMA query_only=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        # printf('%.*c', 800000000, 'x') and friends fail at once instead of filling memory
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, value_length)
        return conn

    engine = create_engine("sqlite://", creator=connect, poolclass=QueuePool, pool_size=pool_size, max_overflow=2)
    # after SQLAlchemy's own first-connect PRAGMAs, which the authorizer would deny
    event.listen(engine, "connect", lambda dbapi_connection, _record: dbapi_connection.set_authorizer(authorizer))
    return engine


def _message(exc: DBAPIError) -> str:
    orig = exc.orig
    if orig is not None and getattr(orig, "args", None) and len(orig.args) == 2 \
            and isinstance(orig.args[0], int):  # MariaDB's drivers: (code, message)
        return str(orig.args[1])
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0][:500] if text else exc.__class__.__name__


def _is_too_big(exc: DBAPIError) -> bool:
    """SQLite's SQLITE_TOOBIG (a value over the length limit)."""
    return isinstance(exc.orig, sqlite3.DataError) or "too big" in str(exc.orig)


def _is_timeout(exc: DBAPIError) -> bool:
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == PG_QUERY_CANCELED:
        return True
    args = getattr(orig, "args", ())
    return bool(args) and args[0] == MARIADB_STATEMENT_TIMEOUT
