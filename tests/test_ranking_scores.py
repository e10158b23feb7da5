"""kohaweb.search.ranking: scores summed densely (by record number) equal those looked up per hit."""

from __future__ import annotations

import numpy as np
import pytest

from kohaweb.search import posting_format, ranking


def _occurrences(rng: np.random.Generator, records: np.ndarray) -> np.ndarray:
    """Sorted word keys (record << POSITION_BITS | position), one to four occurrences a record."""
    keys = [(int(n) << posting_format.POSITION_BITS) | p for n in records for p in range(int(rng.integers(1, 5)))]
    return np.array(sorted(keys), dtype=np.int64)


@pytest.mark.parametrize("seed", range(5))
def test_dense_and_per_hit_scores_are_the_same_to_the_bit(seed, monkeypatch):
    rng = np.random.default_rng(seed)
    universe = np.arange(1, 5_000)
    words = [np.sort(rng.choice(universe, size=int(rng.integers(1, 3_000)), replace=False)) for _ in range(4)]
    scored = [(_occurrences(rng, w), weight) for w, weight in zip(words, (3.0, 2.0, 1.0, 2.0), strict=True)]
    scored.append((np.empty(0, dtype=np.int64), 1.0))  # a word no hit has
    hits = np.union1d(words[0], words[1])  # an "or": some words' records are not hits (and beyond the last)
    hits = hits[hits < 4_000]
    monkeypatch.setattr(ranking, "DENSE_SPREAD", 10**9)
    dense = ranking._scores(scored, hits, 5_000)
    monkeypatch.setattr(ranking, "DENSE_SPREAD", 0)
    per_hit = ranking._scores(scored, hits, 5_000)
    assert dense.tobytes() == per_hit.tobytes()
    assert (per_hit > 0).all()


@pytest.mark.parametrize("seed", range(4))
def test_a_page_of_ranked_hits_is_the_head_of_the_full_order(seed):
    """``order(needed=...)`` (the highest scores walked down, then ties by record number) gives
    the first ``needed`` of the full sort by score then record number, for scores with few
    distinct values (one common word: most records score alike) and for continuous ones."""
    rng = np.random.default_rng(seed)
    for trial in range(400):
        size = int(rng.integers(2, 400))
        shape = trial % 3
        if shape == 0:
            scores = rng.integers(0, 4, size).astype(float)
        elif shape == 1:
            scores = rng.random(size)
        else:
            scores = np.round(rng.random(size) * rng.integers(1, 30))
        needed = int(rng.integers(1, size))
        assert ranking._page_cut(scores, needed) == np.partition(scores, size - needed)[size - needed]
        hits = np.sort(rng.choice(10**6, size, replace=False))
        full = hits[np.lexsort((hits, -scores))][:needed]
        page = ranking._page(scores, hits, needed)
        assert page.tolist() == full.tolist()
