"""Every term of the word indexes written backwards (``search_reversed_terms``), so that a
left-truncated word (``*ation``, ``?ord``) is a range read like a right-truncated one.

Without it a left-truncated word has no prefix to narrow the read: the database tested every
row the index holds (3.5 rows a term at 100k records, one per block a term occurs in, blobs
and all; 35 ms on 100k records and 320 ms on 1M for ``dc.title = "*ation"``). Reversed, the
word's literal ending is a prefix of the stored form, and only the matching terms are read.

The list holds the terms of the word indexes (not their whole-field phrases, ``name=``, nor
the identifier and number indexes). Identifiers are the larger part of an index's distinct
terms (five or so per record, each new: ISBN, barcode, control numbers) and are looked up
whole; a left-truncated identifier tests each of its index's terms. Writers add the terms they
give records (an import batch its whole vocabulary, an edit the terms its records did not have
before), skipping those already listed. A term is never taken out: once its records are gone
it lists nothing, and ``kohaweb index rebuild`` starts the list afresh.

On PostgreSQL and MariaDB the terms are listed in a short transaction of their own
(``kohaweb.db.autonomous``), committed before the writer goes on: a unique key makes a second
writer of the same new term wait until the first writer's insert commits, and listed inside the
writer's transaction that was the whole transaction. Two imports of records sharing their
vocabulary spent a third of their time so (MariaDB, ``bench/bench_writers.py``: 28 s of row lock
waits in 80 s, every one on this table). Now a writer waits at most for another's listing, and
nothing in a writer's own transaction touches the table, so its listing cannot wait on itself.
A term listed by a writer that then rolls back stays listed and lists nothing, as a term whose
records are gone. An edit first reads which of the terms it gives records are listed (a key
lookup each, in one statement) and lists only the others, so that the usual edit, whose words
are known, writes nothing here and commits once. Each statement adds its terms in key order, so
two writers listing at once cannot deadlock. SQLite has one writer at a time:
its terms are listed in the writer's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import repeat
from operator import itemgetter

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.orm import Session

from ..bulk import mysql_insert_many
from ..db import autonomous
from . import tables
from .mapping import INDEXES
from .packing import PostingColumns

Key = tuple[str, str]  # (namespace, term)


LISTED = frozenset(name for name, index in INDEXES.items() if index.kind == "word")
_REVERSED = itemgetter(slice(None, None, -1))  # term[::-1], called from C by map()


def listed(namespace: str) -> bool:
    """Whether a namespace's terms are kept reversed: those of the word indexes."""
    return namespace in LISTED


def reversed_keys(keys: Iterable[Key]) -> list[tuple[str, str]]:
    """(namespace, reversed term) of the listed keys, sorted (the order writers insert in)."""
    by_index: dict[str, set[str]] = {}
    for idx, term in keys:
        if idx in LISTED:
            by_index.setdefault(idx, set()).add(term)
    return _sorted_rows(by_index)


def reversed_keys_of_columns(blocks: Iterable[PostingColumns]) -> list[tuple[str, str]]:
    """``reversed_keys`` of new posting rows as ``PostingColumns`` (an import batch's blocks): each listed namespace's terms are one slice of a block's terms."""
    by_index: dict[str, set[str]] = {}
    for columns in blocks:
        for idx, start, stop in columns.runs():
            if idx in LISTED:
                by_index.setdefault(idx, set()).update(columns.term_column[start:stop])
    return _sorted_rows(by_index)


