"""Writing the index: one record at a time from the data layer, or everything by ``rebuild``."""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pymarc
from sqlalchemy import bindparam, delete, event, insert, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

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


def apply(session: Session, changes: dict[int, Entry | None]) -> None:
    """Replace the index entries of these records (None: remove the record), block by block.

    Every writer of a block first locks that block's ``_all`` row, in block order, so concurrent
    transactions never interleave their read-modify-write of the same posting lists."""
    by_block: dict[int, list[int]] = {}
    for number in changes:
        by_block.setdefault(postings.block_of(number), []).append(number)
    for block in sorted(by_block):
        _apply_block(session, block, sorted(by_block[block]), changes)


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
    # what the changed records add, per term: offsets and occurrence keys
    added_docs: dict[Key, list[int]] = {}
    added_keys: dict[Key, list[int]] = {}
    for number in numbers:
        entry = changes[number]
        if entry is None:
            continue
        offset = number - base
        for key, positions in entry.terms.items():
            added_docs.setdefault(key, []).append(offset)
            if positions:
                shifted = offset << POSITION_BITS
                added_keys.setdefault(key, []).extend(shifted | pos for pos in positions)
    touched.update(added_docs)
    touched.add(postings.ALL)
    existing = _read_block(session, block, touched)
    changed = np.array([n - base for n in numbers], dtype=np.int64)
    inserts, updates, deletes = [], [], []
    for key in touched:
        old = existing.get(key)
        docs = postings.decode_local_docs(old[0]) if old else postings.EMPTY
        keys = postings.decode_local_positions(old[1]) if old else postings.EMPTY
        if old and len(docs):
            docs = docs[~np.isin(docs, changed)]
            if len(keys):
                keys = keys[~np.isin(keys >> POSITION_BITS, changed)]
        if key in added_docs:
            docs = np.sort(np.concatenate([docs, np.array(added_docs[key], dtype=np.int64)]))
            if key in added_keys:
                keys = np.sort(np.concatenate([keys, np.array(added_keys[key], dtype=np.int64)]))
        positional = bool(len(keys)) or key in added_keys
        row = {"k_idx": key[0], "k_term": key[1], "k_block": block, "ndocs": len(docs),
               "docs": postings.encode_docs(docs), "positions": postings.encode_positions(keys) if positional else None}
        if not len(docs) and key != postings.ALL:
            if old:
                deletes.append(row)
        elif old:
            updates.append(row)
        else:
            inserts.append(row)
    conn = session.connection()
    where = (p.c.idx == bindparam("k_idx"), p.c.term == bindparam("k_term"), p.c.block == bindparam("k_block"))
    if deletes:
        conn.execute(delete(p).where(*where), deletes)
    if updates:
        conn.execute(update(p).where(*where).values(ndocs=bindparam("ndocs"), docs=bindparam("docs"),
                                                    positions=bindparam("positions")), updates)
    if inserts:
        conn.execute(insert(p), [{"idx": row["k_idx"], "term": row["k_term"], "block": block, "ndocs": row["ndocs"],
                                  "docs": row["docs"], "positions": row["positions"]} for row in inserts])
    for start in range(0, len(numbers), 500):
        conn.execute(delete(r).where(r.c.biblionumber.in_(numbers[start:start + 500])))
    record_rows = [{"biblionumber": n, "title": e.title, "author": e.author, "year": e.year,
                    "terms": _encode_terms(list(e.terms))}
                   for n in numbers if (e := changes[n]) is not None]
    if record_rows:
        conn.execute(insert(r), record_rows)


def _read_block(session: Session, block: int, keys: set[Key]) -> dict[Key, tuple[bytes, bytes | None]]:
    p = tables.postings
    by_idx: dict[str, list[str]] = {}
    for idx, term in keys:
        by_idx.setdefault(idx, []).append(term)
    found: dict[Key, tuple[bytes, bytes | None]] = {}
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


def rebuild(factory: sessionmaker[Session], *, batch: int = postings.BLOCK,
            progress: Callable[[int], None] | None = None) -> int:
    """Re-index every record from its stored MARCXML. The index is marked as being rebuilt first
    (services refuse to answer from it) and ready only when the last batch has committed, so an
    interrupted rebuild leaves it marked unusable rather than silently incomplete."""
    with _tx(factory) as session:
        state.set_status(session, state.REBUILDING)
    with _tx(factory) as session:
        for table in tables.ALL:
            session.execute(delete(table))
    done = 0
    last = 0
    while True:
        with _tx(factory) as session:
            biblios = list(session.scalars(
                select(Biblio).options(selectinload(Biblio.metadata_row), selectinload(Biblio.items))
                .where(Biblio.biblionumber > last).order_by(Biblio.biblionumber).limit(batch)))
            if not biblios:
                break
            changes: dict[int, Entry | None] = {}
            for biblio in biblios:
                try:
                    record = marc.parse_xml(biblio.metadata_row.metadata_xml)
                except (marc.MarcError, ValueError) as exc:
                    log.warning("record %s not indexed: %s", biblio.biblionumber, exc)
                    continue
                changes[biblio.biblionumber] = entry_for(record, biblio.flavour, _item_values(biblio),
                                                         bool(biblio.opac_suppressed))
            apply(session, changes)
            last = biblios[-1].biblionumber
        done += len(biblios)
        if progress:
            progress(len(biblios))
    with _tx(factory) as session:
        state.set_status(session, state.READY)
    return done


def _tx(factory: sessionmaker[Session]):
    from ..db import transaction

    return transaction(factory)
