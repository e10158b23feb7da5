"""harvest_runs: the run queue (now part of the harvester plugin's own branch)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 09:45:00

One queued or running run per source (``active_source_id`` is unique and NULL once the run
ended), the process running it (``worker`` = host:pid) and its ``heartbeat``, so that runs left
"running" by a dead process are recognised and marked failed (kohaweb_harvester.runs). Runs
recorded before this revision have no heartbeat: their start time stands in for it.
"""

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # moved to the harvester plugin's branch with its tables (kohaweb_harvester.migrations); a
    # database that ran this revision before the move has the columns, and that branch sees them
    pass


def downgrade() -> None:
    pass
