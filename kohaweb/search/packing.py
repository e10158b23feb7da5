"""New records' posting rows, packed without a database: by ``kohaweb import``'s worker processes
(kohaweb.loading) and by ``kohaweb index rebuild``, as ``PostingColumns``.

A block's rows are built from its records' entries at once (``pack``): every (key, record) pair
and every word occurrence is gathered into flat arrays, ordered by key with numpy, and each key's
row is a slice of two byte strings. They stay in that form, columns of a few large objects, on
their way to the database: a worker process sends the writing process a block's 400,000 rows of
8,192 real records as a pickle of a dozen objects. As a tuple per row, pickling and unpickling
them cost 0.08 ms of CPU per record, more than any step of the writing process but one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from itertools import chain, count, repeat

import numpy as np

from .posting_format import BLOCK_BITS, POSITION_BITS

Key = tuple[str, str]  # (namespace, term)


@dataclass(eq=False)
class PostingColumns:
    """One block's posting rows for records new to the index, in key order, as columns:

    - ``namespaces``: (namespace, rows) runs, in order;
    - ``terms``: the rows' terms joined by newlines (the normaliser leaves no control character
      in a term; a list of terms where one holds a newline all the same);
    - ``ndocs``: each row's record count;
    - ``docs`` and ``positions``: every row's packed records and occurrences
      (kohaweb.search.posting_format) back to back; a row's records end two bytes a record after
      the previous row's, its occurrences at its ``position_stops`` (a row with none has None in
      ``positions_column``).

    ``by_column`` gives the rows' values as the index's tables take them, ``rows`` a tuple per
    row."""

    block: int
    namespaces: list[tuple[str, int]]
    terms: str | list[str]
    ndocs: np.ndarray
    docs: bytes
    positions: bytes
    position_stops: np.ndarray

    def __len__(self) -> int:
        return len(self.ndocs)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PostingColumns):
            return NotImplemented
        return self.block == other.block and self.rows() == other.rows()

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def namespace_column(self) -> list[str]:
        return list(chain.from_iterable(repeat(name, rows) for name, rows in self.namespaces))

    @cached_property
    def term_column(self) -> list[str]:
        if isinstance(self.terms, list):
            return self.terms
        return self.terms.split("\n") if len(self) else []

    def ndocs_column(self) -> list[int]:
        return self.ndocs.tolist()

    def docs_column(self) -> list[bytes]:
        return _slices(self.docs, 2 * np.cumsum(self.ndocs))

    def positions_column(self) -> list[bytes | None]:
        return [piece or None for piece in _slices(self.positions, self.position_stops)]

    def by_column(self, seg: int) -> dict[str, list]:
        """The rows' values by column of ``search_postings`` (and of its staging table), in
        segment ``seg``; ``dels`` is left out (NULL: new rows remove nothing)."""
        return {"idx": self.namespace_column(), "term": self.term_column, "block": [self.block] * len(self),
                "seg": [seg] * len(self), "ndocs": self.ndocs_column(), "docs": self.docs_column(),
                "positions": self.positions_column()}

    def runs(self) -> Iterator[tuple[str, int, int]]:
        """(namespace, first row, row after its last) of each namespace, in order."""
        start = 0
        for name, rows in self.namespaces:
            yield name, start, start + rows
            start += rows

    def rows(self) -> list[tuple[str, str, int, int, bytes, bytes | None]]:
        """(namespace, term, block, record count, docs, positions) per row, in key order."""
        return list(zip(self.namespace_column(), self.term_column, repeat(self.block), self.ndocs_column(),
                        self.docs_column(), self.positions_column()))

    @classmethod
    def from_rows(cls, block: int, rows: list[tuple]) -> PostingColumns:
        """Columns of (namespace, term, block, record count, docs, positions) rows in key order."""
        if not rows:
            return pack(block, {})
        idxs, terms, _, ndocs, docs, positions = zip(*rows, strict=True)
        position_stops = np.cumsum([len(p) if p else 0 for p in positions])
        return cls(block, _runs(idxs), _joined(list(terms)), np.asarray(ndocs, dtype=np.int64), b"".join(docs),
                   b"".join(filter(None, positions)), position_stops)


def _slices(blob: bytes, stops: np.ndarray) -> list[bytes]:
    ends = stops.tolist()
    return list(map(blob.__getitem__, map(slice, [0, *ends[:-1]], ends)))


def _runs(idxs) -> list[tuple[str, int]]:
    # keys are in (namespace, term) order: a namespace's rows are one run, runs in name order
    return sorted(Counter(idxs).items())


def _joined(terms: list[str]) -> str | list[str]:
    text = "\n".join(terms)
    return text if text.count("\n") == len(terms) - 1 else terms


def pack(block: int, entries: dict) -> PostingColumns:
    """The posting rows that index these records (``indexer.Entry`` by record number, all in
    ``block``).

    The records' (key, offset) pairs and occurrences are gathered into flat arrays and ordered
    by key (records come in number order, so offsets and positions stay sorted within a key).
    This is the import's hottest loop: a record adds about 200 keys and 190 occurrences, most
    keys new to the batch. Each pair's term is looked up once, in its namespace's dict (numbered
    by its first pair); only the distinct terms are sorted, a namespace at a time."""
    base = block << BLOCK_BITS
    first_pair: dict[str, dict[str, int]] = {}  # namespace -> term -> the index of its first pair
    numbering = count()
    pair_first: list[int] = []
    pair_offset: list[int] = []
    counts: list[int] = []
    flat: list[int] = []
    # C-level list operations per record and namespace (extend, map, chain), not a Python step per key
    for number in sorted(entries):
        groups = entries[number].groups
        for name, terms in groups.items():
            numbered = first_pair.get(name)
            if numbered is None:
                numbered = first_pair[name] = {}
            pair_first.extend(map(numbered.setdefault, terms, numbering))
        # the record's positions, its namespaces' one after another as their terms were numbered
        values = list(chain.from_iterable(map(dict.values, groups.values())))
        counts.extend([len(v) if v else 0 for v in values])
        flat.extend(chain.from_iterable(filter(None, values)))
        pair_offset.extend([number - base] * len(values))
    # the distinct keys in (namespace, term) order: the namespaces', each one's terms sorted
    namespaces: list[tuple[str, int]] = []
    sorted_terms: list[str] = []
    firsts: list[int] = []
    for name in sorted(first_pair):
        numbered = first_pair[name]
        if numbered:
            terms = sorted(numbered)
            namespaces.append((name, len(terms)))
            sorted_terms.extend(terms)
            firsts.extend(map(numbered.__getitem__, terms))
    if not firsts:
        nothing = np.zeros(0, dtype=np.int64)
        return PostingColumns(block, [], "", nothing, b"", b"", nothing)
    rank_of_first = np.empty(len(pair_first), dtype=np.int64)
    rank_of_first[np.asarray(firsts, dtype=np.int64)] = np.arange(len(firsts))
    pair_rank = rank_of_first[np.asarray(pair_first, dtype=np.int64)]
    offsets = np.asarray(pair_offset, dtype=np.int64)
    order = _stable_order(pair_rank)
    docs_blob = offsets[order].astype("<u2").tobytes()
    ndocs = np.bincount(pair_rank, minlength=len(firsts))
    doc_ends = np.cumsum(ndocs)
    # the occurrences follow their pairs: pair by pair in ``order``, each pair's run as it came
    repeat_counts = np.asarray(counts, dtype=np.int64)
    occurrences = (np.repeat(offsets, repeat_counts) << POSITION_BITS) | np.asarray(flat, dtype=np.int64)
    run_starts = np.cumsum(repeat_counts) - repeat_counts
    sorted_counts = repeat_counts[order]
    sorted_ends = np.cumsum(sorted_counts)
    occurrence_order = (np.repeat(run_starts[order] - (sorted_ends - sorted_counts), sorted_counts)
                        + np.arange(int(sorted_ends[-1])))
    positions_blob = occurrences[occurrence_order].astype("<u4").tobytes()
    return PostingColumns(block, namespaces, _joined(sorted_terms), ndocs, docs_blob, positions_blob,
                          4 * sorted_ends[doc_ends - 1])  # every key has at least one pair


def _stable_order(ranks: np.ndarray) -> np.ndarray:
    """``np.argsort(ranks, kind="stable")`` for ranks from 0 to 2**32 - 1, as numpy's radix sort
    of their 16-bit halves (what it sorts 16-bit integers with; for 64-bit ones it takes a
    timsort, five times slower here)."""
    order = np.argsort((ranks & 0xFFFF).astype(np.uint16), kind="stable")
    high = (ranks >> 16).astype(np.uint16)
    if not high.any():
        return order
    return order[np.argsort(high[order], kind="stable")]
