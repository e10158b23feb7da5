"""Writing posting lists: append-only deltas, whole new blocks, and compaction.

A transaction that changes records compares each record's new entry with the one stored in
``search_record_terms`` (and its sort keys in ``search_records``) and appends, per (index, term, block) that differs, one delta row: the
records whose postings it sets (with their positions) and those it removes. It never reads or
rewrites the rows a block already holds, so a write costs what it changes: a loan that touches
no indexed value writes nothing, and a record's own two rows are updated in place, each only
when it changed. Every statement is a primary-key lookup, an update by primary key or an
insert, whatever the planner knows about the tables.

Deltas accumulate per block; once a block has ``COMPACT_AFTER`` segments, they are folded back
(``compact``, kohaweb.search.compaction) in a transaction of their own once the writer's has
ended, in the background on PostgreSQL and MariaDB (kohaweb.search.compactor). Writers hold the block's
``search_blocks`` row shared until they commit and compaction holds it exclusively, so
compaction sees every delta of the block committed and none in flight, and writers of different
(or the same) blocks never wait for each other.

``write_new_blocks`` is the rebuild and bulk-load path: blocks that hold nothing yet are written
as merged rows (segment 0) without reading anything.

Every path also lists the terms it gives records in ``search_reversed_terms``
(kohaweb.search.vocabulary), for left-truncated searches.
"""

from __future__ import annotations

import functools
import logging
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain, compress
from operator import eq, itemgetter

from sqlalchemy import (
    Integer,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from ..bulk import insert_columns, insert_rows
from ..db import autonomous
from . import packing, posting_format, postings, staging, tables, vocabulary
from .posting_format import BLOCK_BITS, POSITION_BITS

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, term)
COMPACT_AFTER = 32  # delta segments a block collects before it is compacted
_UNKNOWN = None  # positions of a term stored before positions were kept (never equal to a tuple)


# --- what search_records and search_record_terms store per record ------------------------------

_GROUP = "\x1d"  # starts a namespace's group of terms (the normaliser never leaves a control character)


def encode_terms(terms: dict) -> bytes:
    """``encode_groups`` of terms keyed by (namespace, term) (the authority index's entries)."""
    groups: dict[str, dict] = {}
    for (idx, term), positions in terms.items():
        group = groups.get(idx)
        if group is None:
            group = groups[idx] = {}
        group[term] = positions
    return encode_groups(groups)


def encode_groups(groups: dict[str, dict]) -> bytes:
    """A record's terms, grouped by namespace (``indexer.Entry.groups``), with their word
    positions, compressed (``search_record_terms.terms``).

    Each namespace is written once (``\\x1dany``, then one ``term<TAB>positions`` line per term):
    a fifth smaller than a namespace on every line, which at 1M records is about 300 MB less of
    ``search_record_terms``."""
    return _compress(group_texts(groups))


def _compress(texts: dict[str, str]) -> bytes:
    return zlib.compress("\n".join(texts.values()).encode("utf-8"), 6)


def group_texts(groups: dict[str, dict]) -> dict[str, str]:
    """Each namespace's part of ``encode_groups``'s text, by namespace (those with terms): an
    edit compares them with the stored ones (``stored_group_texts``) and reads the terms of
    only the namespaces whose text changed."""
    out: dict[str, str] = {}
    for idx, terms in groups.items():
        if not terms:
            continue
        lines = [_GROUP + idx]
        if not any(terms.values()):  # no positions (phrases, identifiers, numbers): the terms alone
            lines.extend(terms)
        else:
            for term, positions in terms.items():
                if not positions:
                    lines.append(term)
                elif len(positions) == 1:  # most words occur once: no join, no map
                    lines.append(f"{term}\t{positions[0]}")
                else:
                    lines.append(f"{term}\t{','.join(map(str, positions))}")
        out[idx] = "\n".join(lines)
    return out


