"""``/public/biblios/{biblio_id}`` and ``/public/biblios/{biblio_id}/items``: Koha's public
(OPAC) routes, open to anyone and filtered by the visibility policy (``kohaweb.visibility``).

A record the caller may not see answers 404 exactly like a record that does not exist;
the items list holds only the items the caller may see, with Koha's public item fields (no
internal notes, prices or circulation counters). An authenticated patron whose category is in
OpacHiddenItemsExceptions sees the hidden items; staff permissions change nothing here (staff
read ``/biblios``), as in Koha.
"""

from __future__ import annotations

from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import select

from ... import marc, visibility
from ...models import Biblio, Item, Library
from ..errors import ApiError
from ..listing import Resource
from ..openapi import ERROR_REF
from ..service import ApiService, path
from .items import ITEM

TEXT = "text/plain"
# Koha's Koha::Item public_read_list, under the API names
PUBLIC_ITEM_FIELDS = ("item_id", "biblio_id", "external_id", "acquisition_date", "home_library_id",
                      "holding_library_id", "item_type_id", "callnumber", "location", "collection_code",
                      "not_for_loan_status", "damaged_status", "lost_status", "withdrawn", "restricted_status",
                      "checked_out_date", "public_notes", "serial_issue_number", "copy_number", "uri")
PUBLIC_ITEM = Resource("public_item", Item, [ITEM.by_name[name] for name in PUBLIC_ITEM_FIELDS], id_field="item_id")
BIBLIO_ID = path("biblio_id")

public_biblio = ApiService("public_biblio", "/public/biblios/{biblio_id}", tag="biblios")
public_biblio_items = ApiService("public_biblio_items", "/public/biblios/{biblio_id}/items", tag="items")


def _visible_biblio(request: Request) -> tuple[Biblio, visibility.Viewer]:
    viewer = visibility.viewer_for(request, staff_permission=None)
    row = request.read_dbsession.get(Biblio, request.validated["biblio_id"])
    if row is None or not viewer.sees_record(row):
        raise ApiError(404, "Bibliographic record not found", "not_found")
    return row, viewer


@public_biblio.operation("GET", permission=None, summary="Get a bibliographic record (public)",
                         description="The MARC record in the media type the Accept header prefers (the "
                                     "format registry's types and text/plain), without items. Records "
                                     "hidden from the public answer 404.",
                         parameters=[BIBLIO_ID],
                         responses={200: {"application/marcxml+xml": {"type": "string"},
                                          "application/marc-in-json": {"type": "object"},
                                          "application/marc": {"type": "string"}, TEXT: {"type": "string"}},
                                    406: ERROR_REF})
def get_public_biblio(request: Request):
    from ...formats import RecordSource

    row, viewer = _visible_biblio(request)
    registry = getattr(request.registry.kohaweb, "formats", None)
    offers = [*(registry.media_types() if registry is not None else []), TEXT]
    offers = list(dict.fromkeys(offers))
    accepted = request.accept.acceptable_offers(offers) if request.accept else [(offers[0], 1.0)]
    if not accepted:
        raise ApiError(406, "Not acceptable: use one of " + ", ".join(offers), "not_acceptable",
                       acceptable=offers)
    media_type = accepted[0][0]
    fmt = registry.media_type(media_type) if registry is not None else None
    try:
        if fmt is None:  # text/plain from pymarc
            body = (str(marc.parse_xml(row.metadata_row.metadata_xml)) + "\n").encode("utf-8")
        else:
            body = fmt.render_bytes(RecordSource.from_biblio(row, with_items=fmt.include_items,
                                                             session=request.read_dbsession, viewer=viewer))
    except Exception as exc:  # noqa: BLE001  (a broken stored record must not become a bare 500)
        raise ApiError(500, f"record {row.biblionumber} cannot be rendered as {media_type}: {exc}",
                       "render_error") from None
    response = Response(body=body, content_type=media_type)
    if media_type == TEXT or media_type.endswith("+xml") or media_type.endswith("json"):
        response.charset = "utf-8"
    return response


@public_biblio_items.operation("GET", permission=None, summary="List the items of a record (public)",
                               description="Only the items the caller may see (OpacHiddenItems, hidelostitems, "
                                           "OpacHiddenItemsExceptions), with the public item fields.",
                               parameters=[BIBLIO_ID, *PUBLIC_ITEM.list_params(exclude=["biblio_id"])],
                               responses={200: {"type": "array", "items": PUBLIC_ITEM.schema()}},
                               response_headers=PUBLIC_ITEM.headers_schema())
def list_public_biblio_items(request: Request):
    row, viewer = _visible_biblio(request)
    return PUBLIC_ITEM.list(request, select(Item).where(Item.biblionumber == row.biblionumber,
                                                        viewer.items_condition()))


public_items = ApiService("public_items", "/public/items", tag="items")
public_libraries = ApiService("public_libraries", "/public/libraries", tag="libraries")
public_library = ApiService("public_library", "/public/libraries/{library_id}", tag="libraries")


@public_items.operation("GET", permission=None, summary="List items (public)",
                        description="The items the caller may see, of records the caller may see, with the "
                                    "public item fields.",
                        parameters=PUBLIC_ITEM.list_params(),
                        responses={200: {"type": "array", "items": PUBLIC_ITEM.schema()}},
                        response_headers=PUBLIC_ITEM.headers_schema())
def list_public_items(request: Request):
    viewer = visibility.viewer_for(request, staff_permission=None)
    records = select(Biblio.biblionumber)
    if viewer.exempt_from_rules:
        if viewer.policy.suppression:
            records = records.where(Biblio.opac_suppressed.is_(False))
    else:
        records = records.where(Biblio.hidden_from_public.is_(False))
    return PUBLIC_ITEM.list(request, select(Item).where(Item.biblionumber.in_(records), viewer.items_condition()))


def _public_library_resource() -> Resource:
    from .libraries import LIBRARY

    return Resource("public_library", Library, list(LIBRARY.fields), id_field="library_id")


PUBLIC_LIBRARY = _public_library_resource()


@public_libraries.operation("GET", permission=None, summary="List libraries (public)",
                            description="The libraries shown to the public (`public`).",
                            parameters=PUBLIC_LIBRARY.list_params(),
                            responses={200: {"type": "array", "items": PUBLIC_LIBRARY.schema()}},
                            response_headers=PUBLIC_LIBRARY.headers_schema())
def list_public_libraries(request: Request):
    return PUBLIC_LIBRARY.list(request, select(Library).where(Library.public.is_(True)))


@public_library.operation("GET", permission=None, summary="Get a library (public)",
                          parameters=[path("library_id", {"type": "string", "maxLength": 10})],
                          responses={200: PUBLIC_LIBRARY.schema()})
def get_public_library(request: Request):
    row = request.read_dbsession.get(Library, request.validated["library_id"])
    if row is None or not row.public:
        raise ApiError(404, "Library not found", "not_found")
    return PUBLIC_LIBRARY.to_api(row)


SERVICES = [public_biblio, public_biblio_items, public_items, public_libraries, public_library]
