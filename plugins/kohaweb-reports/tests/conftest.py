from __future__ import annotations

import bcrypt
import pytest
from sqlalchemy import inspect, text

from kohaweb.auth import grant
from kohaweb.db import backend_name
from kohaweb.models import Patron, SavedReport
from kohaweb.testing import basic_auth


@pytest.fixture(scope="session", autouse=True)
def forget_reports_grants(engine):
    """MariaDB keeps a user's grants on a database after it is dropped: take the reports user's
    away before the throwaway database goes."""
    yield
    from kohaweb_reports.access import revoke_role

    revoke_role(engine, "kohaweb_reports")


@pytest.fixture
def backend(engine) -> str:
    return backend_name(engine)


@pytest.fixture
def reports_app(make_app):
    """``reports_app(**settings)`` -> a TestApp with the reports service (Basic auth on)."""
    built = []

    def factory(**settings):
        merged = {"kohaweb.auth.basic": "true", "reports.timeout_ms": "5000", "reports.max_rows": "50"}
        merged.update(settings)
        app = make_app(services=["reports"], settings=merged)
        built.append(app)
        return app

    yield factory
    for app in built:
        app.app.registry.kohaweb.extras["reports"].runner.dispose()


@pytest.fixture
def save_report(dbsession):
    """Store a report directly (as a Koha migration would, without the save-time check)."""

    def save(sql: str, name: str | None = None, public: bool = False, cache_expiry: int = 0) -> int:
        report = SavedReport(report_name=name or f"report {abs(hash(sql))}", savedsql=sql, public=public,
                             cache_expiry=cache_expiry)
        dbsession.add(report)
        dbsession.commit()
        return report.id

    return save


@pytest.fixture
def librarian(dbsession, reference_data):
    """Basic-auth headers of a staff user with ``reports``. The password hash is a real bcrypt
    hash at the lowest cost, so that the many requests of these tests stay fast."""
    patron = Patron(userid="librarian", cardnumber="c-librarian", surname="Librarian", branchcode="CPL",
                    categorycode="S", password=bcrypt.hashpw(b"secret words", bcrypt.gensalt(rounds=4)).decode())
    dbsession.add(patron)
    grant(dbsession, patron, "reports")
    dbsession.commit()
    return basic_auth("librarian", "secret words")


@pytest.fixture
def snapshot(engine):
    """``snapshot()`` -> every table's rows (as sorted text) and the schema, to prove nothing changed."""
    return lambda: take_snapshot(engine)


def take_snapshot(engine) -> dict:
    """Rows of every table as sorted text, and the table and view names. ``saved_sql.last_run``
    is left out: running a report records it, and that is not the report writing."""
    state = {}
    quote = "`" if engine.dialect.name == "mysql" else '"'
    with engine.connect() as conn:
        inspector = inspect(conn)
        names = sorted(inspector.get_table_names())
        state["__tables__"] = names
        state["__views__"] = sorted(inspector.get_view_names())
        for name in names:
            columns = [c["name"] for c in inspector.get_columns(name) if (name, c["name"]) != ("saved_sql", "last_run")]
            listed = ", ".join(f"{quote}{c}{quote}" for c in columns)
            rows = conn.execute(text(f"SELECT {listed} FROM {quote}{name}{quote}"))
            state[name] = (columns, sorted(repr(tuple(r)) for r in rows))
    return state


@pytest.fixture
def run_cli(tmp_path, database_url, clean_db, capsys, monkeypatch):
    """``run_cli("report", "list")`` -> (exit status, stdout, stderr), in-process."""
    from kohaweb.cli import main
    from kohaweb.testing import TEST_SECRET

    ini = tmp_path / "test.ini"
    ini.write_text(f"[app:main]\nuse = egg:kohaweb\nkohaweb.services = reports\n"
                   f"kohaweb.database_url = {database_url}\nkohaweb.secret = {TEST_SECRET}\n"
                   f"reports.timeout_ms = 5000\n")

    def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
        if stdin is not None:
            import io

            monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        status = main(["-c", str(ini), *args])
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return run
