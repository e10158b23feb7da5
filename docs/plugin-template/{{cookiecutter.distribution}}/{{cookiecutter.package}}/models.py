"""The plugin's own table, created by its own Alembic branch (migrations/)."""

from __future__ import annotations

import datetime as dt

from kohaweb.plugin_api import Base
from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column


class RecordChangeNote(Base):
    """One change of a bibliographic record, noted in the transaction that made it."""

    __tablename__ = "{{ cookiecutter.table }}"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    biblionumber: Mapped[int] = mapped_column(Integer, index=True)
    action: Mapped[str] = mapped_column(String(16))
    noted_at: Mapped[dt.datetime] = mapped_column(DateTime)
