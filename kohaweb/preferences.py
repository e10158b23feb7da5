"""System preferences (key/value, keys matched case-insensitively as in Koha)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import SystemPreference


def get_preference(session: Session, name: str, default: str | None = None) -> str | None:
    row = session.scalar(select(SystemPreference).where(func.lower(SystemPreference.variable) == name.lower()))
    return default if row is None or row.value is None else row.value


def set_preference(session: Session, name: str, value: str | None, type_: str | None = None) -> None:
    row = session.scalar(select(SystemPreference).where(func.lower(SystemPreference.variable) == name.lower()))
    if row is None:
        session.add(SystemPreference(variable=name, value=value, type=type_))
    else:
        row.value = value
    session.flush()
