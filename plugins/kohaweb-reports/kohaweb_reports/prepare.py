"""From a saved report and request values to SQL a driver can run: bind the placeholders, parse
and check the tree, cap the rows, and generate the SQL from the checked tree."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .placeholders import bind
from .safety import DIALECTS, Guard, check, limit_rows, parse_query

# driver parameter styles: sqlite3 is "qmark"; psycopg and pymysql take "%s" and need a
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
    dialect = DIALECTS[backend]
    if backend == "mariadb":
        from .mariadb import MariaDB

        dialect = MariaDB
    bound = bind(expand_column_markers(sql.strip().rstrip(";"), backend), sql_params, param_names, dates_as_text=backend == "sqlite",
                 sample=sample)
    root = parse_query(bound.sql, dialect)
    check(root, guard, bound.nonce)
    limit_rows(root, max_rows)
    # identifiers keep the report's own quoting (quoting changes meaning: SQLite reads an unknown
    # "name" as a string); comments are dropped because MariaDB runs /*! ... */
    generated = root.sql(dialect=dialect, comments=False)
    qmark = backend in QMARK_BACKENDS
    if not qmark:
        generated = generated.replace("%", "%%")
    marker = re.compile(r"%%\((kwp_" + bound.nonce + r"_[0-9_]+)\)s|%\((kwp_" + bound.nonce
                        + r"_[0-9_]+)\)s|:(kwp_" + bound.nonce + r"_[0-9_]+)")
    params: list[object] = []

    def replace(match: re.Match) -> str:
        name = next(g for g in match.groups() if g)
        params.append(bound.values[name])
        return "?" if qmark else "%s"

    generated = marker.sub(replace, generated)
    return Prepared(generated, tuple(params))
