"""search index: append-only delta segments

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 09:00:00

Posting rows gain a segment number (0 = merged list) and a ``dels`` list, so that writers
append what a transaction changes instead of reading and rewriting whole posting lists
(kohaweb.search.tables). Existing rows become segment 0; ``search_blocks`` gets a row per block
already indexed; ``search_records.terms`` written before this revision carry no word positions
and are read as such (the next change of such a record rewrites its word postings).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _blob():
    return sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb")


def _binary(length: int):
    return (sa.String(length)
            .with_variant(mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb")
            .with_variant(postgresql.VARCHAR(length, collation="C"), "postgresql"))


def _rebuild_sqlite_postings(with_segments: bool) -> None:
    """SQLite cannot change a primary key in place: copy into a new table of the wanted shape."""
    columns = [sa.Column("idx", sa.String(20), nullable=False), sa.Column("term", _binary(190), nullable=False),
               sa.Column("block", sa.Integer(), autoincrement=False, nullable=False)]
    key = ["idx", "term", "block"]
    if with_segments:
        columns.append(sa.Column("seg", sa.Integer(), autoincrement=False, nullable=False))
        key.append("seg")
    columns += [sa.Column("ndocs", sa.Integer(), nullable=False), sa.Column("docs", _blob(), nullable=False),
                sa.Column("positions", _blob(), nullable=True)]
    if with_segments:
        columns.append(sa.Column("dels", _blob(), nullable=True))
    op.create_table("search_postings_new", *columns, sa.PrimaryKeyConstraint(*key, name="pk_search_postings"),
                    sqlite_with_rowid=not with_segments)  # one B-tree keyed as the postings are read
    if with_segments:
        op.execute("INSERT INTO search_postings_new (idx, term, block, seg, ndocs, docs, positions, dels) "
                   "SELECT idx, term, block, 0, ndocs, docs, positions, NULL FROM search_postings")
    else:
        op.execute("INSERT INTO search_postings_new (idx, term, block, ndocs, docs, positions) "
                   "SELECT idx, term, block, ndocs, docs, positions FROM search_postings WHERE seg = 0")
    op.drop_table("search_postings")
    op.rename_table("search_postings_new", "search_postings")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite_postings(with_segments=True)
    else:
        op.drop_constraint("pk_search_postings", "search_postings", type_="primary")
        op.add_column("search_postings", sa.Column("seg", sa.Integer(), nullable=False, server_default="0"))
        op.add_column("search_postings", sa.Column("dels", _blob(), nullable=True))
        op.create_primary_key("pk_search_postings", "search_postings", ["idx", "term", "block", "seg"])
    op.create_table(
        "search_blocks",
        sa.Column("block", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("block", name="pk_search_blocks"),
    )
    op.create_table(
        "search_segments",
        sa.Column("seg", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("block", sa.Integer(), nullable=False),
        sa.Column("written", _blob(), nullable=False),
        sa.PrimaryKeyConstraint("seg", name="pk_search_segments"),
        sqlite_autoincrement=True,  # segment numbers are never reused (they order a term's rows)
    )
    op.create_index("ix_search_segments_block", "search_segments", ["block", "seg"])
    op.execute("INSERT INTO search_blocks (block) SELECT DISTINCT block FROM search_postings")


def downgrade() -> None:
    """Back to one row per (index, term, block): deltas cannot be folded in SQL, so a catalogue
    with unmerged deltas is marked stale (``kohaweb index rebuild`` after the downgrade)."""
    bind = op.get_bind()
    deltas = bind.execute(sa.text("SELECT 1 FROM search_postings WHERE seg > 0")).first() is not None
    op.drop_index("ix_search_segments_block", table_name="search_segments")
    op.drop_table("search_segments")
    op.drop_table("search_blocks")
    if deltas:
        op.execute("DELETE FROM search_postings")
        op.execute("DELETE FROM search_records")
        op.execute("DELETE FROM systempreferences WHERE variable = 'SearchIndexStatus'")
        op.execute("INSERT INTO systempreferences (variable, value, type) VALUES ('SearchIndexStatus', 'stale', 'Choice')")
    if bind.dialect.name == "sqlite":
        _rebuild_sqlite_postings(with_segments=False)
    else:
        op.drop_constraint("pk_search_postings", "search_postings", type_="primary")
        op.drop_column("search_postings", "dels")
        op.drop_column("search_postings", "seg")
        op.create_primary_key("pk_search_postings", "search_postings", ["idx", "term", "block"])
