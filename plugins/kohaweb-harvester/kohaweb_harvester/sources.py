"""Managing harvest sources (shared by the CLI and the REST API)."""

from __future__ import annotations

from urllib.parse import urlparse

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from .models import HarvestedRecord, HarvestRun, HarvestSource


class SourceError(ValueError):
    pass


def validate(name: str, base_url: str, metadata_prefix: str) -> None:
    if not name or len(name) > 100:
        raise SourceError("name is required (at most 100 characters)")
    parsed = urlparse(base_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise SourceError(f"base URL must be an http(s) URL, got {base_url!r}")
    if not metadata_prefix or any(c.isspace() for c in metadata_prefix):
        raise SourceError("metadataPrefix must be a single word")


def add_source(session: Session, name: str, base_url: str, metadata_prefix: str = "marcxml",
               sets: list[str] | None = None, schedule: str | None = None, enabled: bool = True) -> HarvestSource:
    validate(name, base_url, metadata_prefix)
    if session.scalar(select(HarvestSource.id).where(HarvestSource.name == name)) is not None:
        raise SourceError(f"a source named {name!r} exists")
    source = HarvestSource(name=name, base_url=base_url, metadata_prefix=metadata_prefix,
                           sets=" ".join(sets or []) or None, schedule=schedule, enabled=enabled)
    session.add(source)
    session.flush()
    return source


def find_source(session: Session, name_or_id: str | int) -> HarvestSource | None:
    if isinstance(name_or_id, int) or str(name_or_id).isdigit():
        found = session.get(HarvestSource, int(name_or_id))
        if found is not None:
            return found
    return session.scalar(select(HarvestSource).where(HarvestSource.name == str(name_or_id)))


def remove_source(session: Session, source: HarvestSource) -> None:
    """Forget a source, its runs and its identifier map; harvested records stay in the catalogue."""
    session.execute(delete(HarvestedRecord).where(HarvestedRecord.source_id == source.id))
    session.execute(delete(HarvestRun).where(HarvestRun.source_id == source.id))
    session.delete(source)
    session.flush()


def last_run(session: Session, source_id: int) -> HarvestRun | None:
    return session.scalar(select(HarvestRun).where(HarvestRun.source_id == source_id)
                          .order_by(HarvestRun.id.desc()).limit(1))


def record_count(session: Session, source_id: int) -> int:
    return session.scalar(select(func.count()).select_from(HarvestedRecord)
                          .where(HarvestedRecord.source_id == source_id))


def source_dict(session: Session, source: HarvestSource) -> dict:
    run = last_run(session, source.id)
    return {
        "source_id": source.id, "name": source.name, "base_url": source.base_url,
        "metadata_prefix": source.metadata_prefix, "sets": (source.sets or "").split(),
        "schedule": source.schedule, "enabled": source.enabled, "last_datestamp": source.last_datestamp,
        "resumable": source.checkpoint is not None, "records": record_count(session, source.id),
        "last_run": run_dict(run) if run else None,
    }


def run_dict(run: HarvestRun) -> dict:
    def iso(value):
        return value.isoformat() + "Z" if value else None

    return {"run_id": run.id, "source_id": run.source_id, "status": run.status, "started": iso(run.started),
            "finished": iso(run.finished), "added": run.added or 0, "updated": run.updated or 0,
            "deleted": run.deleted or 0, "failed": run.failed or 0, "last_error": run.last_error,
            "worker": run.worker, "heartbeat": iso(run.heartbeat)}
