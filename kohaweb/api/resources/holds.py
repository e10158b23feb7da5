"""``/holds`` and ``/holds/{hold_id}`` (Koha's reserves)."""

from __future__ import annotations

from pyramid.request import Request
from sqlalchemy import select

from ...models import Hold
from ..errors import ApiError
from ..listing import Field, Resource
from ..service import ApiService, path

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


SERVICES = [holds, hold]