def stored_group_texts(blob: bytes | None) -> dict[str, str] | None:
    """``group_texts`` of a stored term list (``encode_groups``); None for the earlier form
    (``decode_terms`` reads it)."""
    text = zlib.decompress(blob).decode("utf-8") if blob else ""
    if not text:
        return {}
    if not text.startswith(_GROUP):
        return None
    out: dict[str, str] = {}
    for piece in text[1:].split("\n" + _GROUP):
        out[piece.partition("\n")[0]] = _GROUP + piece
    return out


def _group_terms(text: str) -> dict[str, tuple[int, ...]]:
    """The terms of one namespace's text (``group_texts``) with their positions."""
    return _lines_terms(text.split("\n")[1:])


def _lines_terms(lines: Iterable[str]) -> dict[str, tuple[int, ...]]:
    """The terms of lines of a namespace's text with their positions."""
    out: dict[str, tuple[int, ...]] = {}
    for line in lines:
        term, tab, positions = line.partition("\t")
        out[term] = tuple(int(p) for p in positions.split(",")) if tab else ()
    return out


def decode_terms(blob: bytes | None) -> dict[Key, tuple[int, ...] | None]:
    """``encode_terms`` undone; also reads the earlier form (``idx<TAB>term<TAB>positions`` lines,
    or ``idx<TAB>term`` from before positions were kept), which older rows still hold."""
    if not blob:
        return {}
    text = zlib.decompress(blob).decode("utf-8")
    out: dict[Key, tuple[int, ...] | None] = {}
    if not text:
        return out
    if not text.startswith(_GROUP):
        for line in text.split("\n"):
            parts = line.split("\t")
            if len(parts) == 2:  # written before positions were kept
                out[(parts[0], parts[1])] = _UNKNOWN
            else:
                out[(parts[0], parts[1])] = tuple(int(p) for p in parts[2].split(",")) if parts[2] else ()
        return out
    for group in text[1:].split("\n" + _GROUP):
        idx = group.partition("\n")[0]
        for term, positions in _group_terms(group).items():
            out[(idx, term)] = positions
    return out


def _signature(positions) -> tuple[int, ...]:
    return tuple(positions) if positions else ()


def _record_row(number: int, entry) -> dict:
    """The record's ``search_records`` row: its sort keys."""
    return {"biblionumber": number, "title": entry.title, "author": entry.author, "year": entry.year}


def _terms_row(number: int, entry, texts: dict[str, str] | None = None) -> dict:
    """The record's ``search_record_terms`` row: what it is indexed under (``texts``: its
    ``group_texts``, when already made)."""
    return {"biblionumber": number, "terms": encode_groups(entry.groups) if texts is None else _compress(texts)}


def _insert_records(conn, numbered: list[tuple[int, object]], texts: dict[int, dict[str, str]] | None = None) -> None:
    """Both rows of each (number, entry) (``texts``: ``group_texts`` already made, by number)."""
    made = texts or {}
    insert_rows(conn, tables.records, [_record_row(n, e) for n, e in numbered])
    insert_rows(conn, tables.record_terms, [_terms_row(n, e, made.get(n)) for n, e in numbered])


def encode_keys(keys: Iterable[Key]) -> bytes:
    """The keys a segment wrote, compressed (``search_segments.written``)."""
    return zlib.compress("\n".join(f"{idx}\t{term}" for idx, term in keys).encode("utf-8"), 1)


_NO_KEYS = zlib.compress(b"", 1)


def decode_keys(blob: bytes) -> list[Key]:
    text = zlib.decompress(blob).decode("utf-8")
    return [tuple(line.split("\t", 1)) for line in text.split("\n")] if text else []  # type: ignore[misc]


# --- the data layer's path: deltas ---------------------------------------------------------------

