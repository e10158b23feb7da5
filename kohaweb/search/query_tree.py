"""The query tree: ``Clause`` and ``Boolean`` nodes on the index names of
kohaweb.search.mapping.INDEXES, which protocols (SRU/CQL) build and kohaweb.search.query
evaluates, and ``QueryError``, why a query cannot be answered (its ``code`` mapped by each
protocol to its own diagnostics).
"""

from __future__ import annotations

from dataclasses import dataclass

ANCHOR = "\ue002"  # CQL '^'

WORD_RELATIONS = ("=", "adj", "all", "any", "exact", "==", "<", "<=", ">", ">=", "<>", "within")


class QueryError(Exception):
    """A query the index cannot answer. ``code`` is one of: unsupported_index,
    unsupported_relation, empty_term, masking_too_short, anchor_position, invalid_term,
    unsupported_prox, unsupported_sort, scan_unsupported."""

    def __init__(self, code: str, message: str, details: str = ""):
        super().__init__(message)
        self.code = code
        self.details = details


@dataclass(frozen=True)
class Clause:
    index: str  # an index name of kohaweb.search.mapping.INDEXES
    relation: str  # one of WORD_RELATIONS
    term: str  # with MASK_ANY / MASK_ONE / ANCHOR sentinels for unescaped * ? ^
    # word matching: "stem" (same Snowball stem), "fuzzy" (one edit away), "phonetic" (same
    # Metaphone code); "relevant" asks for relevance order and makes a word list match any word
    modifiers: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Boolean:
    op: str  # and | or | not | prox
    left: Clause | Boolean
    right: Clause | Boolean
    distance: int = 1  # prox: word distance
    comparison: str = "<="  # prox: = < <= > >= <>
    ordered: bool = False  # prox: left before right


Node = Clause | Boolean
