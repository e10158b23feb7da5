"""search index as posting lists

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 20:30:00

Replaces the row-per-word tables of 0002 with posting lists per (index, term, block of record
numbers), see kohaweb.search.tables. The new index starts empty: on a catalogue that already has
records it is marked stale until `kohaweb index rebuild` has run (services refuse to search a
stale index rather than answer from a partial one).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _binary(length: int):
    return (sa.String(length)
            .with_variant(mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb")
            .with_variant(postgresql.VARCHAR(length, collation="C"), "postgresql"))


def _blob():
    return sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb")


def _mark_stale_if_records() -> None:
    bind = op.get_bind()
    bind.execute(sa.text("DELETE FROM systempreferences WHERE variable = 'SearchIndexStatus'"))
    if bind.execute(sa.text("SELECT biblionumber FROM biblio LIMIT 1")).first() is not None:
        bind.execute(sa.text("INSERT INTO systempreferences (variable, value, type) "
                             "VALUES ('SearchIndexStatus', 'stale', 'Choice')"))


def upgrade() -> None:
    for name in ("search_records", "search_numbers", "search_phrases", "search_terms"):
        op.drop_table(name)
    op.create_table(
        "search_postings",
        sa.Column("idx", sa.String(20), nullable=False),
        sa.Column("term", _binary(190), nullable=False),
        sa.Column("block", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("ndocs", sa.Integer(), nullable=False),
        sa.Column("docs", _blob(), nullable=False),
        sa.Column("positions", _blob(), nullable=True),
        sa.PrimaryKeyConstraint("idx", "term", "block", name="pk_search_postings"),
    )
    op.create_table(
        "search_records",
        sa.Column("biblionumber", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("title", _binary(100), nullable=True),
        sa.Column("author", _binary(100), nullable=True),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("terms", _blob(), nullable=False),
        sa.PrimaryKeyConstraint("biblionumber", name="pk_search_records"),
    )
    for column in ("title", "author", "year"):
        op.create_index(f"ix_search_records_{column}", "search_records", [column, "biblionumber"])
    _mark_stale_if_records()


def downgrade() -> None:
    """Back to 0002's tables (empty, so marked stale where there are records)."""
    op.drop_table("search_records")
    op.drop_table("search_postings")
    number = sa.Integer()
    columns = {
        "search_terms": [("idx", sa.String(16)), ("term", _binary(100)), ("biblionumber", number), ("pos", number)],
        "search_phrases": [("idx", sa.String(16)), ("value", _binary(190)), ("biblionumber", number)],
        "search_numbers": [("idx", sa.String(16)), ("num", number), ("biblionumber", number)],
    }
    for name, spec in columns.items():
        op.create_table(name, *[sa.Column(c, t, nullable=False, autoincrement=False) for c, t in spec],
                        sa.PrimaryKeyConstraint(*[c for c, _ in spec], name=f"pk_{name}"))
        op.create_index(f"ix_{name}_biblionumber", name, ["biblionumber"])
    op.create_table(
        "search_records",
        sa.Column("biblionumber", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("title", _binary(100), nullable=True),
        sa.Column("author", _binary(100), nullable=True),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("biblionumber", name="pk_search_records"),
    )
    op.create_index("ix_search_records_hidden", "search_records", ["hidden", "biblionumber"])
    _mark_stale_if_records()
