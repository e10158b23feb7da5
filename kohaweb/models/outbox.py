"""The record-change outbox: changes a search backend outside the database has yet to take."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class RecordChangeOutbox(Base):
    """One change of a record, written in the transaction that made it (so a change committed is
    never lost, and a change rolled back is never sent) and deleted once a backend has taken it
    (``kohaweb index drain``; :mod:`kohaweb.search.backend`)."""

    __tablename__ = "record_change_outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    biblionumber: Mapped[int] = mapped_column(Integer, index=True)
    action: Mapped[str] = mapped_column(String(16))  # "changed" or "deleted"
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime)
