"""The request transaction tween: a transaction the database refused for a lock conflict runs
again from the start (as a writer), other failures do not, and the body is read again."""

from __future__ import annotations

import sqlite3

import pymysql
import pytest
from psycopg import errors as pg_errors
from pyramid.request import Request, apply_request_extensions
from pyramid.response import Response
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from kohaweb import db
from kohaweb.app import transaction_tween_factory
from kohaweb.testing import selected_backend

database_independent = pytest.mark.skipif(selected_backend() != "sqlite",
                                          reason="no database involved: run once, with SQLite")


def locked() -> OperationalError:
    return OperationalError("UPDATE id_counters ...", {}, sqlite3.OperationalError("database is locked"))


@pytest.fixture
def registry(make_app):
    return make_app(**{"kohaweb.db.attempts": "3"}).app.registry


def run(registry, handler, method: str = "GET", body: bytes = b"") -> Request:
    request = Request.blank("/x", method=method, body=body or None)
    request.registry = registry
    apply_request_extensions(request)  # request.dbsession and friends, as the router does
    request.result = transaction_tween_factory(handler, registry)(request)
    request._process_finished_callbacks()
    return request


def test_a_locked_read_is_retried_as_a_writer(registry):
    seen = []

    def handler(request):
        session = request.dbsession
        session.execute(text("SELECT 1"))
        seen.append(session.get_bind().get_execution_options().get(db.WRITER, False))
        if len(seen) == 1:
            raise locked()
        return Response("ok")

    request = run(registry, handler)
    assert request.result.text == "ok"
    assert seen == [False, True]
    assert "dbsession" not in request.__dict__  # ended and closed


def test_writes_are_writers_and_their_body_is_read_again(registry):
    bodies, writers = [], []

    def handler(request):
        bodies.append(request.body)
        writers.append(request.dbsession.get_bind().get_execution_options().get(db.WRITER, False))
        if len(bodies) < 3:
            raise locked()
        return Response("done")

    assert run(registry, handler, "POST", b"<record/>").result.text == "done"
    assert bodies == [b"<record/>"] * 3 and writers == [True] * 3


def test_gives_up_after_the_attempts(registry):
    calls = []

    def handler(request):
        calls.append(1)
        raise locked()

    with pytest.raises(OperationalError):
        run(registry, handler, "POST")
    assert len(calls) == 3


def test_other_errors_are_not_retried(registry):
    calls = []

    def handler(request):
        calls.append(1)
        raise IntegrityError("INSERT ...", {}, sqlite3.IntegrityError("UNIQUE constraint failed"))

    with pytest.raises(IntegrityError):
        run(registry, handler, "POST")
    assert calls == [1]


def test_a_failed_commit_is_retried(registry, monkeypatch):
    commits = []

    def handler(request):
        session = request.dbsession
        real_commit = session.commit

        def commit():
            commits.append(1)
            if len(commits) == 1:
                raise locked()
            real_commit()

        monkeypatch.setattr(session, "commit", commit)
        return Response("kept")

    assert run(registry, handler, "POST").result.text == "kept"
    assert len(commits) == 2


@database_independent
@pytest.mark.parametrize(("error", "retryable"), [
    (OperationalError("s", {}, sqlite3.OperationalError("database is locked")), True),
    (OperationalError("s", {}, sqlite3.OperationalError("no such table: x")), False),
    (OperationalError("s", {}, pg_errors.DeadlockDetected("deadlock detected")), True),
    (OperationalError("s", {}, pg_errors.SerializationFailure("could not serialize access")), True),
    (OperationalError("s", {}, pg_errors.LockNotAvailable("lock timeout")), True),
    (OperationalError("s", {}, pg_errors.UndefinedTable("no table")), False),
    (OperationalError("s", {}, pymysql.err.OperationalError(1213, "Deadlock found")), True),
    (OperationalError("s", {}, pymysql.err.OperationalError(1205, "Lock wait timeout exceeded")), True),
    (OperationalError("s", {}, pymysql.err.OperationalError(2013, "Lost connection")), False),
    (ValueError("not a database error"), False),
], ids=["sqlite-locked", "sqlite-other", "pg-deadlock", "pg-serialization", "pg-lock-timeout", "pg-other",
        "mariadb-deadlock", "mariadb-lock-wait", "mariadb-lost", "other"])
def test_retryable_errors(error, retryable):
    assert db.is_retryable(error) is retryable
    try:  # found through the cause chain of a wrapping exception as well
        raise RuntimeError("wrapped") from error
    except RuntimeError as wrapper:
        assert db.is_retryable(wrapper) is retryable
