"""kohaweb.bulk: rows written the fast way read back as SQLAlchemy's own insert writes them."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
from decimal import Decimal

import pytest
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    func,
    insert,
    select,
)
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.exc import DataError, IntegrityError

from kohaweb import bulk, load_data
from kohaweb.db import make_engine
from kohaweb.models.base import LongText


def _table(metadata: MetaData, name: str) -> Table:
    return Table(name, metadata,
                 Column("id", Integer, primary_key=True, autoincrement=False),
                 Column("short", String(40)),
                 Column("long", LongText),
                 Column("blob", LargeBinary),
                 Column("moment", DateTime),
                 Column("day", Date),
                 Column("price", Numeric(8, 2)),
                 Column("flag", Boolean),
                 Column("copies", Integer, default=7))


TRICKY = "a'b\"c\\d\ne\rf\x1ag h%s%% é ß 中文 \U0001f600"  # no NUL: PostgreSQL refuses it in text
ROWS = [
    {"id": 1, "short": TRICKY[:40], "long": "<record>" + TRICKY * 40 + "</record>", "blob": bytes(range(256)),
     "moment": dt.datetime(2026, 12, 5, 1, 2, 3), "day": dt.date(1999, 12, 31), "price": Decimal("12.50"),
     "flag": True},
    {"id": 2, "short": "", "long": "", "blob": b"", "moment": None, "day": None, "price": None, "flag": False},
    {"id": 3, "short": None, "long": None, "blob": None, "moment": dt.datetime(1970, 1, 1), "day": dt.date(2000, 2, 29),
     "price": Decimal("0.01"), "flag": None},
]


@pytest.fixture(autouse=True, params=["statements", "files"])
def mariadb_way(request, engine, monkeypatch):
    """On MariaDB every test runs twice: rows by INSERT statements and by LOAD DATA files."""
    if request.param == "files":
        if engine.dialect.name not in ("mysql", "mariadb"):
            pytest.skip("LOAD DATA is MariaDB's")
        monkeypatch.setattr(load_data, "LOAD_DATA_ROWS", 1)
    else:
        monkeypatch.setattr(load_data, "LOAD_DATA_ROWS", 10**9)
    return request.param


@pytest.fixture
def twin_tables(engine):
    metadata = MetaData()
    fast, plain = _table(metadata, "test_bulk_fast"), _table(metadata, "test_bulk_plain")
    metadata.drop_all(engine)
    metadata.create_all(engine)
    yield fast, plain
    metadata.drop_all(engine)


def test_rows_read_back_as_sqlalchemys_insert_writes_them(engine, twin_tables):
    fast, plain = twin_tables
    with engine.begin() as conn:
        bulk.insert_rows(conn, fast, ROWS)
        conn.execute(insert(plain), ROWS)
    with engine.connect() as conn:
        got = conn.execute(select(fast).order_by(fast.c.id)).all()
        expected = conn.execute(select(plain).order_by(plain.c.id)).all()
    assert got == expected
    assert got[0].long == ROWS[0]["long"] and got[0].blob == bytes(range(256))
    assert [row.copies for row in got] == [7, 7, 7]  # the scalar default of a column the rows leave out


def test_rows_given_as_columns_read_back_as_rows_given_as_tuples(engine, twin_tables):
    """``insert_columns`` (new posting rows' path: on MariaDB files written a column at a time)
    stores what ``insert_tuples`` stores from the same rows."""
    fast, plain = twin_tables
    names = ("id", "short", "long", "blob", "moment", "day", "price", "flag", "copies")
    rows = [tuple(row.get(name, 7) for name in names) for row in ROWS]
    with engine.begin() as conn:
        bulk.insert_columns(conn, fast, names, list(zip(*rows, strict=True)))
        bulk.insert_tuples(conn, plain, names, rows)
        bulk.insert_columns(conn, fast, names, [[] for _ in names])  # no rows: nothing to do
    with engine.connect() as conn:
        assert conn.execute(select(fast).order_by(fast.c.id)).all() == \
            conn.execute(select(plain).order_by(plain.c.id)).all()


def test_many_rows_take_several_statements(engine, twin_tables, monkeypatch):
    fast, _ = twin_tables
    monkeypatch.setattr(bulk, "MYSQL_STATEMENT_BYTES", 2_000)
    rows = [{"id": n, "short": f"row {n}", "long": "x" * 300} for n in range(1, 501)]
    with engine.begin() as conn:
        bulk.insert_rows(conn, fast, rows)
    with engine.connect() as conn:
        assert conn.execute(select(fast.c.id, fast.c.short, fast.c.long).order_by(fast.c.id)).all() == [
            (r["id"], r["short"], r["long"]) for r in rows]


def test_a_constraint_failure_is_sqlalchemys_error_and_the_transaction_goes_on(engine, twin_tables):
    fast, _ = twin_tables
    with engine.begin() as conn:
        bulk.insert_rows(conn, fast, [{"id": 1, "short": "first"}])
        with pytest.raises(IntegrityError):
            with conn.begin_nested():
                bulk.insert_rows(conn, fast, [{"id": 2, "short": "second"}, {"id": 1, "short": "again"}])
        bulk.insert_rows(conn, fast, [{"id": 3, "short": "third"}])
    with engine.connect() as conn:
        assert conn.execute(select(fast.c.id, fast.c.short).order_by(fast.c.id)).all() == [(1, "first"), (3, "third")]


def test_a_computed_default_left_out_goes_through_sqlalchemy(engine):
    metadata = MetaData()
    table = Table("test_bulk_computed", metadata, Column("id", Integer, primary_key=True, autoincrement=False),
                  Column("made", DateTime, default=lambda: dt.datetime(2001, 2, 3)))
    metadata.drop_all(engine)
    metadata.create_all(engine)
    try:
        with engine.begin() as conn:
            bulk.insert_rows(conn, table, [{"id": 1}])
        with engine.connect() as conn:
            assert conn.execute(select(table.c.made)).scalar() == dt.datetime(2001, 2, 3)
    finally:
        metadata.drop_all(engine)


def _plain_types_table(metadata: MetaData, name: str) -> Table:
    # the index's column types only: PostgreSQL takes these in COPY's binary format
    return Table(name, metadata,
                 Column("id", Integer, primary_key=True, autoincrement=False),
                 Column("big", BigInteger),
                 Column("small", SmallInteger),
                 Column("code", String(20).with_variant(postgresql.VARCHAR(20, collation="C"), "postgresql")),
                 Column("text", LongText),
                 Column("blob", LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb")),
                 Column("flag", Boolean))


PLAIN_ROWS = [
    {"id": 1, "big": 2**40, "small": -3, "code": TRICKY[:20], "text": TRICKY * 50, "blob": bytes(range(256)) * 3,
     "flag": True},
    {"id": 2, "big": -(2**62), "small": 32767, "code": "", "text": "", "blob": b"", "flag": False},
    {"id": 3, "big": None, "small": None, "code": None, "text": None, "blob": b"\0\\x00", "flag": None},
]


def test_index_types_read_back_as_sqlalchemys_insert_writes_them(engine):
    metadata = MetaData()
    fast, plain = _plain_types_table(metadata, "test_bulk_plain_fast"), _plain_types_table(metadata, "test_bulk_plain_plain")
    metadata.drop_all(engine)
    metadata.create_all(engine)
    try:
        with engine.begin() as conn:
            bulk.insert_rows(conn, fast, PLAIN_ROWS)
            conn.execute(insert(plain), PLAIN_ROWS)
        with engine.connect() as conn:
            got = conn.execute(select(fast).order_by(fast.c.id)).all()
            assert got == conn.execute(select(plain).order_by(plain.c.id)).all()
        assert got[2].blob == b"\0\\x00" and got[0].big == 2**40
    finally:
        metadata.drop_all(engine)


def test_postgresql_copies_plain_types_in_the_binary_format(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    metadata = MetaData()
    plain_types, mixed = _plain_types_table(metadata, "t_plain"), _table(metadata, "t_mixed")
    statement, types, _ = bulk._copy_plan(plain_types, tuple(c.name for c in plain_types.columns), engine.dialect)
    assert statement.endswith("(FORMAT BINARY)")
    assert types == ["int4", "int8", "int2", "text", "text", "bytea", "bool"]
    # a date or a number is parsed from text by the server, as SQLAlchemy's own insert has it
    statement, types, processors = bulk._copy_plan(mixed, ("id", "moment", "blob"), engine.dialect)
    assert statement.endswith("FROM STDIN") and types is None
    assert processors[2] is None  # bytes go to the driver as they are, in both formats


def test_mariadb_literals_written_a_column_at_a_time_are_the_value_by_value_ones(monkeypatch):
    values = ("plain", "it's", "back\\slash", "nul\0", "line\nfeed", 'quote"', "\x1a", "\r", TRICKY, "é" * 300,
              None, 0, -5, 2**40, True, False, b"", b"\0'\\", bytes(range(256)), dt.date(2020, 1, 2),
              dt.datetime(2026, 12, 5, 1, 2, 3), Decimal("1.50"), 3.5)
    assert bulk._literal_column(values) == [bulk._mysql_literal(value) for value in values]
    rows = [(n, f"row {n}", b"\x01" * n) for n in range(50)]
    monkeypatch.setattr(bulk, "_LITERAL_ROWS", 7)
    statements = list(bulk.mysql_inserts("INSERT INTO t VALUES ", rows))
    assert statements == ["INSERT INTO t VALUES " + ",".join(
        "(" + ",".join(bulk._mysql_literal(v) for v in row) + ")" for row in rows)]


def test_load_data_fields_made_a_column_at_a_time_are_the_value_by_value_ones():
    columns = [
        ("plain", "names", "é 中文 \U0001f600", ""),  # strings with nothing to escape: encoded at once
        ("tab\there", "back\\slash", "line\nfeed", "ok", "\\N"),  # strings to escape
        ("a", None, ""),  # a NULL among strings
        (None, "a"),
        ("a", 5, b"x", None),  # values of several kinds
        (b"\t\n\\", b"", None, bytes(range(256))),
        (b"x", "x"), (b"x", 5), ("x", 5), ("x", b"x"),
        (1, None, 2**40, 0, -3),
        (1, 2.5), (1, True), (True, False, None), (None, None),
        (dt.date(2020, 1, 2), dt.datetime(2026, 12, 5, 1, 2, 3), Decimal("1.50")),
    ]
    for values in columns:
        assert load_data._field_column(values) == [load_data._field(value) for value in values], values


def test_many_rows_take_several_files_each_loaded_and_removed(engine, twin_tables, mariadb_way, monkeypatch):
    if mariadb_way != "files":
        pytest.skip("LOAD DATA is MariaDB's")
    fast, _ = twin_tables
    monkeypatch.setattr(load_data, "FILE_BYTES", 3_000)
    monkeypatch.setattr(load_data, "_SLICE_ROWS", 16)  # files are cut between slices of rows
    folders = []
    made = load_data.load_jobs

    def watched(cursor, folder, *args, **kwargs):
        folders.append(folder)
        yield from made(cursor, folder, *args, **kwargs)

    monkeypatch.setattr(load_data, "load_jobs", watched)
    # every byte in a string and in bytes, tabs, newlines and backslashes included
    rows = [{"id": n, "short": f"r\\{n}\t\n", "long": "é\\N\t" * n, "blob": bytes(range(256)) * (n % 3)}
            for n in range(1, 301)]
    with engine.begin() as conn:
        assert load_data.loads_from_files(conn)
        bulk.insert_rows(conn, fast, rows)
    with engine.connect() as conn:
        got = conn.execute(select(fast.c.id, fast.c.short, fast.c.long, fast.c.blob).order_by(fast.c.id)).all()
    assert got == [(r["id"], r["short"], r["long"], r["blob"]) for r in rows]
    assert len(folders) == 1 and not os.path.exists(folders[0])


def test_a_loaded_value_too_long_is_an_error_not_a_truncation(engine, twin_tables):
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite keeps a string whole whatever its column's length")
    fast, _ = twin_tables
    with engine.begin() as conn:
        with pytest.raises(DataError):
            with conn.begin_nested():
                bulk.insert_rows(conn, fast, [{"id": 1, "short": "fits"}, {"id": 2, "short": "x" * 41}])
        assert conn.execute(select(func.count()).select_from(fast)).scalar() == 0


@pytest.mark.parametrize("made", ["for the site", "without local files"])
def test_a_connection_reads_no_file_the_server_asks_for_but_its_own_loads(engine, tmp_path, made):
    """The site's connections (``local_files``) send no file for a LOAD statement but
    kohaweb.load_data's (PyMySQL: refused outside it; mysqlclient's Connector/C answers only a
    statement that begins with LOAD, and kohaweb sends none but that module's); connections made
    without the capability (a report's) send none at all, whatever the statement."""
    if engine.dialect.name not in ("mysql", "mariadb"):
        pytest.skip("LOAD DATA is MariaDB's")
    if made == "for the site" and engine.dialect.driver != "pymysql":
        pytest.skip("mysqlclient answers a LOAD statement's request (Connector/C's auto mode)")
    secret = tmp_path / "secret.txt"
    secret.write_text("1\tsecret\n")
    metadata = MetaData()
    table = _table(metadata, "test_bulk_secret")
    metadata.drop_all(engine)
    metadata.create_all(engine)
    asking = engine if made == "for the site" else make_engine(engine.url.render_as_string(hide_password=False))
    try:
        raw = asking.raw_connection()
        try:
            with raw.cursor() as cursor, pytest.raises((RuntimeError, asking.dialect.loaded_dbapi.Error)):
                cursor.execute(f"LOAD DATA LOCAL INFILE '{secret}' INTO TABLE test_bulk_secret (id, short)")
        finally:
            raw.invalidate()  # PyMySQL closes a connection that refused a file
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(table)).scalar() == 0
    finally:
        metadata.drop_all(engine)
        if asking is not engine:
            asking.dispose()


def test_a_server_that_allows_no_local_file_gets_insert_statements(engine, twin_tables, mariadb_way, monkeypatch):
    if mariadb_way != "files":
        pytest.skip("LOAD DATA is MariaDB's")
    fast, _ = twin_tables
    monkeypatch.setattr(load_data, "load_jobs", None)  # fails if it is called
    with engine.begin() as conn:
        conn.connection.info[load_data._LOCAL_FILES] = False  # what @@local_infile = 0 leaves
        bulk.insert_rows(conn, fast, [{"id": n, "short": str(n)} for n in range(1, 11)])
        conn.connection.info.pop(load_data._LOCAL_FILES)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(fast)).scalar() == 10


def test_without_a_writable_temporary_folder_rows_go_by_statements(engine, twin_tables, mariadb_way, monkeypatch):
    if mariadb_way != "files":
        pytest.skip("LOAD DATA is MariaDB's")
    fast, _ = twin_tables

    def no_folder(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(bulk.tempfile, "TemporaryDirectory", no_folder)
    with engine.begin() as conn:
        bulk.insert_rows(conn, fast, [{"id": n, "short": str(n)} for n in range(1, 11)])
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(fast)).scalar() == 10


def test_overlapped_jobs_run_while_the_interpreter_exits():
    # a background compaction the exit waits for still writes its rows: concurrent.futures takes
    # no new work once the main thread has ended, so the jobs run in the calling thread
    script = textwrap.dedent("""
        import threading, time
        from kohaweb.bulk import run_overlapped

        done = []

        def after_main_thread():
            while threading.main_thread().is_alive():
                time.sleep(0.01)
            run_overlapped(iter([lambda: done.append(1), lambda: done.append(2), lambda: done.append(3)]))
            print("ran", done, flush=True)

        threading.Thread(target=after_main_thread).start()
    """)
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "ran [1, 2, 3]", finished.stderr
