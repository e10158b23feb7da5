"""The SRU database of authority records: ``/sru/authorities`` and ``/authorities`` (the base path
of Koha's Zebra ``authorities`` database, beside ``/biblios``).

Explain, searchRetrieve and scan as for the bibliographic database, answered from the
authorities index (kohaweb.search.authority_index). CQL index names are Koha's authority index
names (its authority-koha-indexdefs.xml and bib1.att), matched without regard to case:
Heading, Heading-Main, Match, Match-heading (the whole heading, exactly), Match-heading-see-from,
See-from, See-also-from (also See-also), authtype, Local-number, LC-card-number, Any, plus
cql.serverChoice / cql.anywhere (Any), cql.allRecords and rec.id (the authid). Records are MARCXML
(recordSchema marcxml or marc21); other schemas answer diagnostic 66.
"""

from __future__ import annotations

import logging
from typing import Any

from lxml import etree
from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import select

from kohaweb.plugin_api import (
    MARC_NS,
    Authority,
    RecordSource,
    RenderError,
    database_unavailable,
    note_protocol_error,
    search,
)
from kohaweb.search import authority_index

from . import cql, explain, limits, protocol, translate, xmlout
from .diagnostics import QUERY_ERRORS, Diagnostic

log = logging.getLogger(__name__)

DATABASE = "authorities"
# Koha's index name (lower case) -> (authorities index, relation that "=" stands for)
KOHA_INDEXES: dict[str, tuple[str, str | None]] = {
    "heading": ("heading", None), "heading-main": ("heading-main", None), "match": ("match", None),
    "match-heading": ("heading", "exact"), "match-heading-see-from": ("see-from", "exact"),
    "see-from": ("see-from", None), "see-also-from": ("see-also", None), "see-also": ("see-also", None),
    "authtype": ("authtype", None), "local-number": ("local-number", None),
    "lc-card-number": ("lc-card-number", None), "any": ("any", None),
}
CANONICAL = {"heading": "Heading", "heading-main": "Heading-Main", "match": "Match", "match-heading": "Match-heading",
             "match-heading-see-from": "Match-heading-see-from", "see-from": "See-from",
             "see-also-from": "See-also-from", "see-also": "See-also", "authtype": "authtype",
             "local-number": "Local-number", "lc-card-number": "LC-card-number", "any": "Any"}
CQL_INDEXES = {("cql", "serverchoice"): "any", ("cql", "all"): "any", ("cql", "anywhere"): "any",
               ("cql", "allrecords"): "allrecords", ("rec", "id"): "recid"}
SORTABLE = {"heading": "heading", "recid": "recid"}


def resolve(name: str | None, prefixes: dict[str, str]) -> tuple[str, str | None]:
    """The authorities index (and the relation "=" means there) for a CQL index name."""
    if name is None:
        return "any", None
    if "." not in name:
        found = KOHA_INDEXES.get(name.lower())
        if found is None:
            raise Diagnostic(16, name)
        return found
    prefix, short = name.split(".", 1)
    set_name = translate.SET_ALIASES.get(prefixes[prefix]) if prefix in prefixes else prefix.lower()
    if set_name not in ("cql", "rec"):
        if set_name in translate.CONTEXT_SETS:  # a set SRU knows (dc, bath) but no authority index of it
            raise Diagnostic(16, name)
        raise Diagnostic(15, prefix)
    core = CQL_INDEXES.get((set_name, short.lower()))
    if core is None:
        raise Diagnostic(16, name)
    return core, None


def clause(node: cql.SearchClause, prefixes: dict[str, str]) -> search.Clause:
    index, plain = resolve(node.index, prefixes)
    relation = "="
    if node.relation is not None:
        name = node.relation.value.removeprefix("cql.")
        if name not in translate.RELATIONS:
            raise Diagnostic(19, node.relation.value)
        relation = translate.RELATIONS[name]
        for mod in node.relation.modifiers:
            mname = mod.name.lower().removeprefix("cql.")
            if mname in translate.NEUTRAL_MODIFIERS and mod.comparison is None:
                continue
            if mname == "string" and mod.comparison is None and relation in ("=", "adj"):
                relation = "exact"
                continue
            raise Diagnostic(20, mod.name)
    if plain and relation in ("=", "adj"):
        relation = plain
    term = translate.term_text(node.term)
    if index == "lc-card-number":
        term = term.replace(" ", "")  # "n  79021164" as stored: 010 $a without its blanks
    return search.Clause(index, relation, term)


