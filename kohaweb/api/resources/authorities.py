"""``/authorities``: list, get, add, update, delete, as Koha 22.11+ (Koha::REST::V1::Authorities).

Reads answer in the media type the ``Accept`` header prefers: application/json (Koha's
``Koha::Authority->to_api``: authority_id, framework_id, created_date, modified_date, and the
heading), application/marcxml+xml (a ``<collection>`` for lists), application/marc-in-json (an
array for lists), application/marc (ISO 2709, records one after the other) or text/plain;
nothing acceptable is a 406 listing them. Writes take one MARC record in the Content-Type's
format and the ``x-authority-type`` header (default: guessed from the heading tag on add, kept
on update), and go through ``kohaweb.authorities``. An add whose heading and type are those of
a stored authority is refused (409 ``duplicate``, as Koha's FindDuplicateAuthority) unless
``x-koha-override: duplicate`` (or ``any``) is sent; it answers 201 with the new record's
Location and no body, as Koha does.
"""

from __future__ import annotations

import pymarc
from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import select

from ... import marc
from ...authorities import Authorities, AuthorityError, detect_flavour, guess_type, heading
from ...models import Authority
from ..errors import ApiError
from ..listing import Field, Resource
from ..openapi import ERROR_REF
from ..service import JSON, ApiService, header, path

MARCXML = "application/marcxml+xml"
MARC_IN_JSON = "application/marc-in-json"
ISO2709 = "application/marc"
TEXT = "text/plain"
READ_TYPES = (JSON, MARCXML, MARC_IN_JSON, ISO2709, TEXT)
WRITE_TYPES = (MARCXML, MARC_IN_JSON, ISO2709)
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'

AUTHORITY = Resource("authority", Authority, [
    Field("authority_id", Authority.authid, "integer", nullable=False),
    Field("framework_id", Authority.authtypecode, "string", nullable=False),
    Field("created_date", Authority.datecreated, "date", nullable=False),
    Field("modified_date", Authority.modification_time, "date-time", nullable=False),
    Field("heading", Authority.heading, "string"),
], id_field="authority_id")

AUTHORITY_ID = path("authority_id")
# no maxLength in the schema: a longer code is refused by the data layer (400 invalid_type), and a
# bounded header string leaves fuzzers (schemathesis) too few headers they can send
TYPE_HEADER = header("x-authority-type", "string",
                     "Authority type code, at most 10 characters (default: guessed from the heading tag on "
                     "add, kept on update)")
OVERRIDE_HEADER = header("x-koha-override", "string",
                         "Comma-separated overrides: duplicate (or any) stores a duplicate heading")
MARC_RESPONSES = {JSON: AUTHORITY.schema(), MARCXML: {"type": "string"}, MARC_IN_JSON: {"type": "object"},
                  ISO2709: {"type": "string"}, TEXT: {"type": "string"}}

authorities = ApiService("authorities", "/authorities", description="Authority records")
authority = ApiService("authority", "/authorities/{authority_id}", tag="authorities")


def _store(request: Request) -> Authorities:
    return Authorities(request.dbsession, request.catalog.flavour)


def _media_type(request: Request) -> str:
    accepted = request.accept.acceptable_offers(list(READ_TYPES)) if request.accept else [(JSON, 1.0)]
    if not accepted:
        raise ApiError(406, "Not acceptable: use one of " + ", ".join(READ_TYPES), "not_acceptable",
                       acceptable=list(READ_TYPES))
    return accepted[0][0]


def _record(row: Authority) -> pymarc.Record:
    record = marc.parse_xml(row.marcxml)
    record.force_utf8 = True  # ISO 2709 out in UTF-8, as the stored MARCXML
    return record


def _render(media_type: str, rows: list[Authority], single: bool) -> bytes:
    """The records in a MARC media type; ``single`` answers one record rather than a list."""
    records = [_record(row) for row in rows]
    if media_type == MARCXML:
        if single:
            return XML_DECLARATION + marc.record_to_xml(records[0])
        return (XML_DECLARATION + f'<collection xmlns="{marc.MARC_NS}">\n'.encode()
                + b"".join(marc.record_to_xml(r) + b"\n" for r in records) + b"</collection>\n")
    if media_type == MARC_IN_JSON:
        import json

        data = [r.as_dict() for r in records]
        return json.dumps(data[0] if single else data, ensure_ascii=False).encode("utf-8")
    if media_type == ISO2709:
        return b"".join(r.as_marc() for r in records)
    return "\n".join(str(r) + "\n" for r in records).encode("utf-8")


def _respond(media_type: str, body: bytes, response: Response | None = None) -> Response:
    response = response or Response()
    response.body = body
    response.content_type = media_type
    if media_type != ISO2709:
        response.charset = "utf-8"
    return response


@authorities.operation("GET", permission="catalogue", summary="List authority records",
                       description="The format follows the Accept header: " + ", ".join(READ_TYPES) + ".",
                       parameters=AUTHORITY.list_params(),
                       responses={200: {JSON: {"type": "array", "items": AUTHORITY.schema()},
                                        MARCXML: {"type": "string"}, MARC_IN_JSON: {"type": "array"},
                                        ISO2709: {"type": "string"}, TEXT: {"type": "string"}},
                                  406: ERROR_REF},
                       response_headers=AUTHORITY.headers_schema())
