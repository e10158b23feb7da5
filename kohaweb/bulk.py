"""Inserting many rows in few round trips, on every database: the import's and the index's path.

SQLAlchemy's own bulk insert (``connection.execute(insert(table), rows)``) spends most of its
time in Python per value: the parameters of thousands of rows are processed one by one, and on
MariaDB the driver escapes each of them again. Here the rows go to the database the cheapest way
it takes them:

- SQLite: the driver's ``executemany``, which runs in-process;
- PostgreSQL: ``COPY … FROM STDIN`` inside the same transaction, in the binary format when every
  column is an integer, a string, a boolean or bytes (``_copy_plan``);
- MariaDB: ``LOAD DATA LOCAL INFILE`` from files of tab-separated fields when the rows are many
  and the server allows it (kohaweb.load_data), else multi-row ``INSERT`` statements with the
  values written as SQL literals, each statement under ``MYSQL_STATEMENT_BYTES``.

Values go through each column type's bind processor first, as SQLAlchemy would (except bytes on
PostgreSQL, which the driver takes as they are); ``insert_rows`` also gives left-out columns their
scalar defaults.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from functools import partial
from itertools import chain
from typing import Any

from sqlalchemy import Boolean, Enum, Integer, LargeBinary, String, Table, insert
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.types import BigInteger, SmallInteger, TypeDecorator, TypeEngine

from . import load_data
from .driver import driver_errors

log = logging.getLogger(__name__)

MYSQL_STATEMENT_BYTES = 4 << 20  # well under MariaDB's smallest max_allowed_packet default (16 MB)

# MariaDB's string-literal escapes (with its default sql_mode, without NO_BACKSLASH_ESCAPES)
_MYSQL_ESCAPES = str.maketrans({"\0": "\\0", "\n": "\\n", "\r": "\\r", "\\": "\\\\", "'": "\\'",
                                '"': '\\"', "\x1a": "\\Z"})
_LONG_TEXT = 256  # from this length a string is sent as a hex literal (see _mysql_literal)


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows (dicts with the same keys) in few round trips.

    Columns the rows leave out get their scalar Python-side default, as SQLAlchemy's insert
    would give them; a table with a computed default (``default=utcnow``) for a column the rows
    leave out goes through SQLAlchemy's insert, which runs it."""
    if not rows:
        return
    columns = tuple(rows[0])
    defaults = _defaults(table, columns)
    if defaults is None:
        conn.execute(insert(table), list(rows))
        return
    insert_tuples(conn, table, columns + tuple(defaults),
                  [tuple(row[c] for c in columns) + tuple(defaults.values()) for row in rows])


def insert_tuples(conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple]) -> None:
    """Insert rows given as tuples of ``columns``' values (all of them complete rows: no
    Python-side default is applied)."""
    if not rows:
        return
    dialect = conn.dialect
    if dialect.name == "postgresql":
        _copy(conn, table, columns, rows)
        return
    processors = [_bind_processor(table.c[c].type, dialect) for c in columns]
    rows = _processed(rows, processors)
    names = ", ".join(columns)
    if dialect.name == "sqlite":
        conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({', '.join('?' * len(columns))})", rows)
        return
    mysql_insert_many(conn, table.name, columns, rows)


def insert_columns(conn: Connection, table: Table, columns: Sequence[str], values: Sequence[Sequence[Any]]) -> None:
    """``insert_tuples`` of rows given as columns: ``values`` holds one sequence per name of
    ``columns``, all as long. MariaDB's ``LOAD DATA`` files are written a column at a time, so
    there the rows are never made; its INSERT statements and the other databases take them
    zipped from the columns."""
    if not values or not len(values[0]):
        return
    dialect = conn.dialect
    if dialect.name not in ("mysql", "mariadb"):
        insert_tuples(conn, table, columns, list(zip(*values, strict=True)))
        return
    processors = [_bind_processor(table.c[c].type, dialect) for c in columns]
    values = [column if p is None else list(map(p, column)) for p, column in zip(processors, values, strict=True)]
    mysql_insert_many(conn, table.name, columns, values, by_columns=True)


