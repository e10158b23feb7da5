"""The harvester owns its tables through its own Alembic branch; databases whose harvest tables
the core created (before the harvester owned them) keep them, rows included."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from kohaweb.db import make_engine
from kohaweb.migrate import upgrade, version_locations
from kohaweb.testing import selected_backend, throwaway_database


def test_the_branch_is_found_through_the_entry_point():
    assert any(path.endswith("kohaweb_harvester/migrations/versions") for path in version_locations())


def _old_core_tables(metadata: sa.MetaData, with_run_queue: bool) -> None:
    """harvest_* as the core's revisions 0001 (and 0014) created them."""
    sa.Table("harvest_sources", metadata,
             sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.String(100), nullable=False),
             sa.Column("base_url", sa.String(500), nullable=False),
             sa.Column("metadata_prefix", sa.String(64), nullable=False), sa.Column("sets", sa.Text),
             sa.Column("schedule", sa.String(64)), sa.Column("enabled", sa.Boolean, nullable=False),
             sa.Column("granularity", sa.String(32)), sa.Column("last_datestamp", sa.String(32)),
             sa.Column("checkpoint", sa.Text), sa.Column("created_on", sa.DateTime, nullable=False))
    columns = [sa.Column("id", sa.Integer, primary_key=True),
               sa.Column("source_id", sa.Integer, sa.ForeignKey("harvest_sources.id"), nullable=False),
               sa.Column("started", sa.DateTime, nullable=False), sa.Column("finished", sa.DateTime),
               sa.Column("status", sa.String(16), nullable=False), sa.Column("added", sa.Integer, nullable=False),
               sa.Column("updated", sa.Integer, nullable=False), sa.Column("deleted", sa.Integer, nullable=False),
               sa.Column("failed", sa.Integer, nullable=False), sa.Column("last_error", sa.Text)]
    if with_run_queue:
        columns += [sa.Column("active_source_id", sa.Integer, unique=True), sa.Column("worker", sa.String(255)),
                    sa.Column("heartbeat", sa.DateTime)]
    sa.Table("harvest_runs", metadata, *columns)
    sa.Table("harvest_records", metadata,
             sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("source_id", sa.Integer, sa.ForeignKey("harvest_sources.id"), nullable=False),
             sa.Column("oai_identifier", sa.String(255), nullable=False),
             sa.Column("biblionumber", sa.Integer, nullable=False), sa.Column("datestamp", sa.String(32)))


def _upgrade_an_old_database(tmp_path, with_run_queue: bool) -> None:
    with throwaway_database(selected_backend(), tmp_path) as url:
        upgrade(url, "0015")  # the core alone, as before the harvester had a branch
        engine = make_engine(url)
        try:
            metadata = sa.MetaData()
            _old_core_tables(metadata, with_run_queue)
            metadata.create_all(engine)
            with engine.begin() as conn:
                conn.execute(metadata.tables["harvest_sources"].insert().values(
                    id=1, name="peer", base_url="https://peer.example/oai", metadata_prefix="marcxml",
                    enabled=True, created_on=dt.datetime(2026, 1, 1)))
                conn.execute(metadata.tables["harvest_runs"].insert().values(
                    id=1, source_id=1, started=dt.datetime(2026, 1, 1), status="completed", added=3, updated=0,
                    deleted=0, failed=0))
            engine.dispose()

            upgrade(url)  # every branch: the harvester's adopts the tables

            inspector = sa.inspect(engine)
            assert {"active_source_id", "worker", "heartbeat"} <= {c["name"] for c in inspector.get_columns("harvest_runs")}
            with engine.connect() as conn:
                assert conn.execute(sa.text("SELECT name FROM harvest_sources")).scalars().all() == ["peer"]
                assert conn.execute(sa.text("SELECT added FROM harvest_runs")).scalars().all() == [3]
                versions = set(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
            assert "h0001" in versions
        finally:
            engine.dispose()


def test_tables_the_core_created_are_adopted_with_their_rows(tmp_path):
    _upgrade_an_old_database(tmp_path, with_run_queue=True)


def test_a_database_older_than_the_run_queue_gets_its_columns(tmp_path):
    _upgrade_an_old_database(tmp_path, with_run_queue=False)
