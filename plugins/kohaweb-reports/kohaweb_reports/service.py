"""The reports service object (``site.extras["reports"]``): finds reports, checks and runs
them with the cache. Views, the REST resource, the staff page and the CLI all go through it."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, inspect, select, update
from sqlalchemy.engine import ObjectKind, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from kohaweb.plugin_api import Base, SavedReport, utcnow

from . import access as db_access
from .cache import ResultCache
from .prepare import Prepared, prepare
from .runner import Access, DatabaseUnavailable, ReportsUnavailable, Result, Runner
from .safety import Guard, Refused, is_secret_name

log = logging.getLogger(__name__)

GUARD_MAX_AGE = 300.0  # seconds before the schema is inspected again for secret columns
ACCESS_RETRY = 30.0  # seconds before a failed set-up of the reports role is tried again


@dataclass(frozen=True)
class Outcome:
    result: Result
    cached: bool


class ReportService:
    def __init__(self, engine: Engine, settings: dict[str, Any], secret: str = ""):
        """``engine`` is the site's (for recording runs, reading the schema and setting up the
        reports role); reports read through the runner's own restricted connections.
        ``secret`` (``kohaweb.secret``) derives the MariaDB reports user's password."""
        self.engine = engine
        self.settings = settings
        self.secret = secret
        self.max_rows: int = settings["max_rows"]
        self.url = make_url(settings["database_url"]) if settings["database_url"] else engine.url
        name = self.url.get_backend_name()
        self.backend = "mariadb" if name in ("mysql", "mariadb") else name
        self.runner = Runner(self.backend, settings["timeout_ms"], self.max_rows, settings["max_running"],
                             settings["max_bytes"], access=self.access)
        self.cache = ResultCache(settings["cache_entries"], max_bytes=settings["cache_bytes"])
        self._guard: Guard | None = None
        self._guard_time = 0.0
        self._lock = threading.Lock()
        self._access_failure: tuple[float, str] | None = None

    # --- finding ------------------------------------------------------------------------------

    @staticmethod
    def find(session: Session, report_id: int | None = None, name: str | None = None) -> SavedReport | None:
        """By name (Koha: name wins over id) or by id."""
        if name is not None:
            return session.scalar(select(SavedReport).where(SavedReport.report_name == name)
                                  .order_by(SavedReport.id).limit(1))
        if report_id is not None and -(2**31) <= report_id < 2**31:  # saved_sql.id is an INTEGER
            return session.get(SavedReport, report_id)
        return None

    # --- checking -----------------------------------------------------------------------------

    def guard(self) -> Guard:
        """Tables with secret columns: the models' plus whatever the live schema holds (tables
        and views other plugins or the site added)."""
        with self._lock:
            if self._guard is None or time.monotonic() - self._guard_time > GUARD_MAX_AGE:
                tables = {t.name: [c.name for c in t.columns] for t in Base.metadata.tables.values()}
                try:
                    # one query for every table and view (not one per table), on the site's
                    # connection (the reports' own may not read the catalogue of the schema)
                    found = inspect(self.engine).get_multi_columns(kind=ObjectKind.ANY)
                    for (_schema, name), columns in found.items():
                        tables[name] = list(tables.get(name, [])) + [c["name"] for c in columns]
                except SQLAlchemyError:
                    pass  # the models alone still cover the core's secrets; results are checked too
                self._guard = Guard.from_columns(tables, self.settings["forbidden_tables"],
                                                 self.settings["readable_tables"])
                self._guard_time = time.monotonic()
            return self._guard

    # --- the restricted connection -------------------------------------------------------------

    def readable(self) -> dict[str, tuple[str, ...]]:
        """The live schema's columns reports may read (``reports.readable_tables``, no secrets)."""
        return db_access.readable_columns(self.engine, self.settings["readable_tables"],
                                          self.settings["forbidden_tables"])

    def setup_role(self, admin: Engine | None = None, password: str | None = None) -> list[str]:
        """Create or refresh the reports role with ``admin`` (default: the site's engine);
        raises access.AccessError. Its login password is ``password``, else (without
        ``reports.database_url``) one derived from ``kohaweb.secret``."""
        role = self.settings["role"]
        if password is None and self.secret and not self.settings["database_url"]:
            password = db_access.derived_password(self.secret, role)
        member = self.engine.url.username if self.backend == "postgresql" else None
        return db_access.setup_role(admin or self.engine, role, self.readable(), password, member)

    def access(self) -> Access:
        """How the runner connects: checked to be unable to read secrets, the role set up first
        when the site's database user may. Raises ReportsUnavailable with what to do."""
        failure = self._access_failure
        if failure is not None and time.monotonic() - failure[0] < ACCESS_RETRY:
            raise ReportsUnavailable(failure[1])
        try:
            found = self._restricted_access()
        except ReportsUnavailable as exc:
            log.error("reports are unavailable: %s", exc)
            self._access_failure = (time.monotonic(), str(exc))
            raise
        self._access_failure = None
        return found

    def _restricted_access(self) -> Access:
        role = self.settings["role"]
        try:
            readable = self.readable()
        except SQLAlchemyError as exc:
            raise DatabaseUnavailable(str(exc).splitlines()[0]) from exc
        if self.backend == "sqlite":
            try:
                inspector = inspect(self.engine)
                objects = tuple(inspector.get_table_names()) + tuple(inspector.get_view_names())
            except SQLAlchemyError as exc:
                raise DatabaseUnavailable(str(exc).splitlines()[0]) from exc
            found = Access(self.url, readable=readable, schema_objects=objects)
        elif self.settings["database_url"]:
            found = Access(self.url)
        else:
            if self.settings["setup_role"]:
                try:
                    for line in self.setup_role():
                        log.info("reports role: %s", line)
                except db_access.AccessError as exc:
                    log.warning("%s; using the role as it is (run `kohaweb report setup-role` as an "
                                "administrator, and again after migrations)", exc.message)
            if self.backend == "postgresql":
                found = self._postgres_access(role)
            else:
                name, _host = db_access.split_role(role)
                if not self.secret:
                    raise ReportsUnavailable("reports need kohaweb.secret (it derives the reports user's "
                                             "password) or reports.database_url")
                found = Access(self.url.set(username=name, password=db_access.derived_password(self.secret, role)))
        try:
            self._check_restricted(found, readable)
        except ReportsUnavailable:
            raise
        except DatabaseUnavailable as exc:
            if not _login_refused(exc):
                raise  # the server is away: a plain 503
            raise ReportsUnavailable(f"reports cannot connect as {self._how()}: {exc}; run `kohaweb report "
                                     "setup-role` (with --admin-url if the site's user may not create roles)") from exc
        return found

    def _postgres_access(self, role: str) -> Access:
        """Log in as the role when the server lets it (then nothing in a report can leave the
        role: the session user is the role itself); else ``SET LOCAL ROLE`` from the site's user
        (a report would need set_config/SET ROLE, which the checker refuses, to leave it)."""
        fallback = Access(self.url, set_role=role)
        if not self.secret:
            return fallback
        login = Access(self.url.set(username=role, password=db_access.derived_password(self.secret, role)))
        try:
            problem = self.runner.probe(login, "SELECT 1")
        except DatabaseUnavailable as exc:
            if not _login_refused(exc):
                raise
            log.info("reports: the role %s cannot log in (%s); using SET ROLE", role, exc)
            return fallback
        return login if problem is None else fallback

    def _how(self) -> str:
        if self.settings["database_url"] and self.backend != "sqlite":
            return "reports.database_url"
        return "the SQLite authorizer" if self.backend == "sqlite" else f"the reports role {self.settings['role']}"

    def _check_restricted(self, found: Access, readable: dict[str, tuple[str, ...]]) -> None:
        """Refuse a connection that can read a secret column (an owner, a superuser, a role
        never set up) or cannot read the catalogue."""
        secret = _a_secret_column(self.engine)
        how = self._how()
        if secret is not None:
            table, column = secret
            problem = self.runner.probe(found, f"SELECT {column} FROM {table} WHERE 1 = 0")
            if problem is None:
                raise ReportsUnavailable(
                    f"{how} can read {table}.{column}: reports will not run as the owner or a superuser; run "
                    "`kohaweb report setup-role` (with --admin-url if the site's user may not create roles) "
                    "or give reports.database_url a restricted user")
        if "items" in readable:
            problem = self.runner.probe(found, "SELECT itemnumber FROM items WHERE 1 = 0")
            if problem is not None:
                raise ReportsUnavailable(f"{how} cannot read the catalogue ({problem}); run "
                                         "`kohaweb report setup-role` (with --admin-url if needed)")

    def prepare(self, sql: str, sql_params: Sequence[str] = (), param_names: Sequence[str] = (),
                sample: bool = False) -> Prepared:
        return prepare(sql, self.backend, self.guard(), self.max_rows, sql_params, param_names, sample=sample)

    def validate(self, sql: str) -> None:
        """Raise Refused unless the SQL could run as a report (placeholders filled with samples)."""
        self.prepare(sql, sample=True)

    # --- running ------------------------------------------------------------------------------

    def run(self, report: SavedReport, sql_params: Sequence[str] = (), param_names: Sequence[str] = ()) -> Outcome:
        """Raises Refused / ParameterError (400), ReportFailed (400), TooBusy (429),
        DatabaseUnavailable (503)."""
        key = (report.id, hashlib.sha256(report.savedsql.encode("utf-8")).hexdigest(),
               tuple(sql_params), tuple(param_names))
        cached = self.cache.get(key)
        if cached is not None:
            return Outcome(cached, True)
        result = self.run_sql(report.savedsql, sql_params, param_names)
        self.cache.put(key, result, report.cache_expiry or 0)
        return Outcome(result, False)

    def run_sql(self, sql: str, sql_params: Sequence[str] = (), param_names: Sequence[str] = ()) -> Result:
        result = self.runner.run(self.prepare(sql, sql_params, param_names))
        # a last line behind the parse-time check: no result column may be named like a secret
        for column in result.columns:
            if is_secret_name(column):
                raise Refused(f"the result has a column named {column}, which holds secrets", "secret_column")
        return result

    def dispose(self) -> None:
        self.runner.dispose()

    def mark_run(self, report_id: int) -> None:
        """Koha's saved_sql.last_run, in a transaction of its own so that a busy database costs
        the record of the run, not the run; last_modified is kept (running is not editing)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(update(SavedReport).where(SavedReport.id == report_id)
                             .values(last_run=utcnow(), last_modified=SavedReport.last_modified))
        except SQLAlchemyError as exc:
            log.warning("could not record the run of report %s: %s", report_id, exc)


def _a_secret_column(engine: Engine) -> tuple[str, str] | None:
    """borrowers.password when it exists (the probe of every reports connection)."""
    table = Base.metadata.tables.get("borrowers")
    if table is None or "password" not in table.columns:
        return None
    try:
        names = inspect(engine).get_table_names()
    except SQLAlchemyError:
        return None
    return ("borrowers", "password") if "borrowers" in names else None


def _login_refused(exc: DatabaseUnavailable) -> bool:
    """The server answered but refused the reports login (not: the server is unreachable)."""
    orig = getattr(exc.__cause__, "orig", None)
    if getattr(orig, "sqlstate", None) in ("28000", "28P01", "3D000"):
        return True
    args = getattr(orig, "args", ())
    if args and args[0] in (1044, 1045, 1698):
        return True
    return "authentication failed" in str(orig) or "does not exist" in str(orig)
