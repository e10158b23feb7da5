"""harvest_runs: the run queue (active_source_id, worker, heartbeat)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 09:45:00

One queued or running run per source (``active_source_id`` is unique and NULL once the run
ended), the process running it (``worker`` = host:pid) and its ``heartbeat``, so that runs left
"running" by a dead process are recognised and marked failed (kohaweb_harvester.runs). Runs
recorded before this revision have no heartbeat: their start time stands in for it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("harvest_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("active_source_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("worker", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("heartbeat", sa.DateTime(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_harvest_runs_active_source_id"), ["active_source_id"])


def downgrade() -> None:
    with op.batch_alter_table("harvest_runs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_harvest_runs_active_source_id"), type_="unique")
        batch_op.drop_column("heartbeat")
        batch_op.drop_column("worker")
        batch_op.drop_column("active_source_id")
