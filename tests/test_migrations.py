"""One migration history for SQLite, PostgreSQL and MariaDB: up, down, and in step with the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from kohaweb.db import make_engine
from kohaweb.migrate import downgrade, upgrade
from kohaweb.models import Base
from kohaweb.testing import selected_backend, throwaway_database


def _model_diff(engine) -> list:
    """Differences between the migrated schema and the models, ignoring tables that migrations
    create outside the models (e.g. search index structures) and Alembic's own table."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "compare_type": True,
            "include_object": lambda obj, name, kind, reflected, compare_to: not (
                kind == "table" and reflected and name not in Base.metadata.tables)
                and not (kind in ("index", "unique_constraint", "column") and obj.table.name not in Base.metadata.tables),
        })
        return compare_metadata(context, Base.metadata)


def test_models_match_migrations(engine):
    assert _model_diff(engine) == []


def test_upgrade_downgrade_upgrade(tmp_path):
    with throwaway_database(selected_backend(), tmp_path) as url:
        upgrade(url)
        engine = make_engine(url)
        try:
            tables = set(inspect(engine).get_table_names())
            assert set(Base.metadata.tables) <= tables
            downgrade(url, "base")
            assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
            upgrade(url)
            assert _model_diff(engine) == []
        finally:
            engine.dispose()
