"""SQLite's write-ahead log after large writes (kohaweb.db.empty_sqlite_wal)."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text

from kohaweb.db import empty_sqlite_wal, make_engine


@pytest.fixture
def sqlite_file(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.sqlite'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY, pad BLOB)"))
    yield engine, str(tmp_path / "wal.sqlite-wal")
    engine.dispose()


def _write(engine, start: int, count: int = 2000) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (:n, randomblob(400))"),
                     [{"n": n} for n in range(start, start + count)])


def test_a_log_kept_growing_by_readers_is_emptied_once_they_are_done(sqlite_file):
    engine, wal = sqlite_file
    reader = engine.connect()
    reader.execute(text("SELECT count(*) FROM t")).scalar()  # a snapshot held open: no restart
    for start in range(0, 10000, 2000):
        _write(engine, start)
    grown = os.path.getsize(wal)
    assert grown > 4_000_000  # every batch appended: the log holds them all
    assert empty_sqlite_wal(engine, wait=0.1, above=grown + 1)  # small enough: left alone, no wait
    assert os.path.getsize(wal) == grown
    assert not empty_sqlite_wal(engine, wait=0.1, above=0)  # the reader still needs the log
    reader.close()
    assert empty_sqlite_wal(engine, above=0)
    assert os.path.getsize(wal) == 0
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 10000


def test_nothing_to_do_on_the_server_databases(engine):
    if engine.dialect.name == "sqlite":
        pytest.skip("the server databases")
    assert empty_sqlite_wal(engine)
