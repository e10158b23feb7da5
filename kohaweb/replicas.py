"""Reading the catalogue from replicas of the database.

A busy site puts harvesters (OAI-PMH), discovery searches (SRU) and public REST reads on one or
more read-only replicas (PostgreSQL streaming replication, MariaDB replication) listed in
``kohaweb.replica_urls``; writes, authentication and everything staff do stay on the primary.

Views that only read the catalogue take ``request.read_dbsession`` instead of
``request.dbsession``. It is a session on a replica when one is usable, else on the primary:

- *Freshness*: a replica further behind than ``kohaweb.replica_max_lag`` seconds is not used
  (PostgreSQL: caught up when the WAL received is replayed, else the age of the last replayed
  transaction; MariaDB: ``Seconds_Behind_Master``, unknown = too far). A database that is not a
  replica at all (a copy kept in step some other way) counts as caught up.
- *Failure*: a replica that cannot be reached is left alone for ``kohaweb.replica_retry``
  seconds; reads go to the primary meanwhile (logged once, never an error to the client).
- *Reading your own writes*: requests carrying credentials (``Authorization``), and requests of a
  client that wrote in the last ``kohaweb.replica_max_lag`` seconds (a cookie set on its write),
  read from the primary, so a client never misses what it just changed.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable

from pyramid.config import Configurator
from pyramid.request import Request
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from . import db, reader_connections
from .app import USED_PRIMARY

log = logging.getLogger(__name__)

WROTE_COOKIE = "kohaweb_wrote"  # "this client wrote recently": read from the primary until it expires
LAG_CHECK_INTERVAL = 5.0  # seconds a replica's measured lag is trusted


def replication_lag(connection) -> float | None:
    """Seconds the database behind ``connection`` is behind its primary: 0.0 when caught up or
    not a replica, None when unknown (replication stopped)."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        row = connection.execute(text(
            "SELECT pg_is_in_recovery(), "
            "pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn(), "
            "EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())")).one()
        in_recovery, caught_up, age = row
        if not in_recovery or caught_up:
            return 0.0
        return float(age) if age is not None else None
    if dialect in ("mysql", "mariadb"):
        status = connection.execute(text("SHOW SLAVE STATUS")).mappings().first()
        if status is None:
            return 0.0
        behind = status.get("Seconds_Behind_Master")
        return float(behind) if behind is not None else None
    return 0.0  # SQLite: a copy, never behind by construction


class Replica:
    """One replica: its engine, and what the last checks found."""

    def __init__(self, url: str, engine: Engine):
        self.url = url
        self.engine = engine
        self.session_factory = db.make_session_factory(engine)
        self.down_until = 0.0
        self.lag: float | None = None
        self.lag_checked = 0.0


class ReadReplicas:
    """Chooses where a read-only session goes (see the module's description)."""

    def __init__(self, primary: sessionmaker[Session], replicas: list[Replica], max_lag: float, retry: float,
                 lag_probe: Callable = replication_lag, clock: Callable[[], float] = time.monotonic):
        self.primary = primary
        self.replicas = replicas
        self.max_lag = max_lag
        self.retry = retry
        self.lag_probe = lag_probe
        self.clock = clock
        self._turn = itertools.count()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, core: dict, primary: sessionmaker[Session]) -> ReadReplicas:
        """The replicas ``kohaweb.replica_urls`` lists (none: every read goes to the primary)."""
        replicas = [Replica(url, db.make_engine(url)) for url in core["replica_urls"]]
        return cls(primary, replicas, core["replica_max_lag"], core["replica_retry"])

    def factory(self) -> sessionmaker[Session]:
        """The session factory of the next usable replica in turn, else the primary's."""
        if self.replicas:
            start = next(self._turn)
            for i in range(len(self.replicas)):
                replica = self.replicas[(start + i) % len(self.replicas)]
                if self._usable(replica):
                    return replica.session_factory
        return self.primary

    def _usable(self, replica: Replica) -> bool:
        now = self.clock()
        if now < replica.down_until:
            return False
        if now - replica.lag_checked >= LAG_CHECK_INTERVAL:
            with self._lock:  # one probe at a time per process, not one per request
                if now - replica.lag_checked >= LAG_CHECK_INTERVAL:
                    self._probe(replica, now)
        if now < replica.down_until:
            return False
        return replica.lag is not None and replica.lag <= self.max_lag

    def _probe(self, replica: Replica, now: float) -> None:
        try:
            with replica.engine.connect() as connection:
                replica.lag = self.lag_probe(connection)
        except DBAPIError as exc:
            replica.down_until = now + self.retry
            replica.lag = None
            log.warning("replica %s unreachable (%s): reading from the primary for %d s",
                        replica.engine.url.render_as_string(hide_password=True),
                        type(exc.orig or exc).__name__, self.retry)
        else:
            if replica.lag is None or replica.lag > self.max_lag:
                log.warning("replica %s is %s behind: reading from the primary",
                            replica.engine.url.render_as_string(hide_password=True),
                            "an unknown time" if replica.lag is None else f"{replica.lag:.0f} s")
        replica.lag_checked = now

    def dispose(self) -> None:
        for replica in self.replicas:
            replica.engine.dispose()


def session_beside(session: Session) -> Session:
    """A new session on the database ``session`` reads (primary or that very replica), so that work
    continued after the request (a streamed response) sees what the request saw."""
    return db.new_session(db.make_session_factory(db.engine_of(session)))


def _read_dbsession(request: Request) -> Session:
    site = request.registry.kohaweb
    replicas: ReadReplicas | None = site.extras.get("replicas")
    if replicas is None or request.authorization is not None or WROTE_COOKIE in request.cookies:
        factory = site.session_factory  # read your own writes; staff see the primary
    else:
        factory = replicas.factory()
    # on the serving thread's kept connection (kohaweb.reader_connections)
    session = reader_connections.request_session(factory)
    request.add_finished_callback(lambda _request: reader_connections.close(session))
    return session


def _mark_writers(handler, registry):
    """A client whose write succeeded reads from the primary until replicas have caught up."""
    max_lag = registry.kohaweb.core["replica_max_lag"]

    def tween(request: Request):
        response = handler(request)
        # an unsafe request that opened the primary's session (OAI-PMH and SRU POSTs only read,
        # through read_dbsession) and succeeded
        if (request.method not in ("GET", "HEAD", "OPTIONS") and response.status_code < 400
                and request.environ.get(USED_PRIMARY)):
            response.set_cookie(WROTE_COOKIE, "1", max_age=max(1, int(max_lag)) + 1, httponly=True,
                                samesite="Lax", secure=request.registry.kohaweb.core["session.secure"])
        return response

    return tween


def includeme(config: Configurator) -> None:
    """``request.read_dbsession``; with replicas configured, the writers' cookie."""
    site = config.registry.kohaweb
    config.add_request_method(_read_dbsession, "read_dbsession", reify=True)
    if site.core["replica_urls"]:
        site.extras["replicas"] = ReadReplicas.from_settings(site.core, site.session_factory)
        config.add_tween("kohaweb.replicas._mark_writers")
