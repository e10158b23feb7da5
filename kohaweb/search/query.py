"""The query side: a small protocol-neutral query tree, evaluated on posting lists.

Each clause reads the posting lists of its terms (a few rows per term, see
kohaweb.search.postings) and becomes a sorted array of record numbers; booleans are numpy set
operations on those arrays; phrases and proximity compare word positions, vectorised. Term
lookups, prefix ranges and ranges are B-tree searches on (index, term), run the same way on
SQLite, PostgreSQL and MariaDB, so the three give the same counts. Protocols (SRU/CQL) build the
tree and map ``QueryError.code`` to their own diagnostics.

The tree is kohaweb.search.query_tree; clauses on numbers, and ranges of them, are evaluated by
kohaweb.search.query_numbers.
"""

from __future__ import annotations

import re

import numpy as np
from sqlalchemy.orm import Session

from . import normalize, posting_format, postings, sorted_sets, tables, variants, vocabulary
from .mapping import INDEXES
from .normalize import MASK_ANY, MASK_ONE, MASKS
from .posting_format import POSITION_BITS
from .query_numbers import BOUNDS, NumberClauses, _plain_int  # noqa: F401 (BOUNDS re-exported)
from .query_tree import ANCHOR, WORD_RELATIONS, Boolean, Clause, Node, QueryError

MIN_MASKED_LETTERS = 2  # a shorter masked word would expand to a large part of the index
MAX_OFFSETS = 64  # proximity distances checked by shifted intersections; beyond, record by record


def evaluate(session: Session, node: Node, evaluator: _Evaluator | None = None) -> np.ndarray:
    """The sorted record numbers matching ``node`` (hidden records included); ``evaluator`` (from
    ``evaluator_for``) when its reads are to be reused, by ranking."""
    return (evaluator or _Evaluator(session)).node(node)


def evaluator_for(session: Session, *, ranked: bool, also_scored: dict[str, str] | None = None,
                  hidden_too: bool = False, size_too: bool = False) -> _Evaluator:
    """An evaluator for one search; a ranked one keeps the words' positions it read, and reads a
    plain word's occurrences in ``also_scored[index]`` (the other index ranking scores it in) in
    the same statement. With ``hidden_too`` (a public search), the first plain word read also
    brings the records hidden from the public (``hidden``), and with ``size_too`` the number of
    indexed records (``size``, which ranking weighs words by): each saves the search a round
    trip."""
    return _Evaluator(session, remember_keys=ranked, also_scored=also_scored, hidden_too=hidden_too,
                      size_too=size_too)