def _node(node: cql.Node, outer: dict[str, str]) -> search.Clause | search.Boolean:
    scope = {**outer, **node.prefixes}
    if isinstance(node, cql.SearchClause):
        return clause(node, scope)
    left, right = _node(node.left, scope), _node(node.right, scope)
    if node.op == "prox":
        return translate._prox(node, left, right)
    if node.modifiers:
        raise Diagnostic(46, node.modifiers[0].name)
    return search.Boolean(node.op, left, right)


def _sort(specs: list[cql.SortSpec], prefixes: dict[str, str]) -> tuple[search.SortKey, ...]:
    keys = []
    for spec in specs:
        try:
            index, _ = resolve(spec.index, prefixes)
        except Diagnostic:
            raise Diagnostic(88, spec.index) from None
        if index not in SORTABLE:
            raise Diagnostic(88, spec.index)
        ascending = True
        for mod in spec.modifiers:
            name = mod.name.lower().removeprefix("sort.")
            if mod.comparison is not None or name not in ("ascending", "descending", "ignorecase", "ignoreaccents"):
                raise Diagnostic(80, mod.name)
            if name in ("ascending", "descending"):
                ascending = name == "ascending"
        keys.append(search.SortKey(SORTABLE[index], ascending))
    return tuple(keys)


def _sort_key_spec(spec: str) -> cql.SortSpec:
    """One SRU 1.1 sortKeys key ("path,schema,ascending,...") as a CQL sort specification."""
    parts = spec.split(",")
    if len(parts) > 2 and parts[2] not in ("", "0", "1"):
        raise Diagnostic(90, parts[2])
    descending = len(parts) > 2 and parts[2] == "0"
    return cql.SortSpec(parts[0], (cql.Modifier("descending", None, None),) if descending else ())


# --- the view --------------------------------------------------------------------------------------

def handle(request: Request) -> Response:
    request.sru_staff = False
    settings = request.registry.kohaweb.settings["sru"]
    params, extras = protocol._params(request)
    unusable = limits.unusable_parameters(params, extras)
    sru = protocol.SruRequest(params, extras, params.get("operation") or "explain",
                              params.get("version") or settings["default_version"])
    builders = {"explain": explain_response, "searchRetrieve": search_retrieve, "scan": scan}
    try:
        if unusable is not None:
            raise unusable
        protocol._check_request(sru, settings)
        doc = builders.get(sru.operation, search_retrieve)(request, sru, settings)
    except Diagnostic as diag:
        doc = _failed(request, sru, settings, diag)
    except Exception as exc:  # a bug must still give the client a diagnostic
        if database_unavailable(exc):
            raise
        log.exception("SRU authorities request failed: %s", protocol._loggable(params))
        doc = _failed(request, sru, settings, Diagnostic(1, "internal error (logged)"))
    body = xmlout.serialize(doc, protocol.stylesheet_href(request, params, settings))
    return Response(body=body, content_type="text/xml", charset="utf-8")


def _failed(request: Request, sru, settings: dict[str, Any], diag: Diagnostic) -> etree._Element:
    note_protocol_error(request, str(diag.number))
    if sru.operation == "explain" and diag.number != 4:
        doc = explain_response(request, sru, settings, check=False)
    else:
        doc = xmlout.root("scanResponse" if sru.operation == "scan" else "searchRetrieveResponse", sru.version)
        if sru.operation != "scan":
            xmlout.sub(doc, "numberOfRecords", 0)
    xmlout.diagnostics(doc, [diag])
    return doc


def _require_index(request: Request) -> None:
    if not authority_index.is_ready(request.read_dbsession):
        raise Diagnostic(2, "the authorities index is being rebuilt (kohaweb authorities reindex)")


def _query_error(exc: search.QueryError) -> Diagnostic:
    return Diagnostic(QUERY_ERRORS.get(exc.code, 47), exc.details or str(exc))


# --- explain ---------------------------------------------------------------------------------------