def apply(session: Session, changes: dict, *, fresh: bool = False) -> set[int]:
    """Write these records' entries (None: remove the record) block by block, in block order.
    Returns the blocks that have collected enough deltas to be compacted. ``fresh`` (rebuild):
    blocks not yet indexed are written whole, without deltas."""
    by_block: dict[int, list[int]] = {}
    for number in changes:
        by_block.setdefault(posting_format.block_of(number), []).append(number)
    due: set[int] = set()
    new_keys: set[Key] = set()  # keys some record did not have before: their terms may be new
    for block in sorted(by_block):
        numbers = sorted(by_block[block])
        if fresh and not _block_exists(session, block):
            write_new_block(session, block, {n: changes[n] for n in numbers if changes[n] is not None})
        elif _append_delta(session, block, numbers, changes, new_keys):
            due.add(block)
    vocabulary.add(session, new_keys)
    return due


def _block_exists(session: Session, block: int) -> bool:
    b = tables.blocks
    return session.execute(select(b.c.block).where(b.c.block == block)).first() is not None


def _share_block(session: Session, block: int) -> int:
    """Hold the block's row shared until commit (created first if the block is new). Returns how
    many delta segments the block had (up to ``COMPACT_AFTER``), read in the same statement."""
    b = tables.blocks
    found = session.execute(_share_statement(), {"block": block, "most": COMPACT_AFTER}).first()
    if found is not None:  # the usual case: one round trip
        return found[1]
    # A new block. The locking read of the missing row took no gap lock (on MariaDB too: its
    # sessions run at READ COMMITTED, kohaweb.db.make_engine), so another writer's insert below
    # does not wait for this transaction.
    with autonomous(session) as conn:
        # created and committed on its own, so that two writers of a new block do not wait
        # for each other's whole transaction
        _insert_ignore(conn if conn is not None else session.connection(), b, {"block": block})
    found = session.execute(_share_statement(), {"block": block, "most": COMPACT_AFTER}).first()
    return found[1] if found is not None else 0  # gone only if a rebuild emptied the index meanwhile


@functools.cache
def _share_statement():
    """The block's row, locked shared, with the number of its segments (counted up to
    ``COMPACT_AFTER``): whether the segment a writer appends makes the block due for compaction
    is then known without a round trip of its own. Segments other writers commit meanwhile are
    not counted; the next write of the block counts them."""
    b, s = tables.blocks, tables.segments
    first = select(s.c.seg).where(s.c.block == bindparam("block")).limit(bindparam("most", type_=Integer)).subquery()
    segments = select(func.count()).select_from(first).scalar_subquery()
    return select(b.c.block, segments).where(b.c.block == bindparam("block")).with_for_update(read=True)


def _insert_ignore(conn, table, row: dict) -> None:
    dialect = conn.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        conn.execute(pg_insert(table).values(row).on_conflict_do_nothing())
    elif dialect in ("mysql", "mariadb"):
        conn.execute(insert(table).values(row).prefix_with("IGNORE"))
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        conn.execute(sqlite_insert(table).values(row).on_conflict_do_nothing())


def _stored_terms(session: Session, numbers: list[int]) -> dict[int, tuple]:
    """(the term list, read by namespace: ``_Stored``, title, author, year) as stored for these
    records. A plain read is the latest
    committed version (READ COMMITTED on the servers, one writer on SQLite), and no other
    transaction re-indexes these records meanwhile: the data layer changed their ``biblio`` rows
    first, which holds those rows until commit. (A locking read here would make InnoDB wait on
    neighbouring records of other writers and deadlock.)"""
    out: dict[int, tuple] = {}
    for start in range(0, len(numbers), postings.CHUNK):
        chunk = numbers[start:start + postings.CHUNK]
        keys: dict[int, list] = {}
        blobs: dict[int, bytes] = {}
        for number, blob, title, author, year, from_terms in session.execute(
                _stored_statement(len(chunk) > 1), {"numbers": chunk if len(chunk) > 1 else chunk[0]}):
            if from_terms:
                blobs[number] = blob
            else:
                keys[number] = [title, author, year]
        for number, blob in blobs.items():
            out[number] = (_Stored(blob), *keys[number])
    return out


