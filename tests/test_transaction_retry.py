"""The request's transaction (pyramid_tm + pyramid_retry + zope.sqlalchemy, kohaweb.transactions):
a transaction the database refused for a lock conflict runs again from the start (as a writer),
other failures do not, the body is read again, and a failed commit is retried too."""

from __future__ import annotations

import logging
import sqlite3

import pytest
import webtest
from psycopg import errors as pg_errors
from pyramid.config import Configurator
from pyramid.response import Response
from pyramid.router import Router
from pyramid.security import NO_PERMISSION_REQUIRED
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from kohaweb import db
from kohaweb.models import Library
from kohaweb.testing import selected_backend

database_independent = pytest.mark.skipif(selected_backend() != "sqlite",
                                          reason="no database involved: run once, with SQLite")


def locked() -> OperationalError:
    return OperationalError("UPDATE id_counters ...", {}, sqlite3.OperationalError("database is locked"))


@pytest.fixture
def registry(make_app):
    return make_app(**{"kohaweb.db.attempts": "3"}).app.registry


class Result:
    def __init__(self, response: webtest.TestResponse):
        self.response = response
        self.text = response.text
        self.status = response.status_int


def run(registry, handler, method: str = "GET", body: bytes = b"", query: str = "") -> Result:
    """``handler`` as the view of /x, called through the site's whole pipeline (execution
    policy, tweens, exception views), as a request would be."""
    config = Configurator(registry=registry)
    config.add_route("retry_test", "/x")
    config.add_view(handler, route_name="retry_test", permission=NO_PERMISSION_REQUIRED)
    config.commit()
    app = webtest.TestApp(Router(registry))
    response = app.request(f"/x?{query}" if query else "/x", method=method, body=body, expect_errors=True,
                           headers={"Content-Type": "application/octet-stream"} if body else {})
    return Result(response)


def test_a_locked_read_is_retried_as_a_writer(registry):
    seen = []

    def handler(request):
        session = request.dbsession
        session.execute(text("SELECT 1"))
        seen.append(session.get_bind().get_execution_options().get(db.WRITER, False))
        if len(seen) == 1:
            raise locked()
        return Response("ok")

    sessions = []

    def recording(request):
        sessions.append(request.dbsession)
        return handler(request)

    assert run(registry, recording).text == "ok"
    assert seen == [False, True]
    assert len(sessions) == 2 and not any(s.in_transaction() for s in sessions)  # ended and closed


def test_writes_are_writers_and_their_body_is_read_again(registry):
    bodies, writers = [], []

    def handler(request):
        bodies.append(request.body)
        writers.append(request.dbsession.get_bind().get_execution_options().get(db.WRITER, False))
        if len(bodies) < 3:
            raise locked()
        return Response("done")

    assert run(registry, handler, "POST", b"<record/>").text == "done"
    assert bodies == [b"<record/>"] * 3 and writers == [True] * 3


def test_gives_up_after_the_attempts(registry):
    calls = []

    def handler(request):
        calls.append(1)
        raise locked()

    answer = run(registry, handler, "POST")
    assert len(calls) == 3
    assert answer.status == 503 and "Retry-After" in answer.response.headers  # the lock never came free


def test_other_errors_are_not_retried(registry):
    calls = []

    def handler(request):
        calls.append(1)
        raise IntegrityError("INSERT ...", {}, sqlite3.IntegrityError("UNIQUE constraint failed"))

    assert run(registry, handler, "POST").status == 500
    assert calls == [1]


def test_a_failed_commit_is_retried(registry, monkeypatch):
    commits = []

    def handler(request):
        session = request.dbsession
        session.execute(text("SELECT 1"))  # the transaction has begun: zope.sqlalchemy holds it
        transaction = session.get_transaction()
        real_commit = transaction.commit

        def commit():
            commits.append(1)
            if len(commits) == 1:
                raise locked()
            real_commit()

        monkeypatch.setattr(transaction, "commit", commit)
        return Response("kept")

    assert run(registry, handler, "POST").text == "kept"
    assert len(commits) == 2


def test_the_view_commits_and_a_failure_rolls_back(registry, reference_data):
    """What the view wrote is committed when it returns (writes through Core statements too),
    rolled back when it raises; nothing is committed twice over the retries."""
    calls = []

    def handler(request):
        calls.append(1)
        session = request.dbsession
        if request.params.get("fail"):
            session.add(Library(branchcode="GONE", branchname="Rolled back"))
            session.flush()
            raise ValueError("the view failed after writing")
        session.execute(Library.__table__.insert().values(branchcode="CORE", branchname="Core insert"))
        if len(calls) == 1:
            raise locked()
        return Response("written")

    assert run(registry, handler, "POST").text == "written"
    assert len(calls) == 2
    failing = run(registry, handler, "POST", query="fail=1")
    assert failing.status == 500
    session = registry.kohaweb.new_session()
    try:
        codes = set(session.scalars(select(Library.branchcode)))
    finally:
        session.close()
    assert "CORE" in codes and "GONE" not in codes


