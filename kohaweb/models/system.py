"""Saved SQL reports, OAI sets with their mapping rules and membership, harvest sources."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, LongText, utcnow


class SavedReport(Base):
    __tablename__ = "saved_sql"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    borrowernumber: Mapped[int | None] = mapped_column(Integer)
    report_name: Mapped[str] = mapped_column(String(255), unique=True)
    notes: Mapped[str | None] = mapped_column(Text)
    savedsql: Mapped[str] = mapped_column(LongText)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    cache_expiry: Mapped[int] = mapped_column(Integer, default=300)
    date_created: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_modified: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    last_run: Mapped[dt.datetime | None] = mapped_column(DateTime)


class OaiSet(Base):
    __tablename__ = "oai_sets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    spec: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    descriptions: Mapped[list[OaiSetDescription]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="OaiSetDescription.id"
    )
    mappings: Mapped[list[OaiSetMapping]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="OaiSetMapping.id"
    )


class OaiSetDescription(Base):
    __tablename__ = "oai_sets_descriptions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    set_id: Mapped[int] = mapped_column(ForeignKey("oai_sets.id", ondelete="CASCADE"), index=True)
    description: Mapped[str] = mapped_column(Text)


class OaiSetMapping(Base):
    """A rule: marcfield$marcsubfield equal/notequal marcvalue, combined by rule_operator (and/or)."""

    __tablename__ = "oai_sets_mappings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    set_id: Mapped[int] = mapped_column(ForeignKey("oai_sets.id", ondelete="CASCADE"), index=True)
    rule_order: Mapped[int | None] = mapped_column(Integer)
    rule_operator: Mapped[str | None] = mapped_column(String(3))
    marcfield: Mapped[str] = mapped_column(String(3))
    marcsubfield: Mapped[str] = mapped_column(String(1))
    operator: Mapped[str] = mapped_column(String(8), default="equal")
    marcvalue: Mapped[str] = mapped_column(String(80))


class OaiSetBiblio(Base):
    """Set membership; no FK to biblio so deleted records stay listed in their sets."""

    __tablename__ = "oai_sets_biblios"
    biblionumber: Mapped[int] = mapped_column(Integer, primary_key=True)
    set_id: Mapped[int] = mapped_column(ForeignKey("oai_sets.id", ondelete="CASCADE"), primary_key=True, index=True)


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
