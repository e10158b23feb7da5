"""Inserting many rows in few round trips, on every database: the import's and the index's path.

SQLAlchemy's own bulk insert (``connection.execute(insert(table), rows)``) spends most of its
time in Python per value: the parameters of thousands of rows are processed one by one, and on
MariaDB PyMySQL escapes each of them again. Here the rows go to the database the cheapest way
it takes them:

- SQLite: the driver's ``executemany``, which runs in-process;
- PostgreSQL: ``COPY … FROM STDIN`` inside the same transaction;
- MariaDB: multi-row ``INSERT`` statements with the values written as SQL literals, each
  statement under ``MYSQL_STATEMENT_BYTES``.

Values go through each column type's bind processor first, as SQLAlchemy would; ``insert_rows``
also gives left-out columns their scalar defaults.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.engine import Connection

from .driver import driver_errors

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
    processors = [table.c[c].type._cached_bind_processor(dialect) for c in columns]
    if any(processors):
        rows = [tuple(v if p is None else p(v) for p, v in zip(processors, row, strict=True))
                for row in rows]
    names = ", ".join(columns)
    if dialect.name == "sqlite":
        conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({', '.join('?' * len(columns))})", rows)
        return
    if dialect.name == "postgresql":
        statement = f"COPY {table.name} ({names}) FROM STDIN"
        with driver_errors(conn, statement), conn.connection.dbapi_connection.cursor() as cursor:  # type: ignore[union-attr]
            with cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
        return
    quote = dialect.identifier_preparer.quote
    head = f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) VALUES "
    with driver_errors(conn, head), conn.connection.dbapi_connection.cursor() as cursor:  # type: ignore[union-attr]
        for statement in mysql_inserts(head, rows):
            cursor.execute(statement)


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
    of PyMySQL's per-value conversion of bound parameters."""
    parts: list[str] = []
    size = 0
    for row in rows:
        text = "(" + ",".join([_mysql_literal(value) for value in row]) + ")"
        parts.append(text)
        size += len(text) + 1
        if size >= MYSQL_STATEMENT_BYTES:
            yield head + ",".join(parts)
            parts, size = [], 0
    if parts:
        yield head + ",".join(parts)


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