def zeerex(request: Request, settings: dict[str, Any]) -> etree._Element:
    el = explain._el
    root = etree.Element(explain._Z + "explain", nsmap={None: explain.ZEEREX_NS})
    host, port = explain.server_address(request, settings)
    server = el(root, "serverInfo", protocol="SRU", version="1.2", transport=request.scheme)
    el(server, "host", host)
    el(server, "port", str(port))
    el(server, "database", DATABASE)
    core = request.registry.kohaweb.core
    info = el(root, "databaseInfo")
    el(info, "title", f"Authorities of {core['library_name']}", lang="en", primary="true")
    el(info, "description", "Authority records (names, subjects, titles) with their see-from and see-also "
       "tracings", lang="en", primary="true")
    index_info = el(root, "indexInfo")
    for name in ("cql", "rec"):
        el(index_info, "set", name=name, identifier=translate.CONTEXT_SETS[name])
    names = [(None, CANONICAL[k], v[0]) for k, v in KOHA_INDEXES.items()] + \
        [(s, short if short != "serverchoice" else "serverChoice", v) for (s, short), v in CQL_INDEXES.items()]
    for set_name, short, core_index in names:
        kind = authority_index.INDEXES[core_index].kind
        index = el(index_info, "index", search="true", scan="false" if kind in ("recid", "allrecords") else "true",
                   sort="true" if core_index in SORTABLE else "false")
        el(index, "title", authority_index.INDEXES[core_index].title, lang="en")
        mapped = el(el(index, "map"), "name", "allRecords" if short == "allrecords" else short)
        if set_name:
            mapped.set("set", set_name)
    schema_info = el(root, "schemaInfo")
    for fmt in _formats(request):
        schema = el(schema_info, "schema", identifier=fmt.sru_uri or fmt.sru_names[0], name=fmt.sru_names[0],
                    sort="false", retrieve="true")
        if fmt.schema:
            schema.set("location", fmt.schema)
        el(schema, "title", fmt.prefix, lang="en")
    config = el(root, "configInfo")
    el(config, "default", str(settings["default_records"]), type="numberOfRecords")
    el(config, "setting", str(settings["maximum_records"]), type="maximumRecords")
    el(config, "default", "marcxml", type="retrieveSchema")
    el(config, "default", "cql.serverChoice", type="index")
    el(config, "default", "=", type="relation")
    el(config, "default", str(settings["default_terms"]), type="numberOfTerms")
    el(config, "setting", str(settings["maximum_terms"]), type="maximumTerms")
    for relation in translate.RELATIONS:
        el(config, "supports", relation, type="relation")
    for char in ("*", "?"):
        el(config, "supports", char, type="maskingCharacter")
    el(config, "supports", "^", type="anchoring")
    for boolean in ("and", "or", "not"):
        el(config, "supports", boolean, type="boolean")
    el(config, "supports", type="sort")
    el(config, "supports", type="scan")
    return root


def explain_response(request: Request, sru, settings: dict[str, Any], check: bool = True) -> etree._Element:
    packing = sru.params.get("recordPacking", "xml")
    if check and packing not in ("xml", "string"):
        raise Diagnostic(71, packing)
    doc = xmlout.root("explainResponse", sru.version)
    record = xmlout.sub(doc, "record")
    xmlout.sub(record, "recordSchema", explain.ZEEREX_NS)
    xmlout.sub(record, "recordPacking", packing if packing in ("xml", "string") else "xml")
    data = xmlout.sub(record, "recordData")
    if packing == "string":
        data.text = etree.tostring(zeerex(request, settings), encoding="unicode")
    else:
        data.append(zeerex(request, settings))
    xmlout.sub(record, "recordPosition", 1)
    if check:
        echo = xmlout.sub(doc, "echoedExplainRequest")
        xmlout.sub(echo, "version", sru.version)
        for name in ("recordPacking", "stylesheet"):
            if name in sru.params:
                xmlout.sub(echo, name, sru.params[name])
        xmlout.extra_request_data(echo, sru.extras)
    return doc


# --- searchRetrieve --------------------------------------------------------------------------------

def _formats(request: Request) -> list:
    registry = request.registry.kohaweb.formats
    return [f for f in registry.sru_formats() if f.is_xml and f.namespace == MARC_NS] if registry else []


def _format(request: Request, name: str):
    registry = request.registry.kohaweb.formats
    fmt = registry.sru(name) if registry is not None else None
    if fmt is None or not fmt.is_xml or fmt.namespace != MARC_NS or fmt.include_items:
        raise Diagnostic(66, name, "Authority records are served as MARCXML only")
    return fmt


