"""The harvester's own tables: the sources it harvests, their runs, and which local record holds
which harvested one. They belong to this plugin (its Alembic branch,
``kohaweb_harvester.migrations``), not to the core; they share the core's declarative base so
that the catalogue's tools (schema checks, test clean-up) see them when the plugin is installed."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kohaweb.plugin_api import Base, utcnow


class HarvestSource(Base):
    __tablename__ = "harvest_sources"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    base_url: Mapped[str] = mapped_column(String(500))
    metadata_prefix: Mapped[str] = mapped_column(String(64), default="marcxml")
    sets: Mapped[str | None] = mapped_column(Text)  # space-separated setSpecs
    schedule: Mapped[str | None] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    granularity: Mapped[str | None] = mapped_column(String(32))
    last_datestamp: Mapped[str | None] = mapped_column(String(32))  # last successful harvest high-water mark
    checkpoint: Mapped[str | None] = mapped_column(Text)  # resumption state of an unfinished run (JSON)
    created_on: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class HarvestRun(Base):
    """One harvest of a source: queued, running (claimed by ``worker``, alive while ``heartbeat``
    is renewed), then completed, failed or interrupted. ``active_source_id`` is the source's id
    while the run is queued or running, NULL after: being unique, it lets one run per source be
    active whatever the concurrency."""

    __tablename__ = "harvest_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("harvest_sources.id", ondelete="CASCADE"), index=True)
    started: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished: Mapped[dt.datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    active_source_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    worker: Mapped[str | None] = mapped_column(String(255))  # host:pid of the process running it
    heartbeat: Mapped[dt.datetime | None] = mapped_column(DateTime)
    added: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class HarvestedRecord(Base):
    """Which local record holds which source record, so re-harvests update in place."""

    __tablename__ = "harvest_records"
    __table_args__ = (UniqueConstraint("source_id", "oai_identifier"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("harvest_sources.id", ondelete="CASCADE"))
    oai_identifier: Mapped[str] = mapped_column(String(255))
    biblionumber: Mapped[int] = mapped_column(Integer, index=True)
    datestamp: Mapped[str | None] = mapped_column(String(32))
