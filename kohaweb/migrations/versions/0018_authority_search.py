"""authorities: search index and heading links

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 07:20:00

The authorities search index (kohaweb.search.authority_tables): posting lists per (index, term,
block of authids) in ``auth_search_postings``, each authority's terms and heading sort key in
``auth_search_records``, one row per block in ``auth_search_blocks`` (writers queue on it).
Catalogues that already hold authorities get the preference AuthoritySearchIndexStatus = stale:
SRU /sru/authorities then asks for ``kohaweb index rebuild --authorities``.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def _blob():
    return sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb")


def _binary(length: int):
    return (sa.String(length)
            .with_variant(mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb")
            .with_variant(postgresql.VARCHAR(length, collation="C"), "postgresql"))


def upgrade() -> None:
    op.create_table(
        "auth_search_postings",
        sa.Column("idx", _binary(30), nullable=False),
        sa.Column("term", _binary(190), nullable=False),
        sa.Column("block", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("ndocs", sa.Integer(), nullable=False),
        sa.Column("docs", _blob(), nullable=False),
        sa.Column("positions", _blob(), nullable=True),
        sa.PrimaryKeyConstraint("idx", "term", "block", name="pk_auth_search_postings"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "auth_search_records",
        sa.Column("authid", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("heading", _binary(100), nullable=True),
        sa.Column("terms", _blob(), nullable=False),
        sa.PrimaryKeyConstraint("authid", name="pk_auth_search_records"),
    )
    op.create_index("ix_auth_search_records_heading", "auth_search_records", ["heading", "authid"])
    op.create_table(
        "auth_search_blocks",
        sa.Column("block", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("block", name="pk_auth_search_blocks"),
    )
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT COUNT(*) FROM auth_header")).scalar():
        bind.execute(sa.text("DELETE FROM systempreferences WHERE variable = 'AuthoritySearchIndexStatus'"))
        bind.execute(sa.text("INSERT INTO systempreferences (variable, value, type) "
                             "VALUES ('AuthoritySearchIndexStatus', 'stale', 'Choice')"))


def downgrade() -> None:
    op.drop_table("auth_search_blocks")
    op.drop_index("ix_auth_search_records_heading", table_name="auth_search_records")
    op.drop_table("auth_search_records")
    op.drop_table("auth_search_postings")
    op.execute("DELETE FROM systempreferences WHERE variable = 'AuthoritySearchIndexStatus'")
