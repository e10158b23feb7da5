"""Running queries: counting, paging, sorting and scanning."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import Integer, any_, bindparam, null, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from ..driver import read_rows
from . import normalize, posting_format, postings, ranking, sorted_sets, tables
from .indexer import flush_pending
from .mapping import INDEXES
from .query import evaluate, evaluator_for
from .query_tree import Node, QueryError

SMALL_SORT = 5000  # up to this many hits, sort keys may be fetched for all of them
FETCH_ALWAYS = 500  # up to this many hits, they always are (a walk reads at least a page)
SORT_PAGE = 2000  # rows per read when walking a sort key's index, at most
MIN_SORT_PAGE = 100  # rows of its first read, at least
WALK_FACTOR = 2  # see _walk_is_cheaper
RUN_SLICE = 256  # record numbers of a run of equal sort values read first, four times more each time after


@dataclass(frozen=True)
class SortKey:
    index: str  # title | author | date | recid
    ascending: bool = True
    missing: str = "high"  # high | low: where records without a value go


SORTABLE = {"title": "title", "author": "author", "date": "year", "recid": "biblionumber"}


@dataclass
class SearchResult:
    total: int
    ids: list[int] = field(default_factory=list)


def search(session: Session, node: Node, *, offset: int = 0, limit: int = 10, sort: tuple[SortKey, ...] = (),
           public: bool = True, rank: bool = False) -> SearchResult:
    """Count the matching records and return the ids of one page (``offset`` is 0-based).

    Without ``sort``, the page is in relevance order when ``rank`` is true and the query has words
    to rank by (kohaweb.search.ranking), otherwise in record number order."""
    for key in sort:
        if key.index not in SORTABLE:
            raise QueryError("unsupported_sort", f"cannot sort by {key.index}", key.index)
    flush_pending(session)
    ranked = rank and not sort and ranking.rankable(node)
    # what the page's order will need to know of the whole index comes with the first word read:
    # the number of indexed records (a sort of many hits, and ranking by several words, weigh by it)
    evaluator = evaluator_for(session, ranked=ranked, also_scored=ranking.ALSO_SCORED if ranked else None,
                              hidden_too=public,
                              size_too=bool(sort) and sort[0].index != "recid" or ranked and ranking.weighs_words(node))
    hits = evaluate(session, node, evaluator)
    if public and len(hits):
        hidden = evaluator.hidden if evaluator.hidden is not None else postings.hidden(session)
        hits = sorted_sets.difference(hits, hidden)
    total = len(hits)
    if limit <= 0 or offset >= total:
        return SearchResult(total, [])
    if not sort:
        if ranked:
            hits = ranking.order(session, node, hits, evaluator, needed=offset + limit)
        return SearchResult(total, hits[offset:offset + limit].tolist())
    return SearchResult(total, _sorted_page(session, hits, sort, offset + limit, evaluator.size)[offset:offset + limit])


# --- sorting --------------------------------------------------------------------------------------

def _sorted_page(session: Session, hits: np.ndarray, sort: tuple[SortKey, ...], needed: int,
                 size: int | None = None) -> list[int]:
    """The first ``needed`` hits in sort order (record number breaks ties); ``size``: the number
    of indexed records when the search's reads brought it."""
    first = sort[0]
    if first.index == "recid":
        ordered = hits if first.ascending else hits[::-1]
        return ordered[:needed].tolist()
    columns = _columns(sort)
    total = (size if size is not None else postings.size(session)) if len(hits) > FETCH_ALWAYS else 0
    if len(hits) <= FETCH_ALWAYS or len(hits) <= SMALL_SORT and not _walk_is_cheaper(total, len(hits), needed):
        rows = _rows_of(session, columns, hits.tolist())
    else:
        rows = _leading_rows(session, hits, first, needed, _first_page(total, len(hits), needed), columns,
                             ties_by_number=len(sort) == 1)
    return [row[0] for row in _ordered(rows, sort)][:needed]


def _rows_of(session: Session, columns: tuple, numbers: list[int]) -> list:
    """The ``columns`` of these records' ``search_records`` rows. On PostgreSQL one statement
    takes them all as one array parameter: its text and plan are the same for any number of
    records, where an IN list of a thousand parameters is a new statement to convert and plan
    each time (a third of a 1,000-hit sort's time). The other databases take IN lists."""
    r = tables.records
    if session.get_bind().dialect.name == "postgresql":
        return session.execute(_array_statement(columns), {"numbers": numbers}).all()
    rows: list = []
    for start in range(0, len(numbers), 1000):
        rows += session.execute(select(*columns).where(r.c.biblionumber.in_(numbers[start:start + 1000]))).all()
    return rows


