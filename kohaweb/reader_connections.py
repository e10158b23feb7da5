"""Read-only request sessions on a connection the serving thread keeps.

A request that only reads (a search, an OAI-PMH page, a public API read) used to take a
connection from the pool when its session first ran a statement and give it back when the
request ended: a ``Connection`` and a pool checkout built and torn down, with their events,
for every request. That cost more than the session's Python work around its statements
(90-130 µs against 45 µs a request in process, MariaDB and PostgreSQL alike), while a waitress
thread answers one request after another on the same database. Here each thread that answers
requests keeps one reader connection of its own (``request_session``), and a request's read
session is bound to it; nothing else changes for the request: the connection is in autocommit
(``kohaweb.db.for_reading``), so every statement reads what had committed when it began.

Bounds and safety:

- A process keeps at most as many reader connections per database as its pool keeps
  (``pool_size``, 5 by default): they take the places of the connections the pool would have
  kept idle, so the overflow the pool allows stays free for writers. Threads beyond that, a
  second reader session in the same thread, SQLite and pools that keep nothing (``NullPool``)
  use the pool as before.
- A kept connection that rested ``db.PING_AFTER_IDLE`` seconds is pinged before it is used, as
  the pool pings its connections; one the server dropped is replaced. One that failed during a
  request (invalidated by SQLAlchemy) is replaced by the next request.
- A thread that ended leaves its connection to the next thread that needs one; disposing the
  engine (the site's shutdown) closes them all.
"""

from __future__ import annotations

import itertools
import threading
import time
import weakref
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from . import db

_KEEPER = "_kohaweb_reader_keeper"  # on the readers' engine
_LEASE = "kohaweb.reader_connections.lease"  # in session.info: the keeper to give the connection back to


class _ThreadState(threading.local):
    """What one thread holds: its kept connection, whether a session uses it, and since when it
    rests."""

    def __init__(self) -> None:
        self.connection: Connection | None = None
        self.leased = False
        self.rested_since = 0.0


class _Keeper:
    """The reader connections threads keep on one engine."""

    def __init__(self, engine: Engine, limit: int) -> None:
        self.engine = engine
        self.limit = limit
        self.state = _ThreadState()
        self.lock = threading.Lock()
        self.kept: dict[int, tuple[weakref.ref, Connection | None]] = {}  # slot -> (its thread, connection)
        self._slots = itertools.count()

    def lease(self) -> Connection | None:
        """This thread's connection, ready for a session; None when it must use the pool."""
        state = self.state
        if state.leased:
            return None  # a second reader session in this thread (a session beside the request's)
        connection = state.connection
        if connection is not None and (connection.closed or connection.invalidated):
            self._forget(connection)
            connection = state.connection = None
        if connection is None:
            connection = state.connection = self._connect()
            if connection is None:
                return None
        elif time.monotonic() - state.rested_since >= db.PING_AFTER_IDLE and not self._alive(connection):
            self._forget(connection)
            connection = state.connection = self._connect()
            if connection is None:
                return None
        state.leased = True
        return connection

    def give_back(self) -> None:
        state = self.state
        state.leased = False
        state.rested_since = time.monotonic()
        connection = state.connection
        if connection is not None and not connection.closed and connection.in_transaction():
            connection.rollback()  # what the session left open (in autocommit: nothing is sent)

    def _connect(self) -> Connection | None:
        thread = weakref.ref(threading.current_thread())
        with self.lock:
            if len(self.kept) >= self.limit:
                self._reclaim()
            if len(self.kept) >= self.limit:
                return None
            slot = next(self._slots)
            self.kept[slot] = (thread, None)  # the place is taken while connecting
        try:
            connection = self.engine.connect()
        except BaseException:
            with self.lock:
                self.kept.pop(slot, None)
            raise
        with self.lock:
            self.kept[slot] = (thread, connection)
        return connection

    def _reclaim(self) -> None:
        """Close the connections of threads that ended (under ``lock``)."""
        for slot, (thread, connection) in list(self.kept.items()):
            owner = thread()
            if (owner is None or not owner.is_alive()) and connection is not None:
                del self.kept[slot]
                _close(connection)

    def _forget(self, connection: Connection) -> None:
        with self.lock:
            for slot, (_thread, kept) in list(self.kept.items()):
                if kept is connection:
                    del self.kept[slot]
        _close(connection)

    def _alive(self, connection: Connection) -> bool:
        """Ping a connection that rested: False when the server dropped it."""
        lost = db.ping(self.engine.dialect, connection.connection.dbapi_connection)
        if lost is not None:
            connection.invalidate(lost)
            return False
        return True

    def close_all(self, *_args: Any) -> None:
        """Close every kept connection (the engine is disposed); a thread's next request connects
        anew."""
        with self.lock:
            kept = [connection for _thread, connection in self.kept.values() if connection is not None]
            self.kept.clear()
        for connection in kept:
            _close(connection, invalidate=True)


def _close(connection: Connection, invalidate: bool = False) -> None:
    try:
        if invalidate and not connection.invalidated:
            connection.invalidate()  # the pool it came from is gone: close the driver's connection
        connection.close()
    except Exception:  # noqa: BLE001  (a connection already lost: nothing more to release)
        pass


def _keeper(factory: sessionmaker[Session]) -> _Keeper | None:
    base: Engine = factory.kw["bind"]
    engine = db.for_reading(base)
    keeper = engine.__dict__.get(_KEEPER)
    if keeper is not None:
        return keeper
    pool = engine.pool
    if engine.dialect.name == "sqlite" or not isinstance(pool, QueuePool) or pool.size() < 1:
        return None
    keeper = _Keeper(engine, pool.size())
    engine.__dict__[_KEEPER] = keeper  # two threads at once: either keeper may stay, as in db._derived
    event.listen(base, "engine_disposed", keeper.close_all)  # disposing the site's engine disposes its readers'
    return keeper


def request_session(factory: sessionmaker[Session]) -> Session:
    """A read-only session of ``factory`` for one request, on this thread's kept connection when
    it may have one (see the module's description), else as ``db.new_session(factory,
    read=True)``. End it with :func:`close`."""
    keeper = _keeper(factory)
    connection = keeper.lease() if keeper is not None else None
    if connection is None:
        return db.new_session(factory, read=True)
    session = factory(bind=connection)
    session.info[_LEASE] = keeper
    return session


def close(session: Session) -> None:
    """Close a session of :func:`request_session`: its thread's connection is kept for the next."""
    keeper = session.info.pop(_LEASE, None)
    try:
        session.close()
    finally:
        if keeper is not None:
            keeper.give_back()


def kept_connections(engine: Engine) -> int:
    """How many reader connections threads keep on ``engine`` (its readers' engine), for metrics."""
    keeper = db.for_reading(engine).__dict__.get(_KEEPER)
    if keeper is None:
        return 0
    with keeper.lock:
        return sum(1 for _thread, connection in keeper.kept.values() if connection is not None)
