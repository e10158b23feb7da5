"""Compaction after the write that made it due, off that write's path.

A write that gives a block its ``writer.COMPACT_AFTER``-th delta segment makes the block due for
compaction (kohaweb.search.compaction). Folded by the committing session before it returned,
as it was, the fold landed on that one write: in an edit bench at 100k records on PostgreSQL,
15 folds in 930 writes took 11–318 ms each, and the record deletions, which came last, had a
p95 of 176–235 ms (64–74 ms with the folds in the background; the edits' p95 stayed 20–26 ms).

On PostgreSQL and MariaDB the blocks go to a thread of the process (``submit``) that folds them
one at a time, while the writer goes on, holding each block only to list its segments and to
swap the folded rows in (``compaction.compact_in_steps``). Nothing waits for it:
the deltas stay correct, and a search reads them until they are folded. The thread runs while
there is work and ends when there is none (the interpreter waits for a fold under way before it
exits, so a command's last fold is not cut short). On SQLite the committing session folds the
blocks itself, as before: SQLite has one writer at a time, so a fold beside the next write would
only make that write wait.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from . import compaction

log = logging.getLogger(__name__)


def compact_blocks(engine: Engine, blocks: Iterable[int]) -> None:
    """Fold each block's deltas (on PostgreSQL and MariaDB in steps, holding the block only for
    moments: ``compaction.compact_in_steps``; on SQLite in one transaction); a block another writer
    holds, or that fails, is left for a later fold (compaction is an optimisation: the deltas stay
    correct)."""
    for block in sorted(blocks):
        try:
            if engine.dialect.name != "sqlite":
                compaction.compact_in_steps(engine, block)
                continue
            with Session(engine) as other, other.begin():
                other.execute(text("PRAGMA busy_timeout = 100"))  # another writer (even of this thread) may hold the lock
                try:
                    compaction.compact(other, block)
                finally:
                    other.execute(text("PRAGMA busy_timeout = 30000"))
        except Exception:  # noqa: BLE001
            log.warning("compaction of search block %s deferred", block, exc_info=True)


class Compactor:
    """Blocks due for compaction, folded by a thread of their own in the order they came (a
    block already waiting is not queued twice)."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._due: dict[tuple[int, int], tuple[Engine, int]] = {}
        self._thread: threading.Thread | None = None

    def submit(self, engine: Engine, blocks: Iterable[int]) -> None:
        """Fold these blocks of ``engine``'s database soon, in the background."""
        if self._pid != os.getpid():  # a forked process: the parent's queue and thread are not its own
            self._reset()
        with self._lock:
            for block in sorted(blocks):
                self._due.setdefault((id(engine), block), (engine, block))
            if self._thread is None and self._due:
                # not a daemon: an exiting interpreter lets the fold under way (and those queued)
                # end rather than cut a transaction short
                self._thread = threading.Thread(target=self._run, name="kohaweb-compactor")
                self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every submitted block is folded (or deferred); False if ``timeout`` came first."""
        if self._pid != os.getpid():
            return True
        with self._lock:
            return self._idle.wait_for(lambda: self._thread is None, timeout)

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._due:
                    self._thread = None
                    self._idle.notify_all()
                    return
                engine, block = self._due.pop(next(iter(self._due)))
            compact_blocks(engine, [block])


compactor = Compactor()  # this process's


def compact_after_commit(engine: Engine, blocks: Iterable[int]) -> None:
    """What a session does with the blocks its writes made due, once its transaction has ended."""
    if engine.dialect.name == "sqlite":
        compact_blocks(engine, blocks)
    else:
        compactor.submit(engine, blocks)


def wait_for_compaction(timeout: float | None = None) -> bool:
    """Wait until the blocks this process made due are folded (tests, and ``testing``'s clean-up
    before it empties or drops a database). False if ``timeout`` came first."""
    return compactor.wait(timeout)
