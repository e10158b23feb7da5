"""``/items``, ``/items/{item_id}`` and ``/biblios/{biblio_id}/items[/{item_id}]``.

Reads come from the models; every write goes through ``request.catalog`` (datestamps, index,
OAI sets). Codes (libraries, item types) must exist: the API never creates them implicitly.
"""

from __future__ import annotations

from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import select

from ...catalog import CatalogError
from ...models import Biblio, Checkout, Hold, Item, ItemType, Library
from ..embeds import Embed, resource_of
from ..errors import ApiError
from ..listing import Field, Resource
from ..openapi import ERROR_REF
from ..service import ApiService, path

PRICE = {"minimum": 0, "maximum": 999999.99}


def _effective(row) -> dict:
    """Koha's derived item fields: the item type that applies (the item's, else its record's) and
    the not-for-loan status that applies (the item's, else 1 when that item type is not for loan)."""
    from sqlalchemy.orm import object_session

    from ...circulation import effective_itemtype

    session = object_session(row)
    if session is None:
        return {"effective_item_type_id": row.itype, "effective_not_for_loan_status": row.notforloan or 0}
    itype = effective_itemtype(session, row)
    status = row.notforloan or 0
    if not status and itype:
        # item types not for loan, read once per request's session (a list renders many items)
        closed = session.info.get("kohaweb.api.itemtypes_not_for_loan")
        if closed is None:
            closed = session.info["kohaweb.api.itemtypes_not_for_loan"] = frozenset(
                session.scalars(select(ItemType.itemtype).where(ItemType.notforloan.is_(True))))
        status = 1 if itype in closed else 0
    return {"effective_item_type_id": itype, "effective_not_for_loan_status": status}

ITEM = Resource("item", Item, [
    Field("item_id", Item.itemnumber, "integer", nullable=False),
    Field("biblio_id", Item.biblionumber, "integer", nullable=False),
    Field("external_id", Item.barcode, "string", writable=True, max_length=64),
    Field("acquisition_date", Item.dateaccessioned, "date", writable=True),
    Field("purchase_price", Item.price, "number", writable=True, extra=PRICE),
    Field("replacement_price", Item.replacementprice, "number", writable=True, extra=PRICE),
    Field("home_library_id", Item.homebranch, "string", writable=True, max_length=10),
    Field("holding_library_id", Item.holdingbranch, "string", writable=True, max_length=10),
    Field("item_type_id", Item.itype, "string", writable=True, max_length=10),
    Field("callnumber", Item.itemcallnumber, "string", writable=True, max_length=255),
    Field("location", Item.location, "string", writable=True, max_length=80),
    Field("permanent_location", Item.permanent_location, "string", writable=True, max_length=80),
    Field("collection_code", Item.ccode, "string", writable=True, max_length=80),
    Field("not_for_loan_status", Item.notforloan, "integer", nullable=False, writable=True),
    Field("damaged_status", Item.damaged, "integer", nullable=False, writable=True),
    Field("lost_status", Item.itemlost, "integer", nullable=False, writable=True),
    Field("withdrawn", Item.withdrawn, "integer", nullable=False, writable=True),
    Field("restricted_status", Item.restricted, "integer", nullable=False, writable=True),
    Field("checked_out_date", Item.onloan, "date"),
    Field("last_checkout_date", Item.datelastborrowed, "date"),
    Field("last_seen_date", Item.datelastseen, "date-time", writable=True),
    Field("checkouts_count", Item.issues, "integer", nullable=False),
    Field("renewals_count", Item.renewals, "integer", nullable=False),
    Field("holds_count", Item.reserves, "integer", nullable=False),
    Field("public_notes", Item.itemnotes, "string", writable=True),
    Field("internal_notes", Item.itemnotes_nonpublic, "string", writable=True),
    Field("serial_issue_number", Item.enumchron, "string", writable=True),
    Field("copy_number", Item.copynumber, "string", writable=True, max_length=32),
    Field("inventory_number", Item.stocknumber, "string", writable=True, max_length=32),
    Field("uri", Item.uri, "string", writable=True),
    Field("acquisition_source", Item.booksellerid, "string", writable=True),
    Field("bookable", Item.bookable, "boolean", writable=True),
    # set when the status changes (kohaweb.models.biblio.stamp_status_dates), as Koha's
    Field("damaged_date", Item.damaged_on, "date-time", writable=True),
    Field("lost_date", Item.itemlost_on, "date-time", writable=True),
    Field("withdrawn_date", Item.withdrawn_on, "date-time", writable=True),
    Field("materials_notes", Item.materials, "string", writable=True),
    Field("call_number_source", Item.cn_source, "string", writable=True, max_length=10),
    Field("call_number_sort", Item.cn_sort, "string", writable=True, max_length=255),
    Field("replacement_price_date", Item.replacementpricedate, "date", writable=True),
    Field("coded_location_qualifier", Item.coded_location_qualifier, "string", writable=True, max_length=10),
    Field("new_status", Item.new_status, "string", writable=True, max_length=32),
    Field("timestamp", Item.timestamp, "date-time", nullable=False),
], id_field="item_id", strings={
    "home_library_id": "library", "holding_library_id": "library", "item_type_id": "item_type",
    "location": "av:LOC", "collection_code": "av:CCODE", "not_for_loan_status": "av:NOT_LOAN",
    "lost_status": "av:LOST", "damaged_status": "av:DAMAGED", "withdrawn": "av:WITHDRAWN",
}, extra=_effective, extra_schema={"effective_item_type_id": {"type": ["string", "null"]},
                                   "effective_not_for_loan_status": {"type": "integer"}})


