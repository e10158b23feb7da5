"""/status/health (liveness) and /status/ready (readiness) for load balancers."""

from __future__ import annotations

import webtest

from kohaweb.app import make_app as build_app
from kohaweb.testing import make_settings
from kohaweb.testing_outage import outage_engine


def test_health_and_ready_on_a_migrated_database(make_app):
    app = make_app(services=[])  # the probes belong to the core, whatever is enabled
    assert app.get("/status/health").json == {"status": "ok"}
    ready = app.get("/status/ready", status=200)
    assert ready.json == {"status": "ready", "checks": {"database": "ok", "migrations": "ok", "search_index": "ok"}}
    assert ready.headers["Cache-Control"] == "no-store"
    assert app.head("/status/ready").status_int == 200


def test_not_ready_while_the_database_is_away_and_ready_again_after(database_url, clean_db, tmp_path):
    with outage_engine(database_url, tmp_path) as (engine, cut, restore):
        app = webtest.TestApp(build_app(make_settings(database_url), engine=engine))
        assert app.get("/status/ready").status_int == 200
        cut()
        down = app.get("/status/ready", status=503).json
        assert down["status"] == "not ready" and down["checks"]["database"].startswith("unreachable")
        assert app.get("/status/health").status_int == 200  # alive: no restart for an outage
        restore()
        assert app.get("/status/ready").status_int == 200


def test_an_unmigrated_database_is_not_ready_and_says_what_to_run(tmp_path):
    app = webtest.TestApp(build_app(make_settings(f"sqlite:///{tmp_path}/empty.sqlite")))
    body = app.get("/status/ready", status=503).json
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["migrations"] == "not migrated: run kohaweb db upgrade"


def test_a_search_index_being_rebuilt_is_not_ready(make_app, engine):
    from sqlalchemy.orm import Session

    from kohaweb.search import state

    app = make_app(services=[])
    with Session(engine) as session, session.begin():
        state.set_status(session, state.REBUILDING)
    try:
        body = app.get("/status/ready", status=503).json
        assert body["checks"]["search_index"].startswith("rebuilding")
    finally:
        with Session(engine) as session, session.begin():
            state.set_status(session, state.READY)


def test_requests_to_an_unmigrated_database_are_503_not_500(tmp_path, caplog):
    settings = make_settings(f"sqlite:///{tmp_path}/empty.sqlite", services=["status"],
                             **{"kohaweb.auth.basic": "true"})
    app = webtest.TestApp(build_app(settings))
    response = app.get("/api/v1/biblios", headers={"Authorization": "Basic a29oYTprb2hh"}, status=503)
    assert response.json["error_code"] == "service_unavailable" and "Retry-After" in response.headers
    assert any("kohaweb db upgrade" in r.getMessage() for r in caplog.records)


def _ini(tmp_path, url: str) -> str:
    ini = tmp_path / "cli.ini"
    ini.write_text(f"[app:main]\nuse = egg:kohaweb\nkohaweb.database_url = {url}\n"
                   "kohaweb.secret = 0123456789abcdef0123456789abcdef\n")
    return str(ini)


def test_a_missing_driver_is_one_line_naming_the_extra(tmp_path, capsys):
    from kohaweb.cli import main

    assert main(["-c", _ini(tmp_path, "postgresql+pg8000://kohaweb@127.0.0.1/kohaweb"), "db", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "pip install 'kohaweb[postgresql]'" in err and "pg8000" in err
    assert main(["-c", _ini(tmp_path, "postgres://kohaweb@127.0.0.1/kohaweb"), "db", "upgrade"]) == 2
    assert "unknown kind of database" in capsys.readouterr().err


def test_mariadb_scheme_takes_the_supported_driver_where_installed(monkeypatch):
    import importlib.util

    from kohaweb.db import mariadb_scheme

    assert mariadb_scheme("pymysql") == "mysql+pymysql"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object() if name == "MySQLdb" else None)
    assert mariadb_scheme() == "mysql+mysqldb"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert mariadb_scheme() == "mysql+pymysql"


def test_an_unreachable_database_is_one_line(tmp_path, capsys):
    from kohaweb.cli import main
    from kohaweb.testing import free_port

    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/kohaweb"
    assert main(["-c", _ini(tmp_path, url), "db", "upgrade"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("kohaweb: the database cannot be reached") and len(err.splitlines()) == 1


def test_one_access_line_per_request_with_a_request_id(make_app, staff_user, caplog):
    import logging

    from kohaweb.testing import basic_auth

    userid, password, _ = staff_user("logged", "catalogue")
    app = make_app(services=["status"], **{"kohaweb.auth.basic": "true"})
    with caplog.at_level(logging.INFO, logger="kohaweb.access"):
        given = app.get("/status", headers={"X-Request-ID": "lb-42.a"})
        made = app.get("/api/v1/biblios?access_token=SECRET1&_per_page=2", status=400,
                       headers=basic_auth(userid, password))
        odd = app.get("/status", headers={"X-Request-ID": "bad id\nwith newline"})
        app.get("/api/v1/biblios", headers=basic_auth(userid, password))
    lines = [r.getMessage() for r in caplog.records if r.name == "kohaweb.access"]
    assert len(lines) == 4 and lines[3].endswith(f"user={userid}")
    assert given.headers["X-Request-ID"] == "lb-42.a" and "request_id=lb-42.a" in lines[0]
    assert 'method=GET path="/status" status=200' in lines[0] and lines[0].endswith("user=-")
    assert made.headers["X-Request-ID"] in lines[1] and "status=400" in lines[1]
    assert "SECRET1" not in lines[1] and "access_token=%2A%2A%2A" in lines[1] and "_per_page=2" in lines[1]
    assert odd.headers["X-Request-ID"] != "bad id\nwith newline" and "\n" not in lines[2]


def test_pending_heads_follow_branch_dependencies(engine):
    """Alembic records only h0001 once the harvester's branch (which depends on core 0015) ran;
    0015 is reached all the same (kohaweb.migrate.pending_heads)."""
    from alembic.script import ScriptDirectory
    from sqlalchemy import text

    from kohaweb.migrate import alembic_config, pending_heads

    with engine.connect() as conn:
        current = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    assert pending_heads(current) == []
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert pending_heads(set()) == sorted(heads)
    assert "0015" not in pending_heads({"h0001"}) and "h0001" in pending_heads({"0015"})
