"""What the database itself lets reports read: the second line of defence behind ``safety``.

Reports read only the catalogue, items, patrons' non-secret columns and circulation
(``reports.readable_tables``; a column named like a secret never). The same map is enforced

- on SQLite by an authorizer callback on every reports connection (``sqlite_authorizer``):
  reads of other tables or columns, PRAGMAs (``pragma_table_info``…), ``dbstat``, writes and any
  function not on the allowlist are denied by SQLite while it compiles the statement;
- on PostgreSQL by a role (``reports.role``) holding SELECT on exactly those columns, so even SQL
  that reached the database unchecked (``ts_stat('SELECT … password …')``) is refused by the
  database. Reports log in as the role (password derived from ``kohaweb.secret``), so nothing can
  leave it; where it cannot log in, every report transaction runs ``SET LOCAL ROLE`` to it;
- on MariaDB, where an active role *adds* to the user's rights instead of replacing them, by a
  user of its own (``reports.role``, default host ``%``) with those column grants, whose password
  is derived from ``kohaweb.secret`` (nothing to store; re-run setup after changing the secret).

``setup_role`` creates or refreshes the role (idempotent; ``kohaweb report setup-role``, and the
service on first use when the site's database user may). ``reports.database_url`` replaces all
of this with a connection the administrator made; it is checked the same way: a connection that
can read a secret column (an owner, a superuser) is refused with a clear error, never used.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import sqlite3
from collections.abc import Callable, Iterable, Mapping

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import ObjectKind
from sqlalchemy.exc import DBAPIError

from .functions import ALLOWED_FUNCTIONS
from .safety import is_secret_name

log = logging.getLogger(__name__)

# Koha's report library reads these; nothing of logins, keys, tokens, sessions, settings or reports
READABLE_TABLES = [
    "biblio", "biblio_metadata", "deletedbiblio", "deletedbiblio_metadata", "auth_header", "items",
    "deleteditems", "itemtypes", "branches", "categories", "authorised_values", "circulation_rules",
    "borrowers", "borrower_attributes", "borrower_attribute_types", "borrower_debarments", "issues",
    "old_issues", "reserves", "old_reserves", "accountlines", "oai_sets", "oai_sets_biblios",
]

Readable = Mapping[str, tuple[str, ...]]  # table -> columns a report may read (schema spelling)


class AccessError(Exception):
    """The reports role could not be set up or is not safe; ``message`` says what to do."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def readable_columns(engine: Engine, tables: Iterable[str], forbidden: Iterable[str] = ()) -> dict[str, tuple[str, ...]]:
    """The live schema's columns that reports may read: those of ``tables`` (minus ``forbidden``)
    whose names do not look like secrets. Views are never included (a view reads with its
    owner's rights)."""
    wanted = {t.lower() for t in tables} - {t.lower() for t in forbidden}
    found = inspect(engine).get_multi_columns(kind=ObjectKind.TABLE)
    readable = {}
    for (_schema, name), columns in sorted(found.items(), key=lambda kv: kv[0][1]):
        if name.lower() in wanted:
            readable[name] = tuple(c["name"] for c in columns if not is_secret_name(c["name"]))
    return readable


def derived_password(secret: str, role: str) -> str:
    """The MariaDB reports user's password: not stored anywhere, derived from the site secret."""
    return hmac.new(secret.encode("utf-8"), b"kohaweb-reports-role:" + role.encode("utf-8"),
                    hashlib.sha256).hexdigest()[:40]


def split_role(role: str) -> tuple[str, str]:
    """``name`` or ``name@host`` (MariaDB's host part; default ``%``)."""
    name, _, host = role.partition("@")
    return name, host or "%"


# --- SQLite ---------------------------------------------------------------------------------

# what SQLite itself calls for operators: LIKE, GLOB, REGEXP and the JSON arrows
SQLITE_OPERATOR_FUNCTIONS = frozenset({"like", "glob", "regexp", "->", "->>"})


