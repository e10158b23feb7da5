"""What hangs off a record: ``/biblios/{biblio_id}/holds``, ``/checkouts`` and
``/pickup_locations`` (for a patron), and the deleted records (``/deleted/biblios``)."""

from __future__ import annotations

from pyramid.request import Request
from sqlalchemy import select

from ...models import Biblio, DeletedBiblio, Hold, Item, Patron
from ..errors import ApiError
from ..listing import Field, Resource
from ..service import ApiService, path, query
from .biblio_fields import SCHEMA as MARC_FIELDS_SCHEMA
from .biblio_fields import marc_fields
from .checkouts import CHECKOUT, OLD_CHECKOUT
from .checkouts import SCHEMA as CHECKOUT_SCHEMA
from .holds import HOLD, pickup_answer, pickup_schema

BIBLIO_ID = path("biblio_id")

biblio_holds = ApiService("biblio_holds", "/biblios/{biblio_id}/holds", tag="holds")
biblio_checkouts = ApiService("biblio_checkouts", "/biblios/{biblio_id}/checkouts", tag="checkouts")
biblio_pickups = ApiService("biblio_pickup_locations", "/biblios/{biblio_id}/pickup_locations", tag="biblios")
item_pickups = ApiService("item_pickup_locations", "/items/{item_id}/pickup_locations", tag="items")
deleted_biblios = ApiService("deleted_biblios", "/deleted/biblios", tag="biblios")
deleted_biblio = ApiService("deleted_biblio", "/deleted/biblios/{biblio_id}", tag="biblios")

DELETED_BIBLIO = Resource("deleted_biblio", DeletedBiblio, [
    Field("biblio_id", DeletedBiblio.biblionumber, "integer", nullable=False),
    Field("framework_id", DeletedBiblio.frameworkcode, "string", nullable=False),
    Field("title", DeletedBiblio.title, "string"),
    Field("subtitle", DeletedBiblio.subtitle, "string"),
    Field("author", DeletedBiblio.author, "string"),
    Field("isbn", DeletedBiblio.isbn, "string"),
    Field("issn", DeletedBiblio.issn, "string"),
    Field("publisher", DeletedBiblio.publishercode, "string"),
    Field("copyright_date", DeletedBiblio.copyrightdate, "integer"),
    Field("item_type", DeletedBiblio.itemtype, "string"),
    Field("serial", DeletedBiblio.serial, "boolean", nullable=False),
    Field("opac_suppressed", DeletedBiblio.opac_suppressed, "boolean", nullable=False),
    Field("creation_date", DeletedBiblio.datecreated, "date-time", nullable=False),
    Field("timestamp", DeletedBiblio.timestamp, "date-time", nullable=False),
    Field("deleted_on", DeletedBiblio.deleted_on, "date-time", nullable=False),
], id_field="biblio_id", extra=marc_fields, extra_schema=MARC_FIELDS_SCHEMA)


def _require_biblio(request: Request) -> Biblio:
    row = request.dbsession.get(Biblio, request.validated["biblio_id"])
    if row is None:
        raise ApiError(404, "Bibliographic record not found", "not_found")
    return row


@biblio_holds.operation("GET", permission="reserveforothers:place_holds", summary="List the holds on a record",
                        parameters=[BIBLIO_ID, *HOLD.list_params(exclude=["biblio_id"])],
                        responses={200: {"type": "array", "items": HOLD.schema()}},
                        response_headers=HOLD.headers_schema())
def list_biblio_holds(request: Request):
    row = _require_biblio(request)
    return HOLD.list(request, select(Hold).where(Hold.biblionumber == row.biblionumber))


@biblio_checkouts.operation("GET", permission="circulate:circulate_remaining_permissions", summary="List the checkouts of a record's items",
                            parameters=[BIBLIO_ID, *CHECKOUT.list_params(),
                                        query("checked_in", "boolean", "true: finished checkouts (old_issues)")],
                            responses={200: {"type": "array", "items": CHECKOUT_SCHEMA}},
                            response_headers=CHECKOUT.headers_schema())
def list_biblio_checkouts(request: Request):
    row = _require_biblio(request)
    resource = OLD_CHECKOUT if request.validated.get("checked_in") else CHECKOUT
    model = resource.model
    items = select(Item.itemnumber).where(Item.biblionumber == row.biblionumber)
    return resource.list(request, select(model).where(model.itemnumber.in_(items)))


@biblio_pickups.operation("GET", permission="reserveforothers:place_holds", summary="Pickup locations for a hold on a record",
                          description="The pickup libraries a hold by `patron_id` on this record may use "
                                      "(with AllowHoldPolicyOverride also the others, marked `needs_override`).",
                          parameters=[BIBLIO_ID, query("patron_id", {"type": "integer", "minimum": 1,
                                                                     "maximum": 2**31 - 1}, required=True)],
                          responses={200: {"type": "array", "items": pickup_schema()}})
def list_biblio_pickup_locations(request: Request):
    row = _require_biblio(request)
    patron = request.dbsession.get(Patron, request.validated["patron_id"])
    if patron is None:
        raise ApiError(400, "Patron not found", "patron_not_found")
    return pickup_answer(request.dbsession, row, patron)


@item_pickups.operation("GET", permission="reserveforothers:place_holds", summary="Pickup locations for a hold on an item",
                        description="The pickup libraries an item-level hold by `patron_id` may use (with "
                                    "AllowHoldPolicyOverride also the others, marked `needs_override`).",
                        parameters=[path("item_id"), query("patron_id", {"type": "integer", "minimum": 1,
                                                                         "maximum": 2**31 - 1}, required=True)],
                        responses={200: {"type": "array", "items": pickup_schema()}})
def list_item_pickup_locations(request: Request):
    item = request.dbsession.get(Item, request.validated["item_id"])
    if item is None:
        raise ApiError(404, "Item not found", "not_found")
    patron = request.dbsession.get(Patron, request.validated["patron_id"])
    if patron is None:
        raise ApiError(400, "Patron not found", "patron_not_found")
    return pickup_answer(request.dbsession, item, patron)


@deleted_biblios.operation("GET", permission="catalogue", summary="List deleted bibliographic records",
                           parameters=DELETED_BIBLIO.list_params(),
                           responses={200: {"type": "array", "items": DELETED_BIBLIO.schema()}},
                           response_headers=DELETED_BIBLIO.headers_schema())
def list_deleted_biblios(request: Request):
    return DELETED_BIBLIO.list(request, select(DeletedBiblio))


@deleted_biblio.operation("GET", permission="catalogue", summary="Get a deleted bibliographic record",
                          parameters=[BIBLIO_ID], responses={200: DELETED_BIBLIO.schema()})
def get_deleted_biblio(request: Request):
    row = request.dbsession.get(DeletedBiblio, request.validated["biblio_id"])
    if row is None:
        raise ApiError(404, "Deleted bibliographic record not found", "not_found")
    return DELETED_BIBLIO.to_api(row)


SERVICES = [biblio_holds, biblio_checkouts, biblio_pickups, item_pickups, deleted_biblios, deleted_biblio]
