"""Koha's public (OPAC) routes for a patron's own account: holds (list, place, cancel, change
pickup location), checkouts, password, and the guarantor visibility choices.

The caller is the patron, signed in by any of the API's means (session, HTTP Basic where
enabled, a bearer token of the patron's API key): no credentials answer 401, another patron's
path 403 (``Unprivileged user cannot access another user's resources``), as in Koha, whatever
staff permissions the caller has. Holds placed here follow the circulation rules with no
override, and only on records the patron may see (kohaweb.visibility).
"""

from __future__ import annotations

from pyramid.httpexceptions import HTTPForbidden
from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import select

from ... import auth, circulation, hold_queue, visibility
from ...models import Biblio, Checkout, Hold, Item, Library, OldCheckout, Patron
from ...preferences import get_preference
from ..errors import ApiError
from ..library_context import acting_library
from ..openapi import ERROR_REF
from ..service import ApiService, path, query
from .checkouts import CHECKOUT, OLD_CHECKOUT
from .checkouts import SCHEMA as CHECKOUT_SCHEMA
from .holds import HOLD, PICKUP_BODY, refusal
from .patron_services import PASSWORD, change_password

PATRON_ID = path("patron_id")
HOLD_ID = path("hold_id")
REFUSALS = {401: ERROR_REF, 403: ERROR_REF}

own_holds = ApiService("public_patron_holds", "/public/patrons/{patron_id}/holds", tag="holds")
own_hold = ApiService("public_patron_hold", "/public/patrons/{patron_id}/holds/{hold_id}", tag="holds")
own_pickup = ApiService("public_hold_pickup_location", "/public/holds/{hold_id}/pickup_location", tag="holds")
own_checkouts = ApiService("public_patron_checkouts", "/public/patrons/{patron_id}/checkouts", tag="checkouts")
checkout_availability = ApiService("public_checkout_availability", "/public/checkouts/availability",
                                   tag="checkouts")
own_password = ApiService("public_patron_password", "/public/patrons/{patron_id}/password", tag="patrons")
can_see_charges = ApiService("public_guarantors_can_see_charges",
                             "/public/patrons/{patron_id}/guarantors/can_see_charges", tag="patrons")
can_see_checkouts = ApiService("public_guarantors_can_see_checkouts",
                               "/public/patrons/{patron_id}/guarantors/can_see_checkouts", tag="patrons")


def the_patron_themself(request: Request) -> None:
    """``authorize`` of the routes under /public/patrons/{patron_id}: only that patron."""
    identity = request.kohaweb_identity
    if identity is None:
        raise HTTPForbidden()  # the core answers 401 with WWW-Authenticate
    if identity.patron_id != request.validated["patron_id"]:
        raise ApiError(403, "Unprivileged user cannot access another user's resources", "forbidden")


def signed_in(request: Request) -> None:
    if request.kohaweb_identity is None:
        raise HTTPForbidden()


def _patron(request: Request) -> Patron:
    return request.dbsession.get(Patron, request.kohaweb_identity.patron_id)


@own_holds.operation("GET", permission=None, summary="List my holds", authorize=the_patron_themself,
                     parameters=[PATRON_ID, *HOLD.list_params(exclude=["patron_id"])],
                     responses={200: {"type": "array", "items": HOLD.schema()}, **REFUSALS},
                     response_headers=HOLD.headers_schema())
def list_own_holds(request: Request):
    return HOLD.list(request, select(Hold).where(Hold.borrowernumber == request.validated["patron_id"]))


PLACE_BODY = {
    "type": "object", "required": ["pickup_library_id"], "additionalProperties": False,
    "anyOf": [{"required": ["biblio_id"]}, {"required": ["item_id"]}],
    "properties": {
        "biblio_id": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
        "item_id": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
        "pickup_library_id": {"type": "string", "maxLength": 10},
        "expiration_date": {"type": ["string", "null"], "format": "date"},
        "notes": {"type": ["string", "null"], "maxLength": 65535},
    },
}