def sqlite_authorizer(readable: Readable, schema_objects: Iterable[str] = ()
                      ) -> Callable[[int, str | None, str | None, str | None, str | None], int]:
    """An authorizer (``sqlite3.Connection.set_authorizer``) letting statements read only the
    readable columns and call only allowlisted functions; everything else is denied.
    ``schema_objects`` names every table and view, so that ``COUNT(*)`` over a CTE (a read of
    no column of a name that is not in the schema) can be told from one over a real table."""
    columns = {table.lower(): {c.lower() for c in cols} | {"rowid", "oid", "_rowid_"}
               for table, cols in readable.items()}
    known = {name.lower() for name in schema_objects}
    functions = ALLOWED_FUNCTIONS["sqlite"] | SQLITE_OPERATOR_FUNCTIONS

    def authorize(action: int, arg1: str | None, arg2: str | None, _db: str | None, _source: str | None) -> int:
        if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_RECURSIVE):
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_READ:
            table, column = (arg1 or "").lower(), (arg2 or "").lower()
            if table.startswith(("pragma_", "sqlite_")) or table == "dbstat":
                return sqlite3.SQLITE_DENY
            allowed = columns.get(table)
            if allowed is not None and (column in allowed or column == ""):
                return sqlite3.SQLITE_OK
            if column == "" and table not in known:  # COUNT(*) over a CTE
                return sqlite3.SQLITE_OK
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_FUNCTION:
            return sqlite3.SQLITE_OK if (arg2 or "").lower() in functions else sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_DENY  # PRAGMA, writes, ATTACH, transactions …

    return authorize


# --- PostgreSQL and MariaDB -----------------------------------------------------------------

def setup_role(engine: Engine, role: str, readable: Readable, password: str | None = None,
               member: str | None = None) -> list[str]:
    """Create or refresh the reports role on ``engine``'s database (idempotent): exactly SELECT
    on the readable columns, nothing else in this database. Returns what was done, for the CLI.
    With ``password`` the role may log in with it (required on MariaDB). On PostgreSQL ``member``
    (the site's database user; default: the connecting one) is made a member, for the ``SET ROLE``
    fallback. Raises AccessError."""
    backend = engine.dialect.name
    if backend not in ("postgresql", "mysql", "mariadb"):
        raise AccessError(f"{backend} has no reports role (SQLite uses an authorizer)")
    if backend != "postgresql" and not password:
        raise AccessError("a MariaDB reports user needs a password (set kohaweb.secret)")
    for attempt in range(3):
        try:
            if backend == "postgresql":
                return _setup_postgres(engine, role, readable, password, member)
            return _setup_mariadb(engine, role, readable, password)
        except DBAPIError as exc:
            # roles are shared by the server's databases: another site (or test run) may be
            # setting up the same role at this moment ("tuple concurrently updated")
            if attempt == 2 or getattr(exc.orig, "sqlstate", None) not in ("XX000", "40001", "40P01", "42710"):
                raise AccessError(f"could not set up the reports role {role}: {_first_line(exc)}") from exc
    raise AssertionError("unreachable")


def _quote(engine: Engine, name: str) -> str:
    return engine.dialect.identifier_preparer.quote_identifier(name)