def search_retrieve(request: Request, sru, settings: dict[str, Any]) -> etree._Element:
    params = sru.params
    if "query" not in params:
        raise Diagnostic(7, "query")
    start = protocol._int(params, "startRecord", 1, 1)
    maximum = min(protocol._int(params, "maximumRecords", settings["default_records"], 0),
                  settings["maximum_records"])
    protocol._int(params, "resultSetTTL", 0, 0)
    packing = params.get("recordPacking", "xml")
    if packing not in ("xml", "string"):
        raise Diagnostic(71, packing)
    if params.get("recordXPath"):
        raise Diagnostic(72, params["recordXPath"])
    limits.check_query(params["query"], settings)
    try:
        parsed = cql.parse(params["query"])
    except cql.CQLSyntaxError as exc:
        raise Diagnostic(10, params["query"], f"Query syntax error: {exc}") from None
    except RecursionError:
        raise Diagnostic(10, None, "Query syntax error: query too complex") from None
    node = _node(parsed.root, {})
    sort = _sort(parsed.sort, parsed.prefixes)
    if params.get("sortKeys"):
        if sort:
            raise Diagnostic(82, "sortKeys and sortBy together")
        sort = _sort([_sort_key_spec(spec) for spec in params["sortKeys"].split()], {})
    fmt = _format(request, params.get("recordSchema") or "marcxml")
    _require_index(request)
    session = request.read_dbsession
    try:
        result = authority_index.search(session, node, offset=start - 1, limit=maximum, sort=sort)
    except search.QueryError as exc:
        raise _query_error(exc) from None
    if result.total and start > result.total:
        raise Diagnostic(61, str(start))
    doc = xmlout.root("searchRetrieveResponse", sru.version)
    xmlout.sub(doc, "numberOfRecords", result.total)
    if result.ids:
        holder = xmlout.sub(doc, "records")
        rows = dict(session.execute(select(Authority.authid, Authority).where(Authority.authid.in_(result.ids)))
                    .tuples().all())
        for position, authid in enumerate(result.ids, start=start):
            record = xmlout.sub(holder, "record")
            row = rows.get(authid)
            try:
                if row is None:
                    raise Diagnostic(65, str(authid), "Record does not exist")
                element = fmt.render(RecordSource(authid, row.flavour, row.marcxml, None, session))
            except (Diagnostic, RenderError) as exc:
                diag = exc if isinstance(exc, Diagnostic) else Diagnostic(67, f"authority {authid}: {exc}")
                xmlout.sub(record, "recordSchema", xmlout.DIAGNOSTIC_SCHEMA)
                xmlout.sub(record, "recordPacking", "xml")
                xmlout.sub(record, "recordData").append(xmlout.diagnostic_element(diag))
            else:
                xmlout.sub(record, "recordSchema", fmt.sru_uri or fmt.sru_names[0])
                xmlout.sub(record, "recordPacking", packing)
                data = xmlout.sub(record, "recordData")
                if packing == "string":
                    data.text = etree.tostring(element, encoding="unicode")
                else:
                    data.append(element)
            xmlout.sub(record, "recordPosition", position)
        if result.total > start - 1 + len(result.ids):
            xmlout.sub(doc, "nextRecordPosition", start + len(result.ids))
    echo = xmlout.sub(doc, "echoedSearchRetrieveRequest")
    xmlout.sub(echo, "version", sru.version)
    xmlout.sub(echo, "query", params["query"])
    cql.xcql_operand(xmlout.sub(echo, "xQuery"), parsed.root)
    for name in ("startRecord", "maximumRecords", "recordPacking", "recordSchema", "resultSetTTL", "sortKeys",
                 "stylesheet"):
        if name in params:
            xmlout.sub(echo, name, params[name])
    xmlout.extra_request_data(echo, sru.extras)
    return doc


# --- scan ------------------------------------------------------------------------------------------

def scan(request: Request, sru, settings: dict[str, Any]) -> etree._Element:
    params = sru.params
    if "scanClause" not in params:
        raise Diagnostic(7, "scanClause")
    position = protocol._int(params, "responsePosition", 1, 0)
    count = min(protocol._int(params, "maximumTerms", settings["default_terms"], 1), settings["maximum_terms"])
    if position > count + 1:
        raise Diagnostic(120, str(position))
    limits.check_query(params["scanClause"], settings)
    try:
        parsed = cql.parse(params["scanClause"])
    except cql.CQLSyntaxError as exc:
        raise Diagnostic(10, params["scanClause"], f"Query syntax error: {exc}") from None
    except RecursionError:
        raise Diagnostic(10, None, "Query syntax error: scan clause too complex") from None
    if not isinstance(parsed.root, cql.SearchClause) or parsed.sort:
        raise Diagnostic(10, params["scanClause"], "A scan clause is one index, relation and term")
    found = clause(parsed.root, parsed.root.prefixes)
    if found.relation not in ("=", "exact", "=="):
        raise Diagnostic(19, parsed.root.relation.value if parsed.root.relation else "=")
    _require_index(request)
    term = found.term.replace(search.MASK_ANY, "").replace(search.MASK_ONE, "").replace(search.ANCHOR, "")
    try:
        terms = authority_index.scan(request.read_dbsession, found.index, term, position=position, count=count)
    except search.QueryError as exc:
        raise _query_error(exc) from None
    return protocol.scan_response(sru, params, parsed, terms)
