"""Which report SQL may run: parsed with sqlglot in the site's dialect, never matched by keyword.

A report is accepted only if it is exactly one query (SELECT, WITH … SELECT, or a UNION /
INTERSECT / EXCEPT of them) whose syntax tree holds only constructs and functions on the
allowlist of the site's database (``functions``), no statement that writes, no ``SELECT … INTO``,
no locking clause, no system catalogue, no table outside ``reports.readable_tables`` and no
identifier naming a secret. What runs is SQL *generated from the checked tree* (comments
dropped), so a construct the database reads differently from sqlglot — a MariaDB ``/*! … */``
executable comment, say — cannot slip past the check. The restricted database role (SQLite: the
authorizer) of ``access``, the read-only transaction and the limits of ``runner`` are the
second line of defence, not the first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError

from .functions import ALLOWED_NODES, RefusedFunction, check_function

DIALECTS = {"sqlite": "sqlite", "postgresql": "postgres", "mariadb": "mysql"}

# Koha's Koha::Report FORBIDDEN_COLUMN_MATCHES and its allowlist of harmless names.
SECRET_NAME = re.compile(r"password|token|uuid|secret", re.IGNORECASE)
HARMLESS_NAMES = frozenset({
    "password_expiration_date", "password_expiry_days", "reset_password", "change_password",
    "min_password_length", "require_strong_password", "force_password_reset_when_set_by_staff",
})

# Statements and clauses that write, lock, or change the session, wherever they appear
# (a PostgreSQL CTE may hold a DELETE … RETURNING).
WRITING_NODES: tuple[type[exp.Expression], ...] = tuple(getattr(exp, name) for name in (
    "Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "TruncateTable", "Command",
    "Pragma", "Attach", "Detach", "Set", "Use", "Copy", "LoadData", "Transaction", "Commit",
    "Rollback", "Grant", "Revoke", "Analyze", "Kill", "Cache", "Uncache", "Refresh", "Declare",
    "Execute", "Describe", "Show",
) if hasattr(exp, name))

# bare words the databases read as functions of the session (PostgreSQL's current_role, user …)
# while sqlglot sees column names
SESSION_WORDS = frozenset({"current_role", "current_user", "session_user", "user", "system_user",
                           "current_schema", "current_catalog", "current_path"})
SYSTEM_SCHEMAS = frozenset({"mysql", "information_schema", "performance_schema", "sys", "pg_catalog",
                            "pg_toast"})
SYSTEM_TABLE_PREFIXES = ("pg_", "sqlite_")


class Refused(Exception):
    """The report may not run; ``reason`` is safe to show to anyone (-> HTTP 400)."""

    def __init__(self, reason: str, code: str = "refused"):
        super().__init__(reason)
        self.reason = reason
        self.code = code


def is_secret_name(name: str) -> bool:
    lowered = name.lower()
    return lowered not in HARMLESS_NAMES and bool(SECRET_NAME.search(lowered))


@dataclass(frozen=True, eq=False)  # compared by identity: a refreshed guard is a new key
class Guard:
    """What the checker knows about the database: the tables whose rows hold secrets (so that
    ``*`` or a whole-row reference on them is refused) and tables no report may read at all."""

    sensitive_tables: Mapping[str, frozenset[str]]  # table name -> its secret columns
    forbidden_tables: frozenset[str]
    # table -> the columns reports may read (None: any table not forbidden); the database role
    # or SQLite authorizer enforces the same map, this only gives the clearer message first
    readable: Mapping[str, frozenset[str]] | None = None

    @classmethod
    def from_columns(cls, tables: Mapping[str, Iterable[str]], forbidden: Iterable[str] = (),
                     readable_tables: Iterable[str] | None = None) -> Guard:
        sensitive = {}
        for table, columns in tables.items():
            secret = frozenset(c.lower() for c in columns if is_secret_name(c))
            if secret:
                sensitive[table.lower()] = secret
        forbidden_names = frozenset(t.lower() for t in forbidden)
        readable = None
        if readable_tables is not None:
            wanted = {t.lower() for t in readable_tables} - forbidden_names
            readable = {table.lower(): frozenset(c.lower() for c in columns if not is_secret_name(c))
                        for table, columns in tables.items() if table.lower() in wanted}
        return cls(sensitive, forbidden_names, readable)


def parse_query(sql: str, dialect: str | type[Dialect]) -> exp.Query:
    """Exactly one read-only query, or Refused."""
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except (ParseError, TokenError) as exc:
        raise Refused(f"the SQL cannot be parsed: {_first_line(exc)}", "syntax_error") from None
    except RecursionError:
        raise Refused("the SQL is nested too deeply to check", "too_complex") from None
    if not statements:
        raise Refused("the report has no SQL statement", "empty")
    if len(statements) > 1:
        raise Refused(f"a report must be exactly one statement, found {len(statements)}", "multiple_statements")
    root = statements[0]
    while isinstance(root, (exp.Subquery, exp.Paren)) and isinstance(root.this, exp.Query):
        root = root.this
    if not isinstance(root, (exp.Select, exp.SetOperation)):
        kind = root.key.upper() if not isinstance(root, exp.Command) else str(root.this).upper()
        raise Refused(f"only SELECT queries may run, this is {kind}", "not_select")
    return root


def check(root: exp.Query, guard: Guard, nonce: str | None = None, backend: str = "sqlite",
          dialect: str | type[Dialect] | None = None) -> None:
    """Walk every node of the tree; raise Refused at the first thing a report may not do: any
    function or construct not on the allowlist of ``backend`` (``functions``), writes, locks,
    secrets, system catalogues and tables reports may not read."""
    dialect = dialect or DIALECTS[backend]
    cte_names = {cte.alias_or_name.lower() for cte in root.find_all(exp.CTE)}
    # alias or name -> the sensitive tables its rows carry: a table's own, or those of a
    # parenthesised join `(borrowers JOIN items) AS x` (a nested SELECT is checked on its own)
    aliases: dict[str, set[str]] = {}
    for table in root.find_all(exp.Table):
        if table.name:
            aliases.setdefault(table.alias_or_name.lower(), set()).update(
                {table.name.lower()} & set(guard.sensitive_tables))
    for derived in root.find_all(exp.Subquery):
        if derived.alias:
            aliases.setdefault(derived.alias.lower(), set()).update(_direct_sensitive(derived, guard))
    for node in root.walk():
        if any(comment.startswith("!") for comment in node.comments or ()):
            # MariaDB runs the inside of /*! … */; the generated SQL would drop it, but a report
            # that tries this is refused rather than silently changed
            raise Refused("executable comments (/*! … */) are not allowed in a report", "executable_comment")
        if isinstance(node, WRITING_NODES):
            raise Refused(f"{node.key.upper()} is not allowed in a report", "write")
        if isinstance(node, exp.Into):
            raise Refused("SELECT … INTO is not allowed in a report", "write")
        if isinstance(node, exp.Lock):
            raise Refused("locking clauses (FOR UPDATE / FOR SHARE) are not allowed in a report", "lock")
        if isinstance(node, exp.PropertyEQ) and isinstance(node.this, exp.Parameter):
            raise Refused("assigning variables is not allowed in a report", "write")
        if isinstance(node, exp.Func) and type(node) not in ALLOWED_NODES:
            try:
                check_function(node, backend, dialect)
            except RefusedFunction as refused:
                raise Refused(refused.reason, refused.code) from None
            continue
        if type(node) not in ALLOWED_NODES:
            _refuse_construct(node, dialect)
        if isinstance(node, exp.Identifier) and is_secret_name(node.name):
            raise Refused(f"{node.name} holds secrets and cannot be used in a report", "secret_column")
        elif isinstance(node, exp.Table):
            _check_table(node, guard, cte_names)
        elif isinstance(node, exp.Star):
            _check_star(node, guard, aliases)
        elif (isinstance(node, exp.Column) and not node.table and isinstance(node.this, exp.Identifier)
              and not node.this.quoted and node.name.lower() in SESSION_WORDS):
            raise Refused(f"{node.name} names the database session and is not allowed in a report "
                          "(qualify a column of that name with its table)", "function")
        elif isinstance(node, exp.Column) and not node.table and isinstance(node.this, exp.Identifier):
            # PostgreSQL reads `SELECT b FROM borrowers b` as the whole row, password included
            hidden = aliases.get(node.name.lower())
            if hidden:
                raise Refused(f"whole rows of {_names(hidden)} hold secrets; name the columns you need",
                              "secret_column")
        elif isinstance(node, exp.Placeholder) and not (nonce and str(node.name).startswith(f"kwp_{nonce}_")):
            raise Refused("use <<Label>> placeholders for report parameters", "placeholder")


def _direct_sensitive(node: exp.Expression, guard: Guard) -> set[str]:
    """Sensitive tables whose columns `*` over ``node`` would show: every table inside it,
    through parentheses and joins, but not inside a nested SELECT (whose own list is checked)."""
    found = set()
    for inner in node.walk(prune=lambda n: isinstance(n, (exp.Select, exp.SetOperation))):
        if isinstance(inner, exp.Table) and inner.name.lower() in guard.sensitive_tables:
            found.add(inner.name.lower())
    return found


def _names(tables: set[str]) -> str:
    return ", ".join(sorted(tables))


def _refuse_construct(node: exp.Expression, dialect) -> None:
    if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Func):
        raise Refused(f"schema-qualified functions ({_snippet(node, dialect)}) are not allowed in a report",
                      "function")
    if isinstance(node, (exp.Parameter, exp.SessionParameter)):
        raise Refused(f"variables ({_snippet(node, dialect)}) are not allowed in a report", "variable")
    raise Refused(f"{node.key.upper()} ({_snippet(node, dialect)}) is not allowed in a report", "construct")


def _snippet(node: exp.Expression, dialect) -> str:
    try:
        text = node.sql(dialect=dialect, comments=False)
    except Exception:  # noqa: BLE001  (only for the message)
        text = node.key
    return text if len(text) <= 60 else text[:57] + "..."


def _check_table(node: exp.Table, guard: Guard, cte_names: set[str]) -> None:
    name, schema = node.name.lower(), (node.db or "").lower()
    if isinstance(node.this, exp.Func):  # FROM generate_series(…): checked as a function
        return
    alias = node.args.get("alias")
    if name in guard.sensitive_tables and alias is not None and alias.args.get("columns"):
        # PostgreSQL's `borrowers AS b(a, c, u, p)` renames columns by position
        raise Refused(f"column aliases on {name} are not allowed (it holds secrets)", "secret_column")
    if schema in SYSTEM_SCHEMAS or name.startswith(SYSTEM_TABLE_PREFIXES) or name in SYSTEM_SCHEMAS:
        raise Refused(f"system tables ({schema + '.' if schema else ''}{name}) cannot be read by a report",
                      "system_table")
    if name in guard.forbidden_tables:
        raise Refused(f"the table {name} cannot be read by a report", "forbidden_table")
    if guard.readable is not None:
        if schema and schema != "public":
            raise Refused(f"name the table without its database ({schema}.{name})", "forbidden_table")
        if name not in guard.readable and not (name in cte_names and not schema):
            raise Refused(f"the table {name} cannot be read by a report (reports read the catalogue, "
                          "items, patrons and circulation; see reports.readable_tables)", "forbidden_table")


def _check_star(node: exp.Star, guard: Guard, aliases: Mapping[str, set[str]]) -> None:
    parent = node.parent
    if isinstance(parent, exp.Count):
        return
    if isinstance(parent, exp.Column):  # t.*
        qualifier = parent.table.lower()
        hidden = aliases.get(qualifier, {qualifier} & set(guard.sensitive_tables))
    else:
        select = node.find_ancestor(exp.Select)
        sources = [select.args.get("from_"), *(select.args.get("joins") or [])] if select else []
        hidden = set().union(*(_direct_sensitive(s, guard) for s in sources if s is not None))
    if hidden:
        columns = ", ".join(sorted(c for t in hidden for c in guard.sensitive_tables[t]))
        raise Refused(f"* on {_names(hidden)} would include secret columns ({columns}); "
                      "name the columns you need", "secret_column")


def limit_rows(root: exp.Query, max_rows: int) -> None:
    """Cap the outermost LIMIT at max_rows + 1 (one more tells the caller it was cut off);
    a smaller LIMIT of the report's own is kept."""
    current = root.args.get("limit")
    if current is not None:
        value = current.args.get("expression")
        if not (isinstance(value, exp.Literal) and not value.is_string):
            return  # not a plain number (e.g. a placeholder): the fetch itself stops at the cap
        if int(value.this) <= max_rows:
            return
    root.set("limit", exp.Limit(expression=exp.Literal.number(max_rows + 1)))


def _first_line(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    return re.sub(r"\x1b\[[0-9;]*m", "", text)[:300]
