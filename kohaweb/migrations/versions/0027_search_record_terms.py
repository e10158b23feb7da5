"""search index: a record's term list apart from its sort keys

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 06:10:00

``search_records`` kept each record's compressed term list (about 1.3 KB) beside its sort keys, so
a sort read a page per dozen records; the lists move to ``search_record_terms``, which only
writes read. ``search_records`` is made anew (not altered) so that its rows are narrow at once:
a dropped column keeps its bytes in every row on PostgreSQL and MariaDB until the table is
rewritten.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

_KEYS = ("title", "author", "year")


def _binary(length: int):
    return (sa.String(length)
            .with_variant(mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb")
            .with_variant(postgresql.VARCHAR(length, collation="C"), "postgresql"))


def _blob():
    return sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb")


def _records_table(with_terms: bool) -> None:
    columns = [sa.Column("biblionumber", sa.Integer(), autoincrement=False, nullable=False),
               sa.Column("title", _binary(100), nullable=True),
               sa.Column("author", _binary(100), nullable=True),
               sa.Column("year", sa.Integer(), nullable=True)]
    if with_terms:
        columns.append(sa.Column("terms", _blob(), nullable=False))
    op.create_table("search_records", *columns, sa.PrimaryKeyConstraint("biblionumber", name="pk_search_records"))


def _set_aside_records() -> None:
    """The current ``search_records`` renamed to ``search_records_old``, its index names freed."""
    for key in _KEYS:
        op.drop_index(f"ix_search_records_{key}", table_name="search_records")
    op.rename_table("search_records", "search_records_old")
    if op.get_bind().dialect.name == "postgresql":  # constraint (index) names are per schema there
        op.execute("ALTER INDEX pk_search_records RENAME TO pk_search_records_old")


def _finish_records() -> None:
    op.drop_table("search_records_old")
    for key in _KEYS:
        op.create_index(f"ix_search_records_{key}", "search_records", [key, "biblionumber"])


def upgrade() -> None:
    op.create_table(
        "search_record_terms",
        sa.Column("biblionumber", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("terms", _blob(), nullable=False),
        sa.PrimaryKeyConstraint("biblionumber", name="pk_search_record_terms"),
    )
    op.execute("INSERT INTO search_record_terms (biblionumber, terms) "
               "SELECT biblionumber, terms FROM search_records ORDER BY biblionumber")
    _set_aside_records()
    _records_table(with_terms=False)
    op.execute("INSERT INTO search_records (biblionumber, title, author, year) "
               "SELECT biblionumber, title, author, year FROM search_records_old ORDER BY biblionumber")
    _finish_records()


def downgrade() -> None:
    _set_aside_records()
    _records_table(with_terms=True)
    op.execute("INSERT INTO search_records (biblionumber, title, author, year, terms) "
               "SELECT o.biblionumber, o.title, o.author, o.year, t.terms FROM search_records_old o "
               "JOIN search_record_terms t ON t.biblionumber = o.biblionumber ORDER BY o.biblionumber")
    _finish_records()
    op.drop_table("search_record_terms")
