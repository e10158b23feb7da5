"""The index tables: plain tables and B-tree indexes, so that SQLite, PostgreSQL and MariaDB give
the same answers (created by migration 0002; kept outside the Koha-named models on purpose).

Text columns compare by code point on every database (MariaDB utf8mb4_bin, PostgreSQL "C",
SQLite's default BINARY): the normaliser has already folded case and accents, and a linguistic
collation would fold differently per server (ß = ss on one, not on another) and change counts.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, MetaData, String, Table
from sqlalchemy.dialects import mysql, postgresql

from .normalize import MAX_PHRASE, MAX_TERM

metadata = MetaData()


def binary_string(length: int):
    return (String(length)
            .with_variant(mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb")
            .with_variant(postgresql.VARCHAR(length, collation="C"), "postgresql"))


# One row per word occurrence; pos orders the words of a record within one index, with a gap
# between fields so that phrases never run across two fields.
terms = Table(
    "search_terms", metadata,
    Column("idx", String(16), primary_key=True),
    Column("term", binary_string(MAX_TERM), primary_key=True),
    Column("biblionumber", Integer, primary_key=True, autoincrement=False),
    Column("pos", Integer, primary_key=True, autoincrement=False),
    Index("ix_search_terms_biblionumber", "biblionumber"),
)

# Whole field values (normalised) for exact and anchored searches.
phrases = Table(
    "search_phrases", metadata,
    Column("idx", String(16), primary_key=True),
    Column("value", binary_string(MAX_PHRASE), primary_key=True),
    Column("biblionumber", Integer, primary_key=True, autoincrement=False),
    Index("ix_search_phrases_biblionumber", "biblionumber"),
)

# Numbers (years) for range searches.
numbers = Table(
    "search_numbers", metadata,
    Column("idx", String(16), primary_key=True),
    Column("num", Integer, primary_key=True, autoincrement=False),
    Column("biblionumber", Integer, primary_key=True, autoincrement=False),
    Index("ix_search_numbers_biblionumber", "biblionumber"),
)

# One row per indexed record: sort keys, and whether public services must hide it.
records = Table(
    "search_records", metadata,
    Column("biblionumber", Integer, primary_key=True, autoincrement=False),
    Column("title", binary_string(MAX_TERM)),
    Column("author", binary_string(MAX_TERM)),
    Column("year", Integer),
    Column("hidden", Boolean, nullable=False, default=False),
    Index("ix_search_records_hidden", "hidden", "biblionumber"),
)

ALL = (terms, phrases, numbers, records)