def _sorted_rows(by_index: dict[str, set[str]]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for idx in sorted(by_index):
        out.extend(zip(repeat(idx), sorted(map(_REVERSED, by_index[idx]))))
    return out


class BatchRun:
    """What consecutive batches of one run (an import) know of each other's terms: every term of
    the last committed batch is listed (nothing takes a term out), so the next batch need not
    list it again. Real catalogues' words repeat from batch to batch: on realistic records, 59 %
    of a batch's terms were in the batch before (the frequent ones), which then cost the database
    nothing. Only the last batch is kept (about 200,000 terms, 30 MB), not every batch's.

    The caller says when a batch's transaction has committed (``committed``) or rolled back,
    whole or to a savepoint that listed terms (``rolled_back``)."""

    def __init__(self) -> None:
        self._listed: set[tuple[str, str]] = set()  # the last committed batch's terms
        self._batch: set[tuple[str, str]] = set()  # this batch's, listed once it commits

    def not_known(self, rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
        self._batch.update(rows)
        return [row for row in rows if row not in self._listed]

    def committed(self) -> None:
        self._listed, self._batch = self._batch, set()

    def rolled_back(self) -> None:
        self._batch = set()


RUN = "kohaweb.search.vocabulary.run"  # the session.info key of a run's BatchRun


def add(session: Session, keys: Iterable[Key]) -> None:
    """List the terms of these keys (those of the terms a writer gives records that they did not
    have) that are not listed yet; see the module's docstring."""
    rows = reversed_keys(keys)
    if rows and session.get_bind().dialect.name != "sqlite":
        listed = set(_listed_rows(session, rows))
        rows = [row for row in rows if row not in listed]
    add_reversed(session, rows)


def add_reversed(session: Session, rows: list[tuple[str, str]], run: BatchRun | None = None) -> None:
    """``add`` of rows made by ``reversed_keys`` or ``reversed_keys_of_columns``, none read first
    (an import batch's: most of its terms not in the batch before it are new); ``run``: a batch
    of that run, whose previous batch's terms need no listing. Committed apart, but on SQLite."""
    if run is not None:
        rows = run.not_known(rows)
    if not rows:
        return
    with autonomous(session) as conn:
        _insert(conn if conn is not None else session.connection(), rows)


def _insert(conn, rows: list[tuple[str, str]]) -> None:
    table = tables.reversed_terms.name
    dialect = conn.dialect.name
    if dialect == "postgresql":
        # one statement of two arrays, whatever the count (a first import batch lists ~100k terms)
        for start in range(0, len(rows), _PER_STATEMENT):
            chunk = rows[start:start + _PER_STATEMENT]
            conn.execute(text(f"INSERT INTO {table} (idx, term_reversed) "
                              "SELECT * FROM unnest(CAST(:idx AS varchar[]), CAST(:term AS varchar[])) "
                              "ON CONFLICT DO NOTHING"),
                         {"idx": [r[0] for r in chunk], "term": [r[1] for r in chunk]})
    elif dialect in ("mysql", "mariadb"):
        mysql_insert_many(conn, table, ("idx", "term_reversed"), rows, ignore=True)
    else:
        conn.exec_driver_sql(f"INSERT OR IGNORE INTO {table} (idx, term_reversed) VALUES (?, ?)", rows)


def _listed_rows(session: Session, rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Those of ``rows`` (sorted, as ``reversed_keys`` makes them) already listed: a key lookup
    each, grouped by namespace in one statement."""
    v = tables.reversed_terms
    found: list[tuple[str, str]] = []
    for start in range(0, len(rows), _PER_READ):
        chunk = rows[start:start + _PER_READ]
        groups: dict[str, list[str]] = {}
        for idx, term in chunk:
            groups.setdefault(idx, []).append(term)
        condition = or_(*[and_(v.c.idx == idx, v.c.term_reversed.in_(terms)) for idx, terms in groups.items()])
        found.extend(tuple(row) for row in session.execute(select(v.c.idx, v.c.term_reversed).where(condition)))
    return found


_PER_READ = 1_000
_PER_STATEMENT = 50_000


def ending(session: Session, namespace: str, ending_reversed: str, like_reversed: str) -> list[str]:
    """The listed terms of a namespace, written forwards, whose reversed form starts with
    ``ending_reversed`` (a masked word's literal ending, reversed; "" for none) and is LIKE
    ``like_reversed`` (the masked word reversed, as a LIKE pattern escaped with ``\\``)."""
    v = tables.reversed_terms
    column = v.c.term_reversed
    conditions = [v.c.idx == namespace, column.like(like_reversed, escape="\\")]
    if ending_reversed:
        conditions += [column >= ending_reversed, column < _next(ending_reversed)]
    return [term[::-1] for term in session.scalars(select(column).where(*conditions))]


def fill(conn, *, batch: int = 20_000) -> int:
    """List every term the postings hold (an index built before this list existed); returns
    how many terms were listed. Reads one namespace at a time, in key order, a batch of distinct
    terms at a time (key ranges only, and memory stays flat on a large index)."""
    p = tables.postings
    count = 0
    idx = conn.scalar(select(func.min(p.c.idx)))
    while idx is not None:
        if listed(idx):
            after = None
            while True:
                query = select(p.c.term).where(p.c.idx == idx).distinct().order_by(p.c.term).limit(batch)
                if after is not None:
                    query = query.where(p.c.term > after)
                terms = conn.scalars(query).all()
                if not terms:
                    break
                # in the caller's transaction (a migration's, which may have made the table)
                _insert(conn, reversed_keys((idx, term) for term in terms))
                count += len(terms)
                after = terms[-1]
        idx = conn.scalar(select(func.min(p.c.idx)).where(p.c.idx > idx))
    return count


def _next(prefix: str) -> str:
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)
