"""The core's limits (kohaweb.limits, issue 22): request body sizes, 503 while the database is
away (and recovery without a restart), security headers on pages and API alike."""

from __future__ import annotations

import http.client
import logging
from urllib.parse import urlsplit

import pytest
import webtest

from kohaweb.app import make_app as build_app
from kohaweb.settings import ConfigError
from kohaweb.testing import basic_auth, make_settings, serve
from kohaweb.testing_outage import outage_engine

FRAME_HEADERS = {"Content-Security-Policy": "frame-ancestors 'self'", "X-Frame-Options": "SAMEORIGIN",
                 "X-Content-Type-Options": "nosniff", "Referrer-Policy": "strict-origin-when-cross-origin"}


def assert_security_headers(response, expected=FRAME_HEADERS) -> None:
    for name, value in expected.items():
        assert response.headers.get(name) == value, (name, response.headers.get(name))


# --- security headers ------------------------------------------------------------------------------

def test_pages_api_and_errors_carry_security_headers(make_app, staff_user):
    app = make_app(**{"kohaweb.auth.basic": "true"})
    for response in (app.get("/login"), app.get("/api/v1/"), app.get("/api/v1/.html"),
                     app.get("/no/such/page", status=404), app.get("/api/v1/biblios", status=401),
                     app.post("/api/v1/biblios", "x", headers={"Content-Type": "text/plain"}, status=401)):
        assert_security_headers(response)
    userid, password, _ = staff_user("headers", "catalogue")
    assert_security_headers(app.get("/api/v1/biblios", headers=basic_auth(userid, password)))


@pytest.mark.parametrize(("ancestors", "expected"), [
    ("'none'", {"Content-Security-Policy": "frame-ancestors 'none'", "X-Frame-Options": "DENY"}),
    ("'self' https://opac.example.org", {"Content-Security-Policy": "frame-ancestors 'self' https://opac.example.org",
                                         "X-Frame-Options": None}),
    ("", {"Content-Security-Policy": None, "X-Frame-Options": None, "X-Content-Type-Options": "nosniff"}),
])
def test_frame_ancestors_setting(make_app, ancestors, expected):
    app = make_app(**{"kohaweb.frame_ancestors": ancestors, "kohaweb.referrer_policy": "no-referrer"})
    response = app.get("/login")
    assert_security_headers(response, {**expected, "Referrer-Policy": "no-referrer"})


def test_header_settings_that_would_inject_are_refused(make_app):
    with pytest.raises(ConfigError, match="kohaweb.frame_ancestors"):
        make_app(**{"kohaweb.frame_ancestors": "'self'; script-src *"})
    with pytest.raises(ConfigError, match="kohaweb.referrer_policy"):
        make_app(**{"kohaweb.referrer_policy": "no-referrer\r\nSet-Cookie: x=1"})


# --- request bodies --------------------------------------------------------------------------------

def test_bodies_over_the_limits_are_413_before_anything_reads_them(make_app):
    app = make_app(**{"kohaweb.max_body_size": "4096", "kohaweb.max_form_size": "2048"})
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    answer = app.post("/login", "userid=a&password=" + "x" * 3000, headers=form, status=413)
    assert answer.content_type == "text/plain" and "at most 2048 bytes" in answer.text
    assert_security_headers(answer)
    api = app.post("/api/v1/biblios", "x" * 5000, headers={"Content-Type": "application/marcxml+xml"}, status=413)
    assert api.json["error_code"] == "request_too_large" and api.json["max_bytes"] == 4096
    # within the limits the request goes on (here to the authentication check)
    app.post("/api/v1/biblios", "x" * 3000, headers={"Content-Type": "application/marcxml+xml"}, status=401)


def test_chunked_body_over_the_limit_is_413(clean_db, database_url):
    app = build_app(make_settings(database_url, **{"kohaweb.max_body_size": "4096"}), engine=clean_db)
    with serve(app) as base:
        parts = urlsplit(base)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        conn.request("POST", "/api/v1/biblios", body=iter([b"x" * 3000] * 20),
                     headers={"Content-Type": "application/marcxml+xml"}, encode_chunked=True)
        response = conn.getresponse()
        assert response.status == 413
        conn.close()


# --- database outages ------------------------------------------------------------------------------

def test_database_outage_answers_503_and_recovers(database_url, staff_user, tmp_path, caplog):
    userid, password, _ = staff_user("outage", "catalogue")
    auth = basic_auth(userid, password)
    with outage_engine(database_url, tmp_path) as (engine, cut, restore):
        app = webtest.TestApp(build_app(make_settings(database_url, **{"kohaweb.auth.basic": "true",
                                                                       "kohaweb.retry_after": "17"}),
                                        engine=engine))
        assert app.get("/api/v1/biblios", headers=auth).status_int == 200
        cut()
        caplog.clear()
        with caplog.at_level(logging.INFO):
            for _ in range(3):
                down = app.get("/api/v1/biblios", headers=auth, status=503)
                assert down.headers["Retry-After"] == "17"
                assert down.json["error_code"] == "service_unavailable"
                assert_security_headers(down)
            page = app.get("/api/v1/biblios", headers={**auth, "Accept": "text/html"}, status=503)
            assert page.headers["Retry-After"] == "17"
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert warnings and all(r.exc_info is None for r in warnings)  # one line each, no traceback
        assert all("SELECT" not in r.getMessage() for r in warnings)  # never the statement
        restore()
        assert app.get("/api/v1/biblios", headers=auth).status_int == 200  # no restart needed


def test_ordinary_database_errors_stay_500(make_app, caplog):
    """Only an unreachable database is a 503: a failing statement is a bug and stays a 500."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from kohaweb.limits import database_unavailable

    app = make_app()
    session = app.app.registry.kohaweb.new_session()
    try:
        with pytest.raises(DBAPIError) as failure:
            session.execute(text("SELECT no_such_column FROM biblio"))
        assert not database_unavailable(failure.value)
    finally:
        session.close()


@pytest.mark.parametrize("driver", ["MySQLdb", "pymysql"])
def test_a_mariadb_server_out_of_disk_is_unavailable_not_a_bug(driver):
    # what MariaDB answered when a sort's temporary file filled its disk (errno 28)
    module = pytest.importorskip(driver)
    from sqlalchemy.exc import InternalError, OperationalError

    from kohaweb.limits import database_unavailable, database_unreachable

    full = InternalError("INSERT ...", {}, module.InternalError(
        3, "Error writing file '/tmp/#sql/fd=108' (Errcode: 28 \"No space left on device\")"))
    assert database_unavailable(full) and not database_unreachable(full)
    gone = OperationalError("SELECT 1", {}, module.OperationalError(2013, "Lost connection"))
    assert database_unavailable(gone) and database_unreachable(gone)
    wrong = InternalError("SELECT ...", {}, module.InternalError(1054, "Unknown column"))
    assert not database_unavailable(wrong)