class _Stored:
    """A record's stored term list, read by namespace: ``changes`` gives, for each namespace whose
    terms may differ from a new entry's, both sides' terms that may differ. The namespaces whose
    text is the new entry's (``group_texts``) are not read at all, and of the others only the
    lines that differ: an edit of a title changes two or three of a record's thirty-odd
    namespaces and a dozen of its terms, and reading every term of the list was the largest
    piece of an edit's own work."""

    def __init__(self, blob: bytes) -> None:
        self.blob = blob
        self.texts = stored_group_texts(blob)  # None: the earlier form

    def changes(self, new_groups: dict[str, dict], new_texts: dict[str, str] | None
                ) -> Iterable[tuple[str, dict, dict]]:
        """(namespace, stored terms, new terms) of the namespaces that may have changed: every
        term of both sides, or (both texts given) those whose line is on one side only."""
        if self.texts is None or new_texts is None:
            stored = self._terms()
            for idx in stored.keys() | new_groups.keys():
                yield idx, stored.get(idx, {}), new_groups.get(idx) or {}
            return
        for idx in self.texts.keys() | new_texts.keys():
            text, new_text = self.texts.get(idx), new_texts.get(idx)
            if text == new_text:
                continue
            # a line is a term with its positions: the lines on one side only are the terms that
            # came, went or moved, the only ones parsed (a title edit changes ~13 of ~240)
            old_lines = text.split("\n")[1:] if text is not None else []
            new_lines = new_text.split("\n")[1:] if new_text is not None else []
            group = new_groups.get(idx) or {}
            came = {line.partition("\t")[0] for line in set(new_lines).difference(old_lines)}
            yield idx, _lines_terms(set(old_lines).difference(new_lines)), {term: group[term] for term in came}

    def _terms(self) -> dict[str, dict]:
        """Every stored term, by namespace."""
        if self.texts is not None:
            return {idx: _group_terms(text) for idx, text in self.texts.items()}
        out: dict[str, dict] = {}
        for (idx, term), positions in decode_terms(self.blob).items():
            out.setdefault(idx, {})[term] = positions
        return out


@functools.cache
def _stored_statement(several: bool):
    """Both rows of records, in one round trip (an edit's is one of the few it makes): the
    term list's and the sort keys' as the two branches of a UNION ALL, each a lookup by primary
    key, where a join's plan would depend on the planner's statistics."""
    r, t = tables.records, tables.record_terms
    numbers = bindparam("numbers", expanding=True)
    wanted = (lambda column: column.in_(numbers)) if several else (lambda column: column == bindparam("numbers"))
    terms = select(t.c.biblionumber, t.c.terms, null().label("title"), null().label("author"),
                   null().label("year"), literal_column("1").label("from_terms")).where(wanted(t.c.biblionumber))
    keys = select(r.c.biblionumber, null(), r.c.title, r.c.author, r.c.year, literal_column("0")) \
        .where(wanted(r.c.biblionumber))
    return union_all(terms, keys)


