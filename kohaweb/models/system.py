"""Saved SQL reports, OAI sets with their mapping rules and membership."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text
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
