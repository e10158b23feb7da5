"""The posting-list encoding, and reading posting lists back as numpy arrays.

Records are grouped in blocks of ``BLOCK`` consecutive record numbers. A row of search_postings
holds, for one (index, term, block):

- ``docs``: the block's matching records, sorted, as little-endian uint16 offsets from the
  block's first record number (two bytes per record);
- ``positions`` (word indexes only): every occurrence as a little-endian uint32
  ``offset << 16 | word position``, sorted.

Read back, record sets are sorted int64 arrays of record numbers and occurrences are sorted
int64 "keys" ``biblionumber << 16 | position``; adjacency of two words is then ``keys + 1`` in
the other word's keys, found with one vectorised intersection.

Namespaces share the table: word indexes use their name; whole-field phrases use ``name=``;
numbers (years) use ``name#`` with ten-digit zero-padded terms so that text order is numeric
order; ``_all`` lists every indexed record and ``_hidden`` those public services must not show.
A record with two or more distinct numbers in an index also has each of them under ``name#2``
(``multi_number_space``): a CQL range ``X >= a and X <= b`` then reads one range of ``name#``
and two of that much smaller namespace (kohaweb.search.query) instead of half the index twice.
Each number of both is also listed by its tens and its hundreds (``name#/10``, ``name#2/100``...,
``number_bucket_space``): a range of years then reads a few whole decades and centuries and the
years at its edges (``number_range_pieces``), not every year between.
"""

from __future__ import annotations

import array
import functools
import sys
from collections.abc import Iterable

import numpy as np
from sqlalchemy import any_, bindparam, func, literal_column, select, union_all
from sqlalchemy.orm import Session

from ..driver import read_rows
from . import sorted_sets, tables

BLOCK_BITS = 13
BLOCK = 1 << BLOCK_BITS
POSITION_BITS = 16
MAX_POSITION = 65000  # later words of a huge field are not positional (kept clear of the key's edge)
FIELD_GAP = 10  # at least this gap between two fields' positions: adjacency never spans fields
# Each field of an index starts at a multiple of FIELD_STRIDE (after the gap). A field that grows
# or shrinks by a few words then leaves the positions of the fields after it as they were, so an
# edit rewrites only the keys of the fields it changed. A longer title used to shift every later
# word of "any": on 1M realistic records an edit wrote a median of 58 posting rows, now 10.
FIELD_STRIDE = 32


