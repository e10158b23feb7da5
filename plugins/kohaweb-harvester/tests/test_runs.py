"""The run queue: one active run per source (database-enforced), stale runs marked failed, the
REST API queues and the worker (or a thread, with harvester.run_in_web) executes."""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest
from hostile import wait_until
from kohaweb_harvester import runs
from kohaweb_harvester.models import HarvestRun
from kohaweb_harvester.runner import Harvester
from kohaweb_harvester.runs import RunActive, enqueue
from kohaweb_harvester.sources import add_source
from kohaweb_harvester.transport import Transport
from oai_fixture import FixtureRecord, FixtureRepository, stamp
from sqlalchemy import select
from test_harvest import marc_payload

from kohaweb.db import transaction
from kohaweb.models import utcnow
from kohaweb.testing import TEST_SECRET, basic_auth, serve


@pytest.fixture
def repository():
    return FixtureRepository(records=[FixtureRecord(f"oai:q:{n}", stamp(n), marc_payload(n)) for n in range(1, 4)])


def make_source(dbsession, url: str, name: str = "q") -> int:
    source = add_source(dbsession, name, url)
    dbsession.commit()
    return source.id


def all_runs(session) -> list[HarvestRun]:
    session.rollback()
    return list(session.scalars(select(HarvestRun).order_by(HarvestRun.id)))


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_three_simultaneous_enqueues_give_one_run(dbsession, session_factory):
    source_id = make_source(dbsession, "http://127.0.0.1:9/oai")
    barrier = threading.Barrier(3)
    outcomes: list[str] = []

    def start() -> None:
        barrier.wait()
        try:
            with transaction(session_factory) as session:
                enqueue(session, source_id, 900)
            outcomes.append("queued")
        except RunActive:
            outcomes.append("active")
        except Exception as exc:  # noqa: BLE001  (what the test is about: nothing else may happen)
            outcomes.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["active", "active", "queued"]
    assert [r.status for r in all_runs(dbsession)] == ["queued"]


def test_the_database_refuses_a_second_active_run(dbsession, session_factory, monkeypatch):
    """Even when the check before the insert misses (a race), the unique marker refuses it."""
    source_id = make_source(dbsession, "http://127.0.0.1:9/oai")
    with transaction(session_factory) as session:
        first = enqueue(session, source_id, 900).id
    monkeypatch.setattr(runs, "active_run", lambda session, source_id: None)
    with pytest.raises(RunActive), transaction(session_factory) as session:
        enqueue(session, source_id, 900)
    assert [r.id for r in all_runs(dbsession)] == [first]


@pytest.mark.parametrize("worker, beat_age, why", [
    ("elsewhere.example:4242", 7200, "no heartbeat from elsewhere.example:4242"),
    (None, 0, "is gone"),  # this host, a pid that no longer exists
])
def test_a_stale_running_run_is_marked_failed_by_the_next_run(worker, beat_age, why, repository, dbsession,
                                                              session_factory, reference_data):
    worker = worker or f"{socket.gethostname()}:{dead_pid()}"
    with serve(repository) as url:
        source_id = make_source(dbsession, url + "/oai")
        dbsession.add(HarvestRun(source_id=source_id, status="running", active_source_id=source_id, worker=worker,
                                 heartbeat=utcnow() - dt.timedelta(seconds=beat_age)))
        dbsession.commit()
        run = Harvester(session_factory).run(source_id)
    assert (run.status, run.added) == ("completed", 3)
    stale, fresh = all_runs(dbsession)
    assert stale.status == "failed" and why in stale.last_error and stale.active_source_id is None
    assert stale.finished is not None and fresh.id == run.id


def test_a_live_run_elsewhere_is_not_touched(dbsession, session_factory):
    source_id = make_source(dbsession, "http://127.0.0.1:9/oai")
    dbsession.add(HarvestRun(source_id=source_id, status="running", active_source_id=source_id,
                             worker="elsewhere.example:4242", heartbeat=utcnow()))
    dbsession.commit()
    with pytest.raises(RunActive) as raised:
        Harvester(session_factory).run(source_id)
    assert raised.value.status == "running"
    assert [r.status for r in all_runs(dbsession)] == ["running"]


def test_a_run_marked_failed_meanwhile_stops_without_writing(repository, dbsession, session_factory,
                                                             reference_data):
    """A process that was taken for dead (and replaced) must not go on harvesting."""
    repository.page_size = 1

    class ReapedAfterOnePage(Transport):
        def request(self, base_url, params):
            if params.get("resumptionToken") == "1":
                with transaction(session_factory) as session:
                    run = session.scalars(select(HarvestRun)).one()
                    run.status, run.active_source_id, run.last_error = "failed", None, "stale run marked failed"
            return super().request(base_url, params)

    with serve(repository) as url:
        source_id = make_source(dbsession, url + "/oai")
        run = Harvester(session_factory, transport=ReapedAfterOnePage()).run(source_id)
    assert (run.status, run.last_error) == ("failed", "stale run marked failed")
    assert run.added == 1, "the page fetched after the takeover was not stored"


# --- REST API and worker -------------------------------------------------------------------------

