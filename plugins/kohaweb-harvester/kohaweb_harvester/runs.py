"""The run queue: one active run per source, enforced by the database, and runs whose process died.

A run is ``queued`` (asked for, by the REST API or ``kohaweb harvest run``), then ``running``
(claimed by one process: ``worker`` = host:pid, ``heartbeat`` renewed before every request and
after every page), then ``completed``, ``failed`` or ``interrupted``. While queued or running its
``active_source_id`` holds the source's id; that column is unique, so a second run of the same
source cannot be inserted however many requests arrive at once: the loser's insert fails and is
answered as "already active" (409), never as an IntegrityError.

A running run whose heartbeat is older than ``harvester.stale_after``, or whose process is gone
(same host, pid no longer alive), is marked failed by the next enqueue, claim or worker start.
"""

from __future__ import annotations

import datetime as dt
import os
import socket

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kohaweb.plugin_api import utcnow

from .models import HarvestRun, HarvestSource

ACTIVE = ("queued", "running")


class RunActive(Exception):
    """The source already has a queued or running run."""

    def __init__(self, source_id: int, run: HarvestRun | None):
        self.source_id = source_id
        self.run_id = run.id if run is not None else None
        self.status = run.status if run is not None else "running"
        super().__init__(f"source {source_id} already has a {self.status} run"
                         + (f" (run {self.run_id})" if self.run_id else ""))


def worker_id() -> str:
    """This process, as recorded on the runs it claims: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def process_gone(worker: str | None) -> bool:
    """Whether ``worker`` (host:pid) is a process of this host that no longer exists. A process on
    another host cannot be checked: its heartbeat decides."""
    host, _, pid = (worker or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by another user
        return False
    return False


def reap_stale(session: Session, stale_after: float, source_id: int | None = None) -> list[int]:
    """Mark failed the running runs (of one source, or all) whose process died; returns their ids."""
    query = select(HarvestRun).where(HarvestRun.status == "running")
    if source_id is not None:
        query = query.where(HarvestRun.source_id == source_id)
    limit = utcnow() - dt.timedelta(seconds=stale_after)
    reaped = []
    for run in session.scalars(query):
        beat = run.heartbeat or run.started
        if process_gone(run.worker):
            why = f"the process running it ({run.worker}) is gone"
        elif beat < limit:
            why = f"no heartbeat from {run.worker or 'its process'} since {beat.isoformat()}Z"
        else:
            continue
        # conditional, so that a run finishing at this moment keeps its own outcome
        same_beat = HarvestRun.heartbeat.is_(None) if run.heartbeat is None else HarvestRun.heartbeat == run.heartbeat
        done = session.execute(update(HarvestRun).where(HarvestRun.id == run.id, HarvestRun.status == "running",
                                                        same_beat)
                               .values(status="failed", finished=utcnow(), active_source_id=None,
                                       last_error=f"stale run marked failed: {why}")
                               .execution_options(synchronize_session=False))
        if done.rowcount:
            reaped.append(run.id)
    return reaped


def active_run(session: Session, source_id: int) -> HarvestRun | None:
    return session.scalar(select(HarvestRun).where(HarvestRun.active_source_id == source_id))


def enqueue(session: Session, source_id: int, stale_after: float) -> HarvestRun:
    """Queue a run of the source in the caller's transaction; raises :class:`RunActive` when
    the source has one queued or running (after stale runs were marked failed)."""
    reap_stale(session, stale_after, source_id)
    existing = active_run(session, source_id)
    if existing is not None:
        raise RunActive(source_id, existing)
    run = HarvestRun(source_id=source_id, status="queued", active_source_id=source_id)
    try:
        with session.begin_nested():  # the loser of a race rolls back to here, not the whole request
            session.add(run)
    except IntegrityError:
        raise RunActive(source_id, None) from None
    return run


def claim(session: Session, run_id: int, stale_after: float) -> bool:
    """Take a queued run for this process (running, worker, heartbeat). False when another
    process took it first, or it is no longer queued."""
    reap_stale(session, stale_after)
    now = utcnow()
    done = session.execute(update(HarvestRun).where(HarvestRun.id == run_id, HarvestRun.status == "queued")
                           .values(status="running", worker=worker_id(), started=now, heartbeat=now)
                           .execution_options(synchronize_session=False))
    return bool(done.rowcount)


def queued_runs(session: Session) -> list[int]:
    """Queued runs of enabled or disabled sources alike (asking for a run is an explicit request),
    oldest first."""
    return list(session.scalars(select(HarvestRun.id).join(HarvestSource, HarvestSource.id == HarvestRun.source_id)
                                .where(HarvestRun.status == "queued").order_by(HarvestRun.id)))
