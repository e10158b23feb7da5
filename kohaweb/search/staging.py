"""A first catalogue's load: posting rows written where their key costs least, put in key order
when the load ends.

The postings' key is (namespace, term, block, segment). Written straight into
``search_postings``, each batch's rows land between those of every block before it, so a batch
rewrites pages all over the key's B-tree, and more of them as the index grows. A first load
(``kohaweb import`` into an empty catalogue, or one that goes on with such a load that stopped
half-way) avoids that on every database:

- **SQLite** (``PENDING``): the rows go to ``search_postings_pending``, keyed (block, segment,
  namespace, term), so every batch appends at the end of that B-tree; when the load ends, one
  statement moves them into ``search_postings`` sorted by its key (the database's own sort,
  written front to back), in the same transaction that marks the index ready. Without it an
  import of realistic records fell from about 1,300 to 500 records/s by 530,000 records (the
  pages written per batch, not the cache, were the cost).
- **PostgreSQL and MariaDB** (``KEY_AFTER``): the rows go to ``search_postings`` itself, but
  its primary key is dropped for the load and built once at the end, by one sort. PostgreSQL
  appends them to the table's heap; InnoDB, whose rows live in the key's B-tree, appends them
  to a B-tree on a row number of its own while the key is gone, and the final ALTER rebuilds
  the table in key order with its own merge sort (not the server's ORDER BY, whose fixed-width
  sort keys of 760 bytes per term filled 75 GB of disk for the 53M rows of 1M records).
  - PostgreSQL's DDL is transactional: the key is built in the transaction that marks the
    index ready (killed during the build, the load is just not finished yet). MariaDB's ALTERs
    commit by themselves, so a marker row in the staging table says that the load is
    unfinished until the index is marked ready.
  - Kept during the load, the key cost PostgreSQL's server 14 of its 48 s of CPU per 100k
    realistic records, then a concurrent reindex (the B-tree ended two-thirds full); with
    MariaDB's default 128 MB buffer pool each block's rows rewrote pages all over the table,
    and the import slowed from 846 to 345 records/s by 700,000 records.
  - Only for loads of at least ``KEY_AFTER_RECORDS`` records: dropping and building the key
    lock the table for a moment (PostgreSQL holds it for the whole build: edits made
    meanwhile wait; searches are refused anyway), which a small load does not repay.
    ``kohaweb index rebuild`` does the same for a catalogue of that size.

Everything else a batch writes (records, their terms, segments, reversed terms) goes where it
always goes, so the records' edits during the load write their deltas as usual; compaction
leaves a block alone while the load is unfinished (``unfinished``).

While the load runs the index is marked as being rebuilt: searches are refused (there was
nothing to find before). An import that stops half-way leaves it so; the next ``kohaweb
import`` goes on staging and finishes it when it ends, and ``kohaweb index rebuild`` starts the
index afresh (building the key at its end). The SQLite move and the emptying are one
transaction (one writer at a time), so two loads cannot lose each other's rows.
"""

from __future__ import annotations

import logging

from sqlalchemy import insert, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from . import state, tables

log = logging.getLogger(__name__)

PENDING = frozenset({"sqlite"})  # rows staged in search_postings_pending, moved at the end
KEY_AFTER = frozenset({"postgresql", "mysql", "mariadb"})  # rows in search_postings, its key built at the end
DIALECTS = PENDING | KEY_AFTER
_TRANSACTIONAL_DDL = frozenset({"postgresql"})  # MariaDB commits before and after every ALTER
KEY_AFTER_RECORDS = 20_000  # the smallest load for which the key is built afterwards
KEY = "pk_search_postings"  # the postings' primary key (migration 0010's name; MariaDB's PRIMARY)
DROP_WAIT_MS = 5_000  # how long dropping the key waits for the table's readers before giving up
BUILD_MEMORY = "256MB"  # PostgreSQL's maintenance_work_mem for the key's build: fewer sort passes
_COLUMNS = ("idx", "term", "block", "seg", "ndocs", "docs", "positions")
# what the import says while a staged load is finished
FINISHING = {"sqlite": "moving the load's postings into place", "postgresql": "building the postings' key",
             "mysql": "building the postings' key", "mariadb": "building the postings' key"}
