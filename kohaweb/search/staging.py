"""A first catalogue's load on SQLite and MariaDB: posting rows staged, then moved in key order.

The postings' key is (namespace, term, block, segment). Written straight into
``search_postings``, each batch's rows land between those of every block before it, so a batch
rewrites pages all over the B-tree, and more of them as the index grows: an import of realistic
records on SQLite fell from about 1,300 to 500 records/s by 530,000 records (the pages written
per batch, not the cache, were the cost), and on MariaDB with its default buffer pool from 846 to
345 records/s by 700,000.

So ``kohaweb import`` into an empty catalogue on those databases writes its posting rows to
``search_postings_pending``, keyed (block, segment, namespace, term): every batch appends at
the end of that B-tree. When the load ends, one statement moves them into ``search_postings``
sorted by its key (the database's own sort, written front to back), in the same transaction
that marks the index ready. Everything else a batch writes (records, their terms, segments,
reversed terms) goes where it always goes, so the records' edits during the load write their
deltas as usual; compaction leaves a block alone while it has staged rows
(``writer.compact``).

While the load runs the index is marked as being rebuilt: searches are refused (there was
nothing to find before). An import that stops half-way leaves it so, with its batches' rows
staged; the next ``kohaweb import`` goes on staging and moves them all when it ends, and
``kohaweb index rebuild`` empties the staging table with the rest of the index. PostgreSQL
needs none of this: its rows go to a heap, only the key's index is written out of order, and its
import rate stays flat to 1M records.

On MariaDB a staged load holds a named lock (``GET_LOCK``) on a connection of its own until it
has moved the rows and emptied the table (``TRUNCATE``, which is not transactional there): an
import that starts meanwhile writes into ``search_postings`` directly. On SQLite the move and
the emptying are one transaction (one writer at a time), so two staged loads cannot interfere.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from . import state, tables

DIALECTS = frozenset({"sqlite", "mysql", "mariadb"})
LOCK_NAME = "kohaweb.search.staged_load"  # MariaDB's GET_LOCK name (one staged load at a time)
_COLUMNS = ("idx", "term", "block", "seg", "ndocs", "docs", "positions")


@contextlib.contextmanager
def staged_load(factory: sessionmaker[Session]) -> Iterator[bool]:
    """Whether this import stages its posting rows (see the module's docstring): it loads an
    empty catalogue on SQLite or MariaDB, or goes on with a staged load that stopped half-way.
    When it does, the index is marked as being rebuilt before the first batch; the caller calls
    ``finish`` once the last batch has committed, inside this context."""
    from ..db import transaction

    engine: Engine = factory.kw["bind"]
    if engine.dialect.name not in DIALECTS:
        yield False
        return
    with _named_lock(engine) as held:
        if not held:  # another staged load runs: this import writes into the postings directly
            yield False
            return
        with transaction(factory) as session:
            staged = _has_staged_rows(session)
            status = state.status(session)
        if staged and status != state.REBUILDING:
            _empty(engine)  # moved by a load that stopped before emptying the table
            staged = False
        if not staged:
            from ..models import Biblio

            with transaction(factory) as session:
                staged = session.execute(select(Biblio.biblionumber).limit(1)).first() is None
                if staged:  # an empty catalogue
                    state.set_status(session, state.REBUILDING)
        yield staged


def finish(factory: sessionmaker[Session]) -> int:
    """Move the staged rows into ``search_postings`` in its key order and mark the index ready,
    in one transaction; then empty the staging table. Returns the rows moved."""
    from ..db import transaction

    p, q = tables.postings, tables.pending
    engine: Engine = factory.kw["bind"]
    with transaction(factory) as session:
        moved = session.execute(insert(p).from_select(
            _COLUMNS, select(*(q.c[name] for name in _COLUMNS)).order_by(q.c.idx, q.c.term, q.c.block, q.c.seg)))
        if engine.dialect.name == "sqlite":
            session.execute(q.delete())  # all rows: SQLite drops the B-tree's pages at once
        state.set_status(session, state.READY)
    if engine.dialect.name != "sqlite":
        _empty(engine)
    return max(moved.rowcount or 0, 0)


def _has_staged_rows(session: Session) -> bool:
    q = tables.pending
    return session.execute(select(q.c.block).limit(1)).first() is not None


def _empty(engine: Engine) -> None:
    """The staging table emptied (on MariaDB by TRUNCATE: a DELETE of millions of rows would take
    minutes and fill the undo log)."""
    q = tables.pending
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(q.delete())
        else:
            conn.exec_driver_sql(f"TRUNCATE TABLE {q.name}")


@contextlib.contextmanager
def _named_lock(engine: Engine) -> Iterator[bool]:
    """MariaDB: whether this process got the staged load's named lock, held on a connection of
    its own until the context ends (the server releases it if the process dies). Elsewhere
    always True."""
    if engine.dialect.name == "sqlite":
        yield True
        return
    conn: Connection = engine.connect()
    try:
        held = conn.exec_driver_sql(f"SELECT GET_LOCK('{LOCK_NAME}', 0)").scalar() == 1
        conn.commit()
        try:
            yield held
        finally:
            if held:
                conn.exec_driver_sql(f"SELECT RELEASE_LOCK('{LOCK_NAME}')")
                conn.commit()
    finally:
        conn.close()
