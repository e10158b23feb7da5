"""Reading posting lists back from search_postings as numpy arrays: the records and occurrences of
terms, of ranges of terms, and of the whole index (``universe``, ``hidden``, ``size``).

The rows' layout and encoding are kohaweb.search.posting_format; how a term's rows (one per
segment) fold into one array, kohaweb.search.posting_folds. These functions, with ``EMPTY``, are
the store the query evaluator reads through (kohaweb.search.query; kohaweb.search.authority_index
has its own for the authority tables).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from operator import itemgetter

import numpy as np
from sqlalchemy import (
    BigInteger,
    and_,
    any_,
    bindparam,
    cast,
    func,
    literal_column,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..db import backend_name
from ..driver import read_rows
from . import tables
from .posting_folds import (
    _combine,
    _fold_all_docs,
    _fold_rows,
    _groups,
    _one_term_docs,
    _one_term_docs_and_keys,
    _union_of_rows,
    fold_docs,
    fold_keys,
)

# the layout's and the encoding's names stay importable from here, as they were (kohaweb itself
# imports them from kohaweb.search.posting_format)
from .posting_format import (  # noqa: F401
    ALL,
    BLOCK,
    BLOCK_BITS,
    EMPTY,
    FIELD_GAP,
    FIELD_STRIDE,
    HIDDEN,
    LARGEST_TERM_NUMBER,
    MAX_POSITION,
    NUMBER_BUCKETS,
    POSITION_BITS,
    block_of,
    decode_local_docs,
    decode_local_positions,
    doc_keys,
    encode_docs,
    encode_positions,
    multi_number_space,
    next_field_start,
    number_bucket_space,
    number_range_pieces,
    number_space,
    number_term,
    pack_docs,
    pack_positions,
    phrase_space,
)

CHUNK = 500  # terms per IN list


def ranges_in_one_select(session: Session | Connection) -> bool:
    """Whether a read of several key ranges of the postings is one SELECT whose ranges are OR'd
    (MariaDB) rather than a UNION ALL of a SELECT per range (PostgreSQL, SQLite).

    Both are key-range reads whatever the planner knows: MariaDB's range optimizer makes the OR'd
    conditions on the key's leading columns a ``range`` read of the primary key, measured on the
    index by probing it, not estimated from statistics. But MariaDB answers a UNION ALL with
    ORDER BY through a temporary table it fills and sorts, which made such a read cost twice a
    single key lookup's time (at 100k records, a word's title and ``any`` rows: 0.41 against
    0.20 ms when neither exists, 0.61 against 0.40 ms for a common word). PostgreSQL appends the
    index scans and sorts a few rows (the same 0.13 ms either way) and SQLite makes no round
    trip, so they keep the UNION ALL. The OR'd ranges never overlap (distinct pairs, distinct
    namespaces), so no row is read twice where the UNION ALL would have given it once."""
    return backend_name(session) == "mariadb"


def key_ranges(columns: tuple, ranges: list[list], joined: bool, *, ordered: bool = True):
    """A read of ``columns`` of the postings rows matching any of ``ranges`` (each a list of
    conditions on the key), in key order (``ordered``; else in no order, for a caller that orders
    the rows itself rather than have the database sort their blobs): one SELECT with the ranges
    OR'd when ``joined`` (``ranges_in_one_select``), else a UNION ALL of one SELECT per range."""
    p = tables.postings
    if len(ranges) == 1 or joined:
        read = select(*columns).where(any_range(ranges))
        return read.order_by(p.c.idx, p.c.term, p.c.block, p.c.seg) if ordered else read
    union = union_all(*[select(*columns).where(*r) for r in ranges])
    return union.order_by("idx", "term", "block", "seg") if ordered else union


def any_range(ranges: list[list]):
    """The condition of a row in any of ``ranges`` (each a list of conditions on the key)."""
    return and_(*ranges[0]) if len(ranges) == 1 else or_(*[and_(*r) for r in ranges])


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


def docs_and_keys_of(session: Session, words: list[tuple[str, str]], *, sized: bool = False
                     ) -> tuple[dict[tuple[str, str], tuple[np.ndarray, np.ndarray]], int | None]:
    """``docs_and_keys`` of several (namespace, term) pairs from one statement (a ranked search on
    ``any`` also scores the word's title occurrences: one round trip instead of two). Each pair is
    its own key range (``key_ranges``), so the plan is key lookups whatever the planner knows. With
    ``sized``, the same statement also counts the index's records (``size``, which ranking
    weighs words by), else the count is None."""
    rows, total = _pairs_rows(session, words, positional=True, sized=sized)
    grouped: dict[tuple[str, str], list] = {pair: [] for pair in words}
    for row in rows:
        grouped[(row[0], row[1])].append(row[1:6])  # as _rows gives them: term, block, docs, positions, dels
    return {pair: _one_term_docs_and_keys(found) for pair, found in grouped.items()}, total