# MariaDB: the staging table holds this row while a load whose key is built afterwards has not
# ended (its ALTERs commit by themselves, so the key and the status cannot change together)
_MARKER = {"block": -1, "seg": -1, "idx": "", "term": "", "ndocs": 0, "docs": b"", "positions": None}


def begin(factory: sessionmaker[Session], records: int = 0) -> bool:
    """Whether this import stages its posting rows (see the module's docstring): it loads an
    empty catalogue (on PostgreSQL and MariaDB at least ``KEY_AFTER_RECORDS`` of them,
    ``records`` being the count expected), or goes on with a staged load that stopped half-way.
    When it does, the index is marked as being rebuilt before the first batch; the caller calls
    ``finish`` once the last batch has committed."""
    from ..db import transaction

    engine: Engine = factory.kw["bind"]
    dialect = engine.dialect.name
    if dialect not in DIALECTS:
        return False
    from ..models import Biblio

    with transaction(factory) as session:
        empty = session.execute(select(Biblio.biblionumber).limit(1)).first() is None
        conn = session.connection()
        if dialect in PENDING:
            # rows already staged: a load that stopped half-way, which this import goes on with
            staged = empty or session.execute(select(tables.pending.c.block).limit(1)).first() is not None
        else:
            staged = _marked(conn) or not has_key(conn) or (empty and records >= KEY_AFTER_RECORDS)
        if not staged:
            return False
        if dialect in _TRANSACTIONAL_DDL:
            if not drop_key(conn):
                return False
        elif dialect in KEY_AFTER and not _marked(conn):
            conn.execute(insert(tables.pending).values(**_MARKER))
        was = state.status(session)
        state.set_status(session, state.REBUILDING)
    if dialect in KEY_AFTER and dialect not in _TRANSACTIONAL_DDL and not _apart(engine, drop_key):
        with transaction(factory) as session:  # the load writes through the key after all
            session.execute(tables.pending.delete().where(tables.pending.c.block == _MARKER["block"]))
            state.set_status(session, was)
        return False
    return True


def finish(factory: sessionmaker[Session]) -> int:
    """End a staged load: on SQLite move the staged rows into ``search_postings`` in its key
    order, emptying the staging table; on PostgreSQL and MariaDB build the postings' key. Marks
    the index ready in the same transaction (on MariaDB in the next). Returns the rows moved
    (none where they are in place already)."""
    from ..db import transaction

    engine: Engine = factory.kw["bind"]
    p, q = tables.postings, tables.pending
    if engine.dialect.name in KEY_AFTER and engine.dialect.name not in _TRANSACTIONAL_DDL:
        _apart(engine, build_key)
    with transaction(factory) as session:
        moved = 0
        if session.get_bind().dialect.name in PENDING:
            result = session.execute(insert(p).from_select(
                _COLUMNS, select(*(q.c[name] for name in _COLUMNS)).order_by(q.c.idx, q.c.term, q.c.block, q.c.seg)))
            moved = max(result.rowcount or 0, 0)
            session.execute(q.delete())  # all rows: SQLite drops the B-tree's pages at once
        elif session.get_bind().dialect.name in _TRANSACTIONAL_DDL:
            build_key(session.connection())
        else:
            session.execute(q.delete().where(q.c.block == _MARKER["block"]))
        state.set_status(session, state.READY)
    return moved


def unfinished(session: Session, block: int) -> bool:
    """Whether a staged load has not ended yet for this block: compaction leaves it alone (on
    SQLite an edit's deltas folded into a merged row would sort before the staged rows; where
    the key is built afterwards compaction's reads would find no key)."""
    dialect = session.get_bind().dialect.name
    if dialect in PENDING:
        q = tables.pending
        return session.execute(select(q.c.block).where(q.c.block == block).limit(1)).first() is not None
    if dialect in KEY_AFTER:
        return not has_key(session.connection())
    return False