ITEM.embeds = (
    Embed("biblio", resource_of("biblios", "BIBLIO"), lambda s, row: s.get(Biblio, row.biblionumber),
          link=lambda: Biblio.biblionumber == Item.biblionumber),
    Embed("checkout", resource_of("checkouts", "CHECKOUT"),
          lambda s, row: s.scalar(select(Checkout).where(Checkout.itemnumber == row.itemnumber)),
          link=lambda: Checkout.itemnumber == Item.itemnumber),
    Embed("holds", resource_of("holds", "HOLD"), many=True,
          load=lambda s, row: s.scalars(select(Hold).where(Hold.itemnumber == row.itemnumber)
                                        .order_by(Hold.priority, Hold.reserve_id)).all(),
          link=lambda: Hold.itemnumber == Item.itemnumber),
    Embed("home_library", resource_of("libraries", "LIBRARY"), lambda s, row: s.get(Library, row.homebranch),
          link=lambda: Library.branchcode == Item.homebranch),
    Embed("holding_library", resource_of("libraries", "LIBRARY"),
          lambda s, row: s.get(Library, row.holdingbranch) if row.holdingbranch else None,
          link=lambda: Library.branchcode == Item.holdingbranch),
    Embed("item_type", resource_of("reference", "ITEM_TYPE"),
          lambda s, row: s.get(ItemType, row.itype) if row.itype else None,
          link=lambda: ItemType.itemtype == Item.itype),
)

ITEM_ID = path("item_id")
BIBLIO_ID = path("biblio_id")
ITEM_BODY = ITEM.write_schema()

items = ApiService("items", "/items", description="Items (copies)")
item = ApiService("item", "/items/{item_id}", tag="items")
biblio_items = ApiService("biblio_items", "/biblios/{biblio_id}/items", tag="items")
biblio_item = ApiService("biblio_item", "/biblios/{biblio_id}/items/{item_id}", tag="items")


@items.operation("GET", permission="catalogue", summary="List items", parameters=ITEM.list_params(),
                 responses={200: {"type": "array", "items": ITEM.schema()}},
                 response_headers=ITEM.headers_schema())
def list_items(request: Request):
    return ITEM.list(request, select(Item))


@item.operation("GET", permission="catalogue", summary="Get an item", parameters=[ITEM_ID, *ITEM.embed_params()],
                responses={200: ITEM.schema()})
