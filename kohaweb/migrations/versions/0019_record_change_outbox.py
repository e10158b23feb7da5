"""record-change outbox for search backends outside the database

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 07:20:00

Issue 19 (plugin contract): a search backend outside the database (OpenSearch, Elasticsearch)
cannot take part in the catalogue's transaction, so the data layer writes each record change here
in that transaction and ``kohaweb index drain`` sends them on (kohaweb.search.backend).
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "record_change_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("biblionumber", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_record_change_outbox"),
    )
    op.create_index("ix_record_change_outbox_biblionumber", "record_change_outbox", ["biblionumber"])


def downgrade() -> None:
    op.drop_index("ix_record_change_outbox_biblionumber", table_name="record_change_outbox")
    op.drop_table("record_change_outbox")