def list_authorities(request: Request):
    media_type = _media_type(request)
    if media_type == JSON:
        return AUTHORITY.list(request, select(Authority))
    # the same filters, order and paging as JSON; the page's ids are read back as records
    response = AUTHORITY.list(request, select(Authority), serialise=lambda row: row.authid)
    numbers = response.json_body
    rows = {row.authid: row for row in request.dbsession.scalars(
        select(Authority).where(Authority.authid.in_(numbers)))} if numbers else {}
    try:
        body = _render(media_type, [rows[n] for n in numbers if n in rows], single=False)
    except Exception as exc:  # noqa: BLE001  (a broken stored record must not become a bare 500)
        raise ApiError(500, f"authorities cannot be rendered as {media_type}: {exc}", "render_error") from None
    return _respond(media_type, body, response)


@authority.operation("GET", permission="catalogue", summary="Get an authority record",
                     description="The format follows the Accept header: " + ", ".join(READ_TYPES) + ".",
                     parameters=[AUTHORITY_ID], responses={200: MARC_RESPONSES, 406: ERROR_REF})
def get_authority(request: Request):
    row = _require(request)
    media_type = _media_type(request)
    if media_type == JSON:
        return AUTHORITY.to_api(row)
    try:
        body = _render(media_type, [row], single=True)
    except Exception as exc:  # noqa: BLE001
        raise ApiError(500, f"authority {row.authid} cannot be rendered as {media_type}: {exc}",
                       "render_error") from None
    return _respond(media_type, body)


@authorities.operation("POST", permission="editauthorities", summary="Add an authority record",
                       description="The body is one MARC record in the Content-Type's format; answers "
                                   "201 with its Location.",
                       parameters=[TYPE_HEADER, OVERRIDE_HEADER], body_media_types=WRITE_TYPES,
                       responses={201: None, 409: ERROR_REF})
def add_authority(request: Request):
    record = _read_record(request)
    store = _store(request)
    flavour = detect_flavour(record, store.flavour)
    code = request.validated.get("x-authority-type") or guess_type(record, flavour)
    overrides = {o.strip() for o in request.validated.get("x-koha-override", "").split(",")}
    if not overrides & {"any", "duplicate"}:
        duplicate = _duplicate(request, code, heading(record, flavour))
        if duplicate is not None:
            raise ApiError(409, f"Duplicate record ({duplicate})", "duplicate")
    try:
        row = store.add(record, authtypecode=code, flavour=flavour)
    except AuthorityError as exc:
        raise ApiError(400, str(exc), exc.code) from None
    response = Response(status=201)
    response.location = request.route_url("api:authority", authority_id=row.authid)
    return response


@authority.operation("PUT", permission="editauthorities", summary="Replace an authority record",
                     description="The body is the whole MARC record in the Content-Type's format.",
                     parameters=[AUTHORITY_ID, TYPE_HEADER], body_media_types=WRITE_TYPES,
                     responses={200: {"type": "object", "required": ["id"],
                                      "properties": {"id": {"type": "integer"}}}})
def update_authority(request: Request):
    row = _require(request)
    record = _read_record(request)
    try:
        # an empty header keeps the type, as Koha's `header || $authority->authtypecode`
        _store(request).update(row.authid, record, authtypecode=request.validated.get("x-authority-type") or None)
    except AuthorityError as exc:
        raise ApiError(400, str(exc), exc.code) from None
    return {"id": row.authid}


@authority.operation("DELETE", permission="editauthorities", summary="Delete an authority record",
                     description="The record moves to deletedauth_header.",
                     parameters=[AUTHORITY_ID], responses={204: None})
def delete_authority(request: Request):
    row = _require(request)
    _store(request).delete(row.authid)
    return Response(status=204)


def _require(request: Request) -> Authority:
    row = request.dbsession.get(Authority, request.validated["authority_id"])
    if row is None:
        raise ApiError(404, "Object not found.", "not_found")
    return row


def _duplicate(request: Request, code: str, text: str | None) -> int | None:
    """A stored authority of the same type with the same heading (Koha searches the authorities
    index for the heading; without that index yet, the stored heading is compared)."""
    if not text:
        return None
    return request.dbsession.scalar(select(Authority.authid).where(
        Authority.authtypecode == code, Authority.heading == text).order_by(Authority.authid).limit(1))


def _read_record(request: Request) -> pymarc.Record:
    """One MARC record from the body, in the format named by Content-Type."""
    media_type, data = request.content_type, request.body
    if not data:
        raise ApiError(400, "The request body is empty", "invalid_record")
    if media_type == MARCXML and data.lstrip()[:1] != b"<":
        raise ApiError(400, "Invalid MARC record: the body is not MARCXML", "invalid_record")
    try:
        if media_type == MARC_IN_JSON:
            records = list(pymarc.JSONReader(data.decode("utf-8")))
        else:
            results = marc.read_bytes(data)
            problems = [r.error for r in results if r.error]
            if problems:
                raise ApiError(400, f"Invalid MARC record: {problems[0]}", "invalid_record")
            records = [r.record for r in results]
    except ApiError:
        raise
    except Exception as exc:  # noqa: BLE001  (pymarc raises many kinds on malformed input)
        raise ApiError(400, f"Invalid MARC record: {type(exc).__name__}: {exc}", "invalid_record") from None
    if len(records) != 1 or records[0] is None:
        raise ApiError(400, f"Expected exactly one MARC record, got {len(records)}", "invalid_record")
    problem = marc.validate(records[0])
    if problem:
        raise ApiError(400, f"Invalid MARC record: {problem}", "invalid_record")
    return records[0]


SERVICES = [authorities, authority]
