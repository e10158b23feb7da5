"""Relevance order, from the posting lists (a tf-idf like Zebra's rank-1).

A record's score adds, for every word of the query's positive clauses (not the right side of a
``not``): ``(1 + log tf) * log(1 + N / df) * weight`` where ``tf`` is how often the word occurs in
the clause's index of that record (the index stores every word position, so this is exact),
``df`` the number of records holding it and ``N`` the number of indexed records. The weight is
the index's (title 3, author and subject 2, any other 1); a word searched in ``any`` also scores
its occurrences in the title (weight 2), so a title word outranks a note word. A phrase whose
words stand together scores again per occurrence of the whole phrase. Ties keep record number
order, so the order is stable.
"""

from __future__ import annotations

import math

import numpy as np
from sqlalchemy.orm import Session

from . import normalize, posting_format, postings, sorted_sets
from .mapping import INDEXES
from .query import _Evaluator, _strip_anchors
from .query_tree import Clause, Node, QueryError

WEIGHTS = {"title": 3.0, "author": 2.0, "subject": 2.0}
ANY_TITLE_BOOST = 2.0
ALSO_SCORED = {"any": "title"}  # a word searched in any also scores its occurrences in the title
MAX_RANKED_WORDS = 16  # words of one query that score (the first ones)
DENSE_SPREAD = 16  # hits at least one record number in this many: their scores are summed densely


def _scored_clauses(node: Node, out: list[Clause]) -> list[Clause]:
    if isinstance(node, Clause):
        spec = INDEXES.get(node.index)
        if spec is not None and spec.kind in ("word", "number") and node.relation in ("=", "adj", "all", "any"):
            out.append(node)
        return out
    _scored_clauses(node.left, out)
    if node.op != "not":
        _scored_clauses(node.right, out)
    return out


def rankable(node: Node) -> bool:
    """Whether the query has words to rank by."""
    return bool(_scored_clauses(node, []))


def weighs_words(node: Node) -> bool:
    """Whether ranking ``node`` scores more than one word (or a word in two indexes), so that
    ``order`` needs the number of indexed records: a search then has its first read bring it
    (kohaweb.search.query ``evaluator_for``) rather than ask for it apart."""
    scored = 0
    for clause in _scored_clauses(node, []):
        scored += len(_words_of(clause)) * (2 if clause.index in ALSO_SCORED else 1)
        if scored > 1:
            return True
    return False


def _words_of(clause: Clause) -> list[str]:
    """The words of a scored clause (none when its anchors are malformed)."""
    try:
        text, _, _ = _strip_anchors(clause.term)
    except QueryError:
        return []
    return normalize.query_words(text)


def order(session: Session, node: Node, hits: np.ndarray, evaluator: _Evaluator | None = None,
          needed: int | None = None) -> np.ndarray:
    """``hits`` (sorted record numbers) in relevance order, best first; ``evaluator``: the one that
    found them, whose remembered word positions are reused; ``needed``: only the first so many
    are wanted (a page), and only they are returned."""
    if len(hits) < 2:
        return hits
    evaluator = evaluator or _Evaluator(session, remember_keys=True)
    scored: list[tuple[np.ndarray, float]] = []  # (occurrences, weight) of each word or phrase
    budget = MAX_RANKED_WORDS
    for clause in _scored_clauses(node, []):
        words = _words_of(clause)[:budget]
        budget -= len(words)
        targets = [(clause.index, WEIGHTS.get(clause.index, 1.0))]
        if clause.index in ALSO_SCORED:
            targets.append((ALSO_SCORED[clause.index], ANY_TITLE_BOOST))
        for index, weight in targets:
            occurrences = []
            for word in words:
                keys = _keys(evaluator, index, word, clause.modifiers)
                occurrences.append(keys)
                scored.append((keys, weight))
            if len(words) > 1 and clause.relation in ("=", "adj") and all(len(k) for k in occurrences):
                together = occurrences[0]
                for offset, keys in enumerate(occurrences[1:], start=1):
                    together = sorted_sets.intersect(together, keys - offset)
                scored.append((together, weight))
        if budget <= 0:
            break
    # N only weighs words against each other: one word's idf is the same for every hit and
    # cannot change the order, so a one-word query does not count the catalogue
    total = None
    if len(scored) > 1:
        total = max(evaluator.size if evaluator.size is not None else postings.size(session), 1)
    scores = _scores(scored, hits, total)
    if needed is not None and needed < len(hits):
        # a page of a large result: only its records are ordered
        return _page(scores, hits, needed)
    return hits[np.lexsort((hits, -scores))]  # best score first, then record number