def mysql_insert_many(conn: Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
                      ignore: bool = False, by_columns: bool = False) -> None:
    """MariaDB: insert these rows (values through their bind processors already) into ``table``
    by ``LOAD DATA LOCAL INFILE`` when they are many and the connection can, else by multi-row
    INSERTs; ``ignore``: rows whose key is taken are left out (``INSERT IGNORE``); ``by_columns``:
    ``rows`` are the columns' values, a sequence per column."""
    count = len(rows[0]) if by_columns and rows else len(rows)
    quote = conn.dialect.identifier_preparer.quote
    head = (f"INSERT {'IGNORE ' if ignore else ''}INTO {quote(table)} "
            f"({', '.join(quote(c) for c in columns)}) VALUES ")
    folder = None
    if count >= load_data.LOAD_DATA_ROWS and load_data.loads_from_files(conn):
        try:
            folder = tempfile.TemporaryDirectory(prefix="kohaweb-load-")
        except OSError as exc:  # no writable temporary folder (a locked-down service): statements
            log.warning("no temporary folder for LOAD DATA (%s); inserting by statements", exc)
    with driver_errors(conn, head), conn.connection.dbapi_connection.cursor() as cursor:  # type: ignore[union-attr]
        if folder is not None:
            with folder as path:
                run_overlapped(load_data.load_jobs(cursor, path, table, columns,
                                                   rows if by_columns else list(zip(*rows, strict=True)),
                                                   ignore=ignore))
        else:
            execute_overlapped(cursor, mysql_inserts(head, list(zip(*rows, strict=True)) if by_columns else rows))


def _processed(rows: list[tuple], processors: list) -> list[tuple]:
    """The rows with each value through its column's bind processor (None: as it is)."""
    if not any(processors):
        return rows
    return [tuple(v if p is None else p(v) for p, v in zip(processors, row, strict=True)) for row in rows]


def _copy(conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple]) -> None:
    statement, types, processors = _copy_plan(table, tuple(columns), conn.dialect)
    rows = _processed(rows, processors)
    with driver_errors(conn, statement), conn.connection.dbapi_connection.cursor() as cursor:  # type: ignore[union-attr]
        with cursor.copy(statement) as copy:
            if types:
                copy.set_types(types)
            for row in rows:
                copy.write_row(row)


# PostgreSQL's binary COPY: the wire form of each column type whose Python values are plain
# ints, strs, bools or bytes (most specific classes first: BigInteger is an Integer)
_BINARY_COPY_TYPES = ((BigInteger, "int8"), (SmallInteger, "int2"), (Integer, "int4"), (Boolean, "bool"),
                      (LargeBinary, "bytea"), (String, "text"))
_COPY_PLANS: dict[tuple[Table, tuple[str, ...], str], tuple[str, list[str] | None, list]] = {}


def _copy_plan(table: Table, columns: tuple[str, ...], dialect: Dialect) -> tuple[str, list[str] | None, list]:
    """The COPY statement for these columns, the types of its binary format (None: the text
    format), and the bind processors to run first.

    The binary format skips writing and parsing every value as text (a bytea as hexadecimal
    above all): on an import batch's posting rows it took a quarter of the client's CPU time of
    the text format with SQLAlchemy's bytes wrapper, and less of the server's. It is taken only
    when every column is of a type whose values arrive as they are stored (an integer of the
    column's width, a string, a boolean, bytes): a date, a number or a decorated type goes as
    text, parsed by the server as SQLAlchemy's insert would have it. Bytes skip SQLAlchemy's
    wrapper in both formats (psycopg writes ``bytes`` as bytea itself)."""
    key = (table, columns, dialect.name)
    plan = _COPY_PLANS.get(key)
    if plan is None:
        types: list[str] | None = []
        processors = []
        for name in columns:
            column_type = table.c[name].type
            impl = column_type.dialect_impl(dialect)
            binary = not isinstance(column_type, TypeDecorator | Enum) and next(
                (wire for kind, wire in _BINARY_COPY_TYPES if isinstance(impl, kind)), None)
            if binary and types is not None:
                types.append(binary)
            else:
                types = None
            processors.append(_bind_processor(column_type, dialect))
        form = " (FORMAT BINARY)" if types else ""
        plan = (f"COPY {table.name} ({', '.join(columns)}) FROM STDIN{form}", types or None, processors)
        _COPY_PLANS[key] = plan
    return plan


def _bind_processor(column_type: TypeEngine, dialect: Dialect) -> Callable[[Any], Any] | None:
    """The type's bind processor, but none for bytes: both drivers take ``bytes`` as they are
    (SQLAlchemy's wraps each value in the driver's Binary, a copy or an object per value)."""
    try:
        if column_type.python_type is bytes:
            return None
    except NotImplementedError:  # a type that does not say
        pass
    return column_type._cached_bind_processor(dialect)


def execute_overlapped(cursor: Any, statements: Iterator[str]) -> None:
    """Run the statements in order on the cursor, writing the next one while the database runs
    the one before (``run_overlapped``): a block's posting rows are a dozen 4 MB statements,
    each about a quarter as long to write as for the server to run. A single statement is run
    here, as it is (no thread for the usual small insert)."""
    first = next(statements, None)
    if first is None:
        return
    second = next(statements, None)
    if second is None:
        cursor.execute(first)
        return
    run_overlapped(partial(cursor.execute, statement) for statement in chain([first, second], statements))


