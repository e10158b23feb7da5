"""The ZeeRex (explain) record, built from the live configuration: server, settings, the CQL
indexes the core index answers, and the record schemas of the format registry."""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlsplit

from lxml import etree
from pyramid.request import Request

from kohaweb.plugin_api import INDEXES

from .translate import CONTEXT_SETS, INDEX_MAP, RELATIONS

ZEEREX_NS = "http://explain.z3950.org/dtd/2.0/"
_Z = f"{{{ZEEREX_NS}}}"


def _el(parent, tag: str, text: str | None = None, /, **attrs) -> etree._Element:
    el = etree.SubElement(parent, _Z + tag, {k: str(v) for k, v in attrs.items()})
    if text is not None:
        el.text = text
    return el


def server_address(request: Request, settings: dict[str, Any]) -> tuple[str, int]:
    base = request.registry.kohaweb.core.get("base_url") or request.host_url
    parts = urlsplit(base)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname or "localhost", port


def cached_zeerex(request: Request, settings: dict[str, Any], formats: list) -> etree._Element:
    """``zeerex`` made once per site, host and path (all it depends on; settings and formats are
    fixed at start-up); a fresh copy each time, since the caller adds it to its response."""
    cache = request.registry.kohaweb.extras.setdefault("sru.zeerex", {})
    key = (request.host_url, request.path)
    element = cache.get(key)
    if element is None:
        if len(cache) >= 64:  # Host headers are the client's: keep the cache small
            cache.clear()
        element = cache[key] = zeerex(request, settings, formats)
    return copy.deepcopy(element)


def zeerex(request: Request, settings: dict[str, Any], formats: list) -> etree._Element:
    root = etree.Element(_Z + "explain", nsmap={None: ZEEREX_NS})
    host, port = server_address(request, settings)
    server = _el(root, "serverInfo", protocol="SRU", version="1.2", transport=urlsplit(request.host_url).scheme)
    _el(server, "host", host)
    _el(server, "port", str(port))
    _el(server, "database", request.path.strip("/") or settings["database"])
    core = request.registry.kohaweb.core
    info = _el(root, "databaseInfo")
    _el(info, "title", settings["title"] or core["library_name"], lang="en", primary="true")
    _el(info, "description", settings["description"] or f"The catalogue of {core['library_name']}",
        lang="en", primary="true")
    index_info = _el(root, "indexInfo")
    for name, identifier in CONTEXT_SETS.items():
        _el(index_info, "set", name=name, identifier=identifier)
    for (set_name, short), core_index in sorted(INDEX_MAP.items()):
        index = _el(index_info, "index", search="true", scan="true" if INDEXES[core_index].kind not in (
            "recid", "allrecords") else "false", sort="true" if core_index in ("title", "author", "date", "recid")
            else "false")
        _el(index, "title", INDEXES[core_index].title, lang="en")
        _el(_el(index, "map"), "name", _canonical(short), set=set_name)
    schema_info = _el(root, "schemaInfo")
    for fmt in formats:
        schema = _el(schema_info, "schema", identifier=fmt.sru_uri or fmt.sru_names[0], name=fmt.sru_names[0],
                     sort="false", retrieve="true")
        if fmt.schema:
            schema.set("location", fmt.schema)
        _el(schema, "title", fmt.prefix, lang="en")
    config = _el(root, "configInfo")
    _el(config, "default", str(settings["default_records"]), type="numberOfRecords")
    _el(config, "setting", str(settings["maximum_records"]), type="maximumRecords")
    _el(config, "default", settings["default_schema"], type="retrieveSchema")
    _el(config, "default", "xml", type="recordPacking")
    _el(config, "default", "dc", type="contextSet")
    _el(config, "default", "cql.serverChoice", type="index")
    _el(config, "default", "=", type="relation")
    _el(config, "default", str(settings["default_terms"]), type="numberOfTerms")
    _el(config, "setting", str(settings["maximum_terms"]), type="maximumTerms")
    _el(config, "setting", "0", type="resultSetTTL")
    for relation in RELATIONS:
        _el(config, "supports", relation, type="relation")
    for modifier in ("ignoreCase", "ignoreAccents", "masked", "unmasked", "word", "string", "number", "relevant",
                     "stem", "phonetic", "fuzzy"):
        _el(config, "supports", modifier, type="relationModifier")
    for char in ("*", "?"):
        _el(config, "supports", char, type="maskingCharacter")
    _el(config, "supports", "^", type="anchoring")
    for boolean in ("and", "or", "not", "prox"):
        _el(config, "supports", boolean, type="booleanModifier" if boolean == "prox" else "boolean")
    _el(config, "supports", "word", type="proximity")
    _el(config, "supports", type="sort")
    _el(config, "supports", type="scan")
    return root


_CANONICAL = {"serverchoice": "serverChoice", "allrecords": "allRecords", "resourcetype": "resourceType",
              "resourceidentifier": "resourceIdentifier", "place-publication": "Place-publication",
              "keytitle": "keyTitle", "possessinginstitution": "possessingInstitution",
              "personalname": "personalName", "corporatename": "corporateName",
              "conferencename": "conferenceName", "uniformtitle": "uniformTitle",
              "geographicname": "geographicName", "topicalsubject": "topicalSubject", "genreform": "genreForm",
              "standardidentifier": "standardIdentifier"}


def _canonical(short: str) -> str:
    return _CANONICAL.get(short, short)
