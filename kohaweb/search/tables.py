"""The index tables (created by migrations 0010 and 0012; kept outside the Koha-named models on
purpose).

``search_postings`` is an inverted index stored as posting lists: rows per (index, term, block of
8,192 record numbers, segment) holding records and, for word indexes, the word positions (see
kohaweb.search.posting_format for the encoding). Segment 0 is a merged list; every later segment is a
*delta* written by one transaction: it sets the listed records' postings (``docs`` and their
``positions``) and removes others (``dels``). Writers only append deltas, never read or rewrite
what a block already holds; a query applies a term's rows in segment order; ``compact`` folds a
block's deltas back into one row per term. A query reads a few rows per term and combines them
with numpy, so its cost grows with the number of blocks, not of index rows.

``search_blocks`` has one row per block: writers hold it shared until they commit, compaction
holds it exclusively, so compaction only ever sees committed deltas. ``search_segments`` logs
each delta segment (its block and the keys it wrote), numbered by the database in allocation
order; compaction reads the keys from there and removes the entries it has folded.

``search_postings_pending`` holds a first load's rows until the load ends (kohaweb.search.staging).

``search_reversed_terms`` lists the terms of the word indexes written backwards, so that a
left-truncated word is a range read (kohaweb.search.vocabulary).

``search_records`` holds one row per indexed record: its sort keys. ``search_record_terms`` holds
the list of (index, term) pairs it was indexed under, so that re-indexing or deleting it touches
only its own terms. They are two tables because searches read the first (sorting, counting)
and only writes read the second: its compressed lists are about 1.3 KB a record, and in one
table every sort read a page per dozen records (on MariaDB's default 128 MB buffer pool, from
the disk: a sort by title at 100k records took 27 ms against 6 ms with the lists apart).

Text columns compare by code point on every database (MariaDB utf8mb4_bin, PostgreSQL "C",
SQLite's default BINARY): the normaliser has already folded case and accents, and a linguistic
collation would fold differently per server (ß = ss on one, not on another) and change counts.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, LargeBinary, MetaData, String, Table
from sqlalchemy.dialects import mysql, postgresql

from .normalize import MAX_PHRASE, MAX_TERM

metadata = MetaData()


def binary_string(length: int):
    return (String(length)
            .with_variant(mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb")
            .with_variant(postgresql.VARCHAR(length, collation="C"), "postgresql"))


def blob():
    # MariaDB's plain BLOB stops at 64 KB; a block of a frequent word's positions can exceed it
    return LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb")


postings = Table(
    "search_postings", metadata,
    Column("idx", String(20), primary_key=True),  # index name, or name + "=" (phrases) / "#" (numbers)
    Column("term", binary_string(MAX_PHRASE), primary_key=True),
    Column("block", Integer, primary_key=True, autoincrement=False),
    Column("seg", Integer, primary_key=True, autoincrement=False),
    Column("ndocs", Integer, nullable=False),
    Column("docs", blob(), nullable=False),
    Column("positions", blob(), nullable=True),
    Column("dels", blob(), nullable=True),
    sqlite_with_rowid=False,  # one B-tree on the key (not a table and an index of it): half the writes
)

blocks = Table(
    "search_blocks", metadata,
    Column("block", Integer, primary_key=True, autoincrement=False),
)

segments = Table(
    "search_segments", metadata,
    Column("seg", Integer, primary_key=True, autoincrement=True),
    Column("block", Integer, nullable=False),
    Column("written", blob(), nullable=False),
    Index("ix_search_segments_block", "block", "seg"),
    sqlite_autoincrement=True,  # numbers never reused, even after the newest is compacted away
)

records = Table(
    "search_records", metadata,
    Column("biblionumber", Integer, primary_key=True, autoincrement=False),
    Column("title", binary_string(MAX_TERM)),
    Column("author", binary_string(MAX_TERM)),
    Column("year", Integer),
    Index("ix_search_records_title", "title", "biblionumber"),
    Index("ix_search_records_author", "author", "biblionumber"),
    Index("ix_search_records_year", "year", "biblionumber"),
)

record_terms = Table(
    "search_record_terms", metadata,
    Column("biblionumber", Integer, primary_key=True, autoincrement=False),
    Column("terms", blob(), nullable=False),  # kohaweb.search.writer.encode_groups
)

reversed_terms = Table(
    "search_reversed_terms", metadata,
    Column("idx", String(20), primary_key=True),
    Column("term_reversed", binary_string(MAX_PHRASE), primary_key=True),
    sqlite_with_rowid=False,
)

# A first load's posting rows on SQLite (kohaweb.search.staging), keyed so that
# every batch appends at the end of the B-tree; moved into ``search_postings`` in key order
# when the load ends. Empty at every other time.
pending = Table(
    "search_postings_pending", metadata,
    Column("block", Integer, primary_key=True, autoincrement=False),
    Column("seg", Integer, primary_key=True, autoincrement=False),
    Column("idx", String(20), primary_key=True),
    Column("term", binary_string(MAX_PHRASE), primary_key=True),
    Column("ndocs", Integer, nullable=False),
    Column("docs", blob(), nullable=False),
    Column("positions", blob(), nullable=True),
    sqlite_with_rowid=False,
)

ALL = (postings, records, record_terms, segments, blocks, reversed_terms, pending)
