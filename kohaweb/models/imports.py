"""What ``kohaweb import`` has loaded from each file (kohaweb's own table, not Koha's)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow


class ImportedFile(Base):
    """One file given to ``kohaweb import``, recognised by a digest of its size and first
    megabyte. ``position`` is the last record position whose batch has committed: it moves in
    the same transaction as the batch, so a re-run after a crash resumes right after it instead
    of storing the committed batches twice; ``completed`` is set once the whole file is read."""

    __tablename__ = "import_files"
    file_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    position: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    started: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    completed: Mapped[dt.datetime | None] = mapped_column(DateTime)