class _Evaluator(NumberClauses):
    """Evaluates a query tree. With ``remember_keys`` (a ranked search), plain words are read with
    their positions once and kept, so ranking scores them without reading them again."""

    # where posting lists are read, and which index names exist: the bibliographic index here;
    # kohaweb.search.authority_index subclasses this with its own tables and indexes
    store = postings
    term_table = tables.postings
    keeps_reversed_terms = True  # a left-truncated word reads kohaweb.search.vocabulary
    # its number indexes may have the several-numbers namespace (kohaweb.search.posting_format
    # multi_number_space), whether they do being the SearchIndexMultiNumbers flag
    may_keep_multi_numbers = True
    indexes = INDEXES

    def __init__(self, session: Session, *, remember_keys: bool = False, also_scored: dict[str, str] | None = None,
                 hidden_too: bool = False, size_too: bool = False):
        self.session = session
        self._universe: np.ndarray | None = None
        self.remember_keys = remember_keys
        self.also_scored = also_scored or {}
        self._keys: dict[tuple[str, str, frozenset[str]], np.ndarray] = {}
        self._hidden_too = hidden_too
        self.hidden: np.ndarray | None = None  # the hidden records, when a read brought them
        self._size_too = size_too
        self.size: int | None = None  # the number of indexed records, when a read brought it
        self._number_layout: int | None = None  # read when a query first has a range to take

    def universe(self) -> np.ndarray:
        if self._universe is None:
            self._universe = self.store.universe(self.session)
        return self._universe

    # --- booleans ----------------------------------------------------------------------------

    def node(self, node: Node) -> np.ndarray:
        if isinstance(node, Clause):
            return self.clause(node)
        if node.op == "prox":
            return self.prox(node)
        if node.op == "and":
            ranged = self.and_with_ranges(node)
            if ranged is not None:
                return ranged
        left = self.node(node.left)
        if node.op == "and":
            return sorted_sets.intersect(left, self.node(node.right)) if len(left) else left
        if node.op == "not":
            return sorted_sets.difference(left, self.node(node.right)) if len(left) else left
        if node.op == "or":
            return sorted_sets.union(left, self.node(node.right))
        raise QueryError("unsupported_boolean", f"unsupported boolean {node.op}", node.op)

    # --- clauses ------------------------------------------------------------------------------

    def clause(self, clause: Clause) -> np.ndarray:
        index = self.indexes.get(clause.index)
        if index is None:
            raise QueryError("unsupported_index", f"unsupported index {clause.index}", clause.index)
        if clause.relation not in WORD_RELATIONS:
            raise QueryError("unsupported_relation", f"unsupported relation {clause.relation}", clause.relation)
        if index.kind == "allrecords":
            return self.universe()
        if clause.relation == "<>":
            positive = self.clause(Clause(clause.index, "=", clause.term))
            return sorted_sets.difference(self.universe(), positive)
        if index.kind == "recid":
            return self.recid(clause)
        if index.kind == "identifier":
            return self.identifier(clause)
        if index.kind == "number" and (clause.relation in ("<", "<=", ">", ">=", "within") or (
                clause.relation in ("=", "exact", "==", "adj") and _plain_int(clause.term) is not None)):
            return self.number(clause)
        return self.words(clause)

    def words(self, clause: Clause) -> np.ndarray:
        idx, relation = clause.index, clause.relation
        text, start, end = _strip_anchors(clause.term)
        if relation in ("exact", "==") or start or end:
            if relation not in ("=", "adj", "exact", "=="):
                raise QueryError("anchor_position", f"anchoring is not supported with {relation}", clause.term)
            return self.phrase(idx, normalize.query_phrase(text), exact=relation in ("exact", "==") or (start and end),
                               start=start, end=end)
        words = normalize.query_words(text)
        if relation in ("<", "<=", ">", ">=", "within"):
            return self.range(idx, words, relation, clause.term)
        if not words:
            raise QueryError("empty_term", "empty term unsupported", clause.term)
        modifiers = clause.modifiers
        if relation in ("=", "adj") and "relevant" in modifiers:
            relation = "any"  # as Zebra's relevance relation: a ranked "any of these words"
        if relation in ("=", "adj"):
            if len(words) == 1:
                return self.word(idx, words[0], modifiers)
            return self.sequence(idx, words, modifiers)
        sets = [self.word(idx, w, modifiers) for w in dict.fromkeys(words)]
        return _intersect_all(sets) if relation == "all" else _union_all(sets)

    def word(self, idx: str, word: str, modifiers: frozenset[str] = frozenset()) -> np.ndarray:
        if _right_truncated(word):
            # a plain prefix is one range read, however many terms it covers: no length rule
            prefix = word[:-1]
            term = self.term_table.c.term
            return self.store.docs_where(self.session, idx, term >= prefix, term < _next(prefix))[1]
        terms = self.terms(idx, word, modifiers)
        plain = terms == [word]
        hidden = [posting_format.HIDDEN] if self._hidden_too and self.hidden is None and plain else []
        sized = self._size_too and self.size is None and plain
        if self.remember_keys:
            also = self.also_scored.get(idx)
            if (also or hidden or sized) and plain:  # a plain word with what goes with it, one statement
                pairs = [(idx, word)] + ([(also, word)] if also else []) + hidden
                read, total = self.store.docs_and_keys_of(self.session, pairs, sized=sized)
                if also:
                    self._keys[also, word, modifiers] = read[also, word][1]
                if hidden:
                    self.hidden = read[posting_format.HIDDEN][0]
                if sized:
                    self.size = total
                found, self._keys[idx, word, modifiers] = read[idx, word]
                return found
            found, self._keys[idx, word, modifiers] = self.store.docs_and_keys(self.session, idx, terms)
            return found
        if hidden or sized:
            docs, total = self.store.docs_of(self.session, [(idx, word), *hidden], sized=sized)
            if hidden:
                self.hidden = docs[posting_format.HIDDEN]
            if sized:
                self.size = total
            return docs[idx, word]
        return self.store.docs(self.session, idx, terms)

    def word_keys(self, idx: str, word: str, modifiers: frozenset[str] = frozenset()) -> np.ndarray:
        remembered = self._keys.get((idx, word, modifiers))
        if remembered is not None:
            return remembered
        found = self.store.keys(self.session, idx, self.terms(idx, word, modifiers))
        if self.remember_keys:
            self._keys[idx, word, modifiers] = found
        return found

    def terms(self, idx: str, word: str, modifiers: frozenset[str] = frozenset()) -> list[str]:
        """The index terms a query word stands for: its masked expansion, or the word and its
        stem/fuzzy/phonetic variants."""
        if any(m in word for m in MASKS):
            return self.expand(idx, word)
        if modifiers & variants.MATCHERS.keys():
            return variants.matching_terms(self.session, idx, word, modifiers)
        return [word]

    def expand(self, namespace: str, pattern: str) -> list[str]:
        """The terms of a namespace a masked word or phrase matches, in term order: a range of
        the terms that start with its literal beginning, or of the reversed terms that start
        with its literal ending reversed when that is longer (``*ation``), then the pattern."""
        _check_masks(pattern)
        regex = _regex(pattern)
        prefix = _prefix(pattern)
        ending = _prefix(pattern[::-1])  # the literal ending, reversed
        # the database keeps only the terms LIKE the pattern (in one pass, in C); the regular
        # expression then decides exactly
        if self.keeps_reversed_terms and vocabulary.listed(namespace) and (len(ending) > len(prefix) or not prefix):
            found = vocabulary.ending(self.session, namespace, ending, _like(pattern[::-1]))
            return sorted(t for t in found if regex.fullmatch(t))
        like = self.term_table.c.term.like(_like(pattern), escape="\\")
        return [t for t in self.session_terms(namespace, prefix, like) if regex.fullmatch(t)]

    def session_terms(self, namespace: str, prefix: str, *filters) -> list[str]:
        term = self.term_table.c.term
        conditions = [term >= prefix, term < _next(prefix)] if prefix else []
        return self.store.vocabulary(self.session, namespace, *conditions, *filters)

    def sequence(self, idx: str, words: list[str], modifiers: frozenset[str] = frozenset()) -> np.ndarray:
        """Records with the words at consecutive positions of one field."""
        found = self.word_keys(idx, words[0], modifiers)
        for offset, word in enumerate(words[1:], start=1):
            if not len(found):
                break
            found = sorted_sets.intersect(found, self.word_keys(idx, word, modifiers) - offset)
        return posting_format.doc_keys(found)

    def phrase(self, idx: str, value: str, *, exact: bool, start: bool, end: bool) -> np.ndarray:
        if not value:
            raise QueryError("empty_term", "empty term unsupported", value)
        namespace = posting_format.phrase_space(idx)
        masked = any(m in value for m in MASKS)
        if masked:
            _check_masks(value)
        if exact and not masked:
            return self.store.docs(self.session, namespace, [value])
        body = _pattern(value)
        options = [body]
        if not exact:
            if start:
                options.append(body + " .*")
            if end:
                options.append(".* " + body)
        regex = re.compile("|".join(f"(?:{o})" for o in options), re.DOTALL)
        # a start-anchored (or exact) search only looks at values that begin with the term
        prefix = _prefix(value) if exact or start or masked and not end else ""
        terms = [t for t in self.session_terms(namespace, prefix) if regex.fullmatch(t)]
        return self.store.docs(self.session, namespace, terms)

    def range(self, namespace: str, words: list[str], relation: str, raw: str) -> np.ndarray:
        if any(m in "".join(words) for m in MASKS):
            raise QueryError("invalid_term", "masking is not supported with range relations", raw)
        term = self.term_table.c.term
        if relation == "within":
            if len(words) != 2:
                raise QueryError("invalid_term", "within needs two values", raw)
            conditions = [term >= words[0], term <= words[1]]
        else:
            if len(words) != 1:
                raise QueryError("invalid_term", f"{relation} needs one value", raw)
            conditions = [_compare(term, relation, words[0])]
        return self.store.docs_where(self.session, namespace, *conditions)[1]

    def identifier(self, clause: Clause) -> np.ndarray:
        text, _, _ = _strip_anchors(clause.term)
        parts = text.split() if clause.relation in ("any", "all") else [text]
        values = [v for v in (normalize.identifier(p) for p in parts) if v]
        if not values:
            raise QueryError("empty_term", "empty term unsupported", clause.term)
        if clause.relation in ("<", "<=", ">", ">=", "within"):
            bounds = values if clause.relation != "within" else [normalize.identifier(p) or "" for p in text.split()]
            return self.range(clause.index, bounds, clause.relation, clause.term)
        sets = [self.word(clause.index, v) for v in values]
        return _intersect_all(sets) if clause.relation == "all" else _union_all(sets)

    def prox(self, node: Boolean) -> np.ndarray:
        """Two single-word clauses on the same word index within a word distance."""
        left, right = node.left, node.right
        if not (isinstance(left, Clause) and isinstance(right, Clause) and left.index == right.index
                and self.indexes.get(left.index) and self.indexes[left.index].kind in ("word", "number")
                and left.relation in ("=", "adj") and right.relation in ("=", "adj")):
            raise QueryError("unsupported_prox", "proximity is supported between two single-word terms of one "
                             "word index", "")
        words = [normalize.query_words(_strip_anchors(c.term)[0]) for c in (left, right)]
        if any(len(w) != 1 for w in words):
            raise QueryError("unsupported_prox", "proximity needs single-word terms", "")
        a = self.word_keys(left.index, words[0][0])
        b = self.word_keys(left.index, words[1][0])
        if not len(a) or not len(b):
            return self.store.EMPTY
        return _within_distance(a, b, node)


