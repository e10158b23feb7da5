"""``/holds`` and its lifecycle (Koha's reserves): list, get, place, change (PUT/PATCH), cancel,
suspension (POST/DELETE), priority, pickup location and the pickup locations a hold may use.

``x-koha-override`` (comma separated) relaxes checks as Koha does: ``any`` places a hold the
circulation rules refuse and accepts any existing library as pickup location,
``pickup_location`` accepts a pickup location outside the hold's valid ones.
"""

from __future__ import annotations

import datetime as dt

from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import select

from ... import circulation, hold_queue
from ...models import Biblio, Hold, Item, Library, Patron
from ..embeds import Embed, resource_of
from ..errors import ApiError
from ..library_context import acting_library
from ..listing import Field, Resource
from ..openapi import ERROR_REF
from ..service import ApiService, header, path

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
    Field("patron_expiration_date", Hold.patron_expiration_date, "date"),
    Field("waiting_date", Hold.waitingdate, "date"),
    Field("cancellation_date", Hold.cancellationdate, "date-time"),
    Field("cancellation_reason", Hold.cancellation_reason, "string"),
    Field("notes", Hold.reservenotes, "string"),
    Field("priority", Hold.priority, "integer", nullable=False),
    Field("status", Hold.found, "string"),
    Field("item_level", Hold.item_level_hold, "boolean", nullable=False),
    Field("lowest_priority", Hold.lowestPriority, "boolean", nullable=False),
    Field("non_priority", Hold.non_priority, "boolean", nullable=False),
    Field("suspended", Hold.suspend, "boolean", nullable=False),
    Field("suspended_until", Hold.suspend_until, "date-time"),
    Field("item_type", Hold.itemtype, "string"),
    Field("timestamp", Hold.timestamp, "date-time", nullable=False),
], id_field="hold_id", strings={"pickup_library_id": "library", "item_type": "item_type"})
HOLD.embeds = (
    Embed("biblio", resource_of("biblios", "BIBLIO"), lambda s, row: s.get(Biblio, row.biblionumber),
          link=lambda: Biblio.biblionumber == Hold.biblionumber),
    Embed("item", resource_of("items", "ITEM"),
          lambda s, row: s.get(Item, row.itemnumber) if row.itemnumber is not None else None,
          link=lambda: Item.itemnumber == Hold.itemnumber),
    Embed("patron", resource_of("patrons", "PATRON"), lambda s, row: s.get(Patron, row.borrowernumber),
          link=lambda: Patron.borrowernumber == Hold.borrowernumber),
    Embed("pickup_library", resource_of("libraries", "LIBRARY"), lambda s, row: s.get(Library, row.branchcode),
          link=lambda: Library.branchcode == Hold.branchcode),
    # Koha's: whether the patron asked to cancel the (waiting) hold
    Embed("cancellation_requested", value=lambda s, row: circulation.cancellation_requested(s, row),
          value_schema={"type": "boolean"}),
)

HOLD_ID = path("hold_id")
OVERRIDE = header("x-koha-override", "string",
                  "Checks to override, comma separated: any, pickup_location, cancellation-request-flow")
DATE = {"type": ["string", "null"], "format": "date"}

holds = ApiService("holds", "/holds", description="Holds (reserves)")
hold = ApiService("hold", "/holds/{hold_id}", tag="holds")
suspension = ApiService("hold_suspension", "/holds/{hold_id}/suspension", tag="holds")
priority = ApiService("hold_priority", "/holds/{hold_id}/priority", tag="holds")
pickup_location = ApiService("hold_pickup_location", "/holds/{hold_id}/pickup_location", tag="holds")
pickup_locations = ApiService("hold_pickup_locations", "/holds/{hold_id}/pickup_locations", tag="holds")
lowest_priority = ApiService("hold_lowest_priority", "/holds/{hold_id}/lowest_priority", tag="holds")


@holds.operation("GET", permission="reserveforothers:place_holds", summary="List holds", parameters=HOLD.list_params(),
                 responses={200: {"type": "array", "items": HOLD.schema()}},
                 response_headers=HOLD.headers_schema())
