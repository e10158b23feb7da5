"""The authorities search index's tables (migration 0018), beside the bibliographic ones.

They hold the same posting-list encoding as ``search_postings`` (kohaweb.search.posting_format: per
(index, term, block of 8,192 authids) the block's authids as uint16 offsets and, for word
indexes, ``offset << 16 | position`` keys), so the bibliographic query evaluator answers on them
unchanged. Authority files are small and edited one record at a time, so each (index, term,
block) is one row, rewritten whole by the transaction that changes it (no delta segments):
writers of a block queue on its ``auth_search_blocks`` row (an UPDATE) until they commit.

Separate tables, not a namespace of ``search_postings``: ``kohaweb index rebuild`` empties the
bibliographic tables, and authids and biblionumbers share the same block numbers.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, MetaData, Table

from .normalize import MAX_PHRASE, MAX_TERM
from .tables import binary_string, blob

metadata = MetaData()

postings = Table(
    "auth_search_postings", metadata,
    Column("idx", binary_string(30), primary_key=True),  # index, or index + "=" for whole-field phrases
    Column("term", binary_string(MAX_PHRASE), primary_key=True),
    Column("block", Integer, primary_key=True, autoincrement=False),
    Column("ndocs", Integer, nullable=False),
    Column("docs", blob(), nullable=False),
    Column("positions", blob(), nullable=True),
    sqlite_with_rowid=False,
)

records = Table(
    "auth_search_records", metadata,
    Column("authid", Integer, primary_key=True, autoincrement=False),
    Column("heading", binary_string(MAX_TERM)),  # sort form of the heading
    Column("terms", blob(), nullable=False),  # kohaweb.search.writer.encode_terms
    Index("ix_auth_search_records_heading", "heading", "authid"),
)

blocks = Table(
    "auth_search_blocks", metadata,
    Column("block", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
)

ALL = (postings, records, blocks)
