"""The search-backend seam: what the catalogue needs from a search index, and the core's own.

A backend indexes and removes records, answers searches, scans and sorts, and says whether it
can be trusted (:class:`SearchBackend`). The site uses the one named by
``kohaweb.search.backend`` among those offered through the ``register_search_backends`` hook;
``sql`` is the core's index (:class:`SqlSearchBackend`, the tables of kohaweb.search).

The backend is fed by the ``record_changed`` / ``record_deleted`` hooks (:class:`IndexFeeder`):

- a *transactional* backend (``transactional = True``, the SQL index) is written in the
  catalogue's own transaction, so a record is findable once committed and gone once deleted;
- any other backend (OpenSearch, Elasticsearch...) cannot join that transaction: the feeder
  writes one ``record_change_outbox`` row per change in it instead, and :func:`drain` (``kohaweb
  outbox drain``, from cron or a systemd timer, or ``--follow``) sends the changes on and deletes
  their rows once the backend has taken them. A change is thus never lost (the row commits with
  it) and never sent when rolled back; a backend sees it after a delay, and at least once.
  ``kohaweb.search.outbox = true`` also fills the outbox under the SQL index, for other
  consumers outside the database.

An OpenSearch plugin is one class and one hook (docs/DEVELOPING.md, "A search backend plugin").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from ..changes import RecordChange
from ..hookspecs import hookimpl
from ..models import Biblio, RecordChangeOutbox, utcnow
from .query_tree import Node
from .results import ScanTerm, SearchResult, SortKey

log = logging.getLogger(__name__)

DEFAULT = "sql"


@runtime_checkable
class SearchBackend(Protocol):
    """What the core and the services need from a search index.

    Records are named by ``biblionumber``; ``public=True`` leaves out the records the public may
    not see (``biblio.hidden_from_public``, kept by the data layer). Queries are trees of
    ``Clause`` / ``Boolean`` on the index names of ``kohaweb.search.INDEXES``; a query the backend
    cannot answer raises ``QueryError`` with its ``code``."""

    name: str
    transactional: bool  # True: index()/remove() run inside the catalogue's transaction

    def index(self, session: Session, change: RecordChange) -> None:
        """(Re)index one live record: ``change.biblio`` (its row, with ``hidden_from_public``),
        ``change.record()`` (MARC) and ``change.record_with_items()``."""

    def remove(self, session: Session, biblionumber: int) -> None:
        """Drop one record (deleted)."""

    def search(self, session: Session, query: Node, *, offset: int = 0, limit: int = 10,
               sort: tuple[SortKey, ...] = (), public: bool = True, rank: bool = False) -> SearchResult:
        """The number of matching records and the numbers of one page (``offset`` 0-based), in
        ``sort`` order, else relevance order when ``rank``, else record number order."""

    def scan(self, session: Session, index: str, term: str, *, position: int = 1, count: int = 20,
             public: bool = True) -> list[ScanTerm]:
        """Index terms around ``term`` (``position - 1`` before it) with their record counts."""

    def sort(self, session: Session, biblionumbers: Sequence[int], keys: tuple[SortKey, ...]) -> list[int]:
        """``biblionumbers`` in ``keys`` order (record number breaks ties)."""

    def is_ready(self, session: Session) -> bool:
        """False while the index cannot be trusted (a rebuild runs); services then refuse to search."""


class SqlSearchBackend:
    """The core's index in the catalogue's own database (kohaweb.search), written in the same
    transaction as each change."""

    name = DEFAULT
    transactional = True

    @classmethod
    def from_site(cls, site: Any = None) -> SqlSearchBackend:
        return cls()

    def index(self, session: Session, change: RecordChange) -> None:
        from . import index_record
        from .indexer import ITEM_COLUMNS

        if change.item_columns is not None and not change.visibility_changed and not change.item_columns & ITEM_COLUMNS:
            return  # an item column no index reads (a checkout's onloan, issues...): the entry is the same
        index_record(session, change.biblio, change.record)  # parsed only if written (indexer._Deferred)

    def remove(self, session: Session, biblionumber: int) -> None:
        from . import remove_record

        remove_record(session, biblionumber)

    def append_prepared(self, session: Session, blocks: dict) -> None:
        """Index rows made beforehand in worker processes (the import path, kohaweb.loading)."""
        from . import append_prepared

        append_prepared(session, blocks)

    def search(self, session: Session, query: Node, *, offset: int = 0, limit: int = 10,
               sort: tuple[SortKey, ...] = (), public: bool = True, rank: bool = False) -> SearchResult:
        from . import search

        return search(session, query, offset=offset, limit=limit, sort=sort, public=public, rank=rank)

    def scan(self, session: Session, index: str, term: str, *, position: int = 1, count: int = 20,
             public: bool = True) -> list[ScanTerm]:
        from . import scan

        return scan(session, index, term, position=position, count=count, public=public)

    def sort(self, session: Session, biblionumbers: Sequence[int], keys: tuple[SortKey, ...]) -> list[int]:
        import numpy as np

        from . import results
        from .query_tree import QueryError

        for key in keys:
            if key.index not in results.SORTABLE:
                raise QueryError("unsupported_sort", f"cannot sort by {key.index}", key.index)
        numbers = sorted(set(biblionumbers))
        if not keys or not numbers:
            return numbers
        hits = np.array(numbers, dtype=np.int64)
        return results._sorted_page(session, hits, keys, len(numbers))  # the search's own ordering

    def is_ready(self, session: Session) -> bool:
        from . import is_ready

        return is_ready(session)


class IndexFeeder:
    """The built-in plugin that keeps a site's search backend in step with the catalogue."""

    def __init__(self, backend: SearchBackend, outbox: bool = False):
        self.backend = backend
        self.outbox = outbox or not backend.transactional

    @hookimpl
    def record_changed(self, session: Session, change: RecordChange) -> None:
        if self.backend.transactional and not change.indexed:
            self.backend.index(session, change)
        if self.outbox:
            write_outbox(session, change.biblionumber, "changed")

    @hookimpl
    def record_deleted(self, session: Session, change: RecordChange) -> None:
        if self.backend.transactional:
            self.backend.remove(session, change.biblionumber)
        if self.outbox:
            write_outbox(session, change.biblionumber, "deleted")