def _within_distance(a: np.ndarray, b: np.ndarray, node: Boolean) -> np.ndarray:
    """Records with an occurrence of ``a`` and one of ``b`` whose gap (b - a, or its absolute
    value when unordered) satisfies the node's comparison; a word never pairs with itself."""
    def accepts(gap: int) -> bool:
        distance = gap if node.ordered else abs(gap)
        if gap == 0 or node.ordered and gap < 0:
            return False
        return {"=": distance == node.distance, "<": distance < node.distance, "<=": distance <= node.distance,
                ">": distance > node.distance, ">=": distance >= node.distance,
                "<>": distance != node.distance}[node.comparison]

    if node.comparison in ("=", "<", "<=") and node.distance <= MAX_OFFSETS:
        gaps = [g for g in range(-node.distance, node.distance + 1) if accepts(g)]
        found = [posting_format.doc_keys(sorted_sets.intersect(a + g, b)) for g in gaps]
        return _union_all(found) if found else posting_format.EMPTY
    # unbounded distances: record by record, over the records both words occur in
    common = sorted_sets.intersect(posting_format.doc_keys(a), posting_format.doc_keys(b))
    mask = (1 << POSITION_BITS) - 1
    hits = []
    for number in common:
        low, high = number << POSITION_BITS, (number + 1) << POSITION_BITS
        pa = a[np.searchsorted(a, low):np.searchsorted(a, high)] & mask
        pb = b[np.searchsorted(b, low):np.searchsorted(b, high)] & mask
        gaps = np.unique(np.subtract.outer(pb, pa))
        if any(accepts(int(g)) for g in gaps):
            hits.append(number)
    return np.array(hits, dtype=np.int64)


