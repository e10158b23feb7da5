"""Engines and sessions for SQLite (embedded default), PostgreSQL and MariaDB."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

# the extra of the kohaweb distribution that installs each server's supported driver
DRIVER_EXTRAS = {"postgresql": ("postgresql", "postgresql+psycopg://"),
                 "mysql": ("mariadb", "mysql+mysqldb://"), "mariadb": ("mariadb", "mysql+mysqldb://")}
# MariaDB's drivers: mysqlclient (MySQLdb, C; the supported one: it reads rows 3-6 times faster)
# and PyMySQL (pure Python, for sites that cannot build mysqlclient)
MYSQL_DRIVER_MODULES = ("MySQLdb", "pymysql")
LOCAL_FILES = "kohaweb.db.local_files"  # pooled connection's info: made able to send the client's files
WRITER = "kohaweb_writer"  # execution option of engines whose sessions write (see for_writing)


def mariadb_scheme(driver: str | None = None) -> str:
    """The URL scheme for MariaDB with ``driver`` ("mysqldb" or "pymysql"), or by default with the
    supported driver where it is installed: ``mysql+mysqldb``, else ``mysql+pymysql``."""
    if not driver:
        import importlib.util

        driver = "mysqldb" if importlib.util.find_spec("MySQLdb") else "pymysql"
    return f"mysql+{driver}"


def make_engine(url: str, *, local_files: bool = False, **kwargs) -> Engine:
    """An engine configured for the catalogue; creates the SQLite file's folder if needed.

    ``local_files``: on MariaDB, connections able to load rows from the client's files
    (kohaweb.load_data, the import's bulk path); they read no file but the load's own."""
    made_with = dict(kwargs)  # as given: a readers' twin (``for_reading``) is made without local files
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(parsed.database)), exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
    elif backend in ("mysql", "mariadb"):
        if "charset" not in parsed.query:
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
        kwargs.setdefault("pool_recycle", 3600)
        # as PostgreSQL: without REPEATABLE READ's gap locks, writers of neighbouring rows (two
        # imports, an edit beside a loan) do not deadlock, and reads see what has committed
        kwargs.setdefault("isolation_level", "READ COMMITTED")
        kwargs.setdefault("pool_reset_on_return", None)  # _reset_mysql instead
        driver = parsed.get_driver_name()
        if driver == "mysqldb":
            # MariaDB Connector/C's "auto" mode (2): a file is sent only in answer to a statement
            # that begins with LOAD, and kohaweb sends none but kohaweb.load_data's own; 0 turns
            # the capability off (a report's connection)
            kwargs["connect_args"] = {"local_infile": 2 if local_files else 0, **kwargs.get("connect_args", {})}
        elif local_files and driver == "pymysql":
            # the capability kohaweb.load_data's bulk path needs; each connection still refuses
            # the server's requests for files but while that path runs its own statement
            kwargs["connect_args"] = {"local_infile": True, **kwargs.get("connect_args", {})}
    ping_idle = backend != "sqlite" and not kwargs.get("pool_pre_ping", False)
    try:
        engine = create_engine(parsed, **kwargs)
    except ModuleNotFoundError as exc:
        from .settings import ConfigError

        extra = DRIVER_EXTRAS.get(backend)
        hint = (f"pip install 'kohaweb[{extra[0]}]' provides {extra[1]}" if extra else
                "install the driver or use sqlite://, postgresql+psycopg:// or mysql+mysqldb://")
        raise ConfigError([f"kohaweb.database_url: the driver for {parsed.drivername} is not installed "
                           f"(no module {exc.name!r}); {hint}"]) from None
    except NoSuchModuleError:
        from .settings import ConfigError

        raise ConfigError([f"kohaweb.database_url: unknown kind of database {parsed.drivername!r} "
                           "(sqlite://, postgresql+psycopg:// or mysql+mysqldb://)"]) from None
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; take control so that
        # SAVEPOINT and read-only reports behave as on the server databases.
        event.listen(engine, "begin", _sqlite_begin)
    elif backend in ("mysql", "mariadb"):
        event.listen(engine, "connect", _mysql_session)
        if local_files:
            event.listen(engine, "connect", _local_files_client)
        event.listen(engine, "checkout", _transaction_unknown)
        event.listen(engine, "begin", _transaction_began)
        event.listen(engine, "commit", _transaction_ended)
        event.listen(engine, "rollback", _transaction_ended)
        event.listen(engine, "reset", _reset_mysql)
    elif backend == "postgresql":
        event.listen(engine, "connect", _postgres_session)
    if ping_idle:
        _ping_idle_connections(engine)
    engine.__dict__[_MADE_WITH] = (url, made_with)
    return engine


_MADE_WITH = "_kohaweb_made_with"  # make_engine's arguments, kept on the engine for its readers' twin


_TRANSACTION_ENDED = "kohaweb.db.transaction_ended"  # pooled connection's info: its last transaction ended


def _transaction_unknown(dbapi_connection, connection_record, proxy) -> None:
    connection_record.info[_TRANSACTION_ENDED] = False


def _transaction_began(conn) -> None:
    _mark_transaction(conn, False)


def _transaction_ended(conn) -> None:
    _mark_transaction(conn, True)


def _mark_transaction(conn, ended: bool) -> None:
    # an invalidated connection (the server went away) would try to reconnect here: its pooled
    # connection is discarded anyway
    if not conn.invalidated and not conn.closed:
        conn.connection.info[_TRANSACTION_ENDED] = ended


def _reset_mysql(dbapi_connection, connection_record, reset_state) -> None:
    """A MariaDB connection given back to the pool is rolled back, unless the last transaction
    begun on it since it was checked out has been committed or rolled back (what closing a session
    does: every request ends that way). The pool's own reset rolled back again, and both drivers
    send a ROLLBACK whether or not a transaction is open: a round trip at the end of every request
    and transaction (an SRU search ended with two ROLLBACKs)."""
    if not (reset_state.transaction_was_reset or connection_record.info.get(_TRANSACTION_ENDED)):
        dbapi_connection.rollback()


def _sqlite_begin(conn) -> None:
    # A deferred transaction that reads, then writes after another connection committed cannot
    # wait for the lock (SQLite answers "database is locked" at once, whatever the busy timeout);
    # a writer therefore takes the lock when it begins, and waits its turn on the busy timeout.
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITER) else "BEGIN")


SQLITE_BUSY_TIMEOUT_MS = 30000  # how long a writer waits for SQLite's write lock
SQLITE_WAL_LIMIT = 64 * 1024 * 1024  # empty_sqlite_wal leaves a log smaller than this alone

PING_AFTER_IDLE = 1.0  # seconds a pooled connection may rest before it is checked on checkout


def _ping_idle_connections(engine: Engine) -> None:
    """SQLAlchemy's pre-ping, for connections that have rested: a server restart or an idle
    timeout drops connections while they sit in the pool, and a ping on checkout finds them and
    replaces them (``DisconnectionError``: the pool connects anew). A connection checked in
    moments ago is used at once: under load every request would otherwise pay a round trip for
    the ping (a third of a rare-term SRU search's time). Should the server go away within that
    moment, the request fails as any request does when the server vanishes mid-way (503), and
    SQLAlchemy then invalidates the whole pool."""
    from sqlalchemy.exc import DisconnectionError

    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def rested_since(dbapi_connection, record) -> None:
        if dbapi_connection is not None:
            record.info["kohaweb_checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping_if_rested(dbapi_connection, record, proxy) -> None:
        since = record.info.pop("kohaweb_checked_in", None)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE:
            return  # new (just connected) or used moments ago
        lost = ping(dialect, dbapi_connection)
        if lost is not None:
            raise DisconnectionError(str(lost)) from lost


def ping(dialect: Dialect, dbapi_connection: Any) -> Exception | None:
    """Ping a driver's connection: the error saying the server dropped it, None when it answered
    (any other error is raised). For connections that rested (``PING_AFTER_IDLE``): the pool's
    on checkout, and those serving threads keep (kohaweb.reader_connections)."""
    try:
        dialect.do_ping(dbapi_connection)
    except dialect.loaded_dbapi.Error as exc:
        if dialect.is_disconnect(exc, dbapi_connection, None):
            return exc
        raise
    return None


def empty_sqlite_wal(engine: Engine, wait: float = 2.0, above: int = SQLITE_WAL_LIMIT) -> bool:
    """After a large committed write on SQLite (a batch of an import or a rebuild): copy the
    write-ahead log back into the database and empty it (a TRUNCATE checkpoint). Returns whether
    it is empty or small (False when readers kept it busy for ``wait`` seconds; the next call
    tries again). A log under ``above`` bytes is left as it is: small writes then never wait for
    a reader (emptied after each batch, the log of a 100,000-record import stayed under 360 MB).
    Nothing to do on the other databases.

    SQLite's own checkpoints after each commit copy the log back but start it again from the
    beginning only at a moment when no other connection is reading. An import's threads always
    have one reading, so the log only grew: 2 GB after 100,000 records, and at about 650,000 the
    disk was full ("database or disk is full") though the database itself took 7 GB."""
    if engine.dialect.name != "sqlite":
        return True
    database = engine.url.database
    if not database or database == ":memory:":
        return True
    try:
        if os.path.getsize(database + "-wal") < above:
            return True
    except OSError:  # no log (not in WAL mode, or every connection closed)
        return True
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(wait * 1000)}")
        try:
            busy = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        finally:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.close()
    finally:
        raw.close()
    return not busy


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # autocommit at driver level; SQLAlchemy emits BEGIN
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _mysql_session(dbapi_connection, _record) -> None:
    from .load_data import refuse_local_files

    refuse_local_files(dbapi_connection)
    cursor = dbapi_connection.cursor()
    cursor.execute("SET time_zone = '+00:00'")  # timestamps are UTC everywhere (Koha bug 20665)
    cursor.execute("SET SESSION sql_mode = 'STRICT_TRANS_TABLES,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO'")
    # The index's terms are utf8mb4_bin. A value compared with a column takes the column's
    # collation either way, but with utf8mb4_general_ci values (the charset's default) MariaDB
    # sorted a term's rows again (a filesort, blobs and all) instead of reading them in the
    # key's order. Only values compared with each other, no column involved, see the difference.
    cursor.execute("SET SESSION collation_connection = 'utf8mb4_bin'")
    cursor.close()


def _local_files_client(_dbapi_connection, record) -> None:
    record.info[LOCAL_FILES] = True


def mysql_error_code(orig: BaseException | None) -> int | None:
    """MariaDB's error number of a driver's exception (either driver: both raise ``(code,
    message)``), None for another database's."""
    args = getattr(orig, "args", ())
    if type(orig).__module__.startswith(MYSQL_DRIVER_MODULES) and args and isinstance(args[0], int):
        return args[0]
    return None


def _postgres_session(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("SET TIME ZONE 'UTC'")
    # No parallel plans: starting two workers costs 3-4 ms, more than the reads of a web request
    # take. Without statistics (autovacuum off, a fresh import) PostgreSQL guesses thousands of
    # rows for any key range and chose a parallel sort of the 900 rows of a date range, which
    # made that search 4 ms slower for each of its reads; nothing here scans enough to gain.
    cursor.execute("SET max_parallel_workers_per_gather = 0")
    cursor.close()
    dbapi_connection.commit()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, future=True)


def for_writing(engine: Engine) -> Engine:
    """The same engine (same pool) for sessions that will write: on SQLite their transactions
    begin with ``BEGIN IMMEDIATE``; elsewhere nothing changes."""
    return _derived(engine, "_kohaweb_for_writing", {WRITER: True})


def for_reading(engine: Engine) -> Engine:
    """The engine for sessions that only read: their statements run in autocommit, and their end
    sends no ROLLBACK (a tenth of a rare-term SRU search on both servers). A reader sees nothing
    different: at READ COMMITTED, the level of both here, every statement reads what had
    committed when it began, in a transaction or not.

    - PostgreSQL: the same engine and pool, in autocommit (psycopg switches without a round trip).
    - MariaDB: an engine of its own (``_readers_engine``), whose connections are in autocommit
      from the moment they connect: the drivers switch a connection with a statement each way,
      which would cost what it saves. SQLAlchemy's ``skip_autocommit_rollback`` then spares the
      ROLLBACK that ends every session.
    - SQLite: the engine itself (its reads make no round trips)."""
    if engine.dialect.name == "postgresql":
        return _derived(engine, "_kohaweb_for_reading", {"isolation_level": "AUTOCOMMIT"})
    if engine.dialect.name in ("mysql", "mariadb"):
        return _readers_engine(engine)
    return engine


def _readers_engine(engine: Engine) -> Engine:
    """A MariaDB engine's twin for readers (see ``for_reading``), made once and disposed with
    it; the engine itself when it was not made by ``make_engine``. Its connections load no files."""
    readers = engine.__dict__.get("_kohaweb_readers")
    if readers is not None:
        return readers
    made_with = engine.__dict__.get(_MADE_WITH)
    if made_with is None:
        return engine
    url, kwargs = made_with
    readers = make_engine(url, **{**kwargs, "isolation_level": "AUTOCOMMIT", "skip_autocommit_rollback": True})
    event.listen(engine, "engine_disposed", lambda _engine: readers.dispose())
    engine.__dict__["_kohaweb_readers"] = readers  # two threads at once: either twin may stay, as in _derived
    return readers


def _derived(engine: Engine, attribute: str, options: dict[str, object]) -> Engine:
    """``engine.execution_options(**options)``, made once per engine and kept on it as
    ``attribute``: building one registers event listeners, 3% of a rare-term SRU request's CPU
    when every request built its own. The derived engine shares the engine's pool (also after
    ``dispose``) and its event listeners, those added later included. Kept on the engine rather
    than in a table keyed by engines, which would keep every engine and its pool alive; two
    threads that build it at once make equivalent engines, and either may stay."""
    derived = engine.__dict__.get(attribute)
    if derived is None:
        derived = engine.execution_options(**options)
        setattr(engine, attribute, derived)
    return derived


def new_session(factory: sessionmaker[Session], write: bool = False, read: bool = False) -> Session:
    """A session of ``factory``; ``write=True`` for one that will write (see :func:`for_writing`),
    ``read=True`` for one that will only read (:func:`for_reading`)."""
    if write:
        return factory(bind=for_writing(factory.kw["bind"]))
    if read:
        return factory(bind=for_reading(factory.kw["bind"]))
    return factory()


@contextlib.contextmanager
def transaction(factory: sessionmaker[Session], write: bool = True) -> Iterator[Session]:
    """A session whose work commits whole on success and rolls back whole on any error
    (a writer's by default: commands write)."""
    session = new_session(factory, write)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def is_retryable(exc: BaseException) -> bool:
    """Whether a failed transaction may succeed when run again from the start: a deadlock, a
    serialisation failure or a lock wait that timed out (SQLite's "database is locked" included).
    The exception's causes are searched too, since wrappers re-raise database errors."""
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, DBAPIError) and not error.connection_invalidated and _retryable_driver_error(error.orig):
            return True
        error = error.__cause__ or error.__context__
    return False


# PostgreSQL SQLSTATEs: serialization_failure, deadlock_detected, lock_not_available (lock_timeout)
_POSTGRES_RETRYABLE = {"40001", "40P01", "55P03"}
# MariaDB: ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT
_MARIADB_RETRYABLE = {1213, 1205}


def _retryable_driver_error(orig: BaseException | None) -> bool:
    if isinstance(orig, sqlite3.OperationalError):
        code = getattr(orig, "sqlite_errorcode", None)  # extended code: the primary one is its low byte
        if code is not None:
            return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
        return "database is locked" in str(orig) or "database table is locked" in str(orig)
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if isinstance(sqlstate, str):
        return sqlstate in _POSTGRES_RETRYABLE
    return mysql_error_code(orig) in _MARIADB_RETRYABLE


def engine_of(session: Session) -> Engine:
    """The engine ``session`` runs on, also when it is bound to a connection (a request's read
    session on its thread's kept connection, kohaweb.reader_connections)."""
    bind = session.get_bind()
    return bind.engine if isinstance(bind, Connection) else bind


def backend_name(session_or_engine) -> str:
    bind = session_or_engine.get_bind() if isinstance(session_or_engine, Session) else session_or_engine
    name = bind.dialect.name
    return "mariadb" if name == "mysql" else name


@contextlib.contextmanager
def autonomous(session: Session) -> Iterator[Connection | None]:
    """A connection for a short transaction of its own, committed on exit, beside the session's
    (for counters and markers that must not be held until the session commits). On SQLite it is
    None: the session already holds the single writer lock, a second connection would wait on it.

    On PostgreSQL its commit does not wait for the disk (``synchronous_commit = off`` for this
    transaction alone): the WAL is written in order, so the session's own commit, which does
    wait, makes it durable too, and a crash can only lose a counter step or a marker that no
    committed transaction used. A loan waited for the disk twice; while an import was writing,
    each wait took about 3 ms here (on an idle disk the difference is lost in the noise)."""
    engine = engine_of(session)
    if engine.dialect.name == "sqlite":
        yield None
        return
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
        yield conn


def transaction_cache(session: Session, name: str, written_by: type) -> dict:
    """A dict that lives as long as ``session``'s current transaction, for values read from the
    rows of ``written_by`` (a model): rules, preferences. It is emptied when the session writes
    such rows (an ORM change, once flushed) or runs any statement that is not a SELECT (a Core
    update or delete, a text statement), so the transaction always sees its own writes."""
    session.connection()  # the transaction the cached reads belong to (begun as a first read would)
    transaction = session.get_transaction()
    cached = session.info.get(name)
    if cached is None or cached[0] is not transaction:
        cached = session.info[name] = (transaction, {})
        hooked = session.info.setdefault("kohaweb.db.cache_hooks", set())
        if name not in hooked:
            hooked.add(name)

            def forget_after_flush(session: Session, flush_context: object) -> None:
                if any(isinstance(obj, written_by) for obj in (*session.new, *session.dirty, *session.deleted)):
                    session.info.pop(name, None)

            def forget_before_writing(state) -> None:
                if not state.is_select:
                    state.session.info.pop(name, None)

            event.listen(session, "after_flush", forget_after_flush)
            event.listen(session, "do_orm_execute", forget_before_writing)
    return cached[1]