def _append_delta(session: Session, block: int, numbers: list[int], changes: dict, new_keys: set[Key]) -> bool:
    """Append one segment with what these records change in this block; True when the block is
    due for compaction. Adds to ``new_keys`` the keys a record gains."""
    segments = _share_block(session, block)
    stored = _stored_terms(session, numbers)
    base = block << BLOCK_BITS
    set_docs: dict[Key, list[int]] = {}
    set_keys: dict[Key, list[int]] = {}
    removed: dict[Key, list[int]] = {}
    rows_of = _RowChanges()
    for number in numbers:
        entry = changes[number]
        old = stored.get(number)
        offset = number - base
        shifted = offset << POSITION_BITS
        new_groups = entry.groups if entry is not None else {}
        texts = group_texts(new_groups) if old is not None and entry is not None else None
        compared = old[0].changes(new_groups, texts) if old is not None else \
            ((idx, {}, terms) for idx, terms in new_groups.items())
        terms_changed = False
        for idx, old_terms, new_terms in compared:
            for term, positions in new_terms.items():
                if term in old_terms:
                    if old_terms[term] == _signature(positions):
                        continue
                else:
                    new_keys.add((idx, term))
                terms_changed = True
                set_docs.setdefault((idx, term), []).append(offset)
                if positions:
                    set_keys.setdefault((idx, term), []).extend(shifted | p for p in positions)
            for term in old_terms:
                if term not in new_terms:
                    terms_changed = True
                    removed.setdefault((idx, term), []).append(offset)
        rows_of.note(number, entry, old, terms_changed, texts)
    conn = session.connection()
    if set_docs or removed:
        written = sorted(set(set_docs) | set(removed))  # key order: see new_record_rows
        seg = conn.execute(insert(tables.segments).values(block=block, written=encode_keys(written))
                           ).inserted_primary_key[0]
        rows = []
        for key in written:
            docs = set_docs.get(key, [])
            positions = set_keys.get(key)
            gone = removed.get(key)
            rows.append({"idx": key[0], "term": key[1], "block": block, "seg": seg, "ndocs": len(docs),
                         "docs": posting_format.pack_docs(docs),
                         "positions": posting_format.pack_positions(positions) if positions else None,
                         "dels": posting_format.pack_docs(gone) if gone else None})
        insert_rows(conn, tables.postings, rows)
    rows_of.write(conn, changes)
    return bool(set_docs or removed) and segments + 1 >= COMPACT_AFTER


class _RowChanges:
    """What a delta does to the records' own rows (``search_records``: sort keys,
    ``search_record_terms``: the term list): rows of new records inserted, rows of removed
    records deleted, and for records already indexed only the row whose content changed.

    An edit changes one record: two UPDATEs (one when its sort keys are unchanged), where
    deleting and re-inserting both rows took six round trips on PostgreSQL (a COPY is two).
    Past ``_UPDATE_AT_MOST`` changed records (a batch through the data layer), their rows are
    deleted and inserted again in bulk, as MariaDB's drivers send an UPDATE per row."""

    def __init__(self) -> None:
        self.added: list[int] = []
        self.dropped: list[int] = []
        self.terms: list[int] = []  # indexed records whose term list changed
        self.keys: list[int] = []  # indexed records whose sort keys changed
        self.texts: dict[int, dict[str, str]] = {}  # new group_texts already made, by record

    def note(self, number: int, entry, old: tuple | None, terms_changed: bool,
             texts: dict[str, str] | None = None) -> None:
        """What the delta does to this record's rows (``texts``: its new ``group_texts``, if made)."""
        if texts is not None:
            self.texts[number] = texts
        if old is None:
            if entry is not None:
                self.added.append(number)
            return
        if entry is None:
            self.dropped.append(number)
            return
        if terms_changed:
            self.terms.append(number)
        if old[1:] != (entry.title, entry.author, entry.year):
            self.keys.append(number)

    def write(self, conn, changes: dict) -> None:
        r, t = tables.records, tables.record_terms
        changed = sorted(set(self.terms) | set(self.keys))
        if len(changed) > _UPDATE_AT_MOST:  # rewritten whole, with the removed and the new ones
            self.dropped += changed
            self.added += changed
            self.terms, self.keys = [], []
        for start in range(0, len(self.dropped), postings.CHUNK):
            chunk = self.dropped[start:start + postings.CHUNK]
            for table in (r, t):
                conn.execute(delete(table).where(table.c.biblionumber.in_(chunk)))
        both = set(self.terms) & set(self.keys) if conn.dialect.name in _BOTH_ROWS_AT_ONCE else set()
        if both:  # the two rows of each in one statement (an edit of a title changes both)
            conn.execute(_both_rows_statement(conn.dialect.name),
                         [{"number": n, "blob": self._blob(n, changes), **_keys_of(changes[n])}
                          for n in sorted(both)])
        terms = [n for n in self.terms if n not in both]
        keys = [n for n in self.keys if n not in both]
        if terms:
            conn.execute(update(t).where(t.c.biblionumber == bindparam("number")).values(terms=bindparam("blob")),
                         [{"number": n, "blob": self._blob(n, changes)} for n in terms])
        if keys:
            conn.execute(update(r).where(r.c.biblionumber == bindparam("number")).values(_sort_key_values()),
                         [{"number": n, **_keys_of(changes[n])} for n in keys])
        if self.added:
            _insert_records(conn, [(n, changes[n]) for n in sorted(self.added)], self.texts)

    def _blob(self, number: int, changes: dict) -> bytes:
        return _terms_row(number, changes[number], self.texts.get(number))["terms"]