def next_field_start(end: int) -> int:
    """Where an index's next field starts when the previous one ended before position ``end``
    (both indexers, bibliographic and authority, number words this way)."""
    return -(-(end + FIELD_GAP) // FIELD_STRIDE) * FIELD_STRIDE

ALL = ("_all", "")
HIDDEN = ("_hidden", "")
EMPTY = np.empty(0, dtype=np.int64)


def phrase_space(index: str) -> str:
    return index + "="


def number_space(index: str) -> str:
    return index + "#"


def multi_number_space(index: str) -> str:
    """The numbers of the records with several distinct numbers in ``index`` (no index name
    holds "#", so this cannot meet another namespace)."""
    return index + "#2"


def number_term(value: int) -> str:
    return f"{value:010d}"


NUMBER_BUCKETS = (10, 100)  # the coarser copies of every number, finest first
LARGEST_TERM_NUMBER = 10**10 - 1  # the largest number a ten-digit term holds


def number_bucket_space(space: str, step: int) -> str:
    """Where a number namespace (``number_space`` or ``multi_number_space``) lists each of its
    numbers ``n`` once more as ``n // step`` (``step`` one of ``NUMBER_BUCKETS``): a record with
    1956 is under 195 in ``date#/10`` and 19 in ``date#/100``."""
    return f"{space}/{step}"


def number_range_pieces(low: int, high: int) -> list[tuple[int, int, int]]:
    """The numbers ``low``..``high`` (inclusive, ``low <= high``) as the fewest ranges of
    ``(step, first, last)``: the terms ``first``..``last`` of the namespace of ``step`` (1 for
    the numbers themselves). Whole decades inside are read as decades and whole centuries
    inside those as centuries, so 1950..2000 is decades 195..199 and the year 2000, two short
    reads instead of 51 years' rows in every block."""
    pieces = []
    step = 1
    for coarser in NUMBER_BUCKETS:
        inner_low = -(-low // coarser) * coarser  # the whole buckets of ``coarser`` inside
        inner_high = (high + 1) // coarser * coarser - 1
        if inner_low > inner_high:
            break
        if low < inner_low:
            pieces.append((step, low // step, inner_low // step - 1))
        if inner_high < high:
            pieces.append((step, (inner_high + 1) // step, high // step))
        low, high, step = inner_low, inner_high, coarser
    pieces.append((step, low // step, high // step))
    return pieces


def block_of(biblionumber: int) -> int:
    return biblionumber >> BLOCK_BITS


# --- encoding (block-local arrays) ----------------------------------------------------------------

def encode_docs(local: np.ndarray) -> bytes:
    return local.astype("<u2").tobytes()


def decode_local_docs(blob: bytes | None) -> np.ndarray:
    return np.frombuffer(blob or b"", dtype="<u2").astype(np.int64)


def pack_docs(local: list[int]) -> bytes:
    """``encode_docs`` for a short ordered list (no numpy round trip)."""
    return _little(array.array("H", local))


def pack_positions(local_keys: list[int]) -> bytes:
    return _little(array.array("I", local_keys))


def _little(values: array.array) -> bytes:
    if sys.byteorder != "little":
        values.byteswap()
    return values.tobytes()


def encode_positions(local_keys: np.ndarray) -> bytes:
    return local_keys.astype("<u4").tobytes()


def decode_local_positions(blob: bytes | None) -> np.ndarray:
    return np.frombuffer(blob or b"", dtype="<u4").astype(np.int64)


# --- reading (global arrays) ---------------------------------------------------------------------
#
# A term's rows in one block are applied in segment order: each row first removes the records it
# names (``docs`` and ``dels``), then adds its ``docs`` (with their positions). The usual case, a
# single merged row, is read as it is.

def _docs(block: int, blob: bytes) -> np.ndarray:
    return decode_local_docs(blob) + (block << BLOCK_BITS)


def _keys(block: int, blob: bytes | None) -> np.ndarray:
    return decode_local_positions(blob) + (block << (BLOCK_BITS + POSITION_BITS))


def fold_docs(rows: list[tuple[bytes, bytes | None]]) -> np.ndarray:
    """Block-local record offsets of one (term, block) from its rows (docs, dels) in segment order."""
    appended = _appended([added for added, _ in rows], [removed for _, removed in rows])
    if appended is not None:
        return appended
    docs = decode_local_docs(rows[0][0])
    for added, removed in rows[1:]:
        new = decode_local_docs(added)
        gone = decode_local_docs(removed)
        if len(docs) and (len(new) or len(gone)):
            docs = sorted_sets.difference(docs, sorted_sets.union(new, gone))
        docs = sorted_sets.union(docs, new)
    return docs


def fold_keys(rows: list[tuple[bytes, bytes | None, bytes | None]]) -> np.ndarray:
    """Block-local occurrence keys of one (term, block) from its rows (docs, positions, dels)."""
    if _appended([added for added, _, _ in rows], [removed for _, _, removed in rows]) is not None:
        return np.concatenate([decode_local_positions(positions) for _, positions, _ in rows])
    keys = decode_local_positions(rows[0][1])
    for added, positions, removed in rows[1:]:
        affected = sorted_sets.union(decode_local_docs(added), decode_local_docs(removed))
        if len(keys) and len(affected):
            keys = keys[~sorted_sets.member(keys >> POSITION_BITS, affected)]
        new = decode_local_positions(positions)
        if len(new):
            keys = sorted_sets.union(keys, new) if len(keys) else new
    return keys


def _appended(added: list[bytes], removed: list[bytes | None]) -> np.ndarray | None:
    """The rows' records when every row only appends records after the previous rows' ones (what
    an import writes: one segment per batch, numbers ascending), else None. Such rows remove
    nothing, so their fold is their concatenation (already sorted), and so is their keys'."""
    if any(removed):
        return None
    parts = [decode_local_docs(blob) for blob in added]
    last = -1
    for part in parts:
        if len(part):
            if part[0] <= last:
                return None
            last = part[-1]
    return np.concatenate(parts)


def _combine(parts: list[np.ndarray], several_terms: bool) -> np.ndarray:
    if not parts:
        return EMPTY
    merged = np.concatenate(parts)
    # one term's rows come in block order, already sorted; several terms overlap
    return sorted_sets.unsorted_distinct(merged) if several_terms else merged


CHUNK = 500  # terms per IN list


def docs(session: Session, idx: str, terms: Iterable[str]) -> np.ndarray:
    """The records indexed under any of these terms."""
    return _read(session, idx, terms, positional=False)


def keys(session: Session, idx: str, terms: Iterable[str]) -> np.ndarray:
    """The occurrences (biblionumber << 16 | position) of any of these terms."""
    return _read(session, idx, terms, positional=True)


def docs_and_keys(session: Session, idx: str, terms: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    """``docs`` and ``keys`` of these terms from one read (a ranked search needs both; a record
    can be indexed under a word whose positions are past ``MAX_POSITION``, so docs are not
    derived from keys)."""
    terms = list(dict.fromkeys(terms))
    if len(terms) == 1:
        return _one_term_docs_and_keys(next(_rows(session, idx, terms, positional=True)))
    docs_parts: list[np.ndarray] = []
    keys_parts: list[np.ndarray] = []
    for rows in _rows(session, idx, terms, positional=True):
        for block, group in _groups(rows):
            docs_parts.append(fold_docs([(g[0], g[2]) for g in group]) + (block << BLOCK_BITS))
            keys_parts.append(fold_keys(group) + (block << (BLOCK_BITS + POSITION_BITS)))
    several = len(terms) > 1
    return _combine(docs_parts, several), _combine(keys_parts, several)


def docs_and_keys_of(session: Session, words: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """``docs_and_keys`` of several (namespace, term) pairs from one statement (a ranked search on
    ``any`` also scores the word's title occurrences: one round trip instead of two). Each pair is
    its own key range (UNION ALL), so the plan is key lookups whatever the planner knows."""
    pairs = list(dict.fromkeys(words))
    params = {f"{name}{n}": value for n, pair in enumerate(pairs) for name, value in zip(("idx", "term"), pair, strict=True)}
    rows = read_rows(session, _pairs_statement(len(pairs)), params)
    grouped: dict[tuple[str, str], list] = {pair: [] for pair in words}
    for row in rows:
        grouped[(row[0], row[1])].append(row[1:6])  # as _rows gives them: term, block, docs, positions, dels
    return {pair: _one_term_docs_and_keys(found) for pair, found in grouped.items()}


def docs_of(session: Session, words: list[tuple[str, str]]) -> dict[tuple[str, str], np.ndarray]:
    """``docs`` of several (namespace, term) pairs from one statement, each pair its own key range
    (a public search reads its word and the hidden records' list in one round trip)."""
    pairs = list(dict.fromkeys(words))
    params = {f"{name}{n}": value for n, pair in enumerate(pairs) for name, value in zip(("idx", "term"), pair, strict=True)}
    rows = read_rows(session, _pairs_statement(len(pairs), positional=False), params)
    grouped: dict[tuple[str, str], list] = {pair: [] for pair in words}
    for row in rows:
        grouped[(row[0], row[1])].append(row[1:5])  # as _rows gives them: term, block, docs, dels
    return {pair: _one_term_docs(found) for pair, found in grouped.items()}


def _one_term_docs(rows) -> np.ndarray:
    """Docs of one term's rows (term, block, docs, dels) by block and segment."""
    if len(rows) > 1:
        return _fold_all_docs(rows) if any(row[3] for row in rows) else _union_of_rows(rows)
    return _combine(_fold_rows(rows, False), False)


def _one_term_docs_and_keys(rows) -> tuple[np.ndarray, np.ndarray]:
    """Docs and keys of one term's rows (term, block, docs, positions, dels) by block and
    segment: decoded in one piece when they only add records, else folded block by block."""
    appended = _appended_rows(rows)
    if appended is not None:
        return appended
    # edits leave a few blocks with several rows: the rest is decoded in runs (_fold_rows)
    docs_rows = [(term, block, docs, dels) for term, block, docs, _, dels in rows]
    return _combine(_fold_rows(docs_rows, False), False), _combine(_fold_rows(rows, True), False)


def _run_docs(run: list[tuple[int, tuple]]) -> np.ndarray:
    """The records of lone rows ((block, row) with the row's docs first), in one piece."""
    blocks = np.array([block for block, _ in run], dtype=np.int64)
    docs = np.frombuffer(b"".join([row[0] for _, row in run]), dtype="<u2").astype(np.int64)
    return docs + np.repeat(blocks << BLOCK_BITS, [len(row[0]) // 2 for _, row in run])


def _run_keys(run: list[tuple[int, tuple]]) -> np.ndarray:
    """The occurrence keys of lone rows ((block, (docs, positions, dels))), in one piece."""
    blocks = np.array([block for block, _ in run], dtype=np.int64)
    keys = np.frombuffer(b"".join([row[1] or b"" for _, row in run]), dtype="<u4").astype(np.int64)
    return keys + np.repeat(blocks << (BLOCK_BITS + POSITION_BITS), [len(row[1] or b"") // 4 for _, row in run])


@functools.lru_cache(maxsize=16)
def _pairs_statement(count: int, positional: bool = True):
    """``docs_and_keys_of``'s (or, not ``positional``, ``docs_of``'s) statement for ``count``
    pairs (parameters idx0, term0, idx1...)."""
    p = tables.postings
    columns = (p.c.idx, p.c.term, p.c.block, p.c.docs, p.c.positions, p.c.dels, p.c.seg) if positional else \
        (p.c.idx, p.c.term, p.c.block, p.c.docs, p.c.dels, p.c.seg)
    parts = [select(*columns).where(p.c.idx == bindparam(f"idx{n}"), p.c.term == bindparam(f"term{n}"))
             for n in range(count)]
    return (parts[0] if count == 1 else union_all(*parts)).order_by("idx", "term", "block", "seg")


def docs_in_ranges(session: Session, ranges: list[tuple[str, str, str]]) -> np.ndarray:
    """The records of every term ``low``..``high`` (inclusive) of each ``(namespace, low, high)``,
    from one statement (the pieces of a number range: its edge years, decades and centuries),
    each range its own key range (UNION ALL), so the plan is range scans whatever the planner
    knows."""
    if len(ranges) == 1:
        idx, low, high = ranges[0]
        p = tables.postings
        return docs_where(session, idx, p.c.term >= low, p.c.term <= high)[1]
    params = {f"{name}{n}": value for n, piece in enumerate(ranges)
              for name, value in zip(("idx", "low", "high"), piece, strict=True)}
    # (namespace, term) as the term: equal terms of two namespaces (a year 197 and the decade
    # 197) are different terms to fold
    rows = [((row[0], row[1]), *row[2:5]) for row in read_rows(session, _ranges_statement(len(ranges)), params)]
    if not rows:
        return EMPTY
    return _fold_all_docs(rows) if any(row[3] for row in rows) else _union_of_rows(rows)


@functools.cache
def _ranges_statement(count: int):
    p = tables.postings
    parts = [select(p.c.idx, p.c.term, p.c.block, p.c.docs, p.c.dels, p.c.seg)
             .where(p.c.idx == bindparam(f"idx{n}"), p.c.term >= bindparam(f"low{n}"), p.c.term <= bindparam(f"high{n}"))
             for n in range(count)]
    return union_all(*parts).order_by("idx", "term", "block", "seg")


def _appended_rows(rows) -> tuple[np.ndarray, np.ndarray] | None:
    """Docs and keys of one term's rows (term, block, docs, positions, dels) when each row only
    adds records after those of the rows before it (what imports write): their fold is their
    concatenation, decoded in one piece rather than row by row. None otherwise."""
    if len(rows) < 2 or any(row[4] for row in rows):
        return None
    run = [(row[1], row[2:]) for row in rows]  # (block, (docs, positions, dels)) as _run_docs takes them
    docs = _run_docs(run)
    if len(docs) > 1 and not bool(np.all(docs[1:] > docs[:-1])):
        return None  # a record set again by a later row: folded row by row
    keys = _run_keys(run)
    return docs, keys


def _columns(positional: bool) -> tuple:
    p = tables.postings
    return (p.c.term, p.c.block, p.c.docs, p.c.positions, p.c.dels) if positional else \
        (p.c.term, p.c.block, p.c.docs, p.c.dels)


@functools.cache
def _one_term(positional: bool):
    """The statement reading one term's rows, built once: most reads are of one term, and
    building a statement costs SQLAlchemy more than the round trip to the database."""
    p = tables.postings
    return select(*_columns(positional)).where(p.c.idx == bindparam("idx"), p.c.term == bindparam("term")) \
        .order_by(p.c.term, p.c.block, p.c.seg)


@functools.cache
def _terms_array(positional: bool):
    """Several terms' rows on PostgreSQL: the terms as one array parameter, so the statement is
    the same for any number of them and runs on the driver (``read_rows``: posting lists in
    binary), where an IN list is a new statement each time. The untyped parameter is the list
    psycopg sends as an array; ``= ANY`` on the key's leading columns is an index scan."""
    p = tables.postings
    return select(*_columns(positional)).where(p.c.idx == bindparam("idx"), p.c.term == any_(bindparam("terms"))) \
        .order_by(p.c.term, p.c.block, p.c.seg)


def _rows(session: Session, idx: str, terms: list[str], *, positional: bool):
    """Row batches (lists of term, block, docs, [positions,] dels) of these terms, by term,
    block, segment."""
    if len(terms) == 1:
        yield read_rows(session, _one_term(positional), {"idx": idx, "term": terms[0]})
        return
    if session.get_bind().dialect.name == "postgresql":
        for start in range(0, len(terms), CHUNK):
            yield read_rows(session, _terms_array(positional), {"idx": idx, "terms": terms[start:start + CHUNK]})
        return
    p = tables.postings
    columns = _columns(positional)
    for start in range(0, len(terms), CHUNK):
        chunk = terms[start:start + CHUNK]
        condition = p.c.term == chunk[0] if len(chunk) == 1 else p.c.term.in_(chunk)
        yield session.execute(select(*columns).where(p.c.idx == idx, condition)
                              .order_by(p.c.term, p.c.block, p.c.seg)).all()


def _groups(rows):
    """(block, [row[2:] ...]) per (term, block) of rows ordered by term, block and segment."""
    group: list = []
    current = None
    for row in rows:
        where = (row[0], row[1])
        if where != current:
            if group:
                yield current[1], group
            group, current = [], where
        group.append(row[2:])
    if group:
        yield current[1], group


def _read(session: Session, idx: str, terms: Iterable[str], *, positional: bool) -> np.ndarray:
    terms = list(dict.fromkeys(terms))
    if not positional:
        rows = [row for batch in _rows(session, idx, terms, positional=False) for row in batch]
        return _one_term_docs(rows)  # several terms' rows fold alike (each term on its own)
    if len(terms) == 1:
        return _one_term_docs_and_keys(next(_rows(session, idx, terms, positional=True)))[1]
    parts: list[np.ndarray] = []
    for rows in _rows(session, idx, terms, positional=True):
        parts.extend(_fold_rows(rows, positional))
    return _combine(parts, len(terms) > 1)


def _fold_all_docs(rows) -> np.ndarray:
    """The records of rows (term, block, docs, dels) ordered by term, block and segment, over
    every term at once. Each row first removes the records it names, then adds its docs, so a
    record belongs to a term when the last row of that term that names it adds it: one sort of
    every mention by (term, record, row) finds those last mentions without a step per row (edited
    and deleted records leave removals in many rows of the common terms and the dates)."""
    count = len(rows)
    term_ids = np.zeros(count, dtype=np.int64)
    for i in range(1, count):
        term_ids[i] = term_ids[i - 1] + (rows[i][0] != rows[i - 1][0])
    bases = np.array([row[1] for row in rows], dtype=np.int64) << BLOCK_BITS
    added = [len(row[2]) // 2 for row in rows]
    removed = [len(row[3] or b"") // 2 for row in rows]
    docs = np.concatenate((
        np.frombuffer(b"".join([row[2] for row in rows]), dtype="<u2").astype(np.int64) + np.repeat(bases, added),
        np.frombuffer(b"".join([row[3] or b"" for row in rows]), dtype="<u2").astype(np.int64) + np.repeat(bases, removed)))
    positions = np.arange(count, dtype=np.int64)
    row_of = np.concatenate((np.repeat(positions, added), np.repeat(positions, removed)))
    term_of = term_ids[row_of]
    adds = np.concatenate((np.ones(sum(added), dtype=np.int8), np.zeros(sum(removed), dtype=np.int8)))
    if not len(docs):
        return EMPTY
    # within one row its docs win over its dels (it removes, then adds): adds sort last
    order = np.lexsort((adds, row_of, docs, term_of))
    docs, term_of, adds = docs[order], term_of[order], adds[order]
    last = np.ones(len(docs), dtype=bool)
    last[:-1] = (docs[1:] != docs[:-1]) | (term_of[1:] != term_of[:-1])
    return sorted_sets.unsorted_distinct(docs[last & (adds == 1)])


def _union_of_rows(rows) -> np.ndarray:
    """The records of rows (term, block, docs, dels) none of which removes any record: folding
    such rows adds each row's records to the earlier ones', so the result, over every term and
    block, is the union of all their records. Decoded in one piece (a range or a common word at
    a large catalogue has thousands of rows: one numpy call per row would be most of the cost)."""
    blob = b"".join([row[2] for row in rows])
    local = np.frombuffer(blob, dtype="<u2").astype(np.int64)
    bases = np.array([row[1] for row in rows], dtype=np.int64) << BLOCK_BITS
    lengths = np.array([len(row[2]) // 2 for row in rows], dtype=np.int64)
    return sorted_sets.unsorted_distinct(local + np.repeat(bases, lengths))


def _fold_rows(rows, positional: bool) -> list[np.ndarray]:
    """Global arrays, in (term, block) order, from rows ordered by term, block and segment: runs
    of (term, block) groups of one row each decoded in one piece (a truncated word expands to
    hundreds of terms over every block: one numpy call per group was most of its read), the
    groups of several rows folded."""
    out: list[np.ndarray] = []
    run: list[tuple[int, tuple]] = []
    decode = _run_keys if positional else _run_docs
    for block, group in _groups(rows):
        if len(group) == 1:
            run.append((block, group[0]))
            continue
        if run:
            out.append(decode(run))
            run = []
        if positional:
            out.append(fold_keys(group) + (block << (BLOCK_BITS + POSITION_BITS)))
        else:
            out.append(fold_docs(group) + (block << BLOCK_BITS))
    if run:
        out.append(decode(run))
    return out


def docs_where(session: Session, idx: str, *conditions) -> tuple[list[str], np.ndarray]:
    """Terms of one namespace matching SQL conditions on the term column, and their records."""
    p = tables.postings
    rows = session.execute(select(p.c.term, p.c.block, p.c.docs, p.c.dels)
                           .where(p.c.idx == idx, *conditions).order_by(p.c.term, p.c.block, p.c.seg)).all()
    found = list(dict.fromkeys(row[0] for row in rows))
    if len(rows) > 1:
        return found, _fold_all_docs(rows) if any(row[3] for row in rows) else _union_of_rows(rows)
    return found, _combine(_fold_rows(rows, False), True)


def vocabulary(session: Session, idx: str, *conditions) -> list[str]:
    """The distinct terms of one namespace matching SQL conditions on the term column, in order
    (a term whose records have all been removed by deltas not yet compacted may still be listed)."""
    p = tables.postings
    return list(session.scalars(select(p.c.term).where(p.c.idx == idx, *conditions).distinct().order_by(p.c.term)))


def universe(session: Session) -> np.ndarray:
    return docs(session, ALL[0], [ALL[1]])


LARGEST_NUMBER = 2**31 - 1  # record numbers are INTEGER columns


@functools.cache
def _blocks_statement(bounded: bool):
    """The ``_all`` rows of blocks ``low``.. (``..high`` when ``bounded``)."""
    p = tables.postings
    condition = [p.c.idx == bindparam("idx"), p.c.term == bindparam("term"), p.c.block >= bindparam("low")]
    if bounded:
        condition.append(p.c.block <= bindparam("high"))
    return select(p.c.term, p.c.block, p.c.docs, p.c.dels).where(*condition).order_by(p.c.term, p.c.block, p.c.seg)


def universe_between(session: Session, low: int | None, high: int | None) -> np.ndarray:
    """The indexed records numbered ``low``..``high`` (None: unbounded), reading only their blocks
    (a rec.id look-up reads one block's row, not the whole catalogue's list)."""
    low = max(low or 0, 0)
    if low > LARGEST_NUMBER or (high is not None and high < low):
        return EMPTY
    bounded = high is not None and high <= LARGEST_NUMBER
    params = {"idx": ALL[0], "term": ALL[1], "low": block_of(low)}
    if bounded:
        params["high"] = block_of(high)
    rows = read_rows(session, _blocks_statement(bounded), params)
    every = _combine(_fold_rows(rows, False), False)
    keep = every >= low
    if high is not None:
        keep &= every <= high
    return every[keep]


def size(session: Session) -> int:
    """How many records the index holds, summed in the database from the ``_all`` rows' counts
    (no posting list travels: at 1M records the list itself is 122 rows of up to 16 KB).

    Exact because a record enters ``_all`` once (its first segment) and leaves it once (a
    deletion marker); edits never rewrite ``_all`` (its signature does not change)."""
    ((added, removed),) = read_rows(session, _size_statement(), {"idx": ALL[0], "term": ALL[1]})
    return int(added) - int(removed) // 2


@functools.cache
def _size_statement():
    # parameters only, no value bound in the statement: it runs on the driver (kohaweb.driver)
    p = tables.postings
    zero = literal_column("0")
    return select(func.coalesce(func.sum(p.c.ndocs), zero), func.coalesce(func.sum(func.length(p.c.dels)), zero)) \
        .where(p.c.idx == bindparam("idx"), p.c.term == bindparam("term"))


def hidden(session: Session) -> np.ndarray:
    return docs(session, HIDDEN[0], [HIDDEN[1]])


def doc_keys(keys_array: np.ndarray) -> np.ndarray:
    """The records of a sorted array of occurrences."""
    return sorted_sets.distinct(keys_array >> POSITION_BITS)
