"""Read replicas (kohaweb.replicas): harvests, searches and public reads go to a replica; writes,
credentials and a client's own recent writes stay on the primary; a replica that is down or
behind is passed over.

The "replica" here is a second database of the same server, migrated and filled differently, so
that every answer shows which database it came from (streaming replication needs a second server;
the lag probe is tested with a stand-in and, on PostgreSQL, against the real functions)."""

from __future__ import annotations

import logging
import time

import pytest
from sqlalchemy import text

from kohaweb.catalog import Catalog
from kohaweb.db import make_engine, make_session_factory, new_session
from kohaweb.migrate import upgrade
from kohaweb.replicas import ReadReplicas, Replica, replication_lag
from kohaweb.sampledata import ensure_reference_data, generate_records
from kohaweb.testing import basic_auth, clean_database, selected_backend, throwaway_database


def _record(title: str):
    generated = next(generate_records(1, seed=7))
    record = generated.record
    record["245"]["a"] = title
    return record, generated.items


@pytest.fixture(scope="module")
def replica_engine(tmp_path_factory):
    with throwaway_database(selected_backend(), tmp_path_factory.mktemp("replica")) as url:
        upgrade(url)
        engine = make_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture
def two_databases(replica_engine, dbsession, reference_data):
    """The primary holds "Lighthouse keepers"; the replica "Harbour pilots"."""
    record, items = _record("Lighthouse keepers")
    Catalog(dbsession).add_records([record], items=[items])
    dbsession.commit()
    session = new_session(make_session_factory(replica_engine), write=True)
    try:
        ensure_reference_data(session)
        record, items = _record("Harbour pilots")
        Catalog(session).add_records([record], items=[items])
        session.commit()
    finally:
        session.close()
    yield replica_engine.url.render_as_string(hide_password=False)
    clean_database(replica_engine)


def _sru_hits(app, word: str, **kwargs) -> str:
    body = app.get("/biblios", {"version": "1.1", "operation": "searchRetrieve", "query": f"dc.title={word}"},
                   **kwargs).text
    return body.split("<zs:numberOfRecords>")[1].split("<")[0]


def test_public_reads_come_from_the_replica(make_app, two_databases):
    app = make_app(["oai", "sru"], settings={"kohaweb.replica_urls": two_databases})
    assert _sru_hits(app, "harbour") == "1" and _sru_hits(app, "lighthouse") == "0"
    time.sleep(1.1)  # OAI-PMH lists what changed before the current second
    listed = app.get("/cgi-bin/koha/oai.pl", {"verb": "ListRecords", "metadataPrefix": "oai_dc"}).text
    assert "Harbour pilots" in listed and "Lighthouse" not in listed
    single = app.get("/cgi-bin/koha/oai.pl", {"verb": "ListRecords", "metadataPrefix": "marcxml"}).text
    assert "Harbour pilots" in single  # records are rendered from the replica they were listed from


def test_without_replicas_everything_reads_the_primary(make_app, two_databases):
    app = make_app(["sru"])
    assert _sru_hits(app, "harbour") == "0" and _sru_hits(app, "lighthouse") == "1"


def test_credentials_and_recent_writers_read_the_primary(make_app, two_databases, staff_user):
    app = make_app(["sru"], settings={"kohaweb.replica_urls": two_databases, "kohaweb.auth.basic": "true",
                                      "kohaweb.replica_max_lag": "10"})
    userid, password, _ = staff_user("cataloguer", "editcatalogue", "catalogue")
    assert _sru_hits(app, "lighthouse", headers=basic_auth(userid, password)) == "1"

    record, _items = _record("Tidal charts")
    created = app.post("/api/v1/biblios", record.as_marc(), headers={**basic_auth(userid, password),
                                                                     "Content-Type": "application/marc"})
    assert created.status_int == 200
    cookie = created.headers["Set-Cookie"]
    assert "kohaweb_wrote=1" in cookie and "Max-Age=11" in cookie and "HttpOnly" in cookie
    # the same client (webtest keeps cookies), without credentials, sees its own write at once
    assert _sru_hits(app, "tidal") == "1"
    app.reset()  # another client: the replica, which has not got it
    assert _sru_hits(app, "tidal") == "0"


def test_reads_that_post_do_not_mark_the_client_a_writer(make_app, two_databases):
    app = make_app(["oai"], settings={"kohaweb.replica_urls": two_databases})
    response = app.post("/cgi-bin/koha/oai.pl", {"verb": "Identify"})
    assert "kohaweb_wrote" not in response.headers.get("Set-Cookie", "")


def test_an_unreachable_replica_is_passed_over(make_app, two_databases, tmp_path, caplog):
    backend = selected_backend()
    unreachable = {"sqlite": f"sqlite:///{tmp_path}",  # a directory: cannot be opened
                   "postgresql": "postgresql+psycopg://postgres@127.0.0.1:9/none",
                   "mariadb": "mysql+pymysql://root@127.0.0.1:9/none"}[backend]
    app = make_app(["sru"], settings={"kohaweb.replica_urls": f"{unreachable} {two_databases}"})
    with caplog.at_level(logging.WARNING, logger="kohaweb.replicas"):
        answers = {_sru_hits(app, "harbour") for _ in range(4)}
    assert answers == {"1"}  # always the reachable replica, never an error
    assert any("unreachable" in r.getMessage() for r in caplog.records)

    app = make_app(["sru"], settings={"kohaweb.replica_urls": unreachable})
    assert _sru_hits(app, "lighthouse") == "1"  # no replica left: the primary


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_lag_and_retry_decide_where_reads_go(engine):
    """The decision itself, with a stand-in probe and clock."""
    lags = {"value": 0.0}
    calls = []

    def probe(_connection):
        calls.append(1)
        if lags["value"] == "down":
            from sqlalchemy.exc import OperationalError

            raise OperationalError("SELECT 1", {}, Exception("connection refused"))
        return lags["value"]

    clock = Clock()
    primary = make_session_factory(engine)
    replica = Replica("same", engine)
    chooser = ReadReplicas(primary, [replica], max_lag=30, retry=60, lag_probe=probe, clock=clock)

    def where() -> str:  # the factory chosen for the next read session (same engine on both sides)
        return "replica" if chooser.factory() is replica.session_factory else "primary"

    assert where() == "replica"
    lags["value"] = 45.0
    assert where() == "replica"  # the last measurement is trusted for a few seconds
    clock.now += 6
    assert where() == "primary"  # measured again: too far behind
    lags["value"] = None
    clock.now += 6
    assert where() == "primary"  # unknown lag (replication stopped)
    lags["value"] = "down"
    clock.now += 6
    assert where() == "primary"
    probes = len(calls)
    lags["value"] = 0.0
    clock.now += 30
    assert where() == "primary" and len(calls) == probes  # left alone for replica_retry seconds
    clock.now += 31
    assert where() == "replica"


def test_the_lag_probe_runs_on_this_database(engine):
    """Against the real server functions: a primary (or SQLite) is never behind."""
    with engine.connect() as connection:
        assert replication_lag(connection) == 0.0
        if engine.dialect.name == "postgresql":
            assert connection.execute(text("SELECT pg_is_in_recovery()")).scalar() is False
