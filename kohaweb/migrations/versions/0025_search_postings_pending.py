"""search index: a first load's postings staged, then moved in key order

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05 20:55:00

``search_postings_pending`` takes the posting rows of a first ``kohaweb import`` on SQLite, keyed (block, segment, namespace, term) so that each batch appends at the end of its
B-tree; the load moves them into ``search_postings`` in that table's key order when it ends
(kohaweb.search.staging). Written into ``search_postings`` directly, each batch's rows landed
between those of every block before, and the pages rewritten per batch grew with the index.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def _binary(length: int):
    return (sa.String(length)
            .with_variant(mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb")
            .with_variant(postgresql.VARCHAR(length, collation="C"), "postgresql"))


def _blob():
    return sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "search_postings_pending",
        sa.Column("block", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seg", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.String(20), nullable=False),
        sa.Column("term", _binary(190), nullable=False),
        sa.Column("ndocs", sa.Integer(), nullable=False),
        sa.Column("docs", _blob(), nullable=False),
        sa.Column("positions", _blob(), nullable=True),
        sa.PrimaryKeyConstraint("block", "seg", "idx", "term", name="pk_search_postings_pending"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("search_postings_pending")
