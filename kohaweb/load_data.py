"""MariaDB's fastest way in: many rows by ``LOAD DATA LOCAL INFILE`` (kohaweb.bulk's path there).

A multi-row ``INSERT`` of literals makes the server parse every value as SQL: on an import
block's posting rows, parsing was a third of MariaDB's CPU, and writing the literals most of the
writing process's. ``LOAD DATA`` reads tab-separated fields instead: about half the server's CPU
and a third of the client's for the same rows (444,276 posting rows of 8,192 real records: server
2.0 -> 1.1 s, client 2.1 -> 0.6 s).

Three things make it behave as the ``INSERT`` it replaces:

- **Errors stay errors.** With ``LOCAL`` the server cannot stop the file half-way, so it turns
  what would be an error (a duplicate key, a value too long) into a warning and goes on, as
  ``IGNORE`` would. Each file is loaded under a savepoint; a warning (not a note) rolls it back
  and is raised as the driver's error for its code, as the ``INSERT`` would have raised it.
- **No file is read but ours.** A driver sends whatever file the server names once the
  connection has the ``LOCAL_FILES`` capability, which the site's connections are made with
  (``kohaweb.db.make_engine``). mysqlclient's are in MariaDB Connector/C's "auto" mode: a file
  request is answered only right after a statement that begins with ``LOAD``, and kohaweb sends
  no such statement but this module's. PyMySQL's refuse every request
  (``refuse_local_files``, at connect) but while a load's own statement runs.
- **It falls back.** A server with ``local_infile`` off, or an engine made without the
  capability, gets the ``INSERT``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Connection

LOAD_DATA_ROWS = 500  # from this many rows a table's rows are loaded from a file (fewer: one INSERT)
FILE_BYTES = 16 << 20  # each file at most about this size: the next is written while one loads

_LOCAL_FILES = "kohaweb.load_data.local_files"  # pooled connection's info: whether the server allows them
_SAVEPOINT = "kohaweb_load_data"


def refuse_local_files(dbapi_connection: Any) -> None:
    """Make a new PyMySQL connection refuse the server's requests for a local file (its default
    when made without ``local_infile``); ``loads_from_files`` tells whether it can load."""
    if hasattr(dbapi_connection, "_local_infile"):
        dbapi_connection._local_infile = False


def loads_from_files(conn: Connection) -> bool:
    """Whether this MariaDB connection can take rows by ``LOAD DATA LOCAL INFILE``: made with
    the capability (``kohaweb.db.make_engine``'s ``local_files``), by mysqlclient or PyMySQL,
    to a server whose ``local_infile`` is on (asked once per pooled connection)."""
    from .db import LOCAL_FILES

    info = conn.connection.info
    if conn.dialect.driver not in ("mysqldb", "pymysql") or not info.get(LOCAL_FILES):
        return False
    dbapi_connection = conn.connection.dbapi_connection
    if conn.dialect.driver == "pymysql":
        from pymysql.constants import CLIENT

        if not (getattr(dbapi_connection, "client_flag", 0) & CLIENT.LOCAL_FILES) \
                or not hasattr(dbapi_connection, "_local_infile"):
            return False
    allowed = info.get(_LOCAL_FILES)
    if allowed is None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT @@local_infile")
            allowed = info[_LOCAL_FILES] = bool(cursor.fetchone()[0])
    return allowed


def load_jobs(cursor: Any, folder: str, table: str, columns: Sequence[str], values: Sequence[Sequence[Any]], *,
              ignore: bool = False) -> Iterator[Callable[[], None]]:
    """One job per file of rows, given as columns (a sequence of values per name of ``columns``,
    through their bind processors already), written in ``folder``: each loads its file on
    ``cursor`` and removes it. A file is written when its job is taken, so that
    ``kohaweb.bulk.run_overlapped`` writes one while the server loads the one before.
    ``ignore``: rows whose key is taken are left out silently, as ``INSERT IGNORE`` leaves them."""
    names = ", ".join(f"`{name}`" for name in columns)
    mode = "IGNORE " if ignore else ""
    for number, lines in enumerate(_files(values)):
        path = os.path.join(folder, f"{number}.tsv")
        with open(path, "wb") as out:
            out.writelines(lines)
        # the file is in LOAD DATA's default format: fields ended by tabs, lines by newlines,
        # backslash escapes (``_escaped``), \N for NULL
        statement = (f"LOAD DATA LOCAL INFILE '{_quoted(path)}' {mode}INTO TABLE `{table}` "
                     f"CHARACTER SET utf8mb4 ({names})")
        yield lambda statement=statement, path=path: _load(cursor, statement, path, ignore)


def _quoted(path: str) -> str:
    return path.replace("\\", "\\\\").replace("'", "\\'")


def _load(cursor: Any, statement: str, path: str, ignore: bool) -> None:
    connection = cursor.connection
    try:
        if not ignore:
            cursor.execute(f"SAVEPOINT {_SAVEPOINT}")
        if hasattr(connection, "_local_infile"):  # PyMySQL: sends a file while this statement runs
            connection._local_infile = True
            try:
                cursor.execute(statement)
            finally:
                connection._local_infile = False
        else:
            cursor.execute(statement)
        if not ignore:
            problem = _first_problem(cursor) if cursor.warning_count else None
            if problem is not None:
                cursor.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
                raise _driver_error(connection, *problem)
            cursor.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
    finally:
        os.remove(path)


def _first_problem(cursor: Any) -> tuple[int, str] | None:
    """The first warning of the statement just run that is not a note (a note, such as a time's
    fraction of a second rounded, passes in an ``INSERT`` too)."""
    cursor.execute("SHOW WARNINGS")
    return next(((code, message) for level, code, message in cursor.fetchall() if level != "Note"), None)


def _driver_error(connection: Any, code: int, message: str) -> Exception:
    """The exception the connection's driver raises for MariaDB's error ``code``."""
    if type(connection).__module__.startswith("pymysql"):
        from pymysql import err

        return err.error_map.get(code, err.OperationalError)(code, message)
    import MySQLdb

    # the classes mysqlclient gives the errors an INSERT can meet (its C table, in part)
    kind = (MySQLdb.IntegrityError if code in _INTEGRITY_ERRORS else
            MySQLdb.DataError if code in _DATA_ERRORS else MySQLdb.OperationalError)
    return kind(code, message)


# ER_DUP_ENTRY, ER_DUP_UNIQUE, ER_NO_REFERENCED_ROW(_2), ER_ROW_IS_REFERENCED(_2),
# ER_NO_DEFAULT_FOR_FIELD, ER_BAD_NULL_ERROR
_INTEGRITY_ERRORS = frozenset({1062, 1169, 1216, 1452, 1217, 1451, 1364, 1048})
# WARN_DATA_TRUNCATED, WARN_NULL_TO_NOTNULL, ER_WARN_DATA_OUT_OF_RANGE, ER_DATA_TOO_LONG
_DATA_ERRORS = frozenset({1265, 1263, 1264, 1406})


def _files(values: Sequence[Sequence[Any]]) -> Iterator[list[bytes]]:
    """The rows of these columns as lines of tab-separated fields, cut into files of about
    ``FILE_BYTES``, written a column at a time (``_field_column``, as kohaweb.bulk's INSERT
    literals are) and joined into lines by C-level joins, a slice of rows at a time."""
    pieces: list[bytes] = []
    size = 0
    for start in range(0, len(values[0]) if values else 0, _SLICE_ROWS):
        fields = [_field_column(column[start:start + _SLICE_ROWS]) for column in values]
        piece = b"\n".join(map(b"\t".join, zip(*fields, strict=True))) + b"\n"
        pieces.append(piece)
        size += len(piece)
        if size >= FILE_BYTES:
            yield pieces
            pieces, size = [], 0
    if pieces:
        yield pieces


_SLICE_ROWS = 4096  # rows turned into lines at a time (a file is cut between two slices)
_NULL = b"\\N"
# a byte LOAD DATA's default format reads otherwise than as itself: its escape, its field and
# line ends (a NUL byte, a quote or a carriage return are read as they are)
_NEEDS_TEXT_ESCAPES = re.compile(r"[\\\t]").search  # (newlines are counted)


def _escaped(data: bytes) -> bytes:
    return data.replace(b"\\", b"\\\\").replace(b"\t", b"\\t").replace(b"\n", b"\\n")


def _field_column(values: Sequence[Any]) -> list[bytes]:
    """``_field`` of each value: a column of integers, strings or bytes (or NULLs) in as few
    passes over its values as can be. A pass over an import batch's 446,000 posting rows costs
    more for reaching each value than for its work (a type check of every term alone was 0.1
    s), so the column's kind is taken from its first value, and a value of another kind makes
    the pass fail and the column go value by value. Bytes are escaped inline: three C-level
    passes over a packed posting cost less than a Python call to find out whether it needs
    them (one in seven does)."""
    kind = type(next((value for value in values if value is not None), None))
    if kind is type(None):  # a column of NULLs (a new posting's deletions)
        return [_NULL] * len(values)
    try:
        if kind is str:
            return _text_column(values)
        if kind is bytes:
            return [_NULL if value is None else
                    value.replace(b"\\", b"\\\\").replace(b"\t", b"\\t").replace(b"\n", b"\\n")
                    for value in values]
        if kind is int and set(map(type, values)) <= {int, type(None)}:  # small ints: one object each
            return [_NULL if value is None else b"%d" % value for value in values]
    except (TypeError, AttributeError):  # a value of another kind
        pass
    return list(map(_field, values))


def _text_column(values: Sequence[str]) -> list[bytes]:
    """A column of strings as LOAD DATA fields: joined by newlines, searched once for what needs
    escaping, encoded and split again (one pass over the strings, the rest over one text).
    Raises TypeError when a value is not a string (a NULL included)."""
    text = "\n".join(values)
    if text.count("\n") == len(values) - 1 and not _NEEDS_TEXT_ESCAPES(text):  # names, most terms
        return text.encode("utf-8").split(b"\n")
    return [_escaped(value.encode("utf-8")) for value in values]


def _field(value: Any) -> bytes:
    kind = type(value)
    if value is None:
        return _NULL
    if kind is str:
        return _escaped(value.encode("utf-8"))
    if kind is bytes:
        return _escaped(value)
    if kind is bool:
        return b"1" if value else b"0"
    if kind is int:
        return b"%d" % value
    if kind is dt.datetime:
        return value.isoformat(" ").encode("ascii")
    if kind is dt.date or kind is dt.time:
        return value.isoformat().encode("ascii")
    if kind is Decimal:
        return str(value).encode("ascii")
    if kind is float:
        return repr(value).encode("ascii")
    raise TypeError(f"no LOAD DATA field for a {kind.__name__} value")
