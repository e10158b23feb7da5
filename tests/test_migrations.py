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


def test_loan_and_hold_sequences_start_after_every_id_used(tmp_path):
    """0026: on the server databases a loan's and a hold's id come from a sequence that starts
    after the counter and every id in the live and history tables; back down, they are dropped."""
    import datetime as dt

    from sqlalchemy import insert, text

    from kohaweb import ids
    from kohaweb.db import make_session_factory, transaction
    from kohaweb.models import OldCheckout, OldHold

    if selected_backend() == "sqlite":
        import pytest

        pytest.skip("SQLite keeps its counter rows")
    with throwaway_database(selected_backend(), tmp_path) as url:
        upgrade(url, "0025")
        engine = make_engine(url)
        factory = make_session_factory(engine)
        try:
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO id_counters (name, value) VALUES ('checkout', 40), ('hold', 7)"))
                day = dt.datetime(2026, 1, 1)
                conn.execute(insert(OldCheckout.__table__).values(issue_id=57, date_due=day, issuedate=day,
                                                                  timestamp=day))
                conn.execute(insert(OldHold.__table__).values(reserve_id=3, reservedate=day.date(), timestamp=day))
            upgrade(url)
            with transaction(factory) as session:
                assert list(ids.allocate(session, "checkout")) == [58]  # after old_issues' 57
                assert list(ids.allocate(session, "hold")) == [8]  # after the counter's 7
            with engine.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM id_counters WHERE name IN ('checkout', 'hold')")
                                    ).scalar() == 0
            with factory() as session:  # taken in a transaction that rolls back: not given again
                assert list(ids.allocate(session, "checkout")) == [59]
                session.rollback()
            with transaction(factory) as session:
                assert list(ids.allocate(session, "checkout")) == [60]
            downgrade(url, "0025")  # the sequences go; the code of 0025 recreates the counters from the tables
            with engine.connect() as conn:
                assert not {"checkout_ids", "hold_ids"} & set(inspect(conn).get_sequence_names())
        finally:
            engine.dispose()


def test_record_terms_move_apart_and_back_with_their_records(tmp_path):
    """0027 moves each record's term list to search_record_terms and remakes search_records with
    its sort keys; back down they are one table again; nothing is lost either way."""
    from sqlalchemy import text

    rows = [(1, "coral", "doe", 1999, b"\x01terms-one"), (2, None, None, None, b"")]
    with throwaway_database(selected_backend(), tmp_path) as url:
        upgrade(url, "0026")
        engine = make_engine(url)
        try:
            with engine.begin() as conn:
                for number, title, author, year, terms in rows:
                    conn.execute(text("INSERT INTO search_records (biblionumber, title, author, year, terms) "
                                      "VALUES (:n, :t, :a, :y, :b)"),
                                 {"n": number, "t": title, "a": author, "y": year, "b": terms})
            upgrade(url)
            with engine.connect() as conn:
                keys = conn.execute(text("SELECT biblionumber, title, author, year FROM search_records "
                                         "ORDER BY biblionumber")).all()
                lists = conn.execute(text("SELECT biblionumber, terms FROM search_record_terms "
                                          "ORDER BY biblionumber")).all()
            assert [tuple(r) for r in keys] == [r[:4] for r in rows]
            assert [(n, bytes(t)) for n, t in lists] == [(r[0], r[4]) for r in rows]
            assert "terms" not in {c["name"] for c in inspect(engine).get_columns("search_records")}
            assert {i["name"] for i in inspect(engine).get_indexes("search_records")} >= {
                "ix_search_records_title", "ix_search_records_author", "ix_search_records_year"}
            downgrade(url, "0026")
            with engine.connect() as conn:
                back = conn.execute(text("SELECT biblionumber, title, author, year, terms FROM search_records "
                                         "ORDER BY biblionumber")).all()
            assert [(*r[:4], bytes(r[4])) for r in back] == rows
            assert "search_record_terms" not in inspect(engine).get_table_names()
            upgrade(url)
            assert _model_diff(engine) == []
        finally:
            engine.dispose()
