"""harvester: its tables (harvest_sources, harvest_runs, harvest_records)

Revision ID: h0001
Revises: (none; the harvester's branch)
Depends on: 0015 (the core revision after which the core stopped owning these tables)
Create Date: 2026-12-04 05:00:00

Creates the tables on a new database. A database that got them from the core (revisions 0001
and 0014, before the harvester owned them) keeps them and their rows: they are adopted, and the
run-queue columns are added if that database predates core revision 0014.
"""

import sqlalchemy as sa
from alembic import op

revision = "h0001"
down_revision = None
branch_labels = ("harvester",)
depends_on = "0015"

RUN_QUEUE_COLUMNS = ("active_source_id", "worker", "heartbeat")


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("harvest_sources"):
        _create_tables()
        return
    present = {column["name"] for column in inspector.get_columns("harvest_runs")}
    if not set(RUN_QUEUE_COLUMNS) <= present:
        _add_run_queue_columns()


def downgrade() -> None:
    op.drop_table("harvest_runs")
    op.drop_table("harvest_records")
    op.drop_table("harvest_sources")


def _create_tables() -> None:
    op.create_table(
        "harvest_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("base_url", sa.String(length=500), nullable=False),
        sa.Column("metadata_prefix", sa.String(length=64), nullable=False),
        sa.Column("sets", sa.Text(), nullable=True),
        sa.Column("schedule", sa.String(length=64), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("granularity", sa.String(length=32), nullable=True),
        sa.Column("last_datestamp", sa.String(length=32), nullable=True),
        sa.Column("checkpoint", sa.Text(), nullable=True),
        sa.Column("created_on", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_harvest_sources")),
        sa.UniqueConstraint("name", name=op.f("uq_harvest_sources_name")),
    )
    op.create_table(
        "harvest_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("oai_identifier", sa.String(length=255), nullable=False),
        sa.Column("biblionumber", sa.Integer(), nullable=False),
        sa.Column("datestamp", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["source_id"], ["harvest_sources.id"],
                                name=op.f("fk_harvest_records_source_id_harvest_sources"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_harvest_records")),
        sa.UniqueConstraint("source_id", "oai_identifier", name=op.f("uq_harvest_records_source_id_oai_identifier")),
    )
    with op.batch_alter_table("harvest_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_harvest_records_biblionumber"), ["biblionumber"], unique=False)
    op.create_table(
        "harvest_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("started", sa.DateTime(), nullable=False),
        sa.Column("finished", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("active_source_id", sa.Integer(), nullable=True),
        sa.Column("worker", sa.String(length=255), nullable=True),
        sa.Column("heartbeat", sa.DateTime(), nullable=True),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["source_id"], ["harvest_sources.id"],
                                name=op.f("fk_harvest_runs_source_id_harvest_sources"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_harvest_runs")),
        sa.UniqueConstraint("active_source_id", name=op.f("uq_harvest_runs_active_source_id")),
    )
    with op.batch_alter_table("harvest_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_harvest_runs_source_id"), ["source_id"], unique=False)


def _add_run_queue_columns() -> None:
    with op.batch_alter_table("harvest_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("active_source_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("worker", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("heartbeat", sa.DateTime(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_harvest_runs_active_source_id"), ["active_source_id"])