def _page(scores: np.ndarray, hits: np.ndarray, needed: int) -> np.ndarray:
    """The first ``needed`` of ``hits`` (sorted) by score then record number: those scoring
    above the page's last score, ordered, then those scoring just that, lowest numbers first."""
    cut = _page_cut(scores, needed)
    above = np.flatnonzero(scores > cut)
    tied = np.flatnonzero(scores == cut)[:needed - len(above)]
    return hits[np.concatenate((above[np.lexsort((hits[above], -scores[above]))], tied))]


def _page_cut(scores: np.ndarray, needed: int, levels: int = 8) -> float:
    """The ``needed``-th highest of ``scores`` (counting ties), what ``np.partition`` finds. Most
    records of a common word score alike (it occurs once in them), and numpy's selection is slow
    on such ties (8 ms for 68,000 scores of two values, 0.3 ms for random ones): the few highest
    distinct scores are walked down first, and the selection only runs past ``levels`` of them."""
    level = scores.max()
    count = int(np.count_nonzero(scores >= level))
    rest = scores
    for _ in range(levels):
        if count >= needed:
            return float(level)
        rest = rest[rest < level]
        level = rest.max()
        count += int(np.count_nonzero(rest == level))
    return float(np.partition(scores, len(scores) - needed)[len(scores) - needed])


def _keys(evaluator: _Evaluator, index: str, word: str, modifiers: frozenset[str]) -> np.ndarray:
    try:
        return evaluator.word_keys(index, word, modifiers)
    except QueryError:  # a mask too short to expand: that word does not score
        return posting_format.EMPTY


def _scores(scored: list[tuple[np.ndarray, float]], hits: np.ndarray, total: int | None) -> np.ndarray:
    """Each hit's score, summed over the scored words and phrases.

    When the hits are dense among the record numbers (a common word's), the scores are summed in
    an array indexed by record number, one scatter per word and one gather: looking every hit
    up in every word's records was a binary search per hit and word (two common words in ``any``:
    four searches of 72,000 hits, 1.3 ms each at 100k records). Both ways add the same numbers in
    the same order, so the scores are the same to the last bit."""
    top = int(hits[-1])
    if len(hits) * DENSE_SPREAD >= top:
        dense = np.zeros(top + 1, dtype=np.float64)
        for keys, weight in scored:
            if not len(keys):
                continue
            docs, score = _record_scores(keys, total)
            end = int(np.searchsorted(docs, top, side="right"))
            dense[docs[:end]] += score[:end] * weight
        return dense[hits]
    scores = np.zeros(len(hits), dtype=np.float64)
    for keys, weight in scored:
        scores += _word_score(keys, hits, total) * weight
    return scores


def _record_scores(keys: np.ndarray, total: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The records (sorted) holding one word's occurrences, and each one's (1 + log tf) * idf;
    ``total`` None: idf 1 (a lone word, whose idf does not change the order)."""
    numbers = keys >> posting_format.POSITION_BITS
    if len(numbers) > 1 and bool(np.all(numbers[1:] >= numbers[:-1])):
        # occurrences come sorted (record, then position): runs of one record, no sort needed
        starts = np.concatenate(([0], np.flatnonzero(numbers[1:] != numbers[:-1]) + 1))
        docs, tf = numbers[starts], np.diff(np.append(starts, len(numbers)))
    else:
        docs, tf = np.unique(numbers, return_counts=True)
    idf = math.log(1.0 + total / len(docs)) if total is not None else 1.0
    return docs, (1.0 + np.log(tf)) * idf


def _word_score(keys: np.ndarray, hits: np.ndarray, total: int | None) -> np.ndarray:
    """Each hit's score for one word's occurrences (zero where it does not occur)."""
    if not len(keys):
        return np.zeros(len(hits))
    docs, score = _record_scores(keys, total)
    at = np.searchsorted(docs, hits)
    at[at >= len(docs)] = 0
    found = docs[at] == hits
    out = np.zeros(len(hits))
    out[found] = score[at[found]]
    return out


__all__ = ["order", "rankable", "weighs_words"]
