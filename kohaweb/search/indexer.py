"""Writing the index: one record at a time from the data layer, or everything by ``rebuild``."""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pymarc
from sqlalchemy import delete, event, insert, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session, sessionmaker

from .. import marc
from ..models import Biblio
from . import mapping, normalize, postings, state, tables
from .postings import BLOCK_BITS, MAX_POSITION, POSITION_BITS

log = logging.getLogger(__name__)

FIELD_GAP = 10  # position gap between two fields: adjacency (distance 1) never spans fields

Key = tuple[str, str]  # (namespace, term)


@dataclass
class Entry:
    """What one record puts in the index: its terms (with word positions for word indexes, None
    for the others) and its sort keys."""

    terms: dict[Key, list[int] | None] = field(default_factory=dict)
    title: str | None = None
    author: str | None = None
    year: int | None = None


def _item_values(biblio: Any) -> list[dict]:
    return [{"barcode": i.barcode, "homebranch": i.homebranch, "holdingbranch": i.holdingbranch,
             "itype": i.itype} for i in biblio.items]


def entry_for(record: pymarc.Record, flavour: str, items: list[dict] | None, hidden: bool = False) -> Entry:
    """The index entry of one record."""
    extracted = mapping.extract(record, flavour, items)
    entry = Entry(title=normalize.sort_key(extracted.title), author=normalize.sort_key(extracted.author),
                  year=extracted.year)
    terms = entry.terms
    cache: dict[str, list[str]] = {}  # most texts feed two indexes (their own and "any")
    for name, texts in extracted.fields.items():
        pos = 0
        phrases = postings.phrase_space(name)
        for text in texts:
            words = cache.get(text)
            if words is None:
                words = cache[text] = normalize.words(text)
            for word in words:
                found = terms.get((name, word))
                if found is None:
                    found = terms[(name, word)] = []
                if pos <= MAX_POSITION:
                    found.append(pos)
                pos += 1
            pos += FIELD_GAP
            value = " ".join(words)[:normalize.MAX_PHRASE].rstrip()
            if value:
                terms[(phrases, value)] = None
    for name, values in extracted.identifiers.items():
        for value in values:
            terms[(name, value)] = None
    for name, numbers in extracted.numbers.items():
        for number in numbers:
            terms[(postings.number_space(name), postings.number_term(number))] = None
    terms[postings.ALL] = None
    if hidden:
        terms[postings.HIDDEN] = None
    return entry


# --- applying entries to the tables ------------------------------------------------------------

def _encode_terms(keys: list[Key]) -> bytes:
    return zlib.compress("\n".join(f"{idx}\t{term}" for idx, term in keys).encode("utf-8"), 1)


def _decode_terms(blob: bytes | None) -> list[Key]:
    if not blob:
        return []
    return [tuple(line.split("\t", 1)) for line in zlib.decompress(blob).decode("utf-8").split("\n")]  # type: ignore[misc]


def apply(session: Session, changes: dict[int, Entry | None], *, fresh: bool = False) -> None:
    """Replace the index entries of these records (None: remove the record), block by block.

    Every writer of a block first locks that block's ``_all`` row, in block order, so concurrent
    transactions never interleave their read-modify-write of the same posting lists. ``fresh``
    (a rebuild): blocks that hold nothing yet are written without reading anything back."""
    by_block: dict[int, list[int]] = {}
    for number in changes:
        by_block.setdefault(postings.block_of(number), []).append(number)
    p = tables.postings
    for block in sorted(by_block):
        numbers = sorted(by_block[block])
        if fresh and session.execute(select(p.c.ndocs).where(
                p.c.idx == postings.ALL[0], p.c.term == postings.ALL[1], p.c.block == block)).first() is None:
            _write_new_block(session, block, numbers, changes)
        else:
            _apply_block(session, block, numbers, changes)


def _write_new_block(session: Session, block: int, numbers: list[int], changes: dict[int, Entry | None]) -> None:
    base = block << BLOCK_BITS
    added_docs, added_keys = _additions(numbers, changes, base)
    conn = session.connection()
    _insert(conn, tables.postings, [
        {"idx": key[0], "term": key[1], "block": block, "ndocs": len(docs), "docs": postings.pack_docs(docs),
         "positions": postings.pack_positions(added_keys[key]) if key in added_keys else None}
        for key, docs in added_docs.items()])
    _insert(conn, tables.records, _record_rows(numbers, changes))