def run_overlapped(jobs: Iterator[Callable[[], Any]]) -> None:
    """Run the jobs in order in a thread of their own (which waits on the database's socket with
    the GIL released), each next job taken from ``jobs`` while the one before runs: what makes a
    job (a statement, a file) is done while the database works. An error ends the run: the jobs
    after it are not run.

    Once the interpreter is exiting (its main thread has ended: a compaction the exit waits for,
    kohaweb.search.compactor), concurrent.futures takes no new work: the jobs then run one after
    the other in the calling thread."""
    if not threading.main_thread().is_alive():
        for job in jobs:
            job()
        return
    with ThreadPoolExecutor(1, thread_name_prefix="kohaweb-insert") as running:
        previous = None
        for job in jobs:
            if previous is not None:
                previous.result()
            previous = running.submit(job)
        if previous is not None:
            previous.result()


def _defaults(table: Table, columns: Sequence[str]) -> dict[str, Any] | None:
    """The scalar defaults of the columns these rows leave out; None when one of them is computed."""
    given = set(columns)
    out = {}
    for column in table.columns:
        if column.name in given or column.default is None:
            continue
        if not column.default.is_scalar:
            return None
        out[column.name] = column.default.arg
    return out


def mysql_inserts(head: str, rows: list[tuple]) -> Iterator[str]:
    """Multi-row INSERT statements (``head`` ends with ``VALUES``) with the values written as SQL
    literals, each statement under ``MYSQL_STATEMENT_BYTES``. Writing them here costs a fraction
    of PyMySQL's per-value conversion of bound parameters.

    The literals are written a column at a time: an integer, a short string or bytes takes one
    step of a list comprehension rather than a call of ``_mysql_literal`` (which the other
    values go through), a fifth of the time on an import's posting rows."""
    parts: list[str] = []
    size = 0
    # a slice of rows at a time: the literals of a whole block's rows at once would double the
    # writing process's peak memory
    for start in range(0, len(rows), _LITERAL_ROWS):
        columns = [_literal_column(values) for values in zip(*rows[start:start + _LITERAL_ROWS], strict=True)]
        for text in map(",".join, zip(*columns, strict=True)):
            parts.append(text)
            size += len(text) + 3
            if size >= MYSQL_STATEMENT_BYTES:
                yield head + "(" + "),(".join(parts) + ")"
                parts, size = [], 0
    if parts:
        yield head + "(" + "),(".join(parts) + ")"


_LITERAL_ROWS = 20_000


# a character _MYSQL_ESCAPES changes (most strings have none, and are written as they are)
_NEEDS_ESCAPES = re.compile(r"[\0\n\r\\'\"\x1a]").search


def _literal_column(values: tuple) -> list[str]:
    """``_mysql_literal`` of each value: a column of integers, of strings or of bytes (or NULLs)
    in one comprehension of its own."""
    kinds = set(map(type, values))
    kinds.discard(type(None))
    if kinds == {int}:
        return ["NULL" if value is None else str(value) for value in values]
    if kinds == {bytes}:
        return ["NULL" if value is None else "X'" + value.hex() + "'" for value in values]
    if kinds == {str}:
        return ["NULL" if value is None
                else "'" + (value.translate(_MYSQL_ESCAPES) if _NEEDS_ESCAPES(value) else value) + "'"
                if len(value) < _LONG_TEXT else _mysql_literal(value)
                for value in values]
    return list(map(_mysql_literal, values))


def _mysql_literal(value: Any) -> str:
    kind = type(value)
    if value is None:
        return "NULL"
    if kind is str:
        if len(value) >= _LONG_TEXT:
            # a MARCXML record: hex-writing its UTF-8 is a C-level pass, where escaping it
            # character by character cost more than the server's whole insert. A hex literal
            # is a binary string, stored in a text column byte for byte
            return "X'" + value.encode("utf-8").hex() + "'"
        return "'" + value.translate(_MYSQL_ESCAPES) + "'"
    if kind is int:
        return str(value)
    if kind is bytes:
        return "X'" + value.hex() + "'"
    if kind is bool:
        return "1" if value else "0"
    if kind is dt.datetime or kind is dt.date or kind is dt.time:
        return "'" + value.isoformat(" ") + "'" if kind is dt.datetime else "'" + value.isoformat() + "'"
    if kind is Decimal or kind is float:
        return repr(float(value)) if kind is float else str(value)
    raise TypeError(f"no SQL literal for a {kind.__name__} value")
