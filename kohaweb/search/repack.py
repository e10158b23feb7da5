"""Repacking the postings' B-tree (and the reversed-term list's) after a bulk load.

A block's posting rows are written in key order, but the key is (namespace, term, block,
segment): each block's rows land between those of the blocks before it, so all through a load
the B-tree's pages split in the middle and end about two-thirds full. Built again in one pass
they are as full as a new B-tree (90 % on PostgreSQL). Measured on 100k realistic records on
PostgreSQL: the postings' key 389 -> 291 MB (the whole index 1,115 -> 1,011 MB), in 4 s;
on MariaDB, where the rows live in the key's B-tree, 967 -> 656 MB in 5 s. The list of reversed
terms (kohaweb.search.vocabulary) fills the same way, batch after batch: 32 -> 25 MB.

Nothing depends on it for correctness; ``kohaweb import`` repacks after a run that has at least
doubled the index (a first load above all), ``kohaweb index rebuild`` after every rebuild, and
``kohaweb index repack`` on demand. Searches and writes go on meanwhile:

- PostgreSQL: ``REINDEX INDEX CONCURRENTLY`` (it builds the new B-tree beside the old one; an
  interrupted run leaves an invalid copy, which the next run drops first), after a ``VACUUM
  (ANALYZE)`` of the tables a load fills (``VACUUMED``). On a server without autovacuum nothing
  else would: the first searches after a load would each set the hint bits of the pages they
  read (writing them back), rows left dead by edits and compaction would stay, and the planner
  would know nothing of the tables. It takes about a second per 100k records and, like the
  reindex, lets searches and writes go on;
- MariaDB: ``ALTER TABLE ... FORCE``, which InnoDB runs in place without locking out writers
  (the postings' rows live in their key's B-tree there, so the table is rebuilt);
- SQLite: nothing. Its B-tree pages are rebalanced with their neighbours rather than split in
  half, and after the same load they are 83 % full (100k realistic records: 558 MB in all); the
  only way to repack is VACUUM, which locks out every other writer for the whole file.
"""

from __future__ import annotations

import contextlib
import logging
import time

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from . import tables

log = logging.getLogger(__name__)

# the tables repacked, with their primary keys (migrations 0012, 0022)
KEYS = {tables.postings.name: "pk_search_postings", tables.reversed_terms.name: "pk_search_reversed_terms"}
# what a load fills (the index and the records it stores), vacuumed on PostgreSQL (see above)
VACUUMED = tuple(table.name for table in tables.ALL) + ("biblio", "biblio_metadata", "items")


WAIT = 60  # seconds the repack waits for other transactions on the table before it gives up


class RepackError(Exception):
    """The repack could not run (other transactions held the table longer than ``WAIT``); the
    index is as it was, and the next repack finishes the job."""


def repack(engine: Engine, wait: float = WAIT, *, postings: bool = True) -> float:
    """Rebuild the postings' B-tree compactly, with searches and writes going on; returns the
    seconds it took (0 where the database needs nothing). Raises RepackError when transactions
    that began before it still run after ``wait`` seconds (it needs them to end). ``postings``
    False leaves the postings' key alone (built after the load that filled it,
    kohaweb.search.staging); a key that a staged load has not built yet is left alone too."""
    from .staging import has_key

    started = time.monotonic()
    dialect = engine.dialect.name
    try:
        if dialect == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text(f"SET lock_timeout = {int(wait * 1000)}"))
                conn.execute(text(f"VACUUM (ANALYZE) {', '.join(VACUUMED)}"))
                for table, key in KEYS.items():
                    if table == tables.postings.name and not (postings and has_key(conn)):
                        continue
                    _drop_unfinished_copies(conn, table)
                    try:
                        conn.execute(text(f"REINDEX INDEX CONCURRENTLY {key}"))
                    except DBAPIError:
                        with contextlib.suppress(DBAPIError):  # held off too: the next repack drops it
                            _drop_unfinished_copies(conn, table)
                        raise
        elif dialect in ("mysql", "mariadb"):
            with engine.connect() as conn:
                conn.execute(text(f"SET SESSION lock_wait_timeout = {max(int(wait), 1)}"))
                try:
                    for table in KEYS:
                        if table == tables.postings.name and not (postings and has_key(conn)):
                            continue
                        conn.execute(text(f"ALTER TABLE {table} FORCE, ALGORITHM=INPLACE, LOCK=NONE"))
                finally:  # the connection goes back to the pool
                    conn.execute(text("SET SESSION lock_wait_timeout = DEFAULT"))
        else:
            return 0.0
    except DBAPIError as exc:
        raise RepackError(f"the search index was not repacked: {exc.orig}") from None
    seconds = time.monotonic() - started
    log.info("search index repacked in %.1f s", seconds)
    return seconds


def _drop_unfinished_copies(conn, table: str) -> None:
    """An interrupted REINDEX CONCURRENTLY leaves its new copy behind, invalid (never read, but
    written by every insert): drop it (this too waits for the transactions using the table)."""
    leftovers = conn.execute(text(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = CAST(:table AS regclass) AND NOT i.indisvalid"), {"table": table})
    for (name,) in list(leftovers):
        conn.execute(text(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"'))