def _additions(numbers: list[int], changes: dict[int, Entry | None], base: int
               ) -> tuple[dict[Key, list[int]], dict[Key, list[int]]]:
    """What the changed records add, per term: block offsets, and occurrence keys (in order)."""
    added_docs: dict[Key, list[int]] = {}
    added_keys: dict[Key, list[int]] = {}
    for number in numbers:
        entry = changes[number]
        if entry is None:
            continue
        offset = number - base
        shifted = offset << POSITION_BITS
        for key, positions in entry.terms.items():
            docs = added_docs.get(key)
            if docs is None:
                docs = added_docs[key] = []
            docs.append(offset)
            if positions:
                added_keys.setdefault(key, []).extend(shifted | pos for pos in positions)
    return added_docs, added_keys


def _record_rows(numbers: list[int], changes: dict[int, Entry | None]) -> list[dict]:
    return [{"biblionumber": n, "title": e.title, "author": e.author, "year": e.year,
             "terms": _encode_terms(list(e.terms))} for n in numbers if (e := changes[n]) is not None]


def _lock_block(session: Session, block: int) -> None:
    p = tables.postings
    row = {"idx": postings.ALL[0], "term": postings.ALL[1], "block": block, "ndocs": 0, "docs": b"",
           "positions": None}
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(p).values(row).on_conflict_do_nothing())
    elif dialect in ("mysql", "mariadb"):
        session.execute(insert(p).values(row).prefix_with("IGNORE"))
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        session.execute(sqlite_insert(p).values(row).on_conflict_do_nothing())
    session.execute(select(p.c.ndocs).where(p.c.idx == postings.ALL[0], p.c.term == postings.ALL[1],
                                            p.c.block == block).with_for_update())


def _apply_block(session: Session, block: int, numbers: list[int], changes: dict[int, Entry | None]) -> None:
    p, r = tables.postings, tables.records
    _lock_block(session, block)
    base = block << BLOCK_BITS
    touched: set[Key] = set()
    for start in range(0, len(numbers), 500):
        chunk = numbers[start:start + 500]
        for (blob,) in session.execute(select(r.c.terms).where(r.c.biblionumber.in_(chunk))):
            touched.update(_decode_terms(blob))
    added_docs, added_keys = _additions(numbers, changes, base)
    touched.update(added_docs)
    touched.add(postings.ALL)
    existing = _read_block(session, block, touched)
    changed = np.array([n - base for n in numbers], dtype=np.int64)
    rows: list[dict] = []  # the new content of every touched row that still has records
    replaced: list[Key] = []  # existing rows to remove first
    all_row = None
    for key in touched:
        old = existing.get(key)
        if old is None:  # a new row: the added lists are already in order (records, then positions)
            if key in added_docs:
                positions = added_keys.get(key)
                rows.append({"idx": key[0], "term": key[1], "block": block, "ndocs": len(added_docs[key]),
                             "docs": postings.pack_docs(added_docs[key]),
                             "positions": postings.pack_positions(positions) if positions else None})
            continue
        docs = postings.decode_local_docs(old[0])
        keys = postings.decode_local_positions(old[1])
        if len(docs):
            docs = docs[~np.isin(docs, changed)]
            if len(keys):
                keys = keys[~np.isin(keys >> POSITION_BITS, changed)]
        if key in added_docs:
            docs = np.sort(np.concatenate([docs, np.array(added_docs[key], dtype=np.int64)]))
            if key in added_keys:
                keys = np.sort(np.concatenate([keys, np.array(added_keys[key], dtype=np.int64)]))
        positional = bool(len(keys)) or key in added_keys
        row = {"idx": key[0], "term": key[1], "block": block, "ndocs": len(docs),
               "docs": postings.encode_docs(docs), "positions": postings.encode_positions(keys) if positional else None}
        if key == postings.ALL:
            all_row = row  # the block's lock row: updated in place, never deleted
            continue
        replaced.append(key)
        if len(docs):
            rows.append(row)
    conn = session.connection()
    # Set-based writes (a few statements per block, not one per row): changed rows are deleted
    # and inserted again with multi-row INSERTs.
    by_idx: dict[str, list[str]] = {}
    for idx, term in replaced:
        by_idx.setdefault(idx, []).append(term)
    for idx, terms in by_idx.items():
        for start in range(0, len(terms), postings.CHUNK):
            conn.execute(delete(p).where(p.c.idx == idx, p.c.block == block,
                                         p.c.term.in_(terms[start:start + postings.CHUNK])))
    if all_row is not None:
        conn.execute(update(p).where(p.c.idx == postings.ALL[0], p.c.term == postings.ALL[1], p.c.block == block)
                     .values(ndocs=all_row["ndocs"], docs=all_row["docs"]))
    _insert(conn, p, rows)
    for start in range(0, len(numbers), 500):
        conn.execute(delete(r).where(r.c.biblionumber.in_(numbers[start:start + 500])))
    _insert(conn, r, _record_rows(numbers, changes))


