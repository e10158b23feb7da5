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
"""

from __future__ import annotations

import array
import sys
from collections.abc import Iterable

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import sorted_sets, tables

BLOCK_BITS = 13
BLOCK = 1 << BLOCK_BITS
POSITION_BITS = 16
MAX_POSITION = 65000  # later words of a huge field are not positional (kept clear of the key's edge)

ALL = ("_all", "")
HIDDEN = ("_hidden", "")
EMPTY = np.empty(0, dtype=np.int64)


def phrase_space(index: str) -> str:
    return index + "="


def number_space(index: str) -> str:
    return index + "#"


def number_term(value: int) -> str:
    return f"{value:010d}"


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

def _docs(block: int, blob: bytes) -> np.ndarray:
    return decode_local_docs(blob) + (block << BLOCK_BITS)


def _keys(block: int, blob: bytes | None) -> np.ndarray:
    return decode_local_positions(blob) + (block << (BLOCK_BITS + POSITION_BITS))


def _combine(parts: list[np.ndarray], several_terms: bool) -> np.ndarray:
    if not parts:
        return EMPTY
    merged = np.concatenate(parts)
    # one term's rows come in block order, already sorted; several terms overlap
    return sorted_sets.unsorted_distinct(merged) if several_terms else merged


CHUNK = 500  # terms per IN list


def docs(session: Session, idx: str, terms: Iterable[str]) -> np.ndarray:
    """The records indexed under any of these terms."""
    return _read(session, idx, terms, tables.postings.c.docs, _docs)


def keys(session: Session, idx: str, terms: Iterable[str]) -> np.ndarray:
    """The occurrences (biblionumber << 16 | position) of any of these terms."""
    return _read(session, idx, terms, tables.postings.c.positions, _keys)


def _read(session: Session, idx: str, terms: Iterable[str], column, decode) -> np.ndarray:
    terms = list(dict.fromkeys(terms))
    p = tables.postings
    parts = []
    for start in range(0, len(terms), CHUNK):
        chunk = terms[start:start + CHUNK]
        condition = p.c.term == chunk[0] if len(chunk) == 1 else p.c.term.in_(chunk)
        rows = session.execute(select(p.c.block, column).where(p.c.idx == idx, condition).order_by(p.c.block))
        parts.extend(decode(block, blob) for block, blob in rows)
    return _combine(parts, len(terms) > 1)


def docs_where(session: Session, idx: str, *conditions) -> tuple[list[str], np.ndarray]:
    """Terms of one namespace matching SQL conditions on the term column, and their records."""
    p = tables.postings
    rows = session.execute(select(p.c.term, p.c.block, p.c.docs).where(p.c.idx == idx, *conditions))
    found: dict[str, None] = {}
    parts = []
    for term, block, blob in rows:
        found[term] = None
        parts.append(_docs(block, blob))
    return list(found), _combine(parts, True)


def vocabulary(session: Session, idx: str, *conditions) -> list[str]:
    """The distinct terms of one namespace matching SQL conditions on the term column, in order."""
    p = tables.postings
    return list(session.scalars(select(p.c.term).where(p.c.idx == idx, *conditions).distinct().order_by(p.c.term)))


def universe(session: Session) -> np.ndarray:
    return docs(session, ALL[0], [ALL[1]])


def hidden(session: Session) -> np.ndarray:
    return docs(session, HIDDEN[0], [HIDDEN[1]])


def doc_keys(keys_array: np.ndarray) -> np.ndarray:
    """The records of a sorted array of occurrences."""
    return sorted_sets.distinct(keys_array >> POSITION_BITS)
