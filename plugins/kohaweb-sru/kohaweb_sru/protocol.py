"""The SRU 1.1/1.2 operations: explain, searchRetrieve and scan, over GET and POST.

Every problem with a request becomes an SRU diagnostic in a schema-valid response of the
requested operation; nothing here answers with an HTTP error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

from lxml import etree
from pyramid.request import Request
from pyramid.response import Response

from kohaweb import search, visibility
from kohaweb.formats import RecordSource, RenderError, load_records
from kohaweb.limits import database_unavailable
from kohaweb.metrics import note_protocol_error
from kohaweb.plugin_api import SqlSearchBackend, search_backend
from kohaweb.search import see_from

from . import cql, explain, limits, translate, xmlout
from .diagnostics import QUERY_ERRORS, Diagnostic

log = logging.getLogger(__name__)

VERSIONS = ("1.1", "1.2")
DEFAULT_STYLESHEET = "default"  # the sru.stylesheet value that names the stylesheet the plugin serves
DEFAULT_STYLESHEET_ASSET = "kohaweb_sru:static/sru.xsl"
COMMON = {"operation", "version", "stylesheet"}
ALLOWED = {
    "explain": COMMON | {"recordPacking"},
    "searchRetrieve": COMMON | {"query", "startRecord", "maximumRecords", "recordPacking", "recordSchema",
                                "recordXPath", "resultSetTTL", "sortKeys"},
    "scan": COMMON | {"scanClause", "responsePosition", "maximumTerms"},
}


@dataclass
class SruRequest:
    params: dict[str, str]
    extras: dict[str, str] = field(default_factory=dict)
    operation: str = "explain"
    version: str = "1.2"


def handle(request: Request) -> Response:
    """The public endpoints: what the visibility policy hides from the public is not found."""
    return _handle(request, staff=False)


def handle_staff(request: Request) -> Response:
    """``sru.staff_path`` (the view requires ``catalogue``): every record and item."""
    return _handle(request, staff=True)


def _handle(request: Request, staff: bool) -> Response:
    request.sru_staff = staff
    settings = request.registry.kohaweb.settings["sru"]
    params, extras = _params(request)
    unusable = limits.unusable_parameters(params, extras)  # removed: nothing below may echo them
    sru = SruRequest(params, extras, params.get("operation") or "explain",
                     params.get("version") or settings["default_version"])
    builders = {"explain": explain_response, "searchRetrieve": search_retrieve, "scan": scan}
    builder = builders.get(sru.operation, search_retrieve)
    try:
        if unusable is not None:
            raise unusable
        _check_request(sru, settings)
        doc = builder(request, sru, settings)
    except Diagnostic as diag:
        doc = _failed(request, sru, settings, diag)
    except Exception as exc:  # a bug must still give the client a diagnostic, never a traceback
        if database_unavailable(exc):
            raise  # the core answers 503 + Retry-After, with diagnostic 2 from unavailable()
        log.exception("SRU request failed: %s", _loggable(params))
        doc = _failed(request, sru, settings, Diagnostic(1, "internal error (logged)"))
    body = xmlout.serialize(doc, stylesheet_href(request, params, settings))
    return Response(body=body, content_type="text/xml", charset="utf-8")


def unavailable(exc: Exception, request: Request) -> Response:
    """The database cannot be reached (``kohaweb.limits.DatabaseUnavailable``): diagnostic 2,
    "System temporarily unavailable", in the requested operation's response; the core makes
    it a 503 with Retry-After."""
    settings = request.registry.kohaweb.settings["sru"]
    params, extras = _params(request)
    limits.unusable_parameters(params, extras)
    sru = SruRequest(params, extras, params.get("operation") or "explain",
                     params.get("version") or settings["default_version"])
    if sru.version not in VERSIONS:
        sru.version = settings["default_version"]
    if sru.operation not in ALLOWED:
        sru.operation = "searchRetrieve"
    doc = _failed(request, sru, settings, Diagnostic(2, "the database cannot be reached; retry later"))
    body = xmlout.serialize(doc, stylesheet_href(request, params, settings))
    return Response(body=body, status=503, content_type="text/xml", charset="utf-8")


def stylesheet_href(request: Request, params: dict[str, str], settings: dict[str, Any]) -> str | None:
    """The response's xml-stylesheet href: the request's ``stylesheet`` as given (SRU: the client names
    the stylesheet to reference), else ``sru.stylesheet``, where ``default`` is the stylesheet this
    plugin serves (a path on this site: a browser applies only a same-origin XSLT); None for none."""
    if params.get("stylesheet"):
        return params["stylesheet"]
    if settings["stylesheet"] == DEFAULT_STYLESHEET:
        return request.static_path(DEFAULT_STYLESHEET_ASSET)
    return settings["stylesheet"] or None


def _loggable(params: dict[str, str]) -> dict[str, str]:
    """The parameters as the log shows them: each cut to 200 characters."""
    return {k[:50]: v if len(v) <= 200 else f"{v[:200]}... ({len(v)} characters)" for k, v in params.items()}


def _params(request: Request) -> tuple[dict[str, str], dict[str, str]]:
    params: dict[str, str] = {}
    for key, value in request.params.items():
        params.setdefault(key, value)  # a repeated parameter: the first one counts
    extras = {k: v for k, v in params.items() if k.startswith("x-")}
    return {k: v for k, v in params.items() if not k.startswith("x-")}, extras


def _check_request(sru: SruRequest, settings: dict[str, Any]) -> None:
    if sru.version not in VERSIONS:
        bad = sru.version
        sru.version = settings["default_version"]
        raise Diagnostic(5, "1.2", f"Unsupported version {bad}; supported: {', '.join(VERSIONS)}")
    if sru.params and "version" not in sru.params:
        raise Diagnostic(7, "version")
    if sru.operation not in ALLOWED:
        raise Diagnostic(4, sru.operation)
    allowed = ALLOWED[sru.operation]
    if sru.version == "1.2":
        allowed = allowed - {"sortKeys"}  # SRU 1.2 sorts with CQL sortBy
    for name in sru.params:
        if name not in allowed:
            raise Diagnostic(8, name)


def _failed(request: Request, sru: SruRequest, settings: dict[str, Any], diag: Diagnostic) -> etree._Element:
    note_protocol_error(request, str(diag.number))
    if sru.operation == "explain" and diag.number not in (4,):
        doc = explain_response(request, sru, settings, check=False)
        xmlout.diagnostics(doc, [diag])
        return doc
    if sru.operation == "scan":
        doc = xmlout.root("scanResponse", sru.version)
    else:
        doc = xmlout.root("searchRetrieveResponse", sru.version)
        xmlout.sub(doc, "numberOfRecords", 0)
    xmlout.diagnostics(doc, [diag])
    return doc


def _int(params: dict[str, str], name: str, default: int, minimum: int) -> int:
    if name not in params:
        return default
    text = params[name].strip()
    if not text.isdigit() or int(text) < minimum:
        raise Diagnostic(6, name, f"Unsupported parameter value: {name}={params[name]!r}")
    return int(text)


INDEX_NOT_READY = "the search index is being rebuilt (kohaweb index rebuild)"


def _require_index(request: Request) -> None:
    if not search_backend(request).is_ready(request.read_dbsession):
        raise Diagnostic(2, INDEX_NOT_READY)


def _query_error(exc: search.QueryError) -> Diagnostic:
    return Diagnostic(QUERY_ERRORS.get(exc.code, 47), exc.details or str(exc))


# --- explain -----------------------------------------------------------------------------------

def explain_response(request: Request, sru: SruRequest, settings: dict[str, Any], check: bool = True):
    packing = sru.params.get("recordPacking", "xml")
    if check and packing not in ("xml", "string"):
        raise Diagnostic(71, packing)
    doc = xmlout.root("explainResponse", sru.version)
    record = xmlout.sub(doc, "record")
    xmlout.sub(record, "recordSchema", explain.ZEEREX_NS)
    xmlout.sub(record, "recordPacking", packing if packing in ("xml", "string") else "xml")
    data = xmlout.sub(record, "recordData")
    zeerex = explain.cached_zeerex(request, settings, _formats(request))
    if packing == "string":
        data.text = etree.tostring(zeerex, encoding="unicode")
    else:
        data.append(zeerex)
    xmlout.sub(record, "recordPosition", 1)
    if check:
        echo = xmlout.sub(doc, "echoedExplainRequest")
        xmlout.sub(echo, "version", sru.version)
        if "recordPacking" in sru.params:
            xmlout.sub(echo, "recordPacking", packing)
        if "stylesheet" in sru.params:
            xmlout.sub(echo, "stylesheet", sru.params["stylesheet"])
        xmlout.extra_request_data(echo, sru.extras)
    return doc


# --- searchRetrieve ----------------------------------------------------------------------------

def _formats(request: Request) -> list:
    registry = request.registry.kohaweb.formats
    return [f for f in registry.sru_formats() if f.is_xml] if registry is not None else []


def find_format(request: Request, name: str):
    registry = request.registry.kohaweb.formats
    fmt = registry.sru(name) if registry is not None else None
    if fmt is None or not fmt.is_xml:
        raise Diagnostic(66, name)
    return fmt


class ParsedQuery(NamedTuple):
    """A query string parsed, translated and its xQuery echo written: all that depends on the
    string alone, kept per string (queries repeat; every part is immutable once made)."""

    cql: cql.Query
    translated: translate.Translated
    xquery: bytes  # <zs:xQuery>...</zs:xQuery>


def parse_query(text: str) -> ParsedQuery:
    """CQL syntax errors raise Diagnostic 10; translation problems their own diagnostics. Kept
    per query string (up to 2048 strings of reasonable length; failures are not kept)."""
    return _parse_cached(text) if len(text) <= 1000 else _parse(text)


def _parse(text: str) -> ParsedQuery:
    try:
        parsed = cql.parse(text)
        translated = translate.translate(parsed)
        xquery = xmlout.fragment(lambda holder: cql.xcql_operand(xmlout.sub(holder, "xQuery"), parsed.root))
    except cql.CQLSyntaxError as exc:
        raise Diagnostic(10, text, f"Query syntax error: {exc}") from None
    except RecursionError:  # within sru.max_query_* this cannot happen; if it does, it is the query's
        raise Diagnostic(10, None, "Query syntax error: query too complex") from None
    return ParsedQuery(parsed, translated, xquery)


_parse_cached = lru_cache(maxsize=2048)(_parse)


def search_retrieve(request: Request, sru: SruRequest, settings: dict[str, Any]) -> bytes:
    params = sru.params
    if "query" not in params:
        raise Diagnostic(7, "query")
    start = _int(params, "startRecord", 1, 1)
    maximum = min(_int(params, "maximumRecords", settings["default_records"], 0), settings["maximum_records"])
    _int(params, "resultSetTTL", 0, 0)  # accepted; results are not kept between requests
    packing = params.get("recordPacking", "xml")
    if packing not in ("xml", "string"):
        raise Diagnostic(71, packing)
    if params.get("recordXPath"):
        raise Diagnostic(72, params["recordXPath"])
    schema_name = params.get("recordSchema") or settings["default_schema"]
    limits.check_query(params["query"], settings)
    query = parse_query(params["query"])
    sort = query.translated.sort
    if params.get("sortKeys"):
        if sort:
            raise Diagnostic(82, "sortKeys and sortBy together")
        sort = translate.sort_keys_parameter(params["sortKeys"])
    session = request.read_dbsession
    backend = search_backend(request)  # the site's: the core's SQL index or a plugin's
    state = search.search_state(session)  # one statement for both preferences
    # the SQL index's status is that preference; another backend says for itself
    if not (state.ready if isinstance(backend, SqlSearchBackend) else backend.is_ready(session)):
        raise Diagnostic(2, INDEX_NOT_READY)
    node = query.translated.node
    if state.see_from:  # Koha's IncludeSeeFromInSearches: variant forms find the authorised heading
        node = see_from.expand(session, node)
    try:
        result = backend.search(session, node, offset=start - 1, limit=maximum, sort=sort,
                               public=not request.sru_staff,
                               rank=settings["relevance_order"] or query.translated.relevant)
    except search.QueryError as exc:
        raise _query_error(exc) from None
    if result.total and start > result.total:
        raise Diagnostic(61, str(start))
    # like Zebra, the schema is resolved when records are to be returned (a count needs none)
    fmt = find_format(request, schema_name) if result.ids or params.get("recordSchema") and \
        request.registry.kohaweb.formats is not None else None
    # the response is written as text: the records arrive serialised, most of them exactly as stored
    out = [xmlout.open_root("searchRetrieveResponse", sru.version), f"<zs:numberOfRecords>{result.total}"
           "</zs:numberOfRecords>"]
    body: list[bytes] = []
    if result.ids:
        out.append("<zs:records>")
        schema_uri = xmlout.text(fmt.sru_uri or fmt.sru_names[0])
        # the item rules matter only to formats that embed items (no statement for the others)
        viewer = visibility.Viewer(visibility.load_policy(session), staff=request.sru_staff) \
            if fmt.include_items else None
        for position, rendered in enumerate(_render(session, result.ids, fmt, viewer), start=start):
            if isinstance(rendered, Diagnostic):
                out.append(f"<zs:record><zs:recordSchema>{xmlout.DIAGNOSTIC_SCHEMA}</zs:recordSchema>"
                           "<zs:recordPacking>xml</zs:recordPacking><zs:recordData>")
                rendered = etree.tostring(xmlout.diagnostic_element(rendered), encoding="utf-8")
            else:
                out.append(f"<zs:record><zs:recordSchema>{schema_uri}</zs:recordSchema><zs:recordPacking>"
                           f"{packing}</zs:recordPacking><zs:recordData>")
                if packing == "string":
                    out.append(xmlout.text(rendered.decode("utf-8")))
                    rendered = b""
            body.append("".join(out).encode("utf-8"))
            body.append(rendered)
            out = [f"</zs:recordData><zs:recordPosition>{position}</zs:recordPosition></zs:record>"]
        out.append("</zs:records>")
    if result.total > start - 1 + len(result.ids) and result.ids:
        out.append(f"<zs:nextRecordPosition>{start + len(result.ids)}</zs:nextRecordPosition>")
    out.append("<zs:echoedSearchRetrieveRequest>")
    out.append(xmlout.element("version", sru.version))
    out.append(xmlout.element("query", params["query"]))
    body.append("".join(out).encode("utf-8"))
    body.append(query.xquery)
    out = [xmlout.element(name, params[name]) for name in _ECHOED if name in params]
    body.append("".join(out).encode("utf-8"))
    if sru.extras:
        body.append(xmlout.fragment(lambda holder: xmlout.extra_request_data(holder, sru.extras)))
    body.append(b"</zs:echoedSearchRetrieveRequest></zs:searchRetrieveResponse>")
    return b"".join(body)


_ECHOED = ("startRecord", "maximumRecords", "recordPacking", "recordSchema", "resultSetTTL", "sortKeys", "stylesheet")


def _fetch(session, ids: list[int], fmt, viewer: visibility.Viewer | None) -> dict[int, RecordSource]:
    # the core's page loader: one statement for the records, one for their items if the format embeds them
    return {n: record.source(session)
            for n, record in load_records(session, ids, with_items=fmt.include_items, viewer=viewer).items()}


def _render(session, ids: list[int], fmt, viewer: visibility.Viewer | None) -> list[bytes | Diagnostic]:
    """Each record of the page serialised (``fmt.render_bytes``: MARCXML that needs no repair is
    sent as stored; embedded items are those ``viewer`` may see), or the diagnostic that replaces it."""
    found = _fetch(session, ids, fmt, viewer)
    out: list[bytes | Diagnostic] = []
    for number in ids:
        source = found.get(number)
        if source is None:
            out.append(Diagnostic(65, str(number), "Record does not exist"))
            continue
        if not fmt.accepts(source.flavour):
            out.append(Diagnostic(67, f"{number} is {source.flavour}"))
            continue
        try:
            out.append(fmt.render_bytes(source))
        except RenderError as exc:
            log.warning("record %s cannot be rendered as %s: %s", number, fmt.prefix, exc)
            out.append(Diagnostic(67, f"record {number}: {exc}"))
    return out


# --- scan --------------------------------------------------------------------------------------

def scan(request: Request, sru: SruRequest, settings: dict[str, Any]) -> etree._Element:
    params = sru.params
    if "scanClause" not in params:
        raise Diagnostic(7, "scanClause")
    position = _int(params, "responsePosition", 1, 0)
    count = min(_int(params, "maximumTerms", settings["default_terms"], 1), settings["maximum_terms"])
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
    clause = translate.clause(parsed.root, parsed.root.prefixes)
    if clause.relation not in ("=", "exact", "=="):
        raise Diagnostic(19, parsed.root.relation.value if parsed.root.relation else "=")
    _require_index(request)
    term = clause.term.replace(search.MASK_ANY, "").replace(search.MASK_ONE, "").replace(search.ANCHOR, "")
    try:
        terms = search_backend(request).scan(request.read_dbsession, clause.index, term, position=position, count=count,
                            public=not request.sru_staff)
    except search.QueryError as exc:
        raise _query_error(exc) from None
    return scan_response(sru, params, parsed, terms)


def scan_response(sru: SruRequest, params: dict[str, str], parsed: ParsedQuery, terms: list) -> etree._Element:
    """A scanResponse listing ``terms`` (each with ``value`` and ``count``) and echoing the
    request; shared by the bibliographic and the authorities databases."""
    doc = xmlout.root("scanResponse", sru.version)
    if terms:
        holder = xmlout.sub(doc, "terms")
        for i, term in enumerate(terms):
            el = xmlout.sub(holder, "term")
            xmlout.sub(el, "value", term.value)
            xmlout.sub(el, "numberOfRecords", term.count)
            xmlout.sub(el, "displayTerm", term.value)
            where = "only" if len(terms) == 1 else "first" if i == 0 else "last" if i == len(terms) - 1 else "inner"
            xmlout.sub(el, "whereInList", where)
    echo = xmlout.sub(doc, "echoedScanRequest")
    xmlout.sub(echo, "version", sru.version)
    xmlout.sub(echo, "scanClause", params["scanClause"])
    _xscan(echo, parsed.root)
    for name in ("responsePosition", "maximumTerms", "stylesheet"):
        if name in params:
            xmlout.sub(echo, name, params[name])
    xmlout.extra_request_data(echo, sru.extras)
    return doc


def _xscan(echo, clause: cql.SearchClause) -> None:
    """xScanClause is itself of searchClauseType: its children are index, relation, term."""
    holder = xmlout.sub(echo, "xScanClause")
    for child in list(cql.xcql_search_clause(etree.Element("scratch"), clause)):
        holder.append(child)