def _insert(conn, table, rows: list[dict], per_statement: int = 500) -> None:
    """Insert many rows in few round trips: SQLite's executemany runs in-process; on the servers a
    driver-level multi-row INSERT (psycopg and PyMySQL both take ``%s`` markers) avoids one
    statement per row and SQLAlchemy compiling a statement of thousands of parameters."""
    if not rows:
        return
    if conn.dialect.name == "sqlite":
        conn.execute(insert(table), rows)
        return
    columns = list(rows[0])
    if conn.dialect.name == "postgresql":  # COPY: the fastest way in, inside the same transaction
        with conn.connection.dbapi_connection.cursor() as cursor:
            with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(tuple(row[c] for c in columns))
        return
    quote = conn.dialect.identifier_preparer.quote
    head = f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) VALUES "
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    for start in range(0, len(rows), per_statement):
        chunk = rows[start:start + per_statement]
        conn.exec_driver_sql(head + ", ".join([one] * len(chunk)), tuple(row[c] for row in chunk for c in columns))


def _read_block(session: Session, block: int, keys: set[Key]) -> dict[Key, tuple[bytes, bytes | None]]:
    p = tables.postings
    by_idx: dict[str, list[str]] = {}
    for idx, term in keys:
        by_idx.setdefault(idx, []).append(term)
    found: dict[Key, tuple[bytes, bytes | None]] = {}
    if session.get_bind().dialect.name == "postgresql":
        # One array parameter instead of an IN list (far less to compile, send and parse), joined
        # so that each term is a primary-key lookup whatever the planner's statistics say (on
        # never-analysed tables it would otherwise scan every term of the index).
        conn = session.connection()
        sql = ('SELECT p.term, p.docs, p.positions FROM unnest(%s::text[]) AS wanted(term) '
               'JOIN search_postings AS p ON p.idx = %s AND p.term = wanted.term COLLATE "C" AND p.block = %s')
        for idx, terms in by_idx.items():
            for start in range(0, len(terms), 2000):
                for term, docs, positions in conn.exec_driver_sql(sql, (terms[start:start + 2000], idx, block)):
                    found[(idx, term)] = (docs, positions)
        return found
    for idx, terms in by_idx.items():
        for start in range(0, len(terms), postings.CHUNK):
            chunk = terms[start:start + postings.CHUNK]
            rows = session.execute(select(p.c.term, p.c.docs, p.c.positions).where(
                p.c.idx == idx, p.c.block == block, p.c.term.in_(chunk)))
            for term, docs, positions in rows:
                found[(idx, term)] = (docs, positions)
    return found


# --- the data layer's path: changes are queued and written in batches ----------------------------
#
# Changes are queued on the session, each tagged with the (sub)transaction it was made in, and
# written together (block by block) before the session commits and before any search on that
# session, so a search always sees its own transaction's changes. Rolling back a transaction or
# savepoint drops what was queued in it.

_PENDING = "kohaweb.search.pending"
_HOOKED = "kohaweb.search.hooked"
BATCH = 2000


def index_record(session: Session, biblio: Any, record: pymarc.Record) -> None:
    entry = entry_for(record, biblio.flavour, _item_values(biblio), bool(biblio.opac_suppressed))
    _queue(session, biblio.biblionumber, entry)


def remove_record(session: Session, biblionumber: int) -> None:
    _queue(session, biblionumber, None)


def _queue(session: Session, biblionumber: int, entry: Entry | None) -> None:
    if not session.info.get(_HOOKED):
        event.listen(session, "before_commit", flush_pending)
        event.listen(session, "after_soft_rollback", _discard)
        session.info[_HOOKED] = True
    transaction = session.get_nested_transaction() or session.get_transaction()
    pending = session.info.setdefault(_PENDING, [])
    pending.append((biblionumber, entry, transaction))
    if len(pending) >= BATCH and session.get_nested_transaction() is None:
        flush_pending(session)


def flush_pending(session: Session) -> None:
    """Write the queued changes of this session now (the last change of a record wins)."""
    pending = session.info.get(_PENDING)
    if not pending:
        return
    nested = session.get_nested_transaction()
    # Inside a savepoint, what was queued outside it is written but also kept queued: if the
    # savepoint rolls back, those writes are undone and must be made again (writing is idempotent).
    session.info[_PENDING] = [e for e in pending if not _inside(e[2], nested)] if nested else []
    final: dict[int, Entry | None] = {}
    for biblionumber, entry, _ in pending:
        final[biblionumber] = entry
    apply(session, final)


def _discard(session: Session, previous_transaction) -> None:
    """Drop what was queued inside the transaction or savepoint just rolled back."""
    pending = session.info.get(_PENDING)
    if pending:
        session.info[_PENDING] = [e for e in pending if not _inside(e[2], previous_transaction)]


def _inside(transaction, ancestor) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


