"""Folding a term's rows of search_postings into global arrays: sorted record numbers, and
sorted occurrence keys ``biblionumber << 16 | position`` (kohaweb.search.posting_format).

A term's rows in one block are applied in segment order: each row first removes the records it
names (``docs`` and ``dels``), then adds its ``docs`` (with their positions). The usual case, a
single merged row, is read as it is.

Rows come as kohaweb.search.postings reads them: (term, block, docs, [positions,] dels), ordered
by term, block and segment; ``fold_docs`` and ``fold_keys`` take one (term, block)'s rows without
their term and block (kohaweb.search.compaction folds them too, when it compacts segments).
"""

from __future__ import annotations

import numpy as np

from . import sorted_sets
from .posting_format import BLOCK_BITS, EMPTY, POSITION_BITS, decode_local_docs, decode_local_positions


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


_DOC_BITS = BLOCK_BITS  # a block-local record offset
_ROW_BITS = 29  # rows of one fold (a compaction reads a few thousand)
_KEY_BITS = BLOCK_BITS + POSITION_BITS  # a block-local occurrence key


def fold_groups(groups: list[list[tuple[bytes, bytes | None, bytes | None]]]
                ) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """``fold_docs`` and ``fold_keys`` of many (term, block) groups of rows (docs, positions,
    dels) at once, with a fixed number of numpy calls whatever the groups and their rows: what
    compaction folds, a few hundred terms touched by a block's segments, cost a dozen numpy calls
    per row and term folded one by one (most of an edit's share of the fold).

    Per group, (local docs, local keys), keys None when no row of the group has positions. A
    record belongs to a group when the last row of the group that names it (in its docs or its
    dels) names it in its docs (a row removes what it names, then adds its docs), and keeps the
    occurrences that row gives it."""
    counts = [len(group) for group in groups]
    rows = [row for group in groups for row in group]
    total = len(rows)
    if total >= 1 << _ROW_BITS or len(groups) >= 1 << (63 - _DOC_BITS - _ROW_BITS - 1):
        raise ValueError("too many rows to fold at once")
    row_ids = np.arange(total, dtype=np.int64)
    group_of_row = np.repeat(np.arange(len(groups), dtype=np.int64), counts)
    added = [len(row[0]) // 2 for row in rows]
    removed = [len(row[2] or b"") // 2 for row in rows]
    mentioned = np.concatenate((decode_local_docs(b"".join([row[0] for row in rows])),
                                decode_local_docs(b"".join([row[2] or b"" for row in rows]))))
    row_of = np.concatenate((np.repeat(row_ids, added), np.repeat(row_ids, removed)))
    is_add = np.concatenate((np.ones(sum(added), dtype=np.int64), np.zeros(sum(removed), dtype=np.int64)))
    # one code per mention, ordered by group, record, row, and adds after removals within a row
    # (a row's docs win over its dels): the last code of a (group, record) is its last mention
    mention = (((group_of_row[row_of] << _DOC_BITS | mentioned) << _ROW_BITS | row_of) << 1) | is_add
    mention.sort(kind="stable")  # timsort: the rows come as sorted runs
    where = mention >> (_ROW_BITS + 1)  # (group, record)
    last = np.ones(len(mention), dtype=bool)
    np.not_equal(where[1:], where[:-1], out=last[:-1])
    won = mention[last & ((mention & 1) == 1)] >> 1  # (group, record, row) of the records kept, sorted
    won_group = won >> (_DOC_BITS + _ROW_BITS)
    docs = (won >> _ROW_BITS) & ((1 << _DOC_BITS) - 1)
    doc_ends = np.searchsorted(won_group, np.arange(1, len(groups) + 1))

    positional = [any(row[1] for row in group) for group in groups]
    key_ends = None
    if any(positional):
        blobs = [row[1] or b"" for row in rows]
        keys = decode_local_positions(b"".join(blobs))
        key_rows = np.repeat(row_ids, [len(blob) // 4 for blob in blobs])
        key_groups = group_of_row[key_rows]
        # an occurrence is kept when its row is the one its record was kept from
        found = sorted_sets.member(((key_groups << _DOC_BITS | keys >> POSITION_BITS) << _ROW_BITS) | key_rows, won)
        kept = (key_groups[found] << _KEY_BITS) | keys[found]
        kept = sorted_sets.distinct(np.sort(kept, kind="stable"))
        keys = kept & ((1 << _KEY_BITS) - 1)
        key_ends = np.searchsorted(kept >> _KEY_BITS, np.arange(1, len(groups) + 1))
    out: list[tuple[np.ndarray, np.ndarray | None]] = []
    doc_start = key_start = 0
    for number, has_positions in enumerate(positional):
        doc_end = int(doc_ends[number])
        group_keys = None
        if key_ends is not None:
            key_end = int(key_ends[number])
            if has_positions:
                group_keys = keys[key_start:key_end]
            key_start = key_end
        out.append((docs[doc_start:doc_end], group_keys))
        doc_start = doc_end
    return out


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
    groups of several rows folded (all at once when there are several: ``fold_groups``)."""
    out: list[np.ndarray] = []
    run: list[tuple[int, tuple]] = []
    decode = _run_keys if positional else _run_docs
    folded: list[tuple[int, int, list]] = []  # (place in out, block, the group's rows)
    for block, group in _groups(rows):
        if len(group) == 1:
            run.append((block, group[0]))
            continue
        if run:
            out.append(decode(run))
            run = []
        folded.append((len(out), block, group if positional else [(docs, None, dels) for docs, dels in group]))
        out.append(EMPTY)
    if run:
        out.append(decode(run))
    if len(folded) == 1:  # one group: folded row by row, fewer numpy calls than fold_groups makes
        place, block, group = folded[0]
        out[place] = (fold_keys(group) + (block << (BLOCK_BITS + POSITION_BITS)) if positional
                      else fold_docs([(docs, dels) for docs, _, dels in group]) + (block << BLOCK_BITS))
    elif folded:
        for (place, block, _), (docs, keys) in zip(folded, fold_groups([group for _, _, group in folded]), strict=True):
            if positional:
                out[place] = EMPTY if keys is None else keys + (block << (BLOCK_BITS + POSITION_BITS))
            else:
                out[place] = docs + (block << BLOCK_BITS)
    return out