def docs_of(session: Session, words: list[tuple[str, str]], *, sized: bool = False
            ) -> tuple[dict[tuple[str, str], np.ndarray], int | None]:
    """``docs`` of several (namespace, term) pairs from one statement, each pair its own key range
    (``key_ranges``; a public search reads its word and the hidden records' list in one round trip); with
    ``sized`` also ``size``, as ``docs_and_keys_of``."""
    rows, total = _pairs_rows(session, words, positional=False, sized=sized)
    grouped: dict[tuple[str, str], list] = {pair: [] for pair in words}
    for row in rows:
        grouped[(row[0], row[1])].append(row[1:5])  # as _rows gives them: term, block, docs, dels
    return {pair: _one_term_docs(found) for pair, found in grouped.items()}, total


_BLOCK_AND_SEGMENT = itemgetter(2, -1)  # of a posting row read with its namespace and term first
_SIZE_MARK = "_size"  # the namespace column of the row that counts the index (no namespace has it)


def _pairs_rows(session: Session, words: list[tuple[str, str]], *, positional: bool, sized: bool
                ) -> tuple[list[tuple], int | None]:
    pairs = list(dict.fromkeys(words))
    params = {f"{name}{n}": value for n, pair in enumerate(pairs) for name, value in zip(("idx", "term"), pair, strict=True)}
    if sized:
        params |= {"size_idx": ALL[0], "size_term": ALL[1]}
    joined = ranges_in_one_select(session)
    rows = read_rows(session, _pairs_statement(len(pairs), positional, sized, joined), params)
    if not sized:
        return rows, None
    if joined:  # left unordered by the statement (_pairs_statement): each pair's rows by block and segment
        rows.sort(key=_BLOCK_AND_SEGMENT)
    # the sums always make one row (coalesced to 0 on an empty index)
    (counted,) = [row for row in rows if row[0] == _SIZE_MARK]
    return [row for row in rows if row[0] != _SIZE_MARK], _size_of(int(counted[2]), int(counted[-1]))


@functools.lru_cache(maxsize=64)
def _pairs_statement(count: int, positional: bool = True, sized: bool = False, joined: bool = False):
    """``docs_and_keys_of``'s (or, not ``positional``, ``docs_of``'s) statement for ``count``
    pairs (parameters idx0, term0, idx1...); ``sized``: and a last row whose ``block`` and
    ``seg`` columns hold ``_size_statement``'s two sums (parameters size_idx, size_term);
    ``joined``: the pairs' ranges OR'd in one SELECT (``ranges_in_one_select``)."""
    p = tables.postings
    columns = (p.c.idx, p.c.term, p.c.block, p.c.docs, p.c.positions, p.c.dels, p.c.seg) if positional else \
        (p.c.idx, p.c.term, p.c.block, p.c.docs, p.c.dels, p.c.seg)
    ranges = [[p.c.idx == bindparam(f"idx{n}"), p.c.term == bindparam(f"term{n}")] for n in range(count)]
    if not sized:
        return key_ranges(columns, ranges, joined)
    if joined:
        parts = [select(*columns).where(any_range(ranges))]
    else:
        parts = [select(*columns).where(*r) for r in ranges]
    # last, so that the statement's column types stay those of the posting rows (its blobs are
    # read in binary, kohaweb.driver); BIGINT sums: MariaDB's SUM is a DECIMAL, which would make
    # the whole block column come back as Decimal
    added, removed = _sums(p)
    blanks = [null().label(name) for name in (("docs", "positions", "dels") if positional else ("docs", "dels"))]
    parts.append(select(literal_column(f"'{_SIZE_MARK}'").label("idx"), literal_column("''").label("term"),
                        cast(added, BigInteger).label("block"), *blanks, cast(removed, BigInteger).label("seg"))
                 .where(p.c.idx == bindparam("size_idx"), p.c.term == bindparam("size_term")))
    if joined:
        # no ORDER BY: MariaDB would fill and sort a temporary table for it (0.64 against 0.38 ms
        # for a word's three pairs and the size at 100k records); the few rows are sorted here
        return union_all(*parts)
    return union_all(*parts).order_by("idx", "term", "block", "seg")


def docs_in_ranges(session: Session, ranges: list[tuple[str, str, str]]) -> np.ndarray:
    """The records of every term ``low``..``high`` (inclusive) of each ``(namespace, low, high)``,
    from one statement (the pieces of a number range: its edge years, decades and centuries),
    each range its own key range (``key_ranges``), so the plan is range scans whatever the
    planner knows."""
    if len(ranges) == 1:
        idx, low, high = ranges[0]
        p = tables.postings
        return docs_where(session, idx, p.c.term >= low, p.c.term <= high)[1]
    params = {f"{name}{n}": value for n, piece in enumerate(ranges)
              for name, value in zip(("idx", "low", "high"), piece, strict=True)}
    # (namespace, term) as the term: equal terms of two namespaces (a year 197 and the decade
    # 197) are different terms to fold
    statement = _ranges_statement(len(ranges), ranges_in_one_select(session))
    rows = [((row[0], row[1]), *row[2:5]) for row in read_rows(session, statement, params)]
    if not rows:
        return EMPTY
    return _fold_all_docs(rows) if any(row[3] for row in rows) else _union_of_rows(rows)


