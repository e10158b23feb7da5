"""The query evaluator's numbers: clauses on number indexes (years...) and on record numbers, and
the AND of a lower and an upper bound on one number index, read as one range.

A number index lists each record's numbers as ten-digit terms, and by their tens and hundreds
(kohaweb.search.posting_format): a range reads its edge numbers, decades and centuries rather
than every number between. ``NumberClauses`` is a base class of the evaluator
(kohaweb.search.query), whose reads and tree walk these methods use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from . import posting_format, sorted_sets, state
from .mapping import Index
from .query_tree import Boolean, Clause, Node, QueryError

BOUNDS = (">", ">=", "<", "<=")  # a number clause with one of these is a bound of a range


class NumberClauses:
    """The evaluator's methods on numbers: ``node`` (an AND chain) asks ``and_with_ranges``,
    ``clause`` asks ``number`` and ``recid``."""

    # what the evaluator (kohaweb.search.query) provides
    session: Session
    store: Any  # kohaweb.search.postings, or the authority index's store
    indexes: dict[str, Index]
    may_keep_multi_numbers: bool
    _universe: np.ndarray | None
    _number_layout: int | None
    _hidden_too: bool  # a public search: the first read that can brings the hidden records too
    hidden: np.ndarray | None  # those records, once read
    node: Callable[[Node], np.ndarray]  # evaluates any node of the tree

    def and_with_ranges(self, node: Boolean) -> np.ndarray | None:
        """An AND chain (``A and B and C``: the tree's left spine of "and" nodes) holding a lower
        and an upper bound on one number index (``date >= a``, ``date <= b``), evaluated with
        each such pair as one range (``bounded``); None when it has no pair or the index lacks
        the namespace the fast path needs.

        The operands are taken in the order and with the early stop of the plain evaluation (an
        empty intersection so far ends it), the pair where its first clause stands: a bound with
        a known number index and a plain number never raises, so reading its partner early
        changes neither the answer nor the errors."""
        operands: list[Node] = []
        at: Node = node
        while isinstance(at, Boolean) and at.op == "and":
            operands.append(at.right)
            at = at.left
        operands.append(at)
        operands.reverse()
        bounds = [self._bound(operand) for operand in operands]
        partner: dict[int, int] = {}
        paired: set[int] = set()
        for i, bound in enumerate(bounds):
            if bound is None or i in paired:
                continue
            for j in range(i + 1, len(operands)):
                other = bounds[j]
                if other is not None and j not in paired and other[0] == bound[0] and other[1] != bound[1]:
                    partner[i] = j
                    paired.update((i, j))
                    break
        if not partner or self.number_layout() < 1:
            return None
        found: np.ndarray | None = None
        for i, operand in enumerate(operands):
            if i in paired and i not in partner:
                continue  # read with its partner
            if found is not None and not len(found):
                return found
            part = self.bounded(operand, operands[partner[i]]) if i in partner else self.node(operand)  # type: ignore[arg-type]
            found = part if found is None else sorted_sets.intersect(found, part)
        return found

    def _bound(self, node: Node) -> tuple[str, str] | None:
        """(index, ">" or "<") for a clause bounding a number index by a plain number."""
        if not isinstance(node, Clause) or node.relation not in BOUNDS:
            return None
        index = self.indexes.get(node.index)
        if index is None or index.kind != "number" or _plain_int(node.term) is None:
            return None
        return node.index, node.relation[0]

    def number_layout(self) -> int:
        """How every record of the index lists its numbers (kohaweb.search.state): 1 or more,
        several numbers apart; 2, also by tens and hundreds."""
        if self._number_layout is None:
            self._number_layout = state.number_layout(self.session) if self.may_keep_multi_numbers else 0
        return self._number_layout

    def bounded(self, one: Clause, other: Clause) -> np.ndarray:
        """``X >= a and X <= b`` (either order, strict or not) as CQL means it: the records with
        SOME value above the lower bound and SOME, maybe another, below the upper one. Those with
        a value inside are one ``numbers_between``; the others have two values or more, all of
        them listed under the several-numbers namespace, where the two half-open reads are small."""
        low, high = (one, other) if one.relation[0] == ">" else (other, one)
        a, b = _plain_int(low.term), _plain_int(high.term)
        assert a is not None and b is not None
        a, b = a + 1 if low.relation == ">" else a, b - 1 if high.relation == "<" else b  # inclusive
        inside = self.numbers_between(posting_format.number_space(low.index), a, b)
        several = posting_format.multi_number_space(low.index)
        upper = self.numbers_between(several, a, posting_format.LARGEST_TERM_NUMBER)
        if len(upper):
            upper = sorted_sets.intersect(upper, self.numbers_between(several, 0, b))
        return sorted_sets.union(inside, upper) if len(upper) else inside

    def number(self, clause: Clause) -> np.ndarray:
        values = _ints(clause.term, clause.term)
        if clause.relation == "within":
            if len(values) != 2:
                raise QueryError("invalid_term", "within needs two values", clause.term)
            return self.numbers_between(posting_format.number_space(clause.index), values[0], values[1])
        if len(values) != 1:
            raise QueryError("invalid_term", "one number is expected", clause.term)
        value = values[0]
        if clause.relation in ("=", "exact", "==", "adj"):
            return self.store.docs(self.session, posting_format.number_space(clause.index),
                                   [posting_format.number_term(value)])
        low, high = {"<": (0, value - 1), "<=": (0, value),
                     ">": (value + 1, posting_format.LARGEST_TERM_NUMBER),
                     ">=": (value, posting_format.LARGEST_TERM_NUMBER)}[clause.relation]
        return self.numbers_between(posting_format.number_space(clause.index), low, high)

    def numbers_between(self, space: str, low: int, high: int) -> np.ndarray:
        """The records with a number ``low``..``high`` (inclusive) in a number namespace: whole
        decades and centuries read from their own namespaces when every record has them
        (``posting_format.number_range_pieces``), else every number's rows."""
        if low > high:
            return self.store.EMPTY
        pieces = posting_format.number_range_pieces(low, high) if self.number_layout() >= 2 else [(1, low, high)]
        return self.store.docs_in_ranges(self.session, [
            (space if step == 1 else posting_format.number_bucket_space(space, step),
             posting_format.number_term(first), posting_format.number_term(last))
            for step, first, last in pieces])

    def recid(self, clause: Clause) -> np.ndarray:
        values = _ints(clause.term, clause.term)
        if clause.relation == "within":
            if len(values) != 2:
                raise QueryError("invalid_term", "within needs two values", clause.term)
            return self.numbered(values[0], values[1])
        if clause.relation == "any":
            wanted = np.array(sorted(set(values)), dtype=np.int64)
            return sorted_sets.intersect(self.numbered(int(wanted[0]), int(wanted[-1])), wanted)
        if len(values) != 1:
            raise QueryError("invalid_term", "one record number is expected", clause.term)
        value = values[0]
        if clause.relation in ("=", "exact", "==", "adj", "all"):
            return self.numbered(value, value)
        if clause.relation in ("<", "<="):
            return self.numbered(None, value if clause.relation == "<=" else value - 1)
        if clause.relation in (">", ">="):
            return self.numbered(value if clause.relation == ">=" else value + 1, None)
        raise QueryError("unsupported_relation", f"unsupported relation {clause.relation}", clause.relation)

    def numbered(self, low: int | None, high: int | None) -> np.ndarray:
        """Indexed records numbered low..high (None: unbounded); only their blocks are read
        unless the whole list is already at hand."""
        if self._universe is None:
            if self._hidden_too and self.hidden is None:  # a public search: what it must hide, in the same read
                found, self.hidden = self.store.universe_and_hidden_between(self.session, low, high)
                return found
            return self.store.universe_between(self.session, low, high)
        every = self._universe
        keep = np.ones(len(every), dtype=bool)
        if low is not None:
            keep &= every >= low
        if high is not None:
            keep &= every <= high
        return every[keep]


def _plain_int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and len(text) < 10 else None


def _ints(text: str, raw: str) -> list[int]:
    values = [_plain_int(part) for part in text.split()]
    if not values or any(v is None for v in values):
        raise QueryError("invalid_term", "a number is expected", raw)
    return values  # type: ignore[return-value]
