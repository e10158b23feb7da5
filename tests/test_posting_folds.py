"""Folding many (term, block) groups at once (``posting_folds.fold_groups``, what compaction
uses) gives what the row-by-row fold of each group gives (``fold_docs``, ``fold_keys``)."""

from __future__ import annotations

import numpy as np
import pytest

from kohaweb.search import posting_folds, posting_format
from kohaweb.search.posting_format import BLOCK, POSITION_BITS


def _row(rng: np.random.Generator, positional: bool, removes: bool, size: int) -> tuple:
    docs = np.unique(rng.integers(0, BLOCK, size))
    positions = None
    if positional:
        keys = [doc << POSITION_BITS | position for doc in docs.tolist()
                for position in sorted(set(rng.integers(0, 1 << POSITION_BITS, int(rng.integers(1, 4))).tolist()))]
        positions = posting_format.encode_positions(np.array(keys, dtype=np.int64))
    dels = None
    if removes:
        dels = posting_format.encode_docs(np.unique(rng.integers(0, BLOCK, int(rng.integers(0, 6)))))
    return posting_format.encode_docs(docs), positions, dels


def _groups(seed: int) -> list[list[tuple]]:
    rng = np.random.default_rng(seed)
    groups = []
    for _ in range(int(rng.integers(1, 40))):
        positional = bool(rng.integers(0, 4))  # most terms keep positions, phrase terms do not
        first = _row(rng, positional, False, int(rng.choice([1, 5, 300, 3000])))
        rest = [_row(rng, positional, bool(rng.integers(0, 2)), int(rng.integers(0, 4))) for _ in range(int(rng.integers(0, 45)))]
        if rest and rng.integers(0, 3) == 0:  # a delta row that re-sets a record the merged row holds
            docs = posting_format.decode_local_docs(first[0])[:1]
            rest[0] = (posting_format.encode_docs(docs), posting_format.encode_positions(docs << POSITION_BITS | 9)
                       if positional else None, None)
        groups.append([first, *rest])
    return groups


@pytest.mark.parametrize("seed", range(25))
def test_folding_groups_at_once_matches_the_row_by_row_fold(seed):
    groups = _groups(seed)
    folded = posting_folds.fold_groups(groups)
    assert len(folded) == len(groups)
    for group, (docs, keys) in zip(groups, folded, strict=True):
        assert np.array_equal(docs, posting_folds.fold_docs([(d, dels) for d, _, dels in group]))
        if any(positions for _, positions, _ in group):
            assert keys is not None
            assert np.array_equal(keys, posting_folds.fold_keys(group))
        else:
            assert keys is None


def test_a_record_removed_then_set_again_in_one_row_stays():
    merged = (posting_format.encode_docs(np.array([1, 2, 3])), None, None)
    again = (posting_format.encode_docs(np.array([2])), None, posting_format.encode_docs(np.array([2, 3])))
    removed = (b"", None, posting_format.encode_docs(np.array([1])))
    [(docs, keys)] = posting_folds.fold_groups([[merged, again, removed]])
    assert docs.tolist() == [2]
    assert keys is None


def test_no_groups():
    assert posting_folds.fold_groups([]) == []
