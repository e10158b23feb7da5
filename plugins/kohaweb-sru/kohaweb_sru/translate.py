"""From the CQL syntax tree to the core index's query tree, with SRU diagnostics for whatever the
index cannot do. Index names follow Koha's Zebra CQL configuration (pqf.properties)."""

from __future__ import annotations

from dataclasses import dataclass

from kohaweb.plugin_api import search

from . import cql
from .diagnostics import Diagnostic

CONTEXT_SETS = {
    "cql": "info:srw/cql-context-set/1/cql-v1.2",
    "dc": "info:srw/cql-context-set/1/dc-v1.1",
    "bath": "http://zing.z3950.org/cql/bath/2.0/",
    "rec": "info:srw/cql-context-set/2/rec-1.0",
}
# other identifiers of the same sets
SET_ALIASES = {
    "info:srw/cql-context-set/1/cql-v1.1": "cql",
    "info:srw/cql-context-set/1/cql-v1.2": "cql",
    "info:srw/cql-context-set/1/dc-v1.1": "dc",
    "http://zing.z3950.org/cql/bath/2.0/": "bath",
    "info:srw/cql-context-set/2/rec-1.0": "rec",
    "info:srw/cql-context-set/2/rec-1.1": "rec",
}
DEFAULT_SET = "dc"  # Koha's pqf.properties: unqualified index names are dc names

# (context set, lower-case index name) -> core index
INDEX_MAP: dict[tuple[str, str], str] = {
    ("cql", "serverchoice"): "any", ("cql", "all"): "any", ("cql", "anywhere"): "any",
    ("cql", "allrecords"): "allrecords",
    ("rec", "id"): "recid",
    ("dc", "any"): "any", ("dc", "title"): "title", ("dc", "creator"): "author", ("dc", "author"): "author",
    ("dc", "subject"): "subject", ("dc", "identifier"): "identifier", ("dc", "date"): "date",
    ("dc", "publisher"): "publisher", ("dc", "description"): "description", ("dc", "itemtype"): "itemtype",
    ("dc", "resourcetype"): "itemtype", ("dc", "barcode"): "barcode", ("dc", "branch"): "branch",
    ("dc", "isbn"): "isbn", ("dc", "issn"): "issn", ("dc", "note"): "note", ("dc", "pname"): "pname",
    ("dc", "editor"): "editor", ("dc", "format"): "format", ("dc", "resourceidentifier"): "recid",
    ("dc", "language"): "language", ("dc", "place-publication"): "place", ("dc", "contributor"): "name",
    ("bath", "keytitle"): "keytitle", ("bath", "possessinginstitution"): "branch", ("bath", "name"): "name",
    ("bath", "personalname"): "pname", ("bath", "corporatename"): "cname", ("bath", "conferencename"): "confname",
    ("bath", "uniformtitle"): "uniformtitle", ("bath", "isbn"): "isbn", ("bath", "issn"): "issn",
    ("bath", "geographicname"): "geographic", ("bath", "notes"): "note", ("bath", "topicalsubject"): "topical",
    ("bath", "genreform"): "genre", ("bath", "seriestitle"): "seriestitle",
    ("dc", "pubdate"): "pubdate", ("bath", "lccn"): "lccn", ("bath", "subject"): "subject", ("bath", "standardidentifier"): "identifier",
}

RELATIONS = {"=": "=", "==": "==", "<>": "<>", "<": "<", ">": ">", "<=": "<=", ">=": ">=", "adj": "adj",
             "all": "all", "any": "any", "within": "within", "exact": "exact"}
KNOWN_UNSUPPORTED_RELATIONS = {"encloses", "scr"}
# Relation modifiers that change nothing here: the index already ignores case and accents and
# treats * ? as masks; "word" is the default treatment of terms.
NEUTRAL_MODIFIERS = {"ignorecase", "ignoreaccents", "masked", "word"}
# Modifiers Koha's pqf.properties maps (relevant 2=102, stem 2=101, phonetic 2=100, fuzzy 5=103),
# honoured by the core index on word indexes (kohaweb.search.variants, kohaweb.search.ranking).
WORD_MODIFIERS = {"relevant", "stem", "phonetic", "fuzzy"}


@dataclass
class Translated:
    node: search.Clause | search.Boolean
    sort: tuple[search.SortKey, ...] = ()
    relevant: bool = False  # a clause asked for relevance order (=/relevant)


def resolve_index(name: str | None, prefixes: dict[str, str]) -> str:
    """The core index for a CQL index name (qualified or not), under the prefixes in scope."""
    if name is None:
        return "any"
    if "." in name:
        prefix, short = name.split(".", 1)
    else:
        prefix, short = prefixes.get("", DEFAULT_SET), name
        if prefix not in CONTEXT_SETS:
            prefix = SET_ALIASES.get(prefix, prefix)
    prefix_lower = prefix.lower()
    if prefix in prefixes:
        set_name = SET_ALIASES.get(prefixes[prefix])
        if set_name is None:
            raise Diagnostic(15, prefixes[prefix])
    elif prefix_lower in CONTEXT_SETS:
        set_name = prefix_lower
    else:
        raise Diagnostic(15, prefix)
    core = INDEX_MAP.get((set_name, short.lower()))
    if core is None:
        raise Diagnostic(16, name)
    return core


def translate(query: cql.Query) -> Translated:
    node = _node(query.root, {})
    return Translated(node, sort_keys(query.sort, query.prefixes), _asks_relevance(node))


def _asks_relevance(node: search.Clause | search.Boolean) -> bool:
    if isinstance(node, search.Clause):
        return "relevant" in node.modifiers
    return _asks_relevance(node.left) or _asks_relevance(node.right)


