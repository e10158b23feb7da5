"""A first catalogue's load on SQLite: posting rows staged, then moved in key order.

The postings' key is (namespace, term, block, segment). Written straight into
``search_postings``, each batch's rows land between those of every block before it, so a batch
rewrites pages all over the B-tree, and more of them as the index grows: an import of realistic
records on SQLite fell from about 1,300 to 500 records/s by 530,000 records (the pages written
per batch, not the cache, were the cost).

So ``kohaweb import`` into an empty catalogue on SQLite writes its posting rows to
``search_postings_pending``, keyed (block, segment, namespace, term): every batch appends at
the end of that B-tree. When the load ends, one statement moves them into ``search_postings``
sorted by its key (the database's own sort, written front to back), in the same transaction
that marks the index ready. Everything else a batch writes (records, their terms, segments,
reversed terms) goes where it always goes, so the records' edits during the load write their
deltas as usual; compaction leaves a block alone while it has staged rows
(``compaction.compact``).

While the load runs the index is marked as being rebuilt: searches are refused (there was
nothing to find before). An import that stops half-way leaves it so, with its batches' rows
staged; the next ``kohaweb import`` goes on staging and moves them all when it ends, and
``kohaweb index rebuild`` empties the staging table with the rest of the index. The move and
the emptying are one transaction (SQLite has one writer at a time), so two loads cannot lose
each other's rows.

PostgreSQL needs none of this: its rows go to a heap, only the key's index is written out of
order, and its import rate stays flat to 1M records. MariaDB would (a first load there slows as
the postings outgrow the buffer pool), but its sort of the moved rows does not fit: it writes
fixed-width sort keys (760 bytes for a term of 190 characters), and for 53M rows at 1M records
it filled the 75 GB free on this machine's disk. A staged load there would need the rows moved
a namespace at a time, or the postings' key changed.
"""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from . import state, tables

DIALECTS = frozenset({"sqlite"})
_COLUMNS = ("idx", "term", "block", "seg", "ndocs", "docs", "positions")


def begin(factory: sessionmaker[Session]) -> bool:
    """Whether this import stages its posting rows (see the module's docstring): it loads an
    empty catalogue on SQLite, or goes on with a staged load that stopped half-way. When it
    does, the index is marked as being rebuilt before the first batch; the caller calls
    ``finish`` once the last batch has committed."""
    from ..db import transaction

    engine: Engine = factory.kw["bind"]
    if engine.dialect.name not in DIALECTS:
        return False
    from ..models import Biblio

    with transaction(factory) as session:
        # rows already staged: a load that stopped half-way, which this import goes on with
        staged = session.execute(select(tables.pending.c.block).limit(1)).first() is not None or \
            session.execute(select(Biblio.biblionumber).limit(1)).first() is None
        if staged:
            state.set_status(session, state.REBUILDING)
    return staged


def finish(factory: sessionmaker[Session]) -> int:
    """Move the staged rows into ``search_postings`` in its key order and mark the index ready,
    emptying the staging table, in one transaction. Returns the rows moved."""
    from ..db import transaction

    p, q = tables.postings, tables.pending
    with transaction(factory) as session:
        moved = session.execute(insert(p).from_select(
            _COLUMNS, select(*(q.c[name] for name in _COLUMNS)).order_by(q.c.idx, q.c.term, q.c.block, q.c.seg)))
        session.execute(q.delete())  # all rows: SQLite drops the B-tree's pages at once
        state.set_status(session, state.READY)
    return max(moved.rowcount or 0, 0)