def _array_statement(columns: tuple):
    numbers = bindparam("numbers", type_=ARRAY(Integer))
    return select(*columns).where(tables.records.c.biblionumber == any_(numbers))


def _columns(sort: tuple[SortKey, ...]) -> tuple:
    """(number, title, author, year) of ``search_records``, NULL in place of a key no sort key
    uses: a title is most of a row's bytes, and a date sort does not need it."""
    return _columns_for(frozenset(SORTABLE[key.index] for key in sort))


@functools.lru_cache(maxsize=16)
def _columns_for(used: frozenset[str]) -> tuple:
    # the same objects for the same keys: statements built from them are kept (_walk_statement)
    r = tables.records
    return (r.c.biblionumber,) + tuple(r.c[name] if name in used else null().label(name)
                                       for name in ("title", "author", "year"))


def _walk_is_cheaper(total: int, hits: int, needed: int) -> bool:
    """Whether walking the sort key's index probably costs less than fetching the keys of every
    hit. Hits spread evenly over the catalogue appear every ``total / hits`` rows of it, so the
    walk reads about ``needed * total / hits`` rows (its first read takes four times that), while
    the fetch reads ``hits`` rows: one costs about what the other does per row (measured on
    PostgreSQL at 100k records, the two cross near 1,400 hits for a page of ten)."""
    return WALK_FACTOR * needed * total < hits * hits


def _first_page(total: int, hits: int, needed: int) -> int:
    """Rows the walk reads first: where ``needed`` hits spread evenly would be, four times over
    (a word's records are not spread evenly over its titles), at least ``MIN_SORT_PAGE``. A word
    in 4 % of the records needs about 250 rows for a page of ten, not ``SORT_PAGE``."""
    expected = needed * total // max(hits, 1) + 1
    return min(SORT_PAGE, max(MIN_SORT_PAGE, 4 * expected))


def _ordered(rows, sort: tuple[SortKey, ...]) -> list:
    rows = sorted(rows, key=lambda row: row[0])
    for key in reversed(sort):  # stable sorts, least significant key first
        column = ("biblionumber", "title", "author", "year").index(SORTABLE[key.index])
        missing_last = key.missing == "high" if key.ascending else key.missing == "low"
        absent = (1 if missing_last else -1) * (1 if key.ascending else -1)
        empty = 0 if column in (0, 3) else ""
        rows.sort(key=lambda row, c=column, a=absent, e=empty: (0, row[c]) if row[c] is not None else (a, e),
                  reverse=not key.ascending)
    return rows


def _leading_rows(session: Session, hits: np.ndarray, first: SortKey, needed: int, page: int, columns: tuple,
                  ties_by_number: bool = False) -> list:
    """Walk the first sort key's index in order and keep hits until ``needed`` are found, taking
    each run of equal values whole (the other keys order it later); records without a value come
    first or last as the key says. The walk reads ``page`` rows first, twice as many each time
    after (up to ``SORT_PAGE``). ``ties_by_number``: no other key follows, so a run of equal
    values (or of records without one) is ordered by record number and only its first hits are
    needed.

    A run is read as record numbers only (the key's index holds them in order) and only its hits
    are read whole: a date sort meets runs of thousands of records of one year, and records
    without a date, at every request."""
    name = SORTABLE[first.index]
    at = ("biblionumber", "title", "author", "year").index(name)
    missing_last = first.missing == "high" if first.ascending else first.missing == "low"
    found: list = []

    def keep(rows) -> None:
        rows = list(rows)
        if rows:
            numbers = np.array([row[0] for row in rows], dtype=np.int64)
            wanted = sorted_sets.member(numbers, hits)
            found.extend(row for row, ok in zip(rows, wanted, strict=True) if ok)

    def keep_run(value) -> None:
        missing = value is None
        if not ties_by_number:  # the other keys order the whole run
            numbers = _numbers(read_rows(session, _run_statement(name, missing), {} if missing else {"value": value}))
            found.extend(_rows_of(session, columns, numbers[sorted_sets.member(numbers, hits)].tolist()))
            return
        # only the run's first hits by record number: read in growing slices until they are found
        after, size = 0, RUN_SLICE
        while len(found) < needed:
            params = {"after": after, "size": size} | ({} if missing else {"value": value})
            numbers = _numbers(read_rows(session, _run_slice_statement(name, missing), params))
            wanted = numbers[sorted_sets.member(numbers, hits)][:needed - len(found)]
            if len(wanted):
                found.extend(_rows_of(session, columns, wanted.tolist()))
            if len(numbers) < size:
                return
            after, size = int(numbers[-1]), min(SORT_PAGE * 8, size * 4)

    if not missing_last:
        keep_run(None)
    last = None
    while len(found) < needed:
        params = {"page": page} if last is None else {"page": page, "last": last}
        rows = read_rows(session, _walk_statement(columns, at, first.ascending, last is not None), params)
        if not rows:
            break
        last = rows[-1][at]
        if len(rows) == page:  # the last value's run may go on: take it whole
            keep([row for row in rows if row[at] != last])
            keep_run(last)
        else:
            keep(rows)
        page = min(SORT_PAGE, 2 * page)
    if missing_last and len(found) < needed:
        keep_run(None)
    return found


