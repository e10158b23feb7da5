"""loan and hold ids from database sequences on PostgreSQL and MariaDB

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05 23:50:00

A loan or a hold took its id by incrementing a row of ``id_counters`` in a short transaction
of its own: four round trips (begin, a setting, the update, the commit) of a loan's twenty, and
on MariaDB a commit that waits for the disk. A sequence hands out the next value in one
statement, inside the caller's transaction, without a lock, and never goes backwards (a value
taken by a transaction that rolls back is simply not used, as before). Each sequence starts
after every id ever used: the counter's value and the live and history tables. The counter
rows are removed; a downgrade removes nothing more (the counters are then recreated from the
tables, after every id ever stored). SQLite keeps its counter rows (one writer at a time:
the counter moves inside the caller's transaction).
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

# sequence -> (counter name, live table and id column, history table and id column)
SEQUENCES = {
    "checkout_ids": ("checkout", ("issues", "issue_id"), ("old_issues", "issue_id")),
    "hold_ids": ("hold", ("reserves", "reserve_id"), ("old_reserves", "reserve_id")),
}


def _servers() -> bool:
    return op.get_bind().dialect.name in ("postgresql", "mysql", "mariadb")


def upgrade() -> None:
    if not _servers():
        return
    bind = op.get_bind()
    for sequence, (counter, (live, live_id), (history, history_id)) in SEQUENCES.items():
        used = [bind.execute(sa.text("SELECT value FROM id_counters WHERE name = :name"), {"name": counter}).scalar(),
                bind.execute(sa.text(f"SELECT max({live_id}) FROM {live}")).scalar(),
                bind.execute(sa.text(f"SELECT max({history_id}) FROM {history}")).scalar()]
        start = max((int(v) for v in used if v is not None), default=0) + 1
        op.execute(f"CREATE SEQUENCE {sequence} START WITH {start}")
        bind.execute(sa.text("DELETE FROM id_counters WHERE name = :name"), {"name": counter})


def downgrade() -> None:
    if not _servers():
        return
    for sequence in SEQUENCES:
        op.execute(f"DROP SEQUENCE {sequence}")
