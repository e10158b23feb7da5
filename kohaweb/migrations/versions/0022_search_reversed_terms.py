"""search index: the word indexes' terms written backwards

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04 22:50:00

``search_reversed_terms`` makes a left-truncated word (``*ation``) a range read of the terms
that end so, instead of a test of every row the index holds (kohaweb.search.vocabulary). An
index built before this revision is listed here, from its postings' keys, a namespace at a time
(15 s for 100k realistic records on PostgreSQL; the time grows with the number of terms).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def _binary(length: int):
    return (sa.String(length)
            .with_variant(mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb")
            .with_variant(postgresql.VARCHAR(length, collation="C"), "postgresql"))


def upgrade() -> None:
    op.create_table(
        "search_reversed_terms",
        sa.Column("idx", sa.String(20), nullable=False),
        sa.Column("term_reversed", _binary(190), nullable=False),
        sa.PrimaryKeyConstraint("idx", "term_reversed", name="pk_search_reversed_terms"),
        sqlite_with_rowid=False,
    )
    from kohaweb.search import vocabulary

    vocabulary.fill(op.get_bind())


def downgrade() -> None:
    op.drop_table("search_reversed_terms")
