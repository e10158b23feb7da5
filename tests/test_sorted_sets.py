"""The search index's set operations agree with numpy's general ones on random sorted sets."""

from __future__ import annotations

import numpy as np

from kohaweb.search import sorted_sets


def test_set_operations_match_numpy():
    rng = np.random.default_rng(7)
    for size_a, size_b in [(0, 0), (0, 5), (5, 0), (1, 1), (50, 3), (1000, 1000), (20000, 300)]:
        a = np.unique(rng.integers(0, 3 * max(size_a, 1), size_a))
        b = np.unique(rng.integers(0, 3 * max(size_b, 1), size_b))
        assert np.array_equal(sorted_sets.union(a, b), np.union1d(a, b))
        assert np.array_equal(sorted_sets.intersect(a, b), np.intersect1d(a, b))
        assert np.array_equal(sorted_sets.difference(a, b), np.setdiff1d(a, b))
        assert np.array_equal(sorted_sets.member(b[::-1], a), np.isin(b[::-1], a))
        both = np.concatenate([b, a])
        assert np.array_equal(sorted_sets.unsorted_distinct(both), np.unique(both))
        assert np.array_equal(sorted_sets.distinct(np.sort(both)), np.unique(both))