def post(url: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, method="POST", headers=headers, data=b"")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_simultaneous_run_requests_give_one_run_and_409s(repository, live_server, staff_user, dbsession):
    admin = basic_auth(*staff_user("admin", "parameters")[:2])
    source_id = make_source(dbsession, "http://127.0.0.1:9/oai")
    with live_server(services=["harvester"], **{"kohaweb.auth.basic": "true"}) as base:
        url = f"{base}/api/v1/harvest/sources/{source_id}/runs"
        barrier = threading.Barrier(3)
        statuses: list[int] = []

        def start() -> None:
            barrier.wait()
            statuses.append(post(url, admin))

        threads = [threading.Thread(target=start) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(statuses) == [202, 409, 409]
    assert [r.status for r in all_runs(dbsession)] == ["queued"], "queued: no worker, no thread"


@pytest.fixture
def cli(tmp_path, database_url, clean_db, capsys):
    ini = tmp_path / "harvest.ini"
    ini.write_text(f"[app:main]\nuse = egg:kohaweb\nkohaweb.services = harvester\n"
                   f"kohaweb.database_url = {database_url}\nkohaweb.secret = {TEST_SECRET}\n")

    def run(*args: str) -> tuple[int, str]:
        from kohaweb.cli import main

        status = main(["-c", str(ini), *args])
        return status, capsys.readouterr().out

    return run


def test_the_api_queues_and_the_worker_runs(repository, make_app, staff_user, dbsession, cli, reference_data):
    app = make_app(services=["harvester"], **{"kohaweb.auth.basic": "true"})
    admin = basic_auth(*staff_user("admin", "parameters")[:2])
    with serve(repository) as url:
        source_id = make_source(dbsession, url + "/oai")
        runs_url = f"/api/v1/harvest/sources/{source_id}/runs"
        queued = app.post(runs_url, headers=admin, status=202).json
        assert queued["status"] == "queued" and queued["source_id"] == source_id
        busy = app.post(runs_url, headers=admin, status=409).json
        assert (busy["error_code"], busy["run_id"]) == ("run_active", queued["run_id"])
        status, out = cli("harvest", "worker", "--once")
        assert status == 0 and f"run {queued['run_id']} completed: 3 added" in out
        done = app.get(runs_url, headers=admin).json[0]
        assert (done["status"], done["added"], done["heartbeat"] is not None) == ("completed", 3, True)
        app.post(runs_url, headers=admin, status=202)  # finished: a new run may be queued
        status, out = cli("harvest", "run", "q")  # cron: runs the queued run itself
        assert status == 0 and "completed: 0 added, 0 updated" in out  # incremental: nothing new
    assert [r.status for r in all_runs(dbsession)] == ["completed", "completed"]


def test_the_worker_marks_runs_left_running_failed(cli, dbsession):
    source_id = make_source(dbsession, "http://127.0.0.1:9/oai")
    worker = f"{socket.gethostname()}:{dead_pid()}"
    dbsession.add(HarvestRun(source_id=source_id, status="running", active_source_id=source_id, worker=worker,
                             heartbeat=utcnow()))
    dbsession.commit()
    status, out = cli("harvest", "worker", "--once")
    assert status == 0 and "left running by a process that is gone: marked failed" in out
    assert [r.status for r in all_runs(dbsession)] == ["failed"]


def test_run_in_web_runs_in_a_thread(repository, make_app, staff_user, dbsession):
    app = make_app(services=["harvester"], **{"kohaweb.auth.basic": "true", "harvester.run_in_web": "true"})
    admin = basic_auth(*staff_user("admin", "parameters")[:2])
    with serve(repository) as url:
        source_id = make_source(dbsession, url + "/oai")
        runs_url = f"/api/v1/harvest/sources/{source_id}/runs"
        app.post(runs_url, headers=admin, status=202)
        finished = wait_until(lambda: app.get(runs_url, headers=admin).json[0]["status"] not in ("queued", "running"))
    last = app.get(runs_url, headers=admin).json[0]
    assert finished and (last["status"], last["added"]) == ("completed", 3), json.dumps(last)


def test_run_in_web_starts_only_the_run_of_the_committed_attempt(make_app, staff_user, dbsession, monkeypatch):
    """A request whose commit meets a lock conflict is run again by pyramid_retry: the run the
    thrown-away attempt queued is rolled back and never started; the committed one starts once."""
    from kohaweb_harvester import api
    from pyramid_retry import mark_error_retryable
    from sqlalchemy import event

    started: list[int] = []
    monkeypatch.setattr(api, "_run_in_thread", lambda site, run_id: started.append(run_id))
    queued: list[int] = []
    real_enqueue = api.enqueue

    def enqueue_then_fail_the_first_commit(session, source_id, stale_after):
        run = real_enqueue(session, source_id, stale_after)
        queued.append(run.id)
        if len(queued) == 1:
            def conflict(_session) -> None:
                error = RuntimeError("lock conflict at commit (simulated)")
                mark_error_retryable(error)
                raise error

            event.listen(session, "before_commit", conflict, once=True)
        return run

    monkeypatch.setattr(api, "enqueue", enqueue_then_fail_the_first_commit)
    app = make_app(services=["harvester"], **{"kohaweb.auth.basic": "true", "harvester.run_in_web": "true"})
    admin = basic_auth(*staff_user("admin", "parameters")[:2])
    source_id = make_source(dbsession, "http://127.0.0.1:9/oai")
    answer = app.post(f"/api/v1/harvest/sources/{source_id}/runs", headers=admin, status=202).json
    assert len(queued) == 2  # the request ran twice
    assert [(r.id, r.status) for r in all_runs(dbsession)] == [(answer["run_id"], "queued")]
    assert started == [answer["run_id"]]