@own_holds.operation("POST", permission=None, summary="Place a hold for myself", authorize=the_patron_themself,
                     description="On a record (or an item of a record) the patron may see; the circulation "
                                 "rules apply with no override (403 with Koha's reason code). Refused when "
                                 "the OPAC does not take holds (RequestOnOpac = 0).",
                     parameters=[PATRON_ID], body=PLACE_BODY, responses={201: HOLD.schema(), **REFUSALS})
def place_own_hold(request: Request):
    session = request.dbsession
    body = request.validated["body"]
    if get_preference(session, "RequestOnOpac", "1") == "0":
        raise ApiError(403, "Holds are not allowed in the OPAC", "holds_not_allowed")
    viewer = visibility.viewer_for(request, staff_permission=None)
    item_id, biblio_id = body.get("item_id"), body.get("biblio_id")
    if item_id is not None:
        item = circulation.find_item(session, item_id)
        if item is None or not viewer.sees_item(item) or (biblio_id is not None and item.biblionumber != biblio_id):
            raise ApiError(400, "Item not found", "item_not_found")
        biblio_id = item.biblionumber
    biblio = session.get(Biblio, biblio_id)
    if biblio is None or not viewer.sees_record(biblio):
        raise ApiError(400, "Bibliographic record not found", "biblio_not_found")
    try:
        created = circulation.place_hold(
            session, request.validated["patron_id"], biblio, item=item_id, pickup_branch=body["pickup_library_id"],
            expirationdate=HOLD.by_name["expiration_date"].from_api(body.get("expiration_date")),
            notes=body.get("notes"))
    except circulation.CirculationError as exc:
        raise refusal("Hold cannot be placed", exc) from None
    response = Response(status=201, json_body=HOLD.to_api(created))
    response.location = request.route_url("api:public_patron_hold", patron_id=created.borrowernumber,
                                          hold_id=created.reserve_id)
    return response


@own_hold.operation("DELETE", permission=None, summary="Cancel my hold", authorize=the_patron_themself,
                    description="204: cancelled, while the hold is neither waiting nor in transit. 202: the "
                                "hold is waiting and the circulation rule waiting_hold_cancellation lets the "
                                "patron ask for its cancellation: the request is recorded for staff. "
                                "Otherwise 403.",
                    parameters=[PATRON_ID, HOLD_ID], responses={202: None, 204: None, **REFUSALS})
def cancel_own_hold(request: Request):
    from .hold_cancellations import patron_cancel

    row = request.dbsession.get(Hold, request.validated["hold_id"])
    if row is None or row.borrowernumber != request.validated["patron_id"]:
        raise ApiError(404, "Hold not found", "not_found")
    return patron_cancel(request, row)


def _pickup_change_allowed(session, hold: Hold) -> bool:
    """Koha's OPACAllowUserToChangeBranch: the hold states (pending, intransit, suspended) in
    which patrons may move their pickup location (none when empty)."""
    allowed = {part.strip() for part in (get_preference(session, "OPACAllowUserToChangeBranch", "") or "")
               .split(",") if part.strip()}
    if hold.suspend and "suspended" in allowed:
        return True
    if hold.found == "T":
        return "intransit" in allowed
    return hold.found is None and "pending" in allowed


@own_pickup.operation("PUT", permission=None, summary="Change the pickup location of my hold", authorize=signed_in,
                      description="As far as OPACAllowUserToChangeBranch allows (pending, intransit, "
                                  "suspended), to a valid pickup location of the hold.",
                      parameters=[HOLD_ID], body=PICKUP_BODY, responses={200: PICKUP_BODY, **REFUSALS})