@functools.cache
def _ranges_statement(count: int, joined: bool = False):
    p = tables.postings
    ranges = [[p.c.idx == bindparam(f"idx{n}"), p.c.term >= bindparam(f"low{n}"), p.c.term <= bindparam(f"high{n}")]
              for n in range(count)]
    return key_ranges((p.c.idx, p.c.term, p.c.block, p.c.docs, p.c.dels, p.c.seg), ranges, joined)


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
def _blocks_statement(bounded: bool, hidden_too: bool = False, joined: bool = False):
    """The ``_all`` rows of blocks ``low``.. (``..high`` when ``bounded``), and with
    ``hidden_too`` the ``_hidden`` rows, each its own key range (``key_ranges``)."""
    p = tables.postings
    columns = (p.c.idx, p.c.term, p.c.block, p.c.docs, p.c.dels, p.c.seg)
    blocks = [p.c.idx == bindparam("idx"), p.c.term == bindparam("term"), p.c.block >= bindparam("low")]
    if bounded:
        blocks.append(p.c.block <= bindparam("high"))
    ranges = [blocks, [p.c.idx == bindparam("hidden_idx"), p.c.term == bindparam("hidden_term")]] if hidden_too \
        else [blocks]
    return key_ranges(columns, ranges, joined)


def universe_between(session: Session, low: int | None, high: int | None) -> np.ndarray:
    """The indexed records numbered ``low``..``high`` (None: unbounded), reading only their blocks
    (a rec.id look-up reads one block's row, not the whole catalogue's list)."""
    return _between(session, low, high, hidden_too=False)[0]


def universe_and_hidden_between(session: Session, low: int | None, high: int | None) -> tuple[np.ndarray, np.ndarray]:
    """``universe_between`` and ``hidden`` from one statement: a public rec.id look-up makes one
    round trip instead of two."""
    every, hidden_records = _between(session, low, high, hidden_too=True)
    return every, hidden_records if hidden_records is not None else hidden(session)


def _between(session: Session, low: int | None, high: int | None, *,
             hidden_too: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """The records numbered ``low``..``high``, and with ``hidden_too`` the hidden records read
    in the same statement (None when no statement was needed)."""
    low = max(low or 0, 0)
    if low > LARGEST_NUMBER or (high is not None and high < low):
        return EMPTY, None
    bounded = high is not None and high <= LARGEST_NUMBER
    params = {"idx": ALL[0], "term": ALL[1], "low": block_of(low)}
    if bounded:
        params["high"] = block_of(high)
    if hidden_too:
        params |= {"hidden_idx": HIDDEN[0], "hidden_term": HIDDEN[1]}
    rows = read_rows(session, _blocks_statement(bounded, hidden_too, ranges_in_one_select(session)), params)
    every = _combine(_fold_rows([row[1:5] for row in rows if row[0] == ALL[0]], False), False)
    keep = every >= low
    if high is not None:
        keep &= every <= high
    hidden_records = _one_term_docs([row[1:5] for row in rows if row[0] == HIDDEN[0]]) if hidden_too else None
    return every[keep], hidden_records


def size(session: Session) -> int:
    """How many records the index holds, summed in the database from the ``_all`` rows' counts
    (no posting list travels: at 1M records the list itself is 122 rows of up to 16 KB).

    Exact because a record enters ``_all`` once (its first segment) and leaves it once (a
    deletion marker); edits never rewrite ``_all`` (its signature does not change)."""
    ((added, removed),) = read_rows(session, _size_statement(), {"idx": ALL[0], "term": ALL[1]})
    return _size_of(int(added), int(removed))


def _size_of(added: int, removed_bytes: int) -> int:
    # a deletion marker is a record's two-byte offset in ``dels``
    return added - removed_bytes // 2


def _sums(p):
    zero = literal_column("0")
    return func.coalesce(func.sum(p.c.ndocs), zero), func.coalesce(func.sum(func.length(p.c.dels)), zero)


@functools.cache
def _size_statement():
    # parameters only, no value bound in the statement: it runs on the driver (kohaweb.driver)
    p = tables.postings
    return select(*_sums(p)).where(p.c.idx == bindparam("idx"), p.c.term == bindparam("term"))


def hidden(session: Session) -> np.ndarray:
    return docs(session, HIDDEN[0], [HIDDEN[1]])
