"""Running checked report SQL so that it cannot write and cannot run for ever.

Reports get connections of their own (never the application's pool), read-only for the whole
session, and each run is also a read-only transaction:

- SQLite: the file opened ``mode=ro`` with ``PRAGMA query_only``; a progress handler interrupts
  the statement at the deadline.
- PostgreSQL: ``default_transaction_read_only`` for the session, ``SET TRANSACTION READ ONLY``
  and ``SET LOCAL statement_timeout`` per run.
- MariaDB: ``SET SESSION TRANSACTION READ ONLY`` (a READ ONLY transaction alone does not stop
  DDL, which commits implicitly and runs outside it), ``START TRANSACTION READ ONLY`` and
  ``SET STATEMENT max_statement_time=… FOR`` per run.

Every transaction is rolled back, never committed. ``reports.database_url`` can point reports at
a database role that can only read, which is better still.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy import URL, Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import QueuePool

from kohaweb.db import make_engine

from .prepare import Prepared

PG_QUERY_CANCELED = "57014"
MARIADB_STATEMENT_TIMEOUT = 1969


class ReportFailed(Exception):
    """The database refused or interrupted the report. ``message`` is the database's own words
    (for staff only); ``timeout`` tells whether the statement timeout stopped it."""

    def __init__(self, message: str, timeout: bool = False):
        super().__init__(message)
        self.message = message
        self.timeout = timeout


class DatabaseUnavailable(Exception):
    """No connection could be made (-> HTTP 503)."""


class TooBusy(Exception):
    """Too many reports are running at once (-> HTTP 429)."""


@dataclass(frozen=True)
class Result:
    columns: list[str]
    rows: list[tuple]
    truncated: bool  # more rows existed than the row limit


class Runner:
    def __init__(self, url: URL, backend: str, timeout_ms: int, max_rows: int, max_running: int = 0):
        self.backend = backend
        self.timeout_ms = timeout_ms
        self.max_rows = max_rows
        self._url = url
        self._readonly: Engine | None = None
        self._lock = threading.Lock()
        self._running = threading.BoundedSemaphore(max_running) if max_running > 0 else None
        self._pool_size = max_running if max_running > 0 else 4

    def run(self, prepared: Prepared) -> Result:
        if self._running is not None and not self._running.acquire(blocking=False):
            raise TooBusy("too many reports are running; try again shortly")
        try:
            with self._connection() as conn:
                return self._execute(conn, prepared)
        finally:
            if self._running is not None:
                self._running.release()

    def dispose(self) -> None:
        if self._readonly is not None:
            self._readonly.dispose()

    # --- connections --------------------------------------------------------------------------

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        try:
            conn = self.engine().connect()
        except SQLAlchemyError as exc:
            raise DatabaseUnavailable(str(exc).splitlines()[0]) from exc
        try:
            yield conn
        finally:
            try:
                conn.rollback()
            finally:
                conn.close()

    def engine(self) -> Engine:
        """The reports' own read-only engine (created on first use)."""
        with self._lock:
            if self._readonly is None:
                self._readonly = readonly_engine(self._url, self.backend, self._pool_size)
            return self._readonly


    # --- execution ----------------------------------------------------------------------------

    def _execute(self, conn: Connection, prepared: Prepared) -> Result:
        sql = prepared.sql
        params = prepared.params or None
        interrupted = threading.Event()
        raw = None
        try:
            if self.backend == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(self.timeout_ms)}")
            elif self.backend == "mariadb":
                conn.exec_driver_sql("START TRANSACTION READ ONLY")
                sql = f"SET STATEMENT max_statement_time={self.timeout_ms / 1000:.3f} FOR {sql}"
            else:
                raw = conn.connection.driver_connection
                deadline = time.monotonic() + self.timeout_ms / 1000

                def progress() -> int:
                    if time.monotonic() > deadline:
                        interrupted.set()
                        return 1
                    return 0

                raw.set_progress_handler(progress, 1000)
            result = conn.exec_driver_sql(sql, params)
            columns = list(result.keys())
            rows = [tuple(row) for row in result.fetchmany(self.max_rows + 1)]
            result.close()
        except DBAPIError as exc:
            raise ReportFailed(_message(exc), timeout=interrupted.is_set() or _is_timeout(exc)) from exc
        finally:
            if raw is not None:
                raw.set_progress_handler(None, 0)
        if self.backend == "sqlite":
            rows = [tuple(sqlite_value(v) for v in row) for row in rows]
        return Result(columns, rows[:self.max_rows], len(rows) > self.max_rows)


# how SQLAlchemy stores DateTime in SQLite (text); shown as ISO 8601 like the other databases
SQLITE_DATETIME = re.compile(r"^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(\.\d{1,6})?$")


def sqlite_value(value: object) -> object:
    if isinstance(value, str) and len(value) <= 26:
        match = SQLITE_DATETIME.match(value)
        if match:
            fraction = (match.group(3) or "").rstrip("0").rstrip(".")
            return f"{match.group(1)}T{match.group(2)}{fraction}"
    return value


def readonly_engine(url: URL, backend: str, pool_size: int) -> Engine:
    """An engine of the reports' own whose every connection is read-only for its whole session."""
    if backend == "sqlite":
        return sqlite_readonly_engine(url, pool_size)
    engine = make_engine(url.render_as_string(hide_password=False), pool_size=pool_size, max_overflow=2)
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


def sqlite_readonly_engine(url: URL, pool_size: int) -> Engine:
    """A second engine on the same SQLite file that can only read it."""
    database = url.database
    if not database or database == ":memory:":
        raise DatabaseUnavailable("reports need a file SQLite database (an in-memory one cannot be "
                                  "opened read-only a second time)")
    uri = f"file:{quote(os.path.abspath(database))}?mode=ro"

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=30)
        conn.isolation_level = None  # no implicit transactions: nothing to commit, ever
        conn.execute("PRAGMA query_only=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    return create_engine("sqlite://", creator=connect, poolclass=QueuePool, pool_size=pool_size, max_overflow=2)


def _message(exc: DBAPIError) -> str:
    orig = exc.orig
    if orig is not None and getattr(orig, "args", None) and len(orig.args) == 2 \
            and isinstance(orig.args[0], int):  # pymysql: (code, message)
        return str(orig.args[1])
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0][:500] if text else exc.__class__.__name__


def _is_timeout(exc: DBAPIError) -> bool:
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == PG_QUERY_CANCELED:
        return True
    args = getattr(orig, "args", ())
    return bool(args) and args[0] == MARIADB_STATEMENT_TIMEOUT