def write_outbox(session: Session, biblionumber: int, action: str) -> None:
    session.add(RecordChangeOutbox(biblionumber=biblionumber, action=action, changed_at=utcnow()))


def drain(session_factory: Any, backend: SearchBackend, *, batch: int = 500) -> int:
    """Send one batch of outbox changes to ``backend`` and delete their rows, in one transaction;
    returns how many rows were taken (0: the outbox is empty). Each record is sent once per batch
    in its *current* state (indexed if it exists, removed otherwise), so the order of changes
    within a batch does not matter. Concurrent drainers skip each other's rows on PostgreSQL and
    MariaDB (``FOR UPDATE SKIP LOCKED``); on SQLite the write lock serialises them. When the
    backend raises, the transaction rolls back and the rows stay for the next attempt."""
    from ..db import transaction

    with transaction(session_factory) as session:
        query = select(RecordChangeOutbox.id, RecordChangeOutbox.biblionumber).order_by(
            RecordChangeOutbox.id).limit(batch)
        if session.get_bind().dialect.name != "sqlite":
            query = query.with_for_update(skip_locked=True)
        rows = session.execute(query).all()
        if not rows:
            return 0
        numbers = sorted({row.biblionumber for row in rows})
        live = {b.biblionumber: b for b in session.scalars(
            select(Biblio).options(selectinload(Biblio.metadata_row), selectinload(Biblio.items))
            .where(Biblio.biblionumber.in_(numbers)))}
        for number in numbers:
            if number in live:
                backend.index(session, RecordChange("updated", number, live[number]))
            else:
                backend.remove(session, number)
        session.execute(delete(RecordChangeOutbox).where(RecordChangeOutbox.id.in_([row.id for row in rows])))
        return len(rows)


def drain_all(session_factory: Any, backend: SearchBackend, *, batch: int = 500, follow: bool = False,
              interval: float = 2.0, progress: Any = None) -> int:
    """Drain until the outbox is empty (``follow``: for ever, waiting ``interval`` seconds when it
    is). Returns the number of rows taken."""
    total = 0
    while True:
        taken = drain(session_factory, backend, batch=batch)
        total += taken
        if progress is not None and taken:
            progress(taken)
        if not taken:
            if not follow:
                return total
            time.sleep(interval)


def pending(session: Session) -> int:
    from sqlalchemy import func

    return session.scalar(select(func.count()).select_from(RecordChangeOutbox)) or 0


# --- built-in registrations ----------------------------------------------------------------------

@hookimpl
def register_search_backends() -> dict[str, Any]:
    return {DEFAULT: SqlSearchBackend.from_site}


@hookimpl
def register_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser("outbox", help="the record-change outbox of search backends outside the database")
    actions = parser.add_subparsers(dest="outbox_action", metavar="ACTION")
    actions.required = True
    run = actions.add_parser("drain", help="send the changes waiting in the outbox to the site's search backend")
    run.add_argument("--batch-size", type=int, default=500, help="changes per transaction")
    run.add_argument("--follow", action="store_true", help="keep draining as changes arrive (a worker)")
    run.set_defaults(func=_run_drain)
    status = actions.add_parser("status", help="how many changes wait in the outbox")
    status.set_defaults(func=_run_status)


def _run_drain(args: Any, cli: Any) -> int:
    from ..cli import CommandError

    if args.batch_size < 1:
        raise CommandError("--batch-size must be positive")
    site = cli.site
    progress = cli.progress(None, "changes")
    try:
        taken = drain_all(site.session_factory, site.search, batch=args.batch_size, follow=args.follow,
                          progress=progress.update)
    except KeyboardInterrupt:
        progress.finish()
        raise
    cli.out.write(f"sent {taken} changes to the {site.search.name} backend\n")
    return 0


def _run_status(args: Any, cli: Any) -> int:
    with cli.transaction() as session:
        cli.out.write(f"backend: {cli.site.search.name}\nchanges waiting: {pending(session)}\n")
    return 0