def test_discard_rolls_back_and_still_answers(registry, reference_data):
    """kohaweb.transactions.discard: a refused action leaves nothing behind (ILS-DI)."""
    from kohaweb.transactions import discard

    def handler(request):
        request.dbsession.add(Library(branchcode="NOPE", branchname="Refused"))
        request.dbsession.flush()
        discard(request)
        return Response("refused", status=200)

    assert run(registry, handler, "POST").text == "refused"
    session = registry.kohaweb.new_session()
    try:
        assert session.get(Library, "NOPE") is None
    finally:
        session.close()


def test_retried_failures_are_not_logged_as_errors(registry, caplog):
    calls = []

    def handler(request):
        calls.append(1)
        if len(calls) < 3:
            raise locked()
        return Response("third time")

    with caplog.at_level(logging.INFO):
        assert run(registry, handler, "POST").text == "third time"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len([r for r in caplog.records if r.getMessage().startswith("retrying POST /x")]) == 2


def test_a_retried_request_is_logged_and_counted_once(registry, caplog):
    calls = []

    def handler(request):
        calls.append(1)
        if len(calls) == 1:
            raise locked()
        return Response("second time")

    with caplog.at_level(logging.INFO, logger="kohaweb.access"):
        assert run(registry, handler, "POST").text == "second time"
    lines = [r.getMessage() for r in caplog.records if r.name == "kohaweb.access" and 'path="/x"' in r.getMessage()]
    assert len(lines) == 1 and "status=200" in lines[0]
    counted = [(labels, value) for labels, value in _request_counts(registry) if labels.get("method") == "POST"]
    assert [(labels["status"], value) for labels, value in counted] == [("200", 1.0)]


def test_after_request_work_of_a_discarded_attempt_does_not_run(registry):
    """kohaweb.throttle's bookkeeping (sign-in failures) happens once, for the attempt that answered."""
    from kohaweb import throttle

    calls, done = [], []

    def handler(request):
        calls.append(1)
        throttle.after_request(request, ("test", len(calls)), lambda session: done.append(len(calls)))
        if len(calls) == 1:
            raise locked()
        return Response("answered")

    assert run(registry, handler, "POST").text == "answered"
    assert done == [2]


def _request_counts(registry):
    for family in registry.kohaweb_metrics.registry.collect():
        for sample in family.samples:
            if sample.name == "kohaweb_requests_total":
                yield sample.labels, sample.value


def test_attempts_come_from_kohaweb_db_attempts(make_app):
    registry = make_app(**{"kohaweb.db.attempts": "1"}).app.registry
    calls = []

    def handler(request):
        calls.append(1)
        raise locked()

    assert run(registry, handler, "POST").status == 503
    assert calls == [1]
    assert registry.settings["retry.attempts"] == 1


@database_independent
@pytest.mark.parametrize(("error", "retryable"), [
    (OperationalError("s", {}, sqlite3.OperationalError("database is locked")), True),
    (OperationalError("s", {}, sqlite3.OperationalError("no such table: x")), False),
    (OperationalError("s", {}, pg_errors.DeadlockDetected("deadlock detected")), True),
    (OperationalError("s", {}, pg_errors.SerializationFailure("could not serialize access")), True),
    (OperationalError("s", {}, pg_errors.LockNotAvailable("lock timeout")), True),
    (OperationalError("s", {}, pg_errors.UndefinedTable("no table")), False),
    (ValueError("not a database error"), False),
], ids=["sqlite-locked", "sqlite-other", "pg-deadlock", "pg-serialization", "pg-lock-timeout", "pg-other", "other"])
def test_retryable_errors(error, retryable):
    assert db.is_retryable(error) is retryable


@database_independent
@pytest.mark.parametrize("driver", ["MySQLdb", "pymysql"])
@pytest.mark.parametrize(("code", "retryable"), [(1213, True), (1205, True), (2013, False)],
                         ids=["deadlock", "lock-wait", "lost"])
def test_retryable_errors_of_either_mariadb_driver(driver, code, retryable):
    module = pytest.importorskip(driver)
    error = OperationalError("s", {}, module.OperationalError(code, "Deadlock found, lock wait or lost"))
    assert db.is_retryable(error) is retryable
    try:  # found through the cause chain of a wrapping exception as well
        raise RuntimeError("wrapped") from error
    except RuntimeError as wrapper:
        assert db.is_retryable(wrapper) is retryable
