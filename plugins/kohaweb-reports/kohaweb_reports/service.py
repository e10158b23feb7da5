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

from kohaweb.models import Base, SavedReport, utcnow

from .cache import ResultCache
from .prepare import Prepared, prepare
from .runner import DatabaseUnavailable, Result, Runner
from .safety import Guard, Refused, is_secret_name

log = logging.getLogger(__name__)

GUARD_MAX_AGE = 300.0  # seconds before the schema is inspected again for secret columns


@dataclass(frozen=True)
class Outcome:
    result: Result
    cached: bool


class ReportService:
    def __init__(self, engine: Engine, settings: dict[str, Any]):
        """``engine`` is the site's (for recording runs); reports read through the runner's own."""
        self.engine = engine
        self.settings = settings
        self.max_rows: int = settings["max_rows"]
        url = make_url(settings["database_url"]) if settings["database_url"] else engine.url
        self.backend = "mariadb" if url.get_backend_name() in ("mysql", "mariadb") else url.get_backend_name()
        self.runner = Runner(url, self.backend, settings["timeout_ms"], self.max_rows, settings["max_running"])
        self.cache = ResultCache(settings["cache_entries"])
        self._guard: Guard | None = None
        self._guard_time = 0.0
        self._lock = threading.Lock()

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
                    # one query for every table and view (not one per table)
                    found = inspect(self.runner.engine()).get_multi_columns(kind=ObjectKind.ANY)
                    for (_schema, name), columns in found.items():
                        tables[name] = list(tables.get(name, [])) + [c["name"] for c in columns]
                except (SQLAlchemyError, DatabaseUnavailable):
                    pass  # the models alone still cover the core's secrets; results are checked too
                self._guard = Guard.from_columns(tables, self.settings["forbidden_tables"])
                self._guard_time = time.monotonic()
            return self._guard

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

    def mark_run(self, report_id: int) -> None:
        """Koha's saved_sql.last_run, in a transaction of its own so that a busy database costs
        the record of the run, not the run; last_modified is kept (running is not editing)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(update(SavedReport).where(SavedReport.id == report_id)
                             .values(last_run=utcnow(), last_modified=SavedReport.last_modified))
        except SQLAlchemyError as exc:
            log.warning("could not record the run of report %s: %s", report_id, exc)
