"""A complete CQL 1.2 parser (lark grammar in cql.lark) producing a small syntax tree, plus its
XCQL form (for SRU's echoed request).

``parse(text)`` -> ``Query``; syntax errors raise ``CQLSyntaxError``. Prefix assignments are
kept on the clause where they occur and resolved by ``resolve_index`` with scoping, as the
specification requires (an inner assignment hides an outer one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError, UnexpectedInput
from lxml import etree

XCQL_NS = "http://www.loc.gov/zing/cql/xcql/"


class CQLSyntaxError(ValueError):
    def __init__(self, message: str, position: int | None = None):
        super().__init__(message)
        self.position = position


@dataclass(frozen=True)
class Modifier:
    name: str
    comparison: str | None = None
    value: str | None = None

    def to_cql(self) -> str:
        text = "/" + quote(self.name)
        return text + (f"{self.comparison}{quote(self.value or '')}" if self.comparison else "")


@dataclass(frozen=True)
class Relation:
    value: str  # "=", "==", "<", "any", "cql.adj"... as written (symbols) or lower-cased names
    modifiers: tuple[Modifier, ...] = ()


@dataclass
class SearchClause:
    index: str | None  # None for a bare term (cql.serverChoice)
    relation: Relation | None
    term: str  # as written, quotes removed, backslash escapes kept
    prefixes: dict[str, str] = field(default_factory=dict)  # assignments scoping this clause

    def to_cql(self) -> str:
        head = _prefix_cql(self.prefixes)
        if self.index is None:
            return head + quote(self.term, always=False)
        rel = self.relation.value + "".join(m.to_cql() for m in self.relation.modifiers)
        sep = " " if rel[0].isalpha() or self.relation.modifiers else " "
        return f"{head}{quote(self.index)}{sep}{rel}{sep}{quote(self.term, always=False)}"


@dataclass
class BooleanClause:
    op: str  # and | or | not | prox (lower case)
    modifiers: tuple[Modifier, ...]
    left: SearchClause | BooleanClause
    right: SearchClause | BooleanClause
    prefixes: dict[str, str] = field(default_factory=dict)

    def to_cql(self) -> str:
        mods = "".join(m.to_cql() for m in self.modifiers)
        return f"{_prefix_cql(self.prefixes)}({self.left.to_cql()}) {self.op}{mods} ({self.right.to_cql()})"


Node = SearchClause | BooleanClause


@dataclass(frozen=True)
class SortSpec:
    index: str
    modifiers: tuple[Modifier, ...] = ()


@dataclass
class Query:
    root: Node
    sort: list[SortSpec] = field(default_factory=list)
    prefixes: dict[str, str] = field(default_factory=dict)  # top-level assignments (also on root)

    def to_cql(self) -> str:
        text = self.root.to_cql()
        if self.sort:
            text += " sortBy " + " ".join(s.index + "".join(m.to_cql() for m in s.modifiers) for s in self.sort)
        return text


def _prefix_cql(prefixes: dict[str, str]) -> str:
    return "".join(f'> {name} = {quote(uri)} ' if name else f"> {quote(uri)} " for name, uri in prefixes.items())


def quote(text: str, always: bool = False) -> str:
    if not always and text and not any(c in text for c in ' \t\n()=<>"/') and text.lower() not in (
            "and", "or", "not", "prox", "sortby"):
        return text
    return '"' + text.replace('"', '\\"') + '"'


# --- parsing -----------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = resources.files("kohaweb_sru").joinpath("cql.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", maybe_placeholders=False)


def _unquote(token: Token) -> str:
    text = str(token)
    if token.type == "STRING":
        # only \" is special inside quotes; other escapes (\* \? \^ \\) stay for term processing
        return text[1:-1].replace('\\"', '"')
    return text


@v_args(inline=True)
class _Build(Transformer):
    def simple_string(self, token):
        return _unquote(token)

    def index(self, value):
        return value

    def search_term(self, value):
        return value

    def comparitor_symbol(self, token):
        return str(token)

    def comparitor(self, token):
        text = str(token)
        return text.lower() if token.type == "WORD" else text

    def modifier(self, name, comparison=None, value=None):
        return Modifier(name, comparison, value)

    def relation(self, comparitor, *modifiers):
        return Relation(comparitor, tuple(modifiers))

    def triple(self, index, relation, term):
        return SearchClause(index, relation, term)

    def bare_term(self, term):
        return SearchClause(None, None, term)

    def group(self, node):
        return node

    def boolean_group(self, token, *modifiers):
        return (str(token).lower(), tuple(modifiers))

    def scoped_clause(self, first, *rest):
        node = first
        for i in range(0, len(rest), 2):
            (op, modifiers), right = rest[i], rest[i + 1]
            node = BooleanClause(op, modifiers, node, right)
        return node

    def named_prefix(self, _gt, name, _eq, uri):
        return (name, uri)

    def default_prefix(self, _gt, uri):
        return ("", uri)

    def cql_query(self, *parts):
        return _scope(parts[-1], parts[:-1])

    def single_spec(self, index, *modifiers):
        return SortSpec(index, tuple(modifiers))

    def sort_spec(self, _sortby, *specs):
        return list(specs)

    def start(self, *parts):
        parts = list(parts)
        sort = parts.pop() if parts and isinstance(parts[-1], list) else []
        root = _scope(parts[-1], parts[:-1])
        return Query(root, sort, dict(p for p in parts[:-1]))


def _scope(node: Node, assignments) -> Node:
    if assignments:
        merged = dict(assignments)
        merged.update(node.prefixes)
        node.prefixes = merged
    return node


def parse(text: str) -> Query:
    if not text or not text.strip():
        raise CQLSyntaxError("empty query")
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        column = getattr(exc, "column", None)
        raise CQLSyntaxError(f"syntax error at position {column}" if column else "syntax error",
                             column) from None
    except LarkError as exc:
        raise CQLSyntaxError(str(exc).splitlines()[0]) from None
    return _Build().transform(tree)


# --- XCQL --------------------------------------------------------------------------------------

def _x(parent, name: str, text: str | None = None):
    el = etree.SubElement(parent, f"{{{XCQL_NS}}}{name}", nsmap={"xcql": XCQL_NS})
    if text is not None:
        el.text = text
    return el


def _x_modifiers(parent, modifiers) -> None:
    if not modifiers:
        return
    mods = _x(parent, "modifiers")
    for m in modifiers:
        mod = _x(mods, "modifier")
        _x(mod, "type", m.name)
        if m.comparison:
            _x(mod, "comparison", m.comparison)
            _x(mod, "value", m.value or "")


def _x_prefixes(parent, prefixes: dict[str, str]) -> None:
    if not prefixes:
        return
    el = _x(parent, "prefixes")
    for name, uri in prefixes.items():
        p = _x(el, "prefix")
        _x(p, "name", name)
        _x(p, "identifier", uri)


def xcql_search_clause(parent, clause: SearchClause) -> etree._Element:
    sc = _x(parent, "searchClause")
    _x(sc, "index", clause.index or "cql.serverChoice")
    rel = _x(sc, "relation")
    _x(rel, "value", clause.relation.value if clause.relation else "=")
    _x_modifiers(rel, clause.relation.modifiers if clause.relation else ())
    _x(sc, "term", clause.term)
    return sc


def xcql_operand(parent, node: Node) -> None:
    """Fill an operand element (xQuery, leftOperand, rightOperand) with the node."""
    _x_prefixes(parent, node.prefixes)
    if isinstance(node, SearchClause):
        xcql_search_clause(parent, node)
        return
    triple = _x(parent, "triple")
    boolean = _x(triple, "boolean")
    _x(boolean, "value", node.op)
    _x_modifiers(boolean, node.modifiers)
    xcql_operand(_x(triple, "leftOperand"), node.left)
    xcql_operand(_x(triple, "rightOperand"), node.right)
