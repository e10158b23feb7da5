"""``/biblios``: list, get (with content negotiation), create, update, delete.

GET ``/biblios/{biblio_id}`` answers in the media type the ``Accept`` header prefers among
application/json and the media types of the core format registry (MARCXML, MARC-in-JSON,
ISO 2709...) plus text/plain (pymarc's human-readable MARC). Nothing acceptable: 406 listing the
acceptable types. Writes take a MARC record in the request's Content-Type and go through
``request.catalog``, which keeps the index, datestamps and OAI sets right.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pymarc
from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import func, select

from ... import marc
from ...catalog import CatalogError, item_dict
from ...models import Biblio, Checkout, Hold, Item
from ..embeds import Embed, resource_of
from ..errors import ApiError
from ..listing import Field, Resource
from ..openapi import ERROR_REF
from ..service import JSON, ApiService, header, path
from .biblio_fields import SCHEMA as MARC_FIELDS_SCHEMA
from .biblio_fields import marc_fields

MARCXML = "application/marcxml+xml"
MARC_IN_JSON = "application/marc-in-json"
ISO2709 = "application/marc"
TEXT = "text/plain"
WRITE_TYPES = (MARCXML, MARC_IN_JSON, ISO2709)
READ_TYPES = (JSON, MARCXML, MARC_IN_JSON, ISO2709, TEXT)

BIBLIO = Resource("biblio", Biblio, [
    Field("biblio_id", Biblio.biblionumber, "integer", nullable=False),
    Field("framework_id", Biblio.frameworkcode, "string", nullable=False),
    Field("title", Biblio.title, "string"),
    Field("subtitle", Biblio.subtitle, "string"),
    Field("author", Biblio.author, "string"),
    Field("isbn", Biblio.isbn, "string"),
    Field("issn", Biblio.issn, "string"),
    Field("publisher", Biblio.publishercode, "string"),
    Field("copyright_date", Biblio.copyrightdate, "integer"),
    Field("item_type", Biblio.itemtype, "string"),
    Field("serial", Biblio.serial, "boolean", nullable=False),
    Field("opac_suppressed", Biblio.opac_suppressed, "boolean", nullable=False),
    Field("creation_date", Biblio.datecreated, "date-time", nullable=False),
    Field("timestamp", Biblio.timestamp, "date-time", nullable=False),
], id_field="biblio_id", extra=marc_fields, extra_schema=MARC_FIELDS_SCHEMA, strings={"item_type": "item_type"})
BIBLIO.embeds = (
    Embed("items", resource_of("items", "ITEM"), many=True,
          load=lambda s, row: s.scalars(select(Item).where(Item.biblionumber == row.biblionumber)
                                        .order_by(Item.itemnumber)).all(),
          link=lambda: Item.biblionumber == Biblio.biblionumber),
    Embed("holds", resource_of("holds", "HOLD"), many=True,
          load=lambda s, row: s.scalars(select(Hold).where(Hold.biblionumber == row.biblionumber)
                                        .order_by(Hold.priority, Hold.reserve_id)).all(),
          link=lambda: Hold.biblionumber == Biblio.biblionumber),
    Embed("checkouts", resource_of("checkouts", "CHECKOUT"), many=True,
          load=lambda s, row: s.scalars(select(Checkout).join(Item, Item.itemnumber == Checkout.itemnumber)
                                        .where(Item.biblionumber == row.biblionumber)
                                        .order_by(Checkout.issue_id)).all()),
)

ID_BODY = {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}
WRITE_HEADERS = [
    header("x-record-schema", {"type": "string", "enum": [marc.MARC21, marc.UNIMARC]},
           "MARC flavour of the record (default: detected, else the site's)"),
    header("x-framework-id", {"type": "string", "maxLength": 4}, "Cataloguing framework code"),
]
BIBLIO_ID = path("biblio_id")

biblios = ApiService("biblios", "/biblios", description="Bibliographic records")
biblio = ApiService("biblio", "/biblios/{biblio_id}", tag="biblios")


@biblios.operation("GET", permission="catalogue", summary="List bibliographic records",
                   parameters=BIBLIO.list_params(),
                   responses={200: {"type": "array", "items": BIBLIO.schema()}},
                   response_headers=BIBLIO.headers_schema())
def list_biblios(request: Request):
    return BIBLIO.list(request, select(Biblio))


@biblios.operation("POST", permission="editcatalogue:edit_catalogue", summary="Add a bibliographic record",
                   description="The body is one MARC record in the Content-Type's format. Embedded "
                               "item fields (952/995) become items.",
                   parameters=WRITE_HEADERS, body_media_types=WRITE_TYPES, responses={200: ID_BODY})
def add_biblio(request: Request):
    record = _read_record(request)
    flavour = request.validated.get("x-record-schema") or marc.detect_flavour(record, request.catalog.flavour)
    try:
        created = request.catalog.add_record(record, flavour=flavour,
                                             frameworkcode=request.validated.get("x-framework-id", ""))
    except CatalogError as exc:
        raise ApiError(400, str(exc), exc.code) from None
    response = Response(json_body={"id": created.biblionumber})
    response.location = request.route_url("api:biblio", biblio_id=created.biblionumber)
    return response


@biblio.operation("GET", permission="catalogue", summary="Get a bibliographic record",
                  description="The format follows the Accept header: " + ", ".join(READ_TYPES)
                              + " (and any other media type of the format registry). MARC formats "
                              "include the items (952/995).",
                  parameters=[BIBLIO_ID, *BIBLIO.embed_params()],
                  responses={200: {JSON: BIBLIO.schema(), MARCXML: {"type": "string"},
                                   MARC_IN_JSON: {"type": "object"}, ISO2709: {"type": "string"},
                                   TEXT: {"type": "string"}},
                             406: ERROR_REF})
def get_biblio(request: Request):
    row = _require(request)
    renderers = record_renderers(request)
    offers = [JSON, *renderers]
    accepted = request.accept.acceptable_offers(offers) if request.accept else [(JSON, 1.0)]
    if not accepted:
        raise ApiError(406, "Not acceptable: use one of " + ", ".join(offers), "not_acceptable",
                       acceptable=offers)
    media_type = accepted[0][0]
    if media_type == JSON:
        return BIBLIO.render(request, row)
    try:
        body = renderers[media_type](request, row)
    except Exception as exc:  # noqa: BLE001  (a broken stored record must not become a 500)
        raise ApiError(500, f"record {row.biblionumber} cannot be rendered as {media_type}: {exc}",
                       "render_error") from None
    response = Response(body=body, content_type=media_type)
    if media_type in (TEXT, MARCXML) or media_type.endswith("+xml") or media_type.endswith("json"):
        response.charset = "utf-8"
    return response


@biblio.operation("PUT", permission="editcatalogue:edit_catalogue", summary="Replace a bibliographic record",
                  description="The body is the whole MARC record in the Content-Type's format; items "
                              "are kept (change them through the items endpoints).",
                  parameters=[BIBLIO_ID], body_media_types=WRITE_TYPES, responses={200: ID_BODY})
def update_biblio(request: Request):
    _require(request)
    record = _read_record(request)
    try:
        request.catalog.update_record(request.validated["biblio_id"], record)
    except CatalogError as exc:
        raise ApiError(400, str(exc), exc.code) from None
    return {"id": request.validated["biblio_id"]}


@biblio.operation("DELETE", permission="editcatalogue:edit_catalogue", summary="Delete a bibliographic record",
                  description="Refused (409) while the record has items, as in Koha.",
                  parameters=[BIBLIO_ID], responses={204: None, 409: ERROR_REF})
def delete_biblio(request: Request):
    row = _require(request)
    items = request.dbsession.scalar(select(func.count()).where(Item.biblionumber == row.biblionumber))
    if items:
        raise ApiError(409, f"The record has {items} item(s) attached; delete them first", "has_items")
    try:
        request.catalog.delete_record(row.biblionumber)
    except CatalogError as exc:
        raise ApiError(409, str(exc), exc.code) from None
    return Response(status=204)


def _require(request: Request) -> Biblio:
    row = request.dbsession.get(Biblio, request.validated["biblio_id"])
    if row is None:
        raise ApiError(404, "Bibliographic record not found", "not_found")
    return row


def _read_record(request: Request) -> pymarc.Record:
    """One MARC record from the body, in the format named by Content-Type."""
    media_type = request.content_type
    data = request.body
    if not data:
        raise ApiError(400, "The request body is empty", "invalid_record")
    records: list = []
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
    if media_type == MARCXML and data.lstrip()[:1] != b"<":
        raise ApiError(400, "Invalid MARC record: the body is not MARCXML", "invalid_record")
    if len(records) != 1 or records[0] is None:
        raise ApiError(400, f"Expected exactly one MARC record, got {len(records)}", "invalid_record")
    problem = marc.validate(records[0])
    if problem:
        raise ApiError(400, f"Invalid MARC record: {problem}", "invalid_record")
    return records[0]


Renderer = Callable[[Request, Biblio], bytes]


def record_renderers(request: Request) -> dict[str, Renderer]:
    """The serialisations a bibliographic record is answered in, as media type -> renderer
    (``renderer(request, biblio) -> bytes``, items embedded as Koha's staff API does): the format
    registry's media types (MARCXML, MARC-in-JSON, ISO 2709, ...), then text/plain."""
    found: dict[str, Renderer] = {}
    registry = getattr(request.registry.kohaweb, "formats", None)
    if registry is not None:
        for media_type in registry.media_types():
            fmt = registry.media_type(media_type)
            if fmt is not None:
                found[media_type] = _registry_renderer(fmt)
    found.setdefault(TEXT, _render_text)
    return found


def _registry_renderer(fmt) -> Renderer:
    from ...formats import RecordSource

    if dataclasses.is_dataclass(fmt) and not fmt.include_items:
        # Koha's staff API embeds the items (952/995) in every MARC serialisation
        fmt = dataclasses.replace(fmt, include_items=True)

    def render(request: Request, row: Biblio) -> bytes:
        return fmt.render_bytes(RecordSource.from_biblio(row, with_items=True, session=request.dbsession))

    return render


def _render_text(request: Request, row: Biblio) -> bytes:
    record = marc.parse_xml(row.metadata_row.metadata_xml)
    marc.embed_items(record, row.flavour, (item_dict(i) for i in row.items))
    return (str(record) + "\n").encode("utf-8")


SERVICES = [biblios, biblio]