def _setup_postgres(engine: Engine, role: str, readable: Readable, password: str | None,
                    member: str | None) -> list[str]:
    q = _quote(engine, role)
    done = []
    with engine.begin() as conn:
        # one setup at a time in this database (concurrent GRANTs fail with "tuple concurrently updated")
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('kohaweb reports role'))"))
        attributes = conn.execute(text(
            "SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls, rolcanlogin "
            "FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
        if attributes is None:
            conn.exec_driver_sql(f"CREATE ROLE {q} NOLOGIN NOINHERIT")
            done.append(f"created role {role}")
        elif attributes[0]:
            raise AccessError(f"the role {role} has administrative rights (superuser, createrole, createdb, "
                              "replication or bypassrls); give reports another reports.role")
        if password is not None:
            conn.exec_driver_sql(f"ALTER ROLE {q} LOGIN PASSWORD '{password.replace(chr(39), chr(39) * 2)}'")
            done.append(f"role {role} may log in with the password given")
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        qs = _quote(engine, schema)
        conn.exec_driver_sql(f"REVOKE ALL ON ALL TABLES IN SCHEMA {qs} FROM {q}")
        conn.exec_driver_sql(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {qs} FROM {q}")
        conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {qs} TO {q}")
        for table, columns in readable.items():
            listed = ", ".join(_quote(engine, c) for c in columns)
            conn.exec_driver_sql(f"GRANT SELECT ({listed}) ON {qs}.{_quote(engine, table)} TO {q}")
        done.append(f"granted SELECT on {len(readable)} tables' readable columns to {role}")
        member = member or conn.execute(text("SELECT current_user")).scalar_one()
        is_member = conn.execute(text(
            "SELECT rolsuper OR pg_has_role(rolname, :r, 'MEMBER') FROM pg_roles WHERE rolname = :m"),
            {"r": role, "m": member}).scalar()
        if is_member is None:
            raise AccessError(f"the site's database user {member} does not exist")
        if not is_member:
            conn.exec_driver_sql(f"GRANT {q} TO {_quote(engine, member)}")
            done.append(f"{member} may SET ROLE {role}")
    return done


def _setup_mariadb(engine: Engine, role: str, readable: Readable, password: str) -> list[str]:
    name, host = split_role(role)
    account = f"'{_literal(name)}'@'{_literal(host)}'"
    done = []
    with engine.connect() as conn:
        database = conn.execute(text("SELECT DATABASE()")).scalar_one()
        qd = _quote(engine, database)
        exists = conn.execute(text("SELECT COUNT(*) FROM mysql.user WHERE User = :u AND Host = :h"),
                              {"u": name, "h": host}).scalar_one() if _can_read_users(conn) else None
        conn.execute(text(f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY :p"), {"p": password})
        conn.execute(text(f"ALTER USER {account} IDENTIFIED BY :p"), {"p": password})
        if exists == 0:
            done.append(f"created user {name}@{host}")
        # only this database's grants are replaced (other sites may share the user)
        _revoke_mariadb(conn, engine, account)
        for table, columns in readable.items():
            listed = ", ".join(_quote(engine, c) for c in columns)
            conn.execute(text(f"GRANT SELECT ({listed}) ON {qd}.{_quote(engine, table)} TO {account}"))
        conn.commit()
        done.append(f"granted SELECT on {len(readable)} tables' readable columns to {name}@{host}")
    return done


def _revoke_mariadb(conn, engine: Engine, account: str) -> None:
    """Revoke what ``account`` holds in this database (MariaDB keeps grants of dropped tables
    and databases, so this is also how a site forgets its reports user)."""
    qd = _quote(engine, conn.execute(text("SELECT DATABASE()")).scalar_one())
    tables = [row[0] for row in conn.execute(text(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"))]
    for statement in [f"REVOKE ALL PRIVILEGES ON {qd}.* FROM {account}"] + [
            f"REVOKE ALL PRIVILEGES ON {qd}.{_quote(engine, t)} FROM {account}" for t in tables]:
        try:
            conn.execute(text(statement))
        except DBAPIError as exc:
            if _mysql_code(exc) not in (1141, 1147, 1269):  # there was no such grant / no such user
                raise


def revoke_role(engine: Engine, role: str) -> None:
    """Take the reports role's rights in ``engine``'s database away (MariaDB; PostgreSQL drops
    them with the database)."""
    if engine.dialect.name in ("mysql", "mariadb"):
        name, host = split_role(role)
        with engine.connect() as conn:
            _revoke_mariadb(conn, engine, f"'{_literal(name)}'@'{_literal(host)}'")
            conn.commit()


def _can_read_users(conn) -> bool:
    try:
        conn.execute(text("SELECT 1 FROM mysql.user LIMIT 0"))
        return True
    except DBAPIError:
        conn.rollback()
        return False


def _literal(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "''")


def _mysql_code(exc: DBAPIError) -> int | None:
    args = getattr(exc.orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    args = getattr(orig, "args", ())
    if len(args) == 2 and isinstance(args[0], int):
        return str(args[1])
    text_ = str(orig).strip()
    return text_.splitlines()[0][:300] if text_ else orig.__class__.__name__