def change_own_pickup(request: Request):
    session = request.dbsession
    row = session.get(Hold, request.validated["hold_id"])
    if row is None or row.borrowernumber != request.kohaweb_identity.patron_id:
        raise ApiError(404, "Hold not found", "not_found")
    if not _pickup_change_allowed(session, row):
        raise ApiError(403, "Pickup location change not allowed", "pickup_change_not_allowed")
    try:
        hold_queue.change_pickup(session, row, request.validated["body"]["pickup_library_id"])
    except circulation.CirculationError as exc:
        raise refusal("The supplied pickup location is not valid", exc, status=400) from None
    return {"pickup_library_id": row.branchcode}


@own_checkouts.operation("GET", permission=None, summary="List my checkouts", authorize=the_patron_themself,
                         description="Current ones, or with `checked_in=true` the finished ones (kept unless "
                                     "the patron's privacy setting anonymised them).",
                         parameters=[PATRON_ID, *CHECKOUT.list_params(exclude=["patron_id"]),
                                     query("checked_in", "boolean", "true: finished checkouts")],
                         responses={200: {"type": "array", "items": CHECKOUT_SCHEMA}, **REFUSALS},
                         response_headers=CHECKOUT.headers_schema())
def list_own_checkouts(request: Request):
    patron_id = request.validated["patron_id"]
    if request.validated.get("checked_in"):
        return OLD_CHECKOUT.list(request, select(OldCheckout).where(OldCheckout.borrowernumber == patron_id))
    return CHECKOUT.list(request, select(Checkout).where(Checkout.borrowernumber == patron_id))


def _trusted_checkout(request: Request) -> None:
    if get_preference(request.dbsession, "OpacTrustedCheckout", "0") != "1":
        raise ApiError(403, "Self-checkout is not enabled (OpacTrustedCheckout)", "not_enabled")


def _availability(request: Request, patron_id: int, item_id: int) -> dict:
    from .checkouts import CONFIRMABLE

    answer: dict = {"blockers": {}, "confirms": {}, "warnings": {}, "confirmation_token": None}
    try:
        circulation.can_checkout(request.dbsession, patron_id, item_id)
    except circulation.CirculationError as exc:
        place = "confirms" if exc.code in CONFIRMABLE else "blockers"
        answer[place][exc.code] = exc.limit if exc.limit is not None else exc.message
    return answer


@checkout_availability.operation("GET", permission=None, summary="Whether I may check an item out myself",
                                 authorize=signed_in,
                                 description="For self-checkout (OpacTrustedCheckout): Koha's CanBookBeIssued as "
                                             "blockers, confirms and warnings. Self-checkout never confirms.",
                                 parameters=[query("item_id", {"type": "integer", "minimum": 1,
                                                               "maximum": 2**31 - 1}, required=True)],
                                 responses={200: {"type": "object", "required": ["blockers", "confirms", "warnings"],
                                                  "properties": {"blockers": {"type": "object"},
                                                                 "confirms": {"type": "object"},
                                                                 "warnings": {"type": "object"},
                                                                 "confirmation_token": {"type": ["string", "null"]}}},
                                            **REFUSALS})
def own_checkout_availability(request: Request):
    _trusted_checkout(request)
    item = request.dbsession.get(Item, request.validated["item_id"])
    if item is None or not visibility.viewer_for(request, staff_permission=None).sees_item(item):
        raise ApiError(400, "Item not found", "item_not_found")
    return _availability(request, request.kohaweb_identity.patron_id, item.itemnumber)


SELF_CHECKOUT = {"type": "object", "required": ["item_id"], "additionalProperties": False,
                 "properties": {"item_id": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                                "library_id": {"type": ["string", "null"], "maxLength": 10}}}


@own_checkouts.operation("POST", permission=None, summary="Check an item out to myself",
                         authorize=the_patron_themself,
                         description="Self-checkout when OpacTrustedCheckout is on; anything CanBookBeIssued "
                                     "blocks or would ask staff to confirm is refused (403, Koha's code).",
                         parameters=[PATRON_ID], body=SELF_CHECKOUT, responses={201: CHECKOUT_SCHEMA, **REFUSALS})
