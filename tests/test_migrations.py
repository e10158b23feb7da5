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


def test_multi_numbers_flag_only_on_an_empty_index(tmp_path):
    """0023 says the index has the several-numbers namespace (SearchIndexMultiNumbers 1) and 0024
    the tens and hundreds too (2) when it has no record yet; an index with records keeps the old
    ranges until `kohaweb index rebuild`. Back to 0023, level 2 reads as 1."""
    from sqlalchemy import text

    def flag(engine) -> list:
        with engine.connect() as conn:
            return list(conn.execute(text("SELECT value FROM systempreferences "
                                          "WHERE variable = 'SearchIndexMultiNumbers'")).scalars())

    with throwaway_database(selected_backend(), tmp_path) as url:
        upgrade(url)
        engine = make_engine(url)
        try:
            assert flag(engine) == ["2"]  # a fresh catalogue
            downgrade(url, "0023")
            assert flag(engine) == ["1"]
            downgrade(url, "0022")
            assert flag(engine) == []
            with engine.begin() as conn:  # a record indexed by the code before 0023
                conn.execute(text("INSERT INTO search_records (biblionumber, terms) VALUES (1, :t)"), {"t": b""})
            upgrade(url)
            assert flag(engine) == []
            downgrade(url, "0022")
            with engine.begin() as conn:
                conn.execute(text("DELETE FROM search_records"))
            upgrade(url, "0023")
            assert flag(engine) == ["1"]
            with engine.begin() as conn:  # indexed by the code of 0023: several apart, no tens
                conn.execute(text("INSERT INTO search_records (biblionumber, terms) VALUES (1, :t)"), {"t": b""})
            upgrade(url)
            assert flag(engine) == ["1"]
        finally:
            engine.dispose()