_UPDATE_AT_MOST = 32  # changed records whose rows are updated in place (more: deleted and inserted)
# databases that write both rows of a record in one UPDATE (SQLite has no round trip to save)
_BOTH_ROWS_AT_ONCE = frozenset({"postgresql", "mysql", "mariadb"})


def _keys_of(entry) -> dict:
    """The parameters of a record's sort keys in the statements that write them
    (``_sort_key_values``)."""
    return {"title_key": entry.title, "author_key": entry.author, "year_key": entry.year}


def _sort_key_values() -> dict:
    """The ``search_records`` columns an edit sets, each from its ``_keys_of`` parameter."""
    r = tables.records
    return {r.c.title: bindparam("title_key"), r.c.author: bindparam("author_key"), r.c.year: bindparam("year_key")}


@functools.cache
def _both_rows_statement(database: str):
    """One UPDATE of a record's ``search_record_terms`` and ``search_records`` rows (an indexed
    record has both, see ``_stored_terms``): on MariaDB an UPDATE of both tables, on PostgreSQL
    the sort keys' UPDATE in a WITH beside the term list's (a data-modifying WITH runs whether
    or not the statement reads it). Each row is found by its primary key."""
    r, t = tables.records, tables.record_terms
    keys = _sort_key_values()
    if database in ("mysql", "mariadb"):
        return (update(t).where(t.c.biblionumber == bindparam("number"), r.c.biblionumber == t.c.biblionumber)
                .values({t.c.terms: bindparam("blob"), **keys}))
    sort_keys = update(r).where(r.c.biblionumber == bindparam("number")).values(keys).cte("sort_keys")
    return (update(t).add_cte(sort_keys).where(t.c.biblionumber == bindparam("number"))
            .values({t.c.terms: bindparam("blob")}))


# --- new records prepared elsewhere (kohaweb import's worker processes) ---------------------------

@dataclass
class NewRows:
    """One block's index rows for records new to the index, made without a database: posting
    rows (``packing.PostingColumns``, awaiting their segment number), and the records'
    ``search_records`` and ``search_record_terms`` rows."""

    postings: packing.PostingColumns
    records: list[dict]
    terms: list[dict]


def new_record_rows(entries: dict) -> dict[int, NewRows]:
    """The rows that index these records (none of them indexed yet), per block."""
    by_block: dict[int, dict] = {}
    for number in sorted(entries):
        by_block.setdefault(posting_format.block_of(number), {})[number] = entries[number]
    # in key order: each page of the postings' B-tree is then visited once per batch, in order,
    # instead of at random (what keeps a large index's inserts off the disk)
    return {block: NewRows(packing.pack(block, block_entries),
                           [_record_row(n, e) for n, e in block_entries.items()],
                           [_terms_row(n, e) for n, e in block_entries.items()])
            for block, block_entries in by_block.items()}