def rebuild(factory: sessionmaker[Session], *, batch: int = postings.BLOCK, workers: int = 1,
            progress: Callable[[int], None] | None = None) -> int:
    """Re-index every record from its stored MARCXML. The index is marked as being rebuilt first
    (services refuse to answer from it) and ready only when the last batch has committed, so an
    interrupted rebuild leaves it marked unusable rather than silently incomplete.

    Records are read a block at a time (``batch`` caps the records per transaction) and a block
    rebuilt from empty is written without reading anything back. With ``workers`` > 1, parsing
    and term extraction run in that many processes while this one writes."""
    with _tx(factory) as session:
        state.set_status(session, state.REBUILDING)
    with _tx(factory) as session:
        for table in tables.ALL:
            session.execute(delete(table))
    done = 0
    pool = _pool(workers)
    try:
        waiting = None  # the batch being extracted while the previous one is written
        for raw in _raw_batches(factory, batch):
            parts = [raw[i::workers] for i in range(workers)] if pool else [raw]
            started = [pool.apply_async(_entries, (part,)) for part in parts] if pool else parts
            if waiting is not None:
                done += _write_batch(factory, *waiting, pool, progress, first=not done)
            waiting = (started, len(raw))
        if waiting is not None:
            done += _write_batch(factory, *waiting, pool, progress, first=not done)
    finally:
        if pool:
            pool.close()
            pool.join()
    with _tx(factory) as session:
        state.set_status(session, state.READY)
    return done


Raw = tuple[int, str, bool, str, list[dict]]  # biblionumber, flavour, suppressed, MARCXML, items


def _pool(workers: int):
    if workers <= 1:
        return None
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn").Pool(workers)


def _raw_batches(factory: sessionmaker[Session], batch: int):
    """The stored records, a block (at most ``batch`` records) at a time, as plain tuples."""
    from ..models import BiblioMetadata, Item

    last = 0
    while True:
        with _tx(factory) as session:
            first = session.scalar(select(Biblio.biblionumber).where(Biblio.biblionumber > last)
                                   .order_by(Biblio.biblionumber).limit(1))
            if first is None:
                return
            end = (postings.block_of(first) + 1) << BLOCK_BITS
            rows = list(session.execute(
                select(Biblio.biblionumber, Biblio.flavour, Biblio.opac_suppressed, BiblioMetadata.metadata_xml)
                .join(BiblioMetadata, BiblioMetadata.biblionumber == Biblio.biblionumber)
                .where(Biblio.biblionumber >= first, Biblio.biblionumber < end)
                .order_by(Biblio.biblionumber).limit(batch)))
            if not rows:  # a record without stored MARC: step over it
                last = first
                continue
            top = rows[-1][0]
            items: dict[int, list[dict]] = {}
            for number, barcode, home, holding, itype in session.execute(
                    select(Item.biblionumber, Item.barcode, Item.homebranch, Item.holdingbranch, Item.itype)
                    .where(Item.biblionumber >= first, Item.biblionumber <= top)):
                items.setdefault(number, []).append({"barcode": barcode, "homebranch": home,
                                                     "holdingbranch": holding, "itype": itype})
        yield [(n, flavour, bool(hidden), xml, items.get(n, [])) for n, flavour, hidden, xml in rows]
        last = top


def _entries(raw: list[Raw]) -> dict[int, Entry]:
    entries = {}
    for number, flavour, hidden, xml, items in raw:
        try:
            record = marc.parse_xml(xml)
        except (marc.MarcError, ValueError) as exc:
            log.warning("record %s not indexed: %s", number, exc)
            continue
        entries[number] = entry_for(record, flavour, items, hidden)
    return entries


def _write_batch(factory: sessionmaker[Session], parts: list, count: int, pool, progress, *, first: bool) -> int:
    changes: dict[int, Entry | None] = {}
    for part in parts:
        changes.update(part.get() if pool else _entries(part))
    with _tx(factory) as session:
        apply(session, changes, fresh=True)
    if first:
        _analyze(factory)
    if progress:
        progress(count)
    return count


def _analyze(factory: sessionmaker[Session]) -> None:
    """Refresh the planner's statistics once the tables hold a first batch: planned on an empty
    table, PostgreSQL would read a block's rows by scanning every term of an index."""
    with _tx(factory) as session:
        dialect = session.get_bind().dialect.name
        names = ", ".join(t.name for t in tables.ALL)
        if dialect == "postgresql":
            session.execute(sql_text(f"ANALYZE {names}"))
        elif dialect in ("mysql", "mariadb"):
            session.execute(sql_text(f"ANALYZE TABLE {names}"))
        else:
            session.execute(sql_text("ANALYZE"))


def _tx(factory: sessionmaker[Session]):
    from ..db import transaction

    return transaction(factory)
