"""Declarative base, naming convention and column helpers shared by every model module."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import MetaData, String, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase

# Explicit constraint names keep Alembic migrations identical on SQLite, PostgreSQL and MariaDB.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# MARCXML and report SQL can exceed MariaDB's 64 KiB TEXT.
LongText = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def code(length: int = 10) -> String:
    """A short code column (branchcode, itemtype, categorycode)."""
    return String(length)


def utcnow() -> dt.datetime:
    """Now in UTC as a naive datetime at one-second resolution (the OAI-PMH granularity)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