def self_checkout(request: Request):
    _trusted_checkout(request)
    body = request.validated["body"]
    item = request.dbsession.get(Item, body["item_id"])
    if item is None or not visibility.viewer_for(request, staff_permission=None).sees_item(item):
        raise ApiError(400, "Item not found", "item_not_found")
    library_id = body.get("library_id") or acting_library(request)
    if library_id is not None and request.dbsession.get(Library, library_id) is None:
        raise ApiError(400, f"Unknown library {library_id!r}", "invalid_value")
    try:
        made = circulation.checkout(request.dbsession, request.validated["patron_id"], item.itemnumber,
                                    branchcode=library_id, catalog=request.catalog)
    except circulation.CirculationError as exc:
        raise ApiError(403, f"Checkout not allowed. Reason: {exc.code}", exc.code, details=exc.message) from None
    made.issuer_id = request.kohaweb_identity.patron_id
    request.dbsession.flush()
    response = Response(status=201, json_body=CHECKOUT.to_api(made))
    response.location = request.route_url("api:public_patron_checkouts", patron_id=made.borrowernumber)
    return response


OWN_PASSWORD_BODY = {"type": "object", "required": ["password", "password_repeated", "old_password"],
                     "additionalProperties": False,
                     "properties": {"password": PASSWORD, "password_repeated": PASSWORD, "old_password": PASSWORD}}


@own_password.operation("POST", permission=None, summary="Change my password", authorize=the_patron_themself,
                        description="With the current password; refused when OpacPasswordChange is 0. Koha's "
                                    "password policy applies; every session and token of the patron ends.",
                        parameters=[PATRON_ID], body=OWN_PASSWORD_BODY, responses={200: {"type": "string"}, **REFUSALS})
def change_own_password(request: Request):
    session = request.dbsession
    if get_preference(session, "OpacPasswordChange", "1") == "0":
        raise ApiError(403, "Configuration prevents password changes by unprivileged users", "forbidden")
    body = request.validated["body"]
    patron = _patron(request)
    if not auth.verify_password(body["old_password"], patron.password):
        raise ApiError(400, "Invalid password", "invalid_password")
    if body["password"] != body["password_repeated"]:
        raise ApiError(400, "Passwords don't match", "passwords_mismatch")
    change_password(request, patron, body["password"])
    return ""


ALLOWED = {"type": "object", "required": ["allowed"], "additionalProperties": False,
           "properties": {"allowed": {"type": "boolean"}}}


def _guarantor_choice(request: Request, preference: str, column: str):
    if get_preference(request.dbsession, preference, "0") != "1":
        raise ApiError(403, "The current configuration doesn't allow the requested action.", "forbidden")
    setattr(_patron(request), column, request.validated["body"]["allowed"])
    request.dbsession.flush()
    return {}


@can_see_charges.operation("PUT", permission=None, summary="Let my guarantors see my charges (or not)",
                           authorize=the_patron_themself, parameters=[PATRON_ID], body=ALLOWED,
                           responses={200: {"type": "object"}, **REFUSALS})
def set_can_see_charges(request: Request):
    return _guarantor_choice(request, "AllowPatronToSetFinesVisibilityForGuarantor", "privacy_guarantor_fines")


@can_see_checkouts.operation("PUT", permission=None, summary="Let my guarantors see my checkouts (or not)",
                             authorize=the_patron_themself, parameters=[PATRON_ID], body=ALLOWED,
                             responses={200: {"type": "object"}, **REFUSALS})
def set_can_see_checkouts(request: Request):
    return _guarantor_choice(request, "AllowPatronToSetCheckoutsVisibilityForGuarantor",
                             "privacy_guarantor_checkouts")


SERVICES = [own_holds, own_hold, own_pickup, own_checkouts, checkout_availability, own_password, can_see_charges,
            can_see_checkouts]