def list_holds(request: Request):
    return HOLD.list(request, select(Hold))


@hold.operation("GET", permission="reserveforothers:place_holds", summary="Get a hold",
                parameters=[HOLD_ID, *HOLD.embed_params()], responses={200: HOLD.schema()})
def get_hold(request: Request):
    return HOLD.render(request, require_hold(request))


HOLD_BODY = {
    "type": "object",
    "required": ["patron_id"],  # pickup_library_id: the library acting (x-koha-library) when left out
    "anyOf": [{"required": ["biblio_id"]}, {"required": ["item_id"]}],
    "additionalProperties": False,
    "properties": {
        "patron_id": HOLD.by_name["patron_id"].schema(),
        "biblio_id": HOLD.by_name["biblio_id"].schema(),
        "item_id": HOLD.by_name["item_id"].schema(),
        "pickup_library_id": {"type": "string", "maxLength": 10},
        "hold_date": DATE,
        "expiration_date": DATE,
        "notes": {"type": ["string", "null"]},
        "item_type": {"type": ["string", "null"], "maxLength": 10},
        "item_type_id": {"type": ["string", "null"], "maxLength": 10},  # Koha 25.11's name
        "non_priority": {"type": ["boolean", "null"]},
    },
}


def overrides(request: Request) -> set[str]:
    """The x-koha-override values of the request."""
    return {part.strip() for part in (request.validated.get("x-koha-override") or "").split(",") if part.strip()}


@holds.operation("POST", permission="reserveforothers", summary="Place a hold",
                 description="Title-level with biblio_id, item-level with item_id; without "
                             "pickup_library_id, picked up at the library the request acts for "
                             "(x-koha-library, else the caller's). Refusals by the circulation rules are "
                             "403 with Koha's reason code as error_code; `x-koha-override: any` places "
                             "the hold anyway.",
                 parameters=[OVERRIDE], body=HOLD_BODY, responses={201: HOLD.schema()})
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
    item_type = body.get("item_type_id") or body.get("item_type")
    if item_type is not None:
        from ...models import ItemType

        if session.get(ItemType, item_type) is None:
            raise ApiError(400, f"Unknown item type {item_type!r}", "invalid_value")
    try:
        created = circulation.place_hold(
            session, body["patron_id"], biblio_id, item=item_id,
            pickup_branch=body.get("pickup_library_id") or acting_library(request),
            reservedate=_date(body, "hold_date"), expirationdate=_date(body, "expiration_date"),
            notes=body.get("notes"), force="any" in overrides(request), itemtype=item_type,
            non_priority=bool(body.get("non_priority")))
    except circulation.CirculationError as exc:
        raise refusal("Hold cannot be placed", exc) from None
    response = Response(status=201, json_body=HOLD.to_api(created))
    response.location = request.route_url("api:hold", hold_id=created.reserve_id)
    return response


EDIT_BODY = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "pickup_library_id": {"type": "string", "maxLength": 10},
        "priority": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
        "suspended_until": {"type": ["string", "null"], "format": "date-time"},
        "hold_date": {"type": "string", "format": "date"},
        "expiration_date": DATE,
        "notes": {"type": ["string", "null"]},
    },
}


def _edit_hold(request: Request):
    row = require_hold(request)
    body = request.validated["body"]
    session = request.dbsession
    try:
        if "pickup_library_id" in body and body["pickup_library_id"] != row.branchcode:
            hold_queue.change_pickup(session, row, body["pickup_library_id"],
                                     force=bool(overrides(request) & {"any", "pickup_location"}))
        if "priority" in body:
            hold_queue.set_priority(session, row, body["priority"])
        if "suspended_until" in body:
            until = body["suspended_until"]
            if until is None:
                hold_queue.resume(session, row)
            else:
                hold_queue.suspend(session, row, _day_of(until))
        if "hold_date" in body:
            row.reservedate = _date(body, "hold_date")
        if "expiration_date" in body:
            row.expirationdate = _date(body, "expiration_date")
        if "notes" in body:
            row.reservenotes = body["notes"]
        if row.expirationdate is not None and row.expirationdate < row.reservedate:
            raise circulation.CirculationError("invalidDates", "the expiration date is before the hold date")
    except circulation.CirculationError as exc:
        raise refusal("Hold cannot be changed", exc, status=400) from None
    session.flush()
    return HOLD.to_api(row)


