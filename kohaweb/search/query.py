"""The query side: a small protocol-neutral query tree compiled to SQLAlchemy Core.

Every clause becomes a SELECT of record numbers from the index tables using their B-tree indexes
(equality, prefix ranges for right truncation, LIKE only as a filter after a prefix range), and
booleans become IN / NOT IN / UNION ALL. The same SQL runs on SQLite, PostgreSQL and MariaDB,
so the three give the same counts. Protocols (SRU/CQL) build the tree and map ``QueryError.code``
to their own diagnostics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import CompoundSelect, Select, and_, func, or_, select, true, union_all
from sqlalchemy.orm import Session

from . import normalize, tables
from .indexer import flush_pending
from .mapping import INDEXES
from .normalize import MASK_ANY, MASK_ONE, MASKS

ANCHOR = "\ue002"  # CQL '^'
MIN_MASKED_LETTERS = 2  # a shorter masked word would expand to a large part of the index

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


@dataclass(frozen=True)
class Boolean:
    op: str  # and | or | not | prox
    left: Clause | Boolean
    right: Clause | Boolean
    distance: int = 1  # prox: word distance
    comparison: str = "<="  # prox: = < <= > >= <>
    ordered: bool = False  # prox: left before right


Node = Clause | Boolean


@dataclass(frozen=True)
class SortKey:
    index: str  # title | author | date | recid
    ascending: bool = True
    missing: str = "high"  # high | low: where records without a value go


SORTABLE = {"title": tables.records.c.title, "author": tables.records.c.author, "date": tables.records.c.year,
            "recid": tables.records.c.biblionumber}


@dataclass
class SearchResult:
    total: int
    ids: list[int] = field(default_factory=list)


# --- compiling ---------------------------------------------------------------------------------

def _col(sel: Select):
    return sel.selected_columns[0]


def _plain(sel: Select | CompoundSelect) -> Select:
    """A simple SELECT (compound selects are wrapped, as SQLite forbids nesting them bare)."""
    if isinstance(sel, CompoundSelect):
        sub = sel.subquery()
        return select(sub.c[0].label("biblionumber"))
    return sel


def _in(sel: Select | CompoundSelect) -> Select:
    return _plain(sel).correlate(None)


def compile_node(node: Node) -> Select | CompoundSelect:
    if isinstance(node, Clause):
        return _clause(node)
    left, right = compile_node(node.left), compile_node(node.right)
    if node.op == "or":
        return union_all(_plain(left), _plain(right))
    if node.op == "prox":
        return _prox(node)
    base = _plain(left)
    if node.op == "and":
        return _also(base, right)
    if node.op == "not":
        return _also(base, right, negate=True)
    raise QueryError("unsupported_boolean", f"unsupported boolean {node.op}", node.op)


def _all_records() -> Select:
    return select(tables.records.c.biblionumber)


def _clause(clause: Clause) -> Select | CompoundSelect:
    index = INDEXES.get(clause.index)
    if index is None:
        raise QueryError("unsupported_index", f"unsupported index {clause.index}", clause.index)
    if clause.relation not in WORD_RELATIONS:
        raise QueryError("unsupported_relation", f"unsupported relation {clause.relation}", clause.relation)
    if index.kind == "allrecords":
        return _all_records()
    if clause.relation == "<>":
        positive = _clause(Clause(clause.index, "=", clause.term))
        base = _all_records()
        return base.where(_col(base).not_in(_in(positive)))
    if index.kind == "recid":
        return _recid(clause)
    if index.kind == "identifier":
        return _identifier(clause)
    if index.kind == "number" and clause.relation in ("<", "<=", ">", ">=", "within") or (
            index.kind == "number" and clause.relation in ("=", "exact", "==", "adj")
            and _plain_int(clause.term) is not None):
        return _number(clause)
    return _words(clause)


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


def _next(prefix: str) -> str:
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _match(column, word: str):
    """Equality, or a prefix range (index-friendly) refined by LIKE for other masks."""
    if not any(m in word for m in MASKS):
        return column == word
    _check_masks(word)
    cut = min(i for i, ch in enumerate(word) if ch in MASKS)
    prefix = word[:cut]
    conditions = []
    if prefix:
        conditions += [column >= prefix, column < _next(prefix)]
    if word != prefix + MASK_ANY:
        conditions.append(column.like(_like(word)))
    return and_(*conditions)


def _like(word: str) -> str:
    # normalised words and phrases never contain % or _, so no escaping is needed
    return word.replace(MASK_ANY, "%").replace(MASK_ONE, "_")


def _term_select(idx: str, word: str) -> Select:
    t = tables.terms.alias()
    return select(t.c.biblionumber).where(t.c.idx == idx, _match(t.c.term, word))


def _sequence(idx: str, words: list[str]) -> Select:
    """Records with the words at consecutive positions of one field."""
    aliases = [tables.terms.alias() for _ in words]
    first = aliases[0]
    sel = select(first.c.biblionumber).where(first.c.idx == idx, _match(first.c.term, words[0]))
    for offset, (alias, word) in enumerate(zip(aliases[1:], words[1:], strict=True), start=1):
        sel = sel.where(alias.c.idx == idx, _match(alias.c.term, word), alias.c.biblionumber == first.c.biblionumber,
                        alias.c.pos == first.c.pos + offset)
    return sel


def _intersect(selects: list[Select]) -> Select:
    base = selects[0]
    for other in selects[1:]:
        base = _also(base, other)
    return base


def _also(base: Select, other: Select | CompoundSelect, negate: bool = False) -> Select:
    """``base`` restricted to records that are (or are not) in ``other``, as a correlated EXISTS:
    an index probe per candidate on SQLite, a semi/anti join on PostgreSQL and MariaDB. Every
    clause reads its own table alias, so only ``base`` is correlated."""
    other = _plain(other)
    probe = other.where(_col(other) == _col(base)).exists()
    return base.where(~probe if negate else probe)


def _union(selects: list[Select]) -> Select | CompoundSelect:
    return selects[0] if len(selects) == 1 else union_all(*selects)


def _words(clause: Clause) -> Select | CompoundSelect:
    idx, relation = clause.index, clause.relation
    text, start, end = _strip_anchors(clause.term)
    if relation in ("exact", "==") or start or end:
        if relation not in ("=", "adj", "exact", "=="):
            raise QueryError("anchor_position", f"anchoring is not supported with {relation}", clause.term)
        return _phrase(idx, normalize.query_phrase(text), exact=relation in ("exact", "==") or (start and end),
                       start=start, end=end)
    words = normalize.query_words(text)
    if relation in ("<", "<=", ">", ">=", "within"):
        return _range(idx, words, relation, clause.term)
    if not words:
        raise QueryError("empty_term", "empty term unsupported", clause.term)
    if relation in ("=", "adj"):
        return _term_select(idx, words[0]) if len(words) == 1 else _sequence(idx, words)
    selects = [_term_select(idx, w) for w in dict.fromkeys(words)]
    return _intersect(selects) if relation == "all" else _union(selects)


def _phrase(idx: str, value: str, *, exact: bool, start: bool, end: bool) -> Select:
    if not value:
        raise QueryError("empty_term", "empty term unsupported", value)
    p = tables.phrases.alias()
    column = p.c.value
    masked = any(m in value for m in MASKS)
    if masked:
        _check_masks(value)
    if exact:
        condition = _match(column, value)
    else:
        pattern = _like(value)
        options = [column.like(pattern) if masked else column == value]
        if start:
            options.append(column.like(pattern + " %"))
        if end:
            options.append(column.like("% " + pattern))
        condition = or_(*options)
        if start and not masked:
            condition = and_(column >= value, column < _next(value), condition)
    return select(p.c.biblionumber).where(p.c.idx == idx, condition)


def _range(idx: str, words: list[str], relation: str, raw: str) -> Select:
    t = tables.terms.alias()
    if any(m in "".join(words) for m in MASKS):
        raise QueryError("invalid_term", "masking is not supported with range relations", raw)
    if relation == "within":
        if len(words) != 2:
            raise QueryError("invalid_term", "within needs two values", raw)
        condition = and_(t.c.term >= words[0], t.c.term <= words[1])
    else:
        if len(words) != 1:
            raise QueryError("invalid_term", f"{relation} needs one value", raw)
        condition = _compare(t.c.term, relation, words[0])
    return select(t.c.biblionumber).where(t.c.idx == idx, condition)


def _compare(column, relation: str, value):
    return {"<": column < value, "<=": column <= value, ">": column > value, ">=": column >= value}[relation]


def _plain_int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and len(text) < 10 else None


def _ints(text: str, raw: str) -> list[int]:
    values = [_plain_int(part) for part in text.split()]
    if not values or any(v is None for v in values):
        raise QueryError("invalid_term", "a number is expected", raw)
    return values  # type: ignore[return-value]


def _number(clause: Clause) -> Select:
    n = tables.numbers.alias()
    values = _ints(clause.term, clause.term)
    if clause.relation == "within":
        if len(values) != 2:
            raise QueryError("invalid_term", "within needs two values", clause.term)
        condition = and_(n.c.num >= values[0], n.c.num <= values[1])
    elif clause.relation in ("=", "exact", "==", "adj"):
        if len(values) != 1:
            raise QueryError("invalid_term", "one number is expected", clause.term)
        condition = n.c.num == values[0]
    else:
        if len(values) != 1:
            raise QueryError("invalid_term", "one number is expected", clause.term)
        condition = _compare(n.c.num, clause.relation, values[0])
    return select(n.c.biblionumber).where(n.c.idx == clause.index, condition)


def _recid(clause: Clause) -> Select:
    r = tables.records.alias()
    values = _ints(clause.term, clause.term)
    if clause.relation == "within":
        if len(values) != 2:
            raise QueryError("invalid_term", "within needs two values", clause.term)
        condition = and_(r.c.biblionumber >= values[0], r.c.biblionumber <= values[1])
    elif clause.relation in ("any",):
        condition = r.c.biblionumber.in_(values)
    elif len(values) != 1:
        raise QueryError("invalid_term", "one record number is expected", clause.term)
    elif clause.relation in ("=", "exact", "==", "adj", "all"):
        condition = r.c.biblionumber == values[0]
    else:
        condition = _compare(r.c.biblionumber, clause.relation, values[0])
    return select(r.c.biblionumber).where(condition)


def _identifier(clause: Clause) -> Select | CompoundSelect:
    text, start, end = _strip_anchors(clause.term)
    parts = text.split() if clause.relation in ("any", "all") else [text]
    values = [v for v in (normalize.identifier(p) for p in parts) if v]
    if not values:
        raise QueryError("empty_term", "empty term unsupported", clause.term)
    if clause.relation in ("<", "<=", ">", ">=", "within"):
        return _range(clause.index, values if clause.relation != "within" else
                      [normalize.identifier(p) or "" for p in text.split()], clause.relation, clause.term)
    selects = [_term_select(clause.index, v) for v in values]
    return _intersect(selects) if clause.relation == "all" else _union(selects)


def _prox(node: Boolean) -> Select:
    """Two single-word clauses on the same word index within a word distance."""
    left, right = node.left, node.right
    if not (isinstance(left, Clause) and isinstance(right, Clause) and left.index == right.index
            and INDEXES.get(left.index) and INDEXES[left.index].kind in ("word", "number")
            and left.relation in ("=", "adj") and right.relation in ("=", "adj")):
        raise QueryError("unsupported_prox", "proximity is supported between two single-word terms of one "
                         "word index", "")
    words = [normalize.query_words(_strip_anchors(c.term)[0]) for c in (left, right)]
    if any(len(w) != 1 for w in words):
        raise QueryError("unsupported_prox", "proximity needs single-word terms", "")
    a, b = tables.terms.alias(), tables.terms.alias()
    gap = b.c.pos - a.c.pos
    distance = gap if node.ordered else func.abs(gap)
    condition = {"=": distance == node.distance, "<": distance < node.distance,
                 "<=": distance <= node.distance, ">": distance > node.distance,
                 ">=": distance >= node.distance, "<>": distance != node.distance}[node.comparison]
    sel = select(a.c.biblionumber).where(
        a.c.idx == left.index, _match(a.c.term, words[0][0]), b.c.idx == left.index,
        _match(b.c.term, words[1][0]), b.c.biblionumber == a.c.biblionumber, condition)
    if node.ordered:
        sel = sel.where(gap > 0)
    # an unordered distance of 0 would pair a word with itself
    return sel.where(gap != 0) if not node.ordered else sel


# --- running -----------------------------------------------------------------------------------

def _hidden() -> Select:
    r = tables.records.alias()
    return select(r.c.biblionumber).where(r.c.hidden == true()).correlate(None)


def matching(node: Node, *, public: bool = True) -> Select:
    """A SELECT DISTINCT of the matching record numbers."""
    sel = _plain(compile_node(node))
    col = _col(sel)
    if public:
        sel = sel.where(col.not_in(_hidden()))
    return sel.with_only_columns(col.label("biblionumber")).distinct()


def search(session: Session, node: Node, *, offset: int = 0, limit: int = 10, sort: tuple[SortKey, ...] = (),
           public: bool = True) -> SearchResult:
    """Count the matching records and return the ids of one page (``offset`` is 0-based)."""
    flush_pending(session)
    ids = matching(node, public=public).subquery()
    total = session.scalar(select(func.count()).select_from(ids)) or 0
    if limit <= 0 or offset >= total:
        return SearchResult(total, [])
    page = select(ids.c.biblionumber)
    order = []
    if sort:
        r = tables.records.alias()
        page = page.join(r, r.c.biblionumber == ids.c.biblionumber, isouter=True)
        for key in sort:
            if key.index not in SORTABLE:
                raise QueryError("unsupported_sort", f"cannot sort by {key.index}", key.index)
            column = r.c.biblionumber if key.index == "recid" else r.c[SORTABLE[key.index].key]
            missing_last = key.missing == "high" if key.ascending else key.missing == "low"
            order.append(column.is_(None) if missing_last else column.is_not(None))
            order.append(column.asc() if key.ascending else column.desc())
    order.append(ids.c.biblionumber.asc())
    page = page.order_by(*order).limit(limit).offset(offset)
    return SearchResult(total, list(session.scalars(page)))


@dataclass
class ScanTerm:
    value: str
    count: int


def scan(session: Session, index: str, term: str, *, position: int = 1, count: int = 20,
         public: bool = True) -> list[ScanTerm]:
    """Index terms around ``term``: ``position - 1`` terms before it and the rest from it on,
    each with the number of records it occurs in."""
    spec = INDEXES.get(index)
    if spec is None:
        raise QueryError("unsupported_index", f"unsupported index {index}", index)
    flush_pending(session)
    if spec.kind in ("recid", "allrecords"):
        raise QueryError("scan_unsupported", f"index {index} cannot be scanned", index)
    if spec.kind == "identifier":
        start = normalize.identifier(term) or ""
    else:
        words = normalize.words(term)
        start = words[0] if words else ""
    t = tables.terms.alias()
    counted = func.count(t.c.biblionumber.distinct())
    base = select(t.c.term, counted).where(t.c.idx == index).group_by(t.c.term)
    if public:
        base = base.where(t.c.biblionumber.not_in(_hidden()))
    before_n = max(position - 1, 0)
    after_n = max(count - before_n, 0)
    before = list(session.execute(base.where(t.c.term < start).order_by(t.c.term.desc()).limit(before_n))) \
        if before_n else []
    after = list(session.execute(base.where(t.c.term >= start).order_by(t.c.term.asc()).limit(after_n))) \
        if after_n else []
    return [ScanTerm(v, n) for v, n in reversed(before)] + [ScanTerm(v, n) for v, n in after]


def count_rows(session: Session) -> int:
    """How many records the index holds (for status pages and tests)."""
    flush_pending(session)
    return session.scalar(select(func.count()).select_from(tables.records)) or 0


__all__ = ["ANCHOR", "Boolean", "Clause", "MASK_ANY", "MASK_ONE", "QueryError", "ScanTerm", "SearchResult",
           "SortKey", "count_rows", "matching", "scan", "search"]