def get_item(request: Request):
    return ITEM.render(request, _require_item(request))


@item.operation("DELETE", permission="editcatalogue:edit_catalogue", summary="Delete an item",
                description="Refused (409) while the item is checked out.",
                parameters=[ITEM_ID], responses={204: None, 409: ERROR_REF})
def delete_item(request: Request):
    row = _require_item(request)
    # Catalog.delete_item removes the item from biblio.items after deleting it; loading that
    # collection first keeps its autoflush from dropping the item before the removal
    row.biblio.items  # noqa: B018
    try:
        request.catalog.delete_item(row.itemnumber)
    except CatalogError as exc:
        raise ApiError(409, str(exc), exc.code) from None
    return Response(status=204)


@biblio_items.operation("GET", permission="catalogue", summary="List the items of a record",
                        parameters=[BIBLIO_ID, *ITEM.list_params(exclude=['biblio_id'])],
                        responses={200: {"type": "array", "items": ITEM.schema()}},
                        response_headers=ITEM.headers_schema())
def list_biblio_items(request: Request):
    biblio_id = _require_biblio(request)
    return ITEM.list(request, select(Item).where(Item.biblionumber == biblio_id))


@biblio_items.operation("POST", permission="editcatalogue:edit_catalogue", summary="Add an item to a record",
                        parameters=[BIBLIO_ID], body=ITEM_BODY, responses={201: ITEM.schema(), 409: ERROR_REF})
def add_biblio_item(request: Request):
    biblio_id = _require_biblio(request)
    values = _checked_values(request)
    try:
        created = request.catalog.add_item(biblio_id, **values)
    except CatalogError as exc:
        raise ApiError(400, str(exc), exc.code) from None
    response = Response(status=201, json_body=ITEM.to_api(created))
    response.location = request.route_url("api:item", item_id=created.itemnumber)
    return response


@biblio_item.operation("PUT", permission="editcatalogue:edit_catalogue", summary="Update an item of a record",
                       description="Sets the fields given; the others keep their values.",
                       parameters=[BIBLIO_ID, ITEM_ID], body=ITEM_BODY, responses={200: ITEM.schema(), 409: ERROR_REF})
def update_biblio_item(request: Request):
    biblio_id = _require_biblio(request)
    row = _require_item(request)
    if row.biblionumber != biblio_id:
        raise ApiError(404, "Item not found on this record", "not_found")
    values = _checked_values(request, row.itemnumber)
    try:
        updated = request.catalog.update_item(row.itemnumber, **values)
    except CatalogError as exc:
        raise ApiError(400, str(exc), exc.code) from None
    return ITEM.to_api(updated)


def _require_item(request: Request) -> Item:
    row = request.dbsession.get(Item, request.validated["item_id"])
    if row is None:
        raise ApiError(404, "Item not found", "not_found")
    return row


def _require_biblio(request: Request) -> int:
    biblio_id = request.validated["biblio_id"]
    if request.dbsession.get(Biblio, biblio_id) is None:
        raise ApiError(404, "Bibliographic record not found", "not_found")
    return biblio_id


def _checked_values(request: Request, itemnumber: int | None = None) -> dict:
    """Column values from the body; coded values must exist, barcodes must stay unique."""
    values = ITEM.columns_from_api(request.validated["body"])
    session = request.dbsession
    for column, model, label in (("homebranch", Library, "library"), ("holdingbranch", Library, "library"),
                                 ("itype", ItemType, "item type")):
        code = values.get(column)
        if code is not None and session.get(model, code) is None:
            raise ApiError(400, f"Unknown {label} {code!r}", "invalid_value")
    barcode = values.get("barcode")
    if barcode is not None:
        other = session.scalar(select(Item.itemnumber).where(Item.barcode == barcode))
        if other is not None and other != itemnumber:
            raise ApiError(409, f"Barcode {barcode!r} is already used by item {other}", "duplicate_barcode")
    return values


SERVICES = [items, item, biblio_items, biblio_item]