EDIT_DESCRIPTION = ("Changes the fields given: pickup_library_id (must be a valid pickup location unless "
                    "`x-koha-override: pickup_location`), priority, suspended_until (suspends the hold "
                    "until that day; null resumes it), hold_date, expiration_date, notes.")


@hold.operation("PUT", permission="reserveforothers", summary="Change a hold", description=EDIT_DESCRIPTION,
                parameters=[HOLD_ID, OVERRIDE], body=EDIT_BODY, responses={200: HOLD.schema()})
def put_hold(request: Request):
    return _edit_hold(request)


@hold.operation("PATCH", permission="reserveforothers", summary="Change a hold", description=EDIT_DESCRIPTION,
                parameters=[HOLD_ID, OVERRIDE], body=EDIT_BODY, responses={200: HOLD.schema()})
def patch_hold(request: Request):
    return _edit_hold(request)


@hold.operation("DELETE", permission="reserveforothers:place_holds", summary="Cancel a hold",
                description="204: cancelled (a JSON string body is the cancellation reason, as Koha reads "
                            "it). With `x-koha-override: cancellation-request-flow` a waiting hold is not "
                            "cancelled: a cancellation request is recorded (202), as a patron's would be.",
                parameters=[HOLD_ID, OVERRIDE], responses={202: None, 204: None})
def cancel_hold(request: Request):
    from .hold_cancellations import cancel_or_request

    return cancel_or_request(request, require_hold(request))


SUSPENSION_BODY = {"type": "object", "additionalProperties": False,
                   "properties": {"end_date": {"type": ["string", "null"], "format": "date"}}}
SUSPENSION_ANSWER = {"type": "object", "properties": {"end_date": {"type": ["string", "null"], "format": "date"}},
                     "required": ["end_date"], "additionalProperties": False}


@suspension.operation("POST", permission="reserveforothers:place_holds", summary="Suspend a hold",
                      description="Until the end of `end_date`, or until resumed. Holds waiting or in "
                                  "transit cannot be suspended (400 `hold_found`).",
                      parameters=[HOLD_ID], body=SUSPENSION_BODY,
                      responses={201: SUSPENSION_ANSWER})
def suspend_hold(request: Request):
    row = require_hold(request)
    end = request.validated["body"].get("end_date")
    until = HOLD.by_name["hold_date"].from_api(end) if end else None
    try:
        hold_queue.suspend(request.dbsession, row, until)
    except circulation.CirculationError as exc:
        raise refusal("Hold cannot be suspended", exc, status=400) from None
    response = Response(status=201, json_body={"end_date": until.isoformat() if until else None})
    response.location = request.route_url("api:hold_suspension", hold_id=row.reserve_id)
    return response


@suspension.operation("DELETE", permission="reserveforothers:place_holds", summary="Resume a suspended hold",
                      parameters=[HOLD_ID], responses={204: None})
def resume_hold(request: Request):
    hold_queue.resume(request.dbsession, require_hold(request))
    return Response(status=204)


POSITION = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}


@priority.operation("PUT", permission="reserveforothers:modify_holds_priority", summary="Move a hold in its record's queue",
                    description="The body is the new priority (1 = first); the answer the priority the "
                                "hold has afterwards (at most the length of the queue).",
                    parameters=[HOLD_ID], body=POSITION, responses={200: POSITION, 409: ERROR_REF})
def set_priority(request: Request):
    row = require_hold(request)
    try:
        return hold_queue.set_priority(request.dbsession, row, request.validated["body"])
    except circulation.CirculationError as exc:
        raise refusal("Priority cannot be changed", exc, status=409) from None


