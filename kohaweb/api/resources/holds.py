"""``/holds`` and ``/holds/{hold_id}`` (Koha's reserves)."""

from __future__ import annotations

import datetime as dt

from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import select

from ... import circulation
from ...models import Hold
from ..errors import ApiError
from ..listing import Field, Resource
from ..service import ApiService, path

# circulation codes naming something in the request body that does not exist
NOT_FOUND_CODES = {"PATRON_NOT_FOUND", "UNKNOWN_BARCODE", "recordNotFound", "libraryNotFound"}

HOLD = Resource("hold", Hold, [
    Field("hold_id", Hold.reserve_id, "integer", nullable=False),
    Field("patron_id", Hold.borrowernumber, "integer", nullable=False),
    Field("biblio_id", Hold.biblionumber, "integer", nullable=False),
    Field("item_id", Hold.itemnumber, "integer"),
    Field("pickup_library_id", Hold.branchcode, "string", nullable=False),
    Field("hold_date", Hold.reservedate, "date", nullable=False),
    Field("expiration_date", Hold.expirationdate, "date"),
    Field("waiting_date", Hold.waitingdate, "date"),
    Field("cancellation_date", Hold.cancellationdate, "date-time"),
    Field("cancellation_reason", Hold.cancellation_reason, "string"),
    Field("notes", Hold.reservenotes, "string"),
    Field("priority", Hold.priority, "integer", nullable=False),
    Field("status", Hold.found, "string"),
    Field("item_level", Hold.item_level_hold, "boolean", nullable=False),
    Field("suspended", Hold.suspend, "boolean", nullable=False),
    Field("suspended_until", Hold.suspend_until, "date-time"),
    Field("item_type", Hold.itemtype, "string"),
    Field("timestamp", Hold.timestamp, "date-time", nullable=False),
], id_field="hold_id")

holds = ApiService("holds", "/holds", description="Holds (reserves)")
hold = ApiService("hold", "/holds/{hold_id}", tag="holds")


@holds.operation("GET", permission="reserveforothers", summary="List holds", parameters=HOLD.list_params(),
                 responses={200: {"type": "array", "items": HOLD.schema()}},
                 response_headers=HOLD.headers_schema())
def list_holds(request: Request):
    return HOLD.list(request, select(Hold))


@hold.operation("GET", permission="reserveforothers", summary="Get a hold", parameters=[path("hold_id")],
                responses={200: HOLD.schema()})
def get_hold(request: Request):
    row = request.dbsession.get(Hold, request.validated["hold_id"])
    if row is None:
        raise ApiError(404, "Hold not found", "not_found")
    return HOLD.to_api(row)


HOLD_BODY = {
    "type": "object",
    "required": ["patron_id", "pickup_library_id"],
    "anyOf": [{"required": ["biblio_id"]}, {"required": ["item_id"]}],
    "additionalProperties": False,
    "properties": {
        "patron_id": HOLD.by_name["patron_id"].schema(),
        "biblio_id": HOLD.by_name["biblio_id"].schema(),
        "item_id": HOLD.by_name["item_id"].schema(),
        "pickup_library_id": {"type": "string", "maxLength": 10},
        "hold_date": {"type": ["string", "null"], "format": "date"},
        "expiration_date": {"type": ["string", "null"], "format": "date"},
        "notes": {"type": ["string", "null"]},
    },
}


@holds.operation("POST", permission="reserveforothers", summary="Place a hold",
                 description="Title-level with biblio_id, item-level with item_id. Refusals by the "
                             "circulation rules are 403 with Koha's reason code as error_code.",
                 body=HOLD_BODY, responses={201: HOLD.schema()})
def place_hold(request: Request):
    body = request.validated["body"]
    session = request.dbsession
    item_id = body.get("item_id")
    biblio_id = body.get("biblio_id")
    if item_id is not None:
        item = circulation.find_item(session, item_id)
        if item is None:
            raise ApiError(400, f"Item {item_id} not found", "item_not_found")
        if biblio_id is not None and item.biblionumber != biblio_id:
            raise ApiError(400, "The item does not belong to the record", "item_not_in_record")
        biblio_id = item.biblionumber
    try:
        created = circulation.place_hold(
            session, body["patron_id"], biblio_id, item=item_id, pickup_branch=body["pickup_library_id"],
            reservedate=_date(body, "hold_date"), expirationdate=_date(body, "expiration_date"),
            notes=body.get("notes"))
    except circulation.CirculationError as exc:
        raise _refusal("Hold cannot be placed", exc) from None
    response = Response(status=201, json_body=HOLD.to_api(created))
    response.location = request.route_url("api:hold", hold_id=created.reserve_id)
    return response


@hold.operation("DELETE", permission="reserveforothers", summary="Cancel a hold",
                parameters=[path("hold_id")], responses={204: None})
def cancel_hold(request: Request):
    row = request.dbsession.get(Hold, request.validated["hold_id"])
    if row is None:
        raise ApiError(404, "Hold not found", "not_found")
    try:
        circulation.cancel_hold(request.dbsession, row)
    except circulation.CirculationError as exc:
        raise _refusal("Hold cannot be cancelled", exc) from None
    return Response(status=204)


def _date(body: dict, name: str) -> dt.date | None:
    return HOLD.by_name[name].from_api(body.get(name)) if name in HOLD.by_name else None


def _refusal(what: str, exc: circulation.CirculationError) -> ApiError:
    status = 400 if exc.code in NOT_FOUND_CODES else 403
    return ApiError(status, f"{what}. Reason: {exc.code} ({exc.message})", exc.code)


SERVICES = [holds, hold]
