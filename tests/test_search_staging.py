"""A first load's postings put in key order when it ends (kohaweb.search.staging: staged and
moved on SQLite, the key built afterwards on PostgreSQL): the same rows as a direct load, an
interrupted load finished by the next import, an edit made meanwhile kept."""

from __future__ import annotations

import random

import pymarc
import pytest
from sqlalchemy import func, select

from kohaweb import search
from kohaweb.commands import records as import_command
from kohaweb.models import Biblio
from kohaweb.search import Clause, compaction, posting_format, staging, state, tables
from kohaweb.testing import Catalog, clean_database

VOCABULARY = ["coral", "reef", "atlas", "lichen", "moss", "river", "delta", "ocean", "storm", "harbour"]


def _record(title: str) -> pymarc.Record:
    record = pymarc.Record(leader="00000nam a2200000 a 4500")
    record.add_field(pymarc.Field(tag="008", data="240101s1999    xx            000 0 eng d"))
    record.add_field(pymarc.Field(tag="245", indicators=pymarc.Indicators("0", "0"),
                                  subfields=[pymarc.Subfield("a", title)]))
    return record


def _write_file(path, count: int) -> list[str]:
    rng = random.Random(3)
    titles = [" ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(1, 4))) for _ in range(count)]
    titles[0] = "coral reef"
    with open(path, "wb") as fh:
        for title in titles:
            fh.write(_record(title).as_marc())
    return titles


def _postings(session) -> list[tuple]:
    """The postings as searches read them (segment numbers left out: they count every
    transaction of the database)."""
    p = tables.postings
    return [tuple(row) for row in session.execute(
        select(p.c.idx, p.c.term, p.c.block, p.c.ndocs, p.c.docs, p.c.positions, p.c.dels)
        .order_by(p.c.idx, p.c.term, p.c.block, p.c.seg))]


def _staged_rows(session) -> int:
    return session.execute(select(func.count()).select_from(tables.pending)).scalar_one()


def _postings_rows(session) -> int:
    return session.execute(select(func.count()).select_from(tables.postings)).scalar_one()


def _has_key(session) -> bool:
    return staging.has_key(session.connection())


def _hits(session, word: str) -> list[int]:
    return search.search(session, Clause("title", "=", word), limit=1000).ids


@pytest.fixture
def staging_database(engine, monkeypatch):
    if engine.dialect.name not in staging.DIALECTS:
        pytest.skip("every database stages a first load")
    monkeypatch.setattr(staging, "KEY_AFTER_RECORDS", 100)  # these small files as a large load
    return engine


def test_a_staged_first_load_writes_the_rows_a_direct_one_writes(staging_database, tmp_path, run_cli, dbsession,
                                                                 monkeypatch):
    path = tmp_path / "first.mrc"
    _write_file(path, 450)
    status, _, err = run_cli("import", "--batch-size", "100", str(path))  # five segments in the block
    assert status == 0, err
    assert staging.FINISHING[staging_database.dialect.name] in err
    staged = _postings(dbsession)
    assert staged and _staged_rows(dbsession) == 0 and state.status(dbsession) == state.READY
    assert _has_key(dbsession)
    dbsession.rollback()
    clean_database(staging_database)
    monkeypatch.setattr(staging, "DIALECTS", frozenset())  # the direct path, as a small load
    status, _, err = run_cli("import", "--batch-size", "100", str(path))
    assert status == 0, err
    assert "search index:" not in err
    assert _postings(dbsession) == staged


def test_an_interrupted_load_is_finished_by_the_next_import_with_the_edits_made_meanwhile(
        staging_database, tmp_path, run_cli, dbsession, monkeypatch):
    path = tmp_path / "load.mrc"
    titles = _write_file(path, 600)
    assert "storm" not in titles[0]
    store = import_command._store
    calls = []

    def failing_store(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("the disk went away")
        return store(*args, **kwargs)

    monkeypatch.setattr(import_command, "_store", failing_store)
    status, _, err = run_cli("import", "--batch-size", "100", str(path))
    assert status == 1 and "went away" in err
    monkeypatch.setattr(import_command, "_store", store)
    # two batches stored, their postings staged (on PostgreSQL in the postings, without their
    # key); searches are refused meanwhile
    assert state.status(dbsession) == state.REBUILDING
    if staging_database.dialect.name in staging.PENDING:
        assert _staged_rows(dbsession) > 0 and _postings_rows(dbsession) == 0
    else:
        assert _postings_rows(dbsession) > 0 and not _has_key(dbsession)
    dbsession.rollback()

    # the first record edited during the pause: its delta goes to the postings; compaction leaves
    # the block alone while it has staged rows (folded, the delta would sort before them)
    catalog = Catalog(dbsession)
    catalog.update_record(1, _record("storm harbour"))
    dbsession.commit()
    assert compaction.compact(dbsession, posting_format.block_of(1)) == 0
    dbsession.commit()

    status, _, err = run_cli("import", "--batch-size", "100", str(path))
    assert status == 0, err
    assert "resuming after record 200" in err
    assert state.status(dbsession) == state.READY and _staged_rows(dbsession) == 0 and _has_key(dbsession)
    # the numbers taken by the batch that failed are not given again: the model is what is stored
    stored = dict(dbsession.execute(select(Biblio.biblionumber, Biblio.title)).tuples().all())
    assert len(stored) == len(titles) and stored[1] == "storm harbour"
    for word in VOCABULARY:
        assert _hits(dbsession, word) == sorted(n for n, title in stored.items() if word in title.split()), word
    # once moved, the block compacts as any other, with the same answers
    assert compaction.compact(dbsession, posting_format.block_of(1)) > 0
    dbsession.commit()
    assert _hits(dbsession, "coral") == sorted(n for n, title in stored.items() if "coral" in title.split())
    assert 1 in _hits(dbsession, "storm")


@pytest.fixture
def key_after_database(engine):
    if engine.dialect.name not in staging.KEY_AFTER:
        pytest.skip("SQLite stages a first load's rows in a table of their own")
    return engine


def test_a_small_first_load_writes_through_the_key(key_after_database, tmp_path, run_cli, dbsession):
    path = tmp_path / "small.mrc"
    _write_file(path, 150)
    assert staging.KEY_AFTER_RECORDS > 150
    status, _, err = run_cli("import", "--batch-size", "100", str(path))
    assert status == 0, err
    assert "search index:" not in err and _has_key(dbsession) and state.status(dbsession) == state.READY


def test_a_load_whose_key_drop_waits_on_a_reader_writes_through_the_key(key_after_database, tmp_path, run_cli,
                                                                         dbsession, monkeypatch):
    monkeypatch.setattr(staging, "KEY_AFTER_RECORDS", 100)
    monkeypatch.setattr(staging, "DROP_WAIT_MS", 200)
    path = tmp_path / "first.mrc"
    _write_file(path, 150)
    with key_after_database.connect() as reader:  # a transaction that read the postings stays open
        reader.execute(select(func.count()).select_from(tables.postings))
        status, _, err = run_cli("import", "--batch-size", "100", str(path))
        reader.rollback()
    assert status == 0, err
    assert "search index:" not in err and _has_key(dbsession) and state.status(dbsession) == state.READY
    assert _hits(dbsession, "coral")


def test_a_large_rebuild_builds_the_key_after_and_answers_the_same(key_after_database, tmp_path, run_cli,
                                                                   dbsession, monkeypatch):
    path = tmp_path / "load.mrc"
    titles = _write_file(path, 300)
    status, _, err = run_cli("import", "--batch-size", "100", str(path))
    assert status == 0, err
    before = _postings(dbsession)
    dbsession.rollback()
    monkeypatch.setattr(staging, "KEY_AFTER_RECORDS", 100)
    dropped = []
    drop_key = staging.drop_key
    monkeypatch.setattr(staging, "drop_key", lambda conn: dropped.append(1) or drop_key(conn))
    status, out, err = run_cli("index", "rebuild")
    assert status == 0, err
    assert dropped and _has_key(dbsession) and state.status(dbsession) == state.READY
    assert {row[:2] for row in _postings(dbsession)} == {row[:2] for row in before}
    assert _hits(dbsession, "coral") == [n for n, title in enumerate(titles, 1) if "coral" in title.split()]


def test_a_rebuild_repacks_the_postings_only_when_their_key_was_not_built_after(
        key_after_database, tmp_path, run_cli, dbsession, monkeypatch):
    """The key built once the rows are in leaves them compact; a rebuild whose key drop gave up on
    a reader wrote through the key, and its postings are repacked as after any load."""
    from kohaweb.search import commands, indexer

    monkeypatch.setattr(indexer, "TRUNCATE_WAIT_MS", 200)  # the reader below holds TRUNCATE off too
    path = tmp_path / "load.mrc"
    _write_file(path, 150)
    status, _, err = run_cli("import", "--batch-size", "100", str(path))
    assert status == 0, err
    dbsession.rollback()
    monkeypatch.setattr(staging, "KEY_AFTER_RECORDS", 100)
    monkeypatch.setattr(staging, "DROP_WAIT_MS", 200)
    repacked = []
    monkeypatch.setattr(commands, "repack_after_load", lambda cli, postings=True: repacked.append(postings))
    status, _, err = run_cli("index", "rebuild")
    assert status == 0, err
    with key_after_database.connect() as reader:  # a transaction that read the postings stays open
        reader.execute(select(func.count()).select_from(tables.postings))
        status, _, err = run_cli("index", "rebuild")
        reader.rollback()
    assert status == 0, err
    assert repacked == [False, True]
    assert _has_key(dbsession) and _hits(dbsession, "coral")


def test_a_load_stopped_after_its_key_was_built_is_made_ready_by_the_next(key_after_database, session_factory,
                                                                           dbsession):
    if key_after_database.dialect.name != "mysql":
        pytest.skip("PostgreSQL builds the key and marks the index ready in one transaction")
    assert staging.begin(session_factory, records=10 ** 6)
    assert not _has_key(dbsession) and state.status(dbsession) == state.REBUILDING
    dbsession.rollback()
    staging.build_key_apart(key_after_database)  # the ALTER committed, then the process was killed
    assert staging.begin(session_factory)  # the next import goes on with the load
    staging.finish(session_factory)
    assert _has_key(dbsession) and state.status(dbsession) == state.READY and _staged_rows(dbsession) == 0