@functools.lru_cache(maxsize=64)
def _walk_statement(columns: tuple, at: int, ascending: bool, after: bool):
    """One read of the walk: the next ``page`` rows in the key's order (after ``last``)."""
    column = columns[at]
    query = select(*columns).where(column.is_not(None))
    if after:
        query = query.where(column > bindparam("last") if ascending else column < bindparam("last"))
    return query.order_by(column.asc() if ascending else column.desc()).limit(bindparam("page", type_=Integer))


def _numbers(rows: list) -> np.ndarray:
    return np.array([row[0] for row in rows], dtype=np.int64)


@functools.lru_cache(maxsize=16)
def _run_slice_statement(name: str, missing: bool):
    """``size`` record numbers of one value of a sort key (or of the records without one) after
    the number ``after``, in order (the key's index is (value, record number))."""
    r = tables.records
    column = r.c[name]
    condition = column.is_(None) if missing else column == bindparam("value")
    return select(r.c.biblionumber).where(condition, r.c.biblionumber > bindparam("after", type_=Integer)) \
        .order_by(r.c.biblionumber).limit(bindparam("size", type_=Integer))


@functools.lru_cache(maxsize=16)
def _run_statement(name: str, missing: bool):
    """The record numbers of one value of a sort key (or of the records without one), in record
    number order: the key's index is (value, record number)."""
    r = tables.records
    column = r.c[name]
    condition = column.is_(None) if missing else column == bindparam("value")
    return select(r.c.biblionumber).where(condition).order_by(r.c.biblionumber)


# --- scanning -------------------------------------------------------------------------------------

@dataclass
class ScanTerm:
    value: str
    count: int


def scan(session: Session, index: str, term: str, *, position: int = 1, count: int = 20,
         public: bool = True) -> list[ScanTerm]:
    """Index terms around ``term``: ``position - 1`` terms before it and the rest from it on,
    each with the number of records it occurs in."""
    spec = INDEXES.get(index)
    if spec is None:
        raise QueryError("unsupported_index", f"unsupported index {index}", index)
    flush_pending(session)
    if spec.kind in ("recid", "allrecords"):
        raise QueryError("scan_unsupported", f"index {index} cannot be scanned", index)
    if spec.kind == "identifier":
        start = normalize.identifier(term) or ""
    else:
        words = normalize.words(term)
        start = words[0] if words else ""
    hidden = postings.hidden(session) if public else posting_format.EMPTY
    before_n = max(position - 1, 0)
    after_n = max(count - before_n, 0)
    before = _terms(session, index, start, before_n, hidden, ascending=False) if before_n else []
    after = _terms(session, index, start, after_n, hidden, ascending=True) if after_n else []
    return list(reversed(before)) + after


def _terms(session: Session, index: str, start: str, wanted: int, hidden: np.ndarray, *,
           ascending: bool) -> list[ScanTerm]:
    """Up to ``wanted`` terms from ``start`` on (ascending) or before it (descending) with their
    record counts; terms found only in hidden records (or removed by deltas) are skipped."""
    p = tables.postings
    out: list[ScanTerm] = []
    bound, inclusive = start, ascending
    while len(out) < wanted:
        if ascending:
            condition = p.c.term >= bound if inclusive else p.c.term > bound
        else:
            condition = p.c.term < bound
        values = list(session.scalars(
            select(p.c.term).where(p.c.idx == index, condition).distinct()
            .order_by(p.c.term.asc() if ascending else p.c.term.desc()).limit(wanted - len(out))))
        if not values:
            break
        for value in values:
            total = len(sorted_sets.difference(postings.docs(session, index, [value]), hidden))
            if total:
                out.append(ScanTerm(value, total))
        bound, inclusive = values[-1], False
    return out


def count_rows(session: Session) -> int:
    """How many records the index holds (for status pages and tests)."""
    flush_pending(session)
    return postings.size(session)


__all__ = ["ScanTerm", "SearchResult", "SortKey", "count_rows", "scan", "search"]
