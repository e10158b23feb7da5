"""Cancelling holds as Koha does: one at a time with a reason, by cancellation request, in bulk.

A hold already waiting for its patron is not simply cancelled when the patron asks: where the
circulation rule ``waiting_hold_cancellation`` allows it, a cancellation request is recorded
(Koha's hold_cancellation_requests; the answer is 202) and staff, who see it with
``x-koha-embed: cancellation_requested``, cancel the hold, which removes the request. Staff
clients ask for the same flow with ``x-koha-override: cancellation-request-flow`` on
``DELETE /holds/{hold_id}``. ``DELETE /holds/cancellation_bulk`` cancels several holds in one
transaction: all of them, or none when one does not exist (404).
"""

from __future__ import annotations

import json

from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import select

from ... import circulation
from ...models import Hold
from ..errors import ApiError
from ..openapi import ERROR_REF
from ..service import ApiService
from .holds import overrides, refusal

REASON_LENGTH = 80  # reserves.cancellation_reason

bulk = ApiService("holds_cancellation_bulk", "/holds/cancellation_bulk", tag="holds")

BULK_BODY = {
    "type": "object",
    "required": ["hold_ids"],
    "additionalProperties": False,
    "properties": {
        "hold_ids": {"type": "array", "minItems": 1, "maxItems": 1000, "uniqueItems": True,
                     "items": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}},
        "cancellation_reason": {"type": ["string", "null"], "maxLength": REASON_LENGTH},
    },
}


def body_reason(request: Request) -> str | None:
    """The cancellation reason of a DELETE: Koha reads the request body as a JSON string; any
    other body (none, ``{}``, not JSON) gives no reason."""
    if not request.body or (request.content_type or "").lower() != "application/json":
        return None
    try:
        value = json.loads(request.body)
    except (ValueError, UnicodeError):
        return None
    if isinstance(value, str) and value and "\x00" not in value:
        return value[:REASON_LENGTH]
    return None


def cancel_or_request(request: Request, hold: Hold) -> Response:
    """Staff cancellation of ``hold`` (DELETE /holds/{hold_id})."""
    session = request.dbsession
    if "cancellation-request-flow" in overrides(request) and hold.found == "W":
        circulation.request_cancellation(session, hold)
        return Response(status=202)
    try:
        circulation.cancel_hold(session, hold, reason=body_reason(request))
    except circulation.CirculationError as exc:
        raise refusal("Hold cannot be cancelled", exc) from None
    return Response(status=204)


def patron_cancel(request: Request, hold: Hold) -> Response:
    """A patron cancelling their own hold (DELETE /public/patrons/{patron_id}/holds/{hold_id}):
    cancelled while not yet found (204); waiting and the rules allow a request: recorded (202);
    otherwise 403, as Koha's delete_public."""
    session = request.dbsession
    if circulation.can_cancel_hold(session, hold, hold.borrowernumber):
        circulation.cancel_hold(session, hold, patron=hold.borrowernumber)
        return Response(status=204)
    if hold.found == "W" and circulation.cancellation_requestable(session, hold):
        circulation.request_cancellation(session, hold)
        return Response(status=202)
    raise ApiError(403, "Cancellation forbidden", "cancellation_forbidden")


BULK_DESCRIPTION = ("Cancels every hold of `hold_ids` with the `cancellation_reason` (optional), in one "
                    "transaction; when one of them does not exist none is cancelled (404).")


def _cancel_bulk(request: Request) -> Response:
    session = request.dbsession
    body = request.validated["body"]
    ids = body["hold_ids"]
    found = {row.reserve_id: row for row in session.scalars(select(Hold).where(Hold.reserve_id.in_(ids)))}
    missing = [hold_id for hold_id in ids if hold_id not in found]
    if missing:
        raise ApiError(404, "Hold not found", "not_found")
    reason = body.get("cancellation_reason")
    for hold_id in ids:
        try:
            circulation.cancel_hold(session, found[hold_id], reason=reason)
        except circulation.CirculationError as exc:
            raise refusal("Hold cannot be cancelled", exc) from None
    response = Response(status=204)
    response.location = request.url
    return response


@bulk.operation("DELETE", permission="reserveforothers:place_holds", summary="Cancel several holds",
                description=BULK_DESCRIPTION, body=BULK_BODY, responses={204: None, 404: ERROR_REF})
def cancel_holds_bulk(request: Request):
    return _cancel_bulk(request)


@bulk.operation("POST", permission="reserveforothers:place_holds", summary="Cancel several holds",
                description=BULK_DESCRIPTION + " The same as DELETE, for clients that cannot send a body "
                                               "with DELETE.",
                body=BULK_BODY, responses={204: None, 404: ERROR_REF})
def cancel_holds_bulk_post(request: Request):
    return _cancel_bulk(request)


SERVICES = [bulk]