PICKUP_BODY = {"type": "object", "required": ["pickup_library_id"], "additionalProperties": False,
               "properties": {"pickup_library_id": {"type": "string", "maxLength": 10}}}


@pickup_location.operation("PUT", permission="reserveforothers:place_holds", summary="Change a hold's pickup location",
                           description="The library must be a valid pickup location for the hold, unless "
                                       "`x-koha-override: pickup_location` (or `any`).",
                           parameters=[HOLD_ID, OVERRIDE], body=PICKUP_BODY, responses={200: PICKUP_BODY})
def change_pickup(request: Request):
    row = require_hold(request)
    try:
        hold_queue.change_pickup(request.dbsession, row, request.validated["body"]["pickup_library_id"],
                                 force=bool(overrides(request) & {"any", "pickup_location"}))
    except circulation.CirculationError as exc:
        raise refusal("The supplied pickup location is not valid", exc, status=400) from None
    return {"pickup_library_id": row.branchcode}


def pickup_schema() -> dict:
    from .libraries import LIBRARY

    schema = LIBRARY.schema()
    schema["properties"]["needs_override"] = {"type": "boolean"}
    schema["required"] = [*schema["required"], "needs_override"]
    return schema


def pickup_answer(session, target, patron=None) -> list[dict]:
    """Libraries as Koha's pickup_locations: the library object plus ``needs_override``."""
    from .libraries import LIBRARY

    return [{**LIBRARY.to_api(lib), "needs_override": needs}
            for lib, needs in hold_queue.pickup_locations(session, target, patron)]


@pickup_locations.operation("GET", permission="reserveforothers:place_holds", summary="Pickup locations of a hold",
                            description="The pickup libraries valid for the hold (hold_fulfillment_policy "
                                        "of its items); with AllowHoldPolicyOverride also the others, "
                                        "marked `needs_override`.",
                            parameters=[HOLD_ID], responses={200: {"type": "array", "items": pickup_schema()}})
def list_pickup_locations(request: Request):
    return pickup_answer(request.dbsession, require_hold(request))


def require_hold(request: Request) -> Hold:
    row = request.dbsession.get(Hold, request.validated["hold_id"])
    if row is None:
        raise ApiError(404, "Hold not found", "not_found")
    return row


def _date(body: dict, name: str) -> dt.date | None:
    return HOLD.by_name[name].from_api(body.get(name)) if name in HOLD.by_name else None


def _day_of(value: str) -> dt.date:
    """The day of a date-time as the client wrote it (Koha keeps only the date part); VuFind
    sends ``2026-01-31 23:59:59``, others RFC 3339."""
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        raise ApiError(400, f"suspended_until: not a date-time: {value!r}", "invalid_value") from None


def refusal(what: str, exc: circulation.CirculationError, status: int = 403) -> ApiError:
    if exc.code in NOT_FOUND_CODES:
        status = 400
    # Koha's text exactly: integrators (VuFind's KohaRest) match it
    return ApiError(status, f"{what}. Reason: {exc.code}", exc.code, details=exc.message)


@lowest_priority.operation("PUT", permission="reserveforothers:modify_holds_priority", summary="Toggle a hold's lowest priority flag",
                           description="A hold with the flag stays at the end of its record's queue; the "
                                       "answer is the flag afterwards (1 or 0).",
                           parameters=[HOLD_ID], responses={200: {"type": "integer", "enum": [0, 1]}, 409: ERROR_REF})
def toggle_lowest_priority(request: Request):
    row = require_hold(request)
    try:
        row.lowestPriority = not row.lowestPriority
        if row.lowestPriority:
            hold_queue.set_priority(request.dbsession, row, 2**31 - 1)
    except circulation.CirculationError as exc:
        raise refusal("Priority cannot be changed", exc, status=409) from None
    request.dbsession.flush()
    return int(row.lowestPriority)


SERVICES = [holds, hold, suspension, priority, pickup_location, pickup_locations, lowest_priority]