def join_new_rows(parts: list[dict[int, NewRows]]) -> dict[int, NewRows]:
    """Rows made by ``new_record_rows`` for consecutive groups of records (each group's numbers
    above the previous group's) joined into one row per key and block, in key order: what
    ``new_record_rows`` would have made of all the records at once."""
    by_block: dict[int, list[NewRows]] = {}
    for part in parts:
        for block, rows in part.items():
            by_block.setdefault(block, []).append(rows)
    out = {}
    for block, pieces in by_block.items():
        if len(pieces) == 1:
            out[block] = pieces[0]
            continue
        # a stable sort keeps each key's rows in the groups' order (their records ascending), so
        # joining a key's rows is concatenating their bytes; each piece is already a sorted run.
        # Only the keys of several groups need Python work: found by C-level comparisons
        rows = sorted(chain.from_iterable(piece.postings.rows() for piece in pieces), key=_ROW_KEY)
        keys = list(map(_ROW_KEY, rows))
        for i in compress(range(1, len(rows)), map(eq, keys[1:], keys)):
            first, then = rows[i - 1], rows[i]
            positions = first[5] + then[5] if first[5] and then[5] else first[5] or then[5]
            rows[i] = (first[0], first[1], block, first[3] + then[3], first[4] + then[4], positions)
            rows[i - 1] = None
        out[block] = NewRows(packing.PostingColumns.from_rows(block, list(filter(None, rows))),
                             [record for piece in pieces for record in piece.records],
                             [row for piece in pieces for row in piece.terms])
    return out


_ROW_KEY = itemgetter(0, 1)  # a posting row's (namespace, term)


STAGED = "kohaweb.search.staged"  # session.info: this session stores a staged load's batch


def append_new(session: Session, blocks: dict[int, NewRows]) -> None:
    """Write rows made by ``new_record_rows`` as one delta segment per block (into the staging
    table when the session loads a first catalogue, kohaweb.search.staging)."""
    conn = session.connection()
    s = tables.segments
    # a staged load's rows go to the staging table on SQLite (on PostgreSQL to the postings,
    # whose key is built when the load ends): kohaweb.search.staging
    staged = bool(session.info.get(STAGED)) and conn.dialect.name in staging.PENDING
    vocabulary.add_reversed(session, vocabulary.reversed_keys_of_columns(rows.postings for rows in blocks.values()),
                            session.info.get(vocabulary.RUN))
    for block in sorted(blocks):
        rows = blocks[block]
        _share_block(session, block)
        # the segment lists no keys: new records' rows never need folding with each other (each
        # import batch adds at most one row per key and block); compaction folds the keys edits
        # write, with whatever rows those keys have
        seg = conn.execute(insert(s).values(block=block, written=_NO_KEYS)).inserted_primary_key[0]
        # a staged load's table is keyed (block, segment, namespace, term): appended at the end of its B-tree
        table, names = (tables.pending, _PENDING_COLUMNS) if staged else (tables.postings, _POSTING_COLUMNS)
        values = rows.postings.by_column(seg)
        insert_columns(conn, table, names, [values[name] for name in names])
        insert_rows(conn, tables.records, rows.records)
        insert_rows(conn, tables.record_terms, rows.terms)


_PENDING_COLUMNS = ("block", "seg", "idx", "term", "ndocs", "docs", "positions")
_POSTING_COLUMNS = ("idx", "term", "block", "seg", "ndocs", "docs", "positions")  # dels: NULL


# --- whole new blocks (rebuild, bulk load) --------------------------------------------------------

def write_new_block(session: Session, block: int, entries: dict) -> None:
    """Write a block that holds nothing yet as merged rows, reading nothing back."""
    conn = session.connection()
    columns = packing.pack(block, entries)
    vocabulary.add_reversed(session, vocabulary.reversed_keys_of_columns([columns]))
    values = columns.by_column(0)
    insert_columns(conn, tables.postings, _POSTING_COLUMNS, [values[name] for name in _POSTING_COLUMNS])
    _insert_records(conn, sorted(entries.items()))
    _insert_ignore(conn, tables.blocks, {"block": block})