def has_key(conn: Connection) -> bool:
    """Whether ``search_postings`` has its primary key (always on SQLite)."""
    dialect = conn.dialect.name
    if dialect not in KEY_AFTER:
        return True
    if dialect in _TRANSACTIONAL_DDL:
        return conn.execute(text("SELECT 1 FROM pg_constraint WHERE conname = :key "
                                 "AND conrelid = to_regclass(:table)"),
                            {"key": KEY, "table": tables.postings.name}).first() is not None
    return conn.execute(text("SELECT 1 FROM information_schema.statistics WHERE table_schema = DATABASE() "
                             "AND table_name = :table AND index_name = 'PRIMARY' LIMIT 1"),
                        {"table": tables.postings.name}).first() is not None


def drop_key(conn: Connection) -> bool:
    """Drop the postings' key for a bulk load: on PostgreSQL in the caller's transaction, on
    MariaDB by an ALTER that commits (``conn`` then holds no transaction of the caller's). Gives
    up (False, the key kept) when the table's readers hold it longer than ``DROP_WAIT_MS``: the
    load then writes through the key, as any other."""
    if conn.dialect.name not in KEY_AFTER or not has_key(conn):
        return True
    table = tables.postings.name
    try:
        if conn.dialect.name in _TRANSACTIONAL_DDL:
            with conn.begin_nested():
                conn.execute(text(f"SET LOCAL lock_timeout = {DROP_WAIT_MS}"))
                conn.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT {KEY}"))
                conn.execute(text("SET LOCAL lock_timeout = 0"))
        else:
            conn.execute(text(f"SET SESSION lock_wait_timeout = {max(DROP_WAIT_MS // 1000, 1)}"))
            try:
                conn.execute(text(f"ALTER TABLE {table} DROP PRIMARY KEY"))
            finally:
                conn.execute(text("SET SESSION lock_wait_timeout = DEFAULT"))
    except DBAPIError as exc:
        log.warning("search index: the load writes through the postings' key (%s)", exc.orig)
        return False
    return True


def build_key(conn: Connection) -> bool:
    """Build the postings' key after a bulk load (nothing where it exists): on PostgreSQL in the
    caller's transaction, by one sort; on MariaDB by an ALTER that commits, rebuilding the table
    in key order with InnoDB's own merge sort while writes go on. Returns whether it built it."""
    if has_key(conn):
        return False
    columns = ", ".join(column.name for column in tables.postings.primary_key.columns)
    if conn.dialect.name in _TRANSACTIONAL_DDL:
        conn.execute(text(f"SET LOCAL maintenance_work_mem = '{BUILD_MEMORY}'"))
        conn.execute(text(f"ALTER TABLE {tables.postings.name} ADD CONSTRAINT {KEY} PRIMARY KEY ({columns})"))
    else:
        conn.execute(text(f"ALTER TABLE {tables.postings.name} ADD PRIMARY KEY ({columns}), "
                          "ALGORITHM=INPLACE, LOCK=NONE"))
    return True


def drop_key_apart(engine: Engine) -> bool:
    """``drop_key`` on a connection of its own, committed (a rebuild's)."""
    return _apart(engine, drop_key)


def build_key_apart(engine: Engine) -> bool:
    """``build_key`` on a connection of its own, committed (a rebuild's)."""
    return _apart(engine, build_key)


def _apart(engine: Engine, step) -> bool:
    with engine.connect() as conn:
        done = step(conn)
        conn.commit()
    return done


def _marked(conn: Connection) -> bool:
    if conn.dialect.name not in KEY_AFTER or conn.dialect.name in _TRANSACTIONAL_DDL:
        return False
    q = tables.pending
    return conn.execute(select(q.c.block).where(q.c.block == _MARKER["block"]).limit(1)).first() is not None
