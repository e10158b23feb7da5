"""search index tables

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 16:40:00

The tables of kohaweb.search (plain tables with B-tree indexes, identical on SQLite, PostgreSQL
and MariaDB). On a catalogue that already has records the index starts empty, so it is marked
stale until `kohaweb index rebuild` has run.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _binary(length: int):
    return (sa.String(length)
            .with_variant(mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb")
            .with_variant(postgresql.VARCHAR(length, collation="C"), "postgresql"))


def upgrade() -> None:
    op.create_table(
        "search_terms",
        sa.Column("idx", sa.String(16), nullable=False),
        sa.Column("term", _binary(100), nullable=False),
        sa.Column("biblionumber", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("pos", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("idx", "term", "biblionumber", "pos", name="pk_search_terms"),
    )
    op.create_index("ix_search_terms_biblionumber", "search_terms", ["biblionumber"])
    op.create_table(
        "search_phrases",
        sa.Column("idx", sa.String(16), nullable=False),
        sa.Column("value", _binary(190), nullable=False),
        sa.Column("biblionumber", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("idx", "value", "biblionumber", name="pk_search_phrases"),
    )
    op.create_index("ix_search_phrases_biblionumber", "search_phrases", ["biblionumber"])
    op.create_table(
        "search_numbers",
        sa.Column("idx", sa.String(16), nullable=False),
        sa.Column("num", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("biblionumber", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("idx", "num", "biblionumber", name="pk_search_numbers"),
    )
    op.create_index("ix_search_numbers_biblionumber", "search_numbers", ["biblionumber"])
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
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT biblionumber FROM biblio LIMIT 1")).first() is not None:
        bind.execute(sa.text("DELETE FROM systempreferences WHERE variable = 'SearchIndexStatus'"))
        bind.execute(sa.text("INSERT INTO systempreferences (variable, value, type) "
                             "VALUES ('SearchIndexStatus', 'stale', 'Choice')"))


def downgrade() -> None:
    op.execute("DELETE FROM systempreferences WHERE variable = 'SearchIndexStatus'")
    for name in ("search_records", "search_numbers", "search_phrases", "search_terms"):
        op.drop_table(name)
