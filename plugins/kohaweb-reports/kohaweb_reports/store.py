"""Saving reports: the one place that checks a report before it is stored, used by the REST
resource, the staff page and the CLI. Unlike Koha, a bad cache expiry or SQL that could never
run is refused *before* anything is written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kohaweb.plugin_api import SavedReport

from .placeholders import ParameterError
from .safety import Refused
from .service import ReportService

NAME_LENGTH = 255
FIELDS = ("report_name", "savedsql", "notes", "public", "cache_expiry")


class ReportError(Exception):
    """A report that cannot be saved; ``status`` is the HTTP status (400, 404 or 409)."""

    def __init__(self, message: str, code: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


@dataclass
class ReportInput:
    report_name: str
    savedsql: str
    notes: str | None = None
    public: bool = False
    cache_expiry: int = 300


def check(session: Session, service: ReportService, data: ReportInput, report_id: int | None = None) -> ReportInput:
    name = (data.report_name or "").strip()
    if not name:
        raise ReportError("a report needs a name", "invalid_name")
    if len(name) > NAME_LENGTH:
        raise ReportError(f"a report name has at most {NAME_LENGTH} characters", "invalid_name")
    clash = session.scalar(select(SavedReport.id).where(SavedReport.report_name == name))
    if clash is not None and clash != report_id:
        raise ReportError(f"a report named {name!r} exists (id {clash})", "duplicate_name", 409)
    limit = service.settings["max_cache_expiry"]
    if not isinstance(data.cache_expiry, int) or not 0 <= data.cache_expiry <= limit:
        raise ReportError(f"cache_expiry must be between 0 and {limit} seconds", "invalid_cache_expiry")
    sql = (data.savedsql or "").strip()
    # Koha strips one trailing semicolon when saving
    sql = sql[:-1].rstrip() if sql.endswith(";") else sql
    try:
        service.validate(sql)
    except (Refused, ParameterError) as exc:
        code = exc.code if isinstance(exc, Refused) else "invalid_placeholder"
        raise ReportError(f"the SQL cannot be saved as a report: {exc}", code) from None
    return ReportInput(name, sql, data.notes, bool(data.public), data.cache_expiry)


def create(session: Session, service: ReportService, data: ReportInput, borrowernumber: int | None = None) -> SavedReport:
    checked = check(session, service, data)
    report = SavedReport(report_name=checked.report_name, savedsql=checked.savedsql, notes=checked.notes,
                         public=checked.public, cache_expiry=checked.cache_expiry, borrowernumber=borrowernumber)
    session.add(report)
    session.flush()
    return report


def update(session: Session, service: ReportService, report: SavedReport, changes: dict[str, Any]) -> SavedReport:
    current = {field: getattr(report, field) for field in FIELDS}
    current.update({k: v for k, v in changes.items() if k in FIELDS})
    checked = check(session, service, ReportInput(**current), report.id)
    for field in FIELDS:
        setattr(report, field, getattr(checked, field))
    session.flush()
    service.cache.discard_report(report.id)
    return report


def delete(session: Session, service: ReportService, report: SavedReport) -> None:
    session.delete(report)
    session.flush()
    service.cache.discard_report(report.id)


def lookup(session: Session, key: str) -> SavedReport:
    """A report by id (digits) or else by name, for the CLI."""
    report = ReportService.find(session, report_id=int(key)) if key.isdigit() else None
    report = report or ReportService.find(session, name=key)
    if report is None:
        raise ReportError(f"no report with id or name {key!r}", "not_found", 404)
    return report
