"""Koha's items columns of its REST item object

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 11:35:00

Issue 20: the columns of Koha's items (and deleteditems) table behind its item object's
acquisition_source (booksellerid), bookable, damaged_date / lost_date / withdrawn_date
(damaged_on, itemlost_on, withdrawn_on), materials_notes (materials), call_number_source /
call_number_sort (cn_source, cn_sort), replacement_price_date, coded_location_qualifier and
new_status.
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

TABLES = ("items", "deleteditems")


def _columns() -> list[sa.Column]:
    return [
        sa.Column("booksellerid", sa.Text(), nullable=True),
        sa.Column("bookable", sa.Boolean(), nullable=True),
        sa.Column("damaged_on", sa.DateTime(), nullable=True),
        sa.Column("itemlost_on", sa.DateTime(), nullable=True),
        sa.Column("withdrawn_on", sa.DateTime(), nullable=True),
        sa.Column("materials", sa.Text(), nullable=True),
        sa.Column("cn_source", sa.String(10), nullable=True),
        sa.Column("cn_sort", sa.String(255), nullable=True),
        sa.Column("replacementpricedate", sa.Date(), nullable=True),
        sa.Column("coded_location_qualifier", sa.String(10), nullable=True),
        sa.Column("new_status", sa.String(32), nullable=True),
    ]


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            for column in _columns():
                batch.add_column(column)


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            for column in reversed(_columns()):
                batch.drop_column(column.name)