def _node(node: cql.Node, outer: dict[str, str]) -> search.Clause | search.Boolean:
    scope = {**outer, **node.prefixes}
    if isinstance(node, cql.SearchClause):
        return clause(node, scope)
    left, right = _node(node.left, scope), _node(node.right, scope)
    if node.op == "prox":
        return _prox(node, left, right)
    if node.modifiers:
        raise Diagnostic(46, node.modifiers[0].name)
    return search.Boolean(node.op, left, right)


def _prox(node: cql.BooleanClause, left, right) -> search.Boolean:
    distance, comparison, ordered = 1, "<=", False
    for mod in node.modifiers:
        name = mod.name.lower().removeprefix("prox.")
        if name == "unit":
            if (mod.value or "").lower().removeprefix("prox.") != "word":
                raise Diagnostic(42, mod.value)
        elif name == "distance":
            if mod.comparison not in ("=", "<", "<=", ">", ">=", "<>"):
                raise Diagnostic(40, mod.comparison)
            if not (mod.value or "").isdigit():
                raise Diagnostic(41, mod.value)
            distance, comparison = int(mod.value), mod.comparison
        elif name in ("ordered", "unordered") and mod.comparison is None:
            ordered = name == "ordered"
        else:
            raise Diagnostic(46, mod.name)
    return search.Boolean("prox", left, right, distance=distance, comparison=comparison, ordered=ordered)


def clause(node: cql.SearchClause, prefixes: dict[str, str]) -> search.Clause:
    index = resolve_index(node.index, prefixes)
    relation = "="
    unmasked = as_string = False
    word_modifiers: set[str] = set()
    if node.relation is not None:
        name = node.relation.value
        if name.startswith("cql."):
            name = name[4:]
        if name not in RELATIONS:
            raise Diagnostic(19, node.relation.value)
        relation = RELATIONS[name]
        for mod in node.relation.modifiers:
            mname = mod.name.lower().removeprefix("cql.")
            if mname in NEUTRAL_MODIFIERS and mod.comparison is None:
                continue
            if mname == "unmasked" and mod.comparison is None:
                unmasked = True
            elif mname in WORD_MODIFIERS and mod.comparison is None:
                if mname != "relevant" and search.INDEXES[index].kind != "word":
                    raise Diagnostic(20, mod.name)  # identifiers and numbers have no word variants
                word_modifiers.add(mname)
            elif mname == "string" and mod.comparison is None:
                as_string = True
            elif mname == "number" and mod.comparison is None and \
                    search.INDEXES[index].kind in ("number", "recid"):
                continue
            else:
                raise Diagnostic(20, mod.name)
    if as_string and relation in ("=", "adj"):
        relation = "exact"  # the term is one string: compare whole field values
    return search.Clause(index, relation, term_text(node.term, masking=not unmasked), frozenset(word_modifiers))


def term_text(raw: str, masking: bool = True) -> str:
    """Resolve backslash escapes; unescaped * ? ^ become the index's masking/anchor sentinels."""
    out = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw):
            out.append(raw[i + 1])
            i += 2
            continue
        if masking and ch == "*":
            out.append(search.MASK_ANY)
        elif masking and ch == "?":
            out.append(search.MASK_ONE)
        elif ch == "^":
            out.append(search.ANCHOR)
        else:
            out.append(ch)
        i += 1
    return "".join(out)


SORT_INDEXES = {"title": "title", "author": "author", "name": "author", "date": "date", "recid": "recid"}


def sort_keys(specs: list[cql.SortSpec], prefixes: dict[str, str]) -> tuple[search.SortKey, ...]:
    keys = []
    for spec in specs:
        try:
            core = resolve_index(spec.index, prefixes)
        except Diagnostic:
            raise Diagnostic(88, spec.index) from None
        if core not in SORT_INDEXES:
            raise Diagnostic(88, spec.index)
        ascending, missing = True, "high"
        for mod in spec.modifiers:
            name = mod.name.lower().removeprefix("sort.")
            if mod.comparison is not None:
                raise Diagnostic(80, mod.name)
            if name in ("ascending", "descending"):
                ascending = name == "ascending"
            elif name in ("ignorecase", "ignoreaccents"):
                continue
            elif name in ("respectcase", "respectaccents"):
                raise Diagnostic(91, mod.name)
            elif name in ("missinghigh", "missinglow"):
                missing = name[7:]
            elif name in ("missingomit", "missingfail", "missingvalue"):
                raise Diagnostic(92, mod.name)
            else:
                raise Diagnostic(80, mod.name)
        keys.append(search.SortKey(SORT_INDEXES[core], ascending, missing))
    return tuple(keys)


def sort_keys_parameter(text: str) -> tuple[search.SortKey, ...]:
    """SRU 1.1 sortKeys: space-separated "path,schema,ascending,caseSensitive,missingValue" keys,
    path being a CQL index name."""
    keys = []
    for spec in text.split():
        parts = spec.split(",")
        path = parts[0]
        try:
            core = resolve_index(path, {})
        except Diagnostic:
            raise Diagnostic(88, path) from None
        if core not in SORT_INDEXES:
            raise Diagnostic(88, path)
        ascending = True
        if len(parts) > 2 and parts[2] != "":
            if parts[2] not in ("0", "1"):
                raise Diagnostic(90, parts[2])
            ascending = parts[2] == "1"
        if len(parts) > 3 and parts[3] not in ("", "0"):
            raise Diagnostic(91, parts[3])
        missing = "high"
        if len(parts) > 4 and parts[4] not in ("", "highValue", "lowValue"):
            raise Diagnostic(92, parts[4])
        if len(parts) > 4 and parts[4] == "lowValue":
            missing = "low"
        keys.append(search.SortKey(SORT_INDEXES[core], ascending, missing))
    return tuple(keys)