# --- helpers --------------------------------------------------------------------------------------

def _intersect_all(sets: list[np.ndarray]) -> np.ndarray:
    result = sets[0]
    for other in sets[1:]:
        result = sorted_sets.intersect(result, other)
    return result


def _union_all(sets: list[np.ndarray]) -> np.ndarray:
    return sorted_sets.union(*sets)


def _strip_anchors(term: str) -> tuple[str, bool, bool]:
    start = term.startswith(ANCHOR)
    end = len(term) > 1 and term.endswith(ANCHOR)
    inner = term[1 if start else 0: len(term) - (1 if end else 0)]
    if ANCHOR in inner:
        raise QueryError("anchor_position", "anchoring character in unsupported position", term)
    return inner, start, end


def _check_masks(word: str) -> None:
    if any(m in word for m in MASKS) and len(word.strip(MASKS).replace(MASK_ANY, "").replace(MASK_ONE, "")) \
            < MIN_MASKED_LETTERS:
        raise QueryError("masking_too_short", "masked words too short",
                         word.replace(MASK_ANY, "*").replace(MASK_ONE, "?"))


def _right_truncated(word: str) -> bool:
    """A word masked only by one trailing ``*`` (``a*``): a prefix search."""
    return len(word) > 1 and word.endswith(MASK_ANY) and not any(m in word[:-1] for m in MASKS)


def _prefix(pattern: str) -> str:
    cut = [i for i, ch in enumerate(pattern) if ch in MASKS]
    return pattern[:cut[0]] if cut else pattern


def _pattern(value: str) -> str:
    return "".join(".*" if ch == MASK_ANY else "." if ch == MASK_ONE else re.escape(ch) for ch in value)


def _like(value: str) -> str:
    """A masked word as a LIKE pattern (escape character ``\\``): at least the terms it matches."""
    literal = {"\\": "\\\\", "%": "\\%", "_": "\\_"}
    return "".join("%" if ch == MASK_ANY else "_" if ch == MASK_ONE else literal.get(ch, ch) for ch in value)


def _regex(value: str) -> re.Pattern:
    return re.compile(_pattern(value), re.DOTALL)


def _next(prefix: str) -> str:
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _compare(column, relation: str, value):
    return {"<": column < value, "<=": column <= value, ">": column > value, ">=": column >= value}[relation]


__all__ = ["ANCHOR", "Boolean", "Clause", "MASK_ANY", "MASK_ONE", "Node", "QueryError", "evaluate"]
