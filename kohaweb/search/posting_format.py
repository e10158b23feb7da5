"""The posting-list format: blocks, occurrence keys, the namespaces of search_postings, and the
encoding of a row's blobs (no database here: kohaweb.search.postings reads the rows,
kohaweb.search.posting_folds folds a term's rows into one array).

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
and two of that much smaller namespace (kohaweb.search.query_numbers) instead of half the index
twice.
Each number of both is also listed by its tens and its hundreds (``name#/10``, ``name#2/100``...,
``number_bucket_space``): a range of years then reads a few whole decades and centuries and the
years at its edges (``number_range_pieces``), not every year between.
"""

from __future__ import annotations

import array
import sys

import numpy as np

from . import sorted_sets

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


def doc_keys(keys_array: np.ndarray) -> np.ndarray:
    """The records of a sorted array of occurrences."""
    return sorted_sets.distinct(keys_array >> POSITION_BITS)


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
