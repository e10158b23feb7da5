"""hold cancellation requests and Koha's sub-permissions

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 10:40:00

Issue 20: Koha's hold_cancellation_requests (a patron asks to cancel a hold already waiting for
them: DELETE /public/patrons/{patron_id}/holds/{hold_id} answers 202) and the module bit of
user_permissions, so a row can be one of Koha's sub-permissions (module bit + code, as in
Koha's table) beside the whole-module rows (code = the module's name, module_bit NULL).
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hold_cancellation_requests",
        sa.Column("hold_cancellation_request_id", sa.Integer(), nullable=False),
        sa.Column("hold_id", sa.Integer(), nullable=False),
        sa.Column("creation_date", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["hold_id"], ["reserves.reserve_id"],
                                name="fk_hold_cancellation_requests_hold_id_reserves", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("hold_cancellation_request_id", name="pk_hold_cancellation_requests"),
    )
    op.create_index("ix_hold_cancellation_requests_hold_id", "hold_cancellation_requests", ["hold_id"])
    with op.batch_alter_table("user_permissions") as batch:
        batch.add_column(sa.Column("module_bit", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_permissions") as batch:
        batch.drop_column("module_bit")
    # dropping the table drops its index (MariaDB refuses to drop an index a foreign key needs)
    op.drop_table("hold_cancellation_requests")
