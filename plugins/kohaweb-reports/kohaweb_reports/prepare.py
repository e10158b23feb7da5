"""From a saved report and request values to SQL a driver can run: bind the placeholders, parse
and check the tree, cap the rows, and generate the SQL from the checked tree."""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from .placeholders import bind
from .safety import DIALECTS, Guard, Refused, check, limit_rows, parse_query

# driver parameter styles: sqlite3 is "qmark"; psycopg and MariaDB's drivers take "%s" and need a
# literal % doubled
QMARK_BACKENDS = frozenset({"sqlite"})


# Koha's column markers: [[items.itemnumber|Item number]] -> items.itemnumber AS "Item number"
COLUMN_MARKER = re.compile(r"\[\[([^\[\]|]+)\|([^\[\]]+)\]\]")


def expand_column_markers(sql: str, backend: str) -> str:
    quote = "`" if backend == "mariadb" else '"'

    def alias(match: re.Match) -> str:
        label = match.group(2).strip().replace(quote, quote * 2)
        return f"{match.group(1).strip()} AS {quote}{label}{quote}"

    return COLUMN_MARKER.sub(alias, sql)


@dataclass(frozen=True)
class Prepared:
    sql: str
    params: tuple[object, ...]


def prepare(sql: str, backend: str, guard: Guard, max_rows: int, sql_params: Sequence[str] = (),
            param_names: Sequence[str] = (), *, sample: bool = False) -> Prepared:
    """Raises placeholders.ParameterError or safety.Refused (both mean HTTP 400)."""
    bound = bind(expand_column_markers(sql.strip().rstrip(";"), backend), sql_params, param_names,
                 dates_as_text=backend == "sqlite", sample=sample, nonce=_process_nonce())
    generated, order = compile_checked(bound.sql, backend, guard, max_rows, bound.nonce)
    try:
        return Prepared(generated, tuple(bound.values[name] for name in order))
    except KeyError:
        raise Refused("use <<Label>> placeholders for report parameters", "placeholder") from None


@functools.lru_cache(maxsize=512)
def compile_checked(bound_sql: str, backend: str, guard: Guard, max_rows: int, nonce: str) -> tuple[str, tuple[str, ...]]:
    """Parse, check, cap and generate once per distinct SQL (the parse is the costly part, a
    few milliseconds); returns the driver SQL and the order of the parameter markers in it.
    The guard is part of the key, so a refreshed schema check re-checks every report."""
    dialect = DIALECTS[backend]
    if backend == "mariadb":
        from .mariadb import MariaDB

        dialect = MariaDB
    root = parse_query(bound_sql, dialect)
    try:
        check(root, guard, nonce, backend, dialect)
        limit_rows(root, max_rows)
        # identifiers keep the report's own quoting (quoting changes meaning: SQLite reads an
        # unknown "name" as a string); comments are dropped because MariaDB runs /*! ... */
        generated = root.sql(dialect=dialect, comments=False)
    except RecursionError:
        raise Refused("the SQL is nested too deeply to check", "too_complex") from None
    qmark = backend in QMARK_BACKENDS
    if not qmark:
        generated = generated.replace("%", "%%")
    marker = re.compile(r"%%\((kwp_" + nonce + r"_[0-9_]+)\)s|%\((kwp_" + nonce
                        + r"_[0-9_]+)\)s|:(kwp_" + nonce + r"_[0-9_]+)")
    order: list[str] = []

    def replace(match: re.Match) -> str:
        order.append(next(g for g in match.groups() if g))
        return "?" if qmark else "%s"

    return marker.sub(replace, generated), tuple(order)


@functools.cache
def _process_nonce() -> str:
    """Marker names are random per process, so report text cannot name them, yet stable, so
    the compiled SQL of a report can be reused."""
    return secrets.token_hex(6)
