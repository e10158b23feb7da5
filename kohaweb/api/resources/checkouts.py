"""``/checkouts`` (Koha's issues; ``checked_in=true`` lists the finished ones from old_issues),
a checkout's renewals (``/renewal``, ``/renewals``, ``/allows_renewal``) and
``/checkouts/availability`` (would this loan be allowed, and why not)."""

from __future__ import annotations

from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import select

from ... import circulation
from ...models import Checkout, Item, Library, OldCheckout, Patron
from ...models.circulation import CheckoutRenewal
from ..embeds import Embed, resource_of
from ..errors import ApiError
from ..library_context import acting_library
from ..listing import Field, Resource
from ..service import ApiService, path, query

RENEWAL = Resource("renewal", CheckoutRenewal, [
    Field("renewal_id", CheckoutRenewal.renewal_id, "integer", nullable=False),
    Field("checkout_id", CheckoutRenewal.checkout_id, "integer", nullable=False),
    Field("renewer_id", CheckoutRenewal.renewer_id, "integer"),
    Field("seen", CheckoutRenewal.seen, "boolean", nullable=False),
    Field("interface", CheckoutRenewal.interface, "string", nullable=False),
    Field("timestamp", CheckoutRenewal.timestamp, "date-time", nullable=False),
    Field("renewal_type", CheckoutRenewal.renewal_type, "string", nullable=False),
], id_field="renewal_id")
RENEWAL.embeds = (
    Embed("renewer", resource_of("patrons", "PATRON"),
          lambda s, row: s.get(Patron, row.renewer_id) if row.renewer_id is not None else None,
          link=lambda: Patron.borrowernumber == CheckoutRenewal.renewer_id),
)


def _external_id(row) -> dict:
    """Koha's checkout.external_id: the barcode of the item checked out."""
    from sqlalchemy.orm import object_session

    session = object_session(row)
    barcode = None
    if session is not None and row.itemnumber is not None:
        barcode = session.scalar(select(Item.barcode).where(Item.itemnumber == row.itemnumber))
    return {"external_id": barcode}


def _resource(model: type) -> Resource:
    resource = Resource("checkout", model, [
        Field("checkout_id", model.issue_id, "integer", nullable=False),
        Field("patron_id", model.borrowernumber, "integer", nullable=model is OldCheckout),
        Field("item_id", model.itemnumber, "integer", nullable=model is OldCheckout),
        Field("library_id", model.branchcode, "string"),
        Field("checkout_date", model.issuedate, "date-time", nullable=False),
        Field("due_date", model.date_due, "date-time", nullable=False),
        Field("last_renewed_date", model.lastreneweddate, "date-time"),
        Field("checkin_date", model.returndate, "date-time"),
        Field("renewals_count", model.renewals_count, "integer", nullable=False),
        Field("unseen_renewals", model.unseen_renewals, "integer", nullable=False),
        Field("auto_renew", model.auto_renew, "boolean", nullable=False),
        Field("auto_renew_error", model.auto_renew_error, "string"),
        Field("onsite_checkout", model.onsite_checkout, "boolean", nullable=False),
        Field("note", model.note, "string"),
        Field("note_date", model.note_date, "date"),
        Field("note_seen", model.note_seen, "boolean"),
        Field("issuer_id", model.issuer_id, "integer"),
        Field("timestamp", model.timestamp, "date-time", nullable=False),
    ], id_field="checkout_id", strings={"library_id": "library"}, extra=_external_id,
        extra_schema={"external_id": {"type": ["string", "null"]}})
    resource.embeds = (
        Embed("item", resource_of("items", "ITEM"),
              lambda s, row: s.get(Item, row.itemnumber) if row.itemnumber is not None else None,
              link=lambda: Item.itemnumber == model.itemnumber),
        Embed("patron", resource_of("patrons", "PATRON"),
              lambda s, row: s.get(Patron, row.borrowernumber) if row.borrowernumber is not None else None,
              link=lambda: Patron.borrowernumber == model.borrowernumber),
        Embed("issuer", resource_of("patrons", "PATRON"),
              lambda s, row: s.get(Patron, row.issuer_id) if row.issuer_id is not None else None,
              link=lambda: Patron.borrowernumber == model.issuer_id),
        Embed("library", resource_of("libraries", "LIBRARY"),
              lambda s, row: s.get(Library, row.branchcode) if row.branchcode else None,
              link=lambda: Library.branchcode == model.branchcode),
        Embed("renewals", lambda: RENEWAL, many=True,
              load=lambda s, row: s.scalars(select(CheckoutRenewal)
                                            .where(CheckoutRenewal.checkout_id == row.issue_id)
                                            .order_by(CheckoutRenewal.renewal_id)).all(),
              link=lambda: CheckoutRenewal.checkout_id == model.issue_id),
    )
    return resource


CHECKOUT = _resource(Checkout)
OLD_CHECKOUT = _resource(OldCheckout)
# one schema for both tables: the ids of finished checkouts may be null (patron anonymised)
SCHEMA = OLD_CHECKOUT.schema()
CHECKOUT_ID = path("checkout_id")

checkouts = ApiService("checkouts", "/checkouts", description="Checkouts (loans)")
checkout = ApiService("checkout", "/checkouts/{checkout_id}", tag="checkouts")
renewal = ApiService("checkout_renewal", "/checkouts/{checkout_id}/renewal", tag="checkouts")
renewals = ApiService("checkout_renewals", "/checkouts/{checkout_id}/renewals", tag="checkouts")
allows_renewal = ApiService("checkout_allows_renewal", "/checkouts/{checkout_id}/allows_renewal",
                            tag="checkouts")
availability = ApiService("checkout_availability", "/checkouts/availability", tag="checkouts")


@checkouts.operation("GET", permission="circulate:circulate_remaining_permissions", summary="List checkouts",
                     parameters=[*CHECKOUT.list_params(),
                                 query("checked_in", "boolean", "true: finished checkouts (old_issues)")],
                     responses={200: {"type": "array", "items": SCHEMA}},
                     response_headers=CHECKOUT.headers_schema())
def list_checkouts(request: Request):
    resource = OLD_CHECKOUT if request.validated.get("checked_in") else CHECKOUT
    return resource.list(request, select(resource.model))


@checkout.operation("GET", permission="circulate:circulate_remaining_permissions", summary="Get a checkout (current or finished)",
                    parameters=[CHECKOUT_ID, *CHECKOUT.embed_params()], responses={200: SCHEMA})
def get_checkout(request: Request):
    checkout_id = request.validated["checkout_id"]
    row = request.dbsession.get(Checkout, checkout_id)
    if row is not None:
        return CHECKOUT.render(request, row)
    row = request.dbsession.get(OldCheckout, checkout_id)
    if row is None:
        raise ApiError(404, "Checkout not found", "not_found")
    return OLD_CHECKOUT.render(request, row)


NOT_FOUND_CODES = {"PATRON_NOT_FOUND", "UNKNOWN_BARCODE"}
CHECKOUT_BODY = {
    "type": "object",
    "required": ["patron_id", "item_id"],
    "additionalProperties": False,
    "properties": {
        "patron_id": CHECKOUT.by_name["patron_id"].schema(),
        "item_id": CHECKOUT.by_name["item_id"].schema(),
        "library_id": {"type": ["string", "null"], "maxLength": 10},
        "due_date": {"type": ["string", "null"], "format": "date-time"},
    },
}


@checkouts.operation("POST", permission="circulate:circulate_remaining_permissions", summary="Check an item out to a patron",
                     description="Refusals by the circulation rules are 403 with Koha's reason code "
                                 "(CanBookBeIssued) as error_code.",
                     body=CHECKOUT_BODY, responses={201: SCHEMA})
def add_checkout(request: Request):
    body = request.validated["body"]
    library_id = body.get("library_id") or acting_library(request)
    if library_id is not None and request.dbsession.get(Library, library_id) is None:
        raise ApiError(400, f"Unknown library {library_id!r}", "invalid_value")
    due = CHECKOUT.by_name["due_date"].from_api(body.get("due_date"))
    try:
        created = circulation.checkout(request.dbsession, body["patron_id"], int(body["item_id"]),
                                       branchcode=library_id, due=due, catalog=request.catalog)
    except circulation.CirculationError as exc:
        raise _refusal("Checkout not allowed", exc) from None
    identity = request.kohaweb_identity
    created.issuer_id = identity.patron_id if identity is not None else None
    request.dbsession.flush()
    response = Response(status=201, json_body=CHECKOUT.to_api(created))
    response.location = request.route_url("api:checkout", checkout_id=created.issue_id)
    return response


SEEN = query("seen", {"type": "integer", "enum": [0, 1]}, "0: the item was not seen (an unseen renewal)")


def _renew(request: Request, location_route: str) -> Response:
    row = request.dbsession.get(Checkout, request.validated["checkout_id"])
    if row is None:
        raise ApiError(404, "Checkout not found", "not_found")
    identity = request.kohaweb_identity
    try:
        renewed = circulation.renew(request.dbsession, row, catalog=request.catalog,
                                    renewer_id=identity.patron_id if identity is not None else None,
                                    interface="api", seen=request.validated.get("seen", 1) == 1)
    except circulation.CirculationError as exc:
        # Koha's text exactly: VuFind and Aspen show it
        raise ApiError(403, f"Renewal not authorized ({exc.code})", exc.code, details=exc.message) from None
    response = Response(status=201, json_body=CHECKOUT.to_api(renewed))
    response.location = request.route_url(location_route, checkout_id=renewed.issue_id)
    return response


@renewal.operation("POST", permission="circulate:circulate_remaining_permissions", summary="Renew a checkout",
                   description="403 `Renewal not authorized (reason)` with Koha's CanBookBeRenewed reason.",
                   parameters=[CHECKOUT_ID, SEEN], responses={201: SCHEMA})
def renew_checkout(request: Request):
    return _renew(request, "api:checkout_renewal")


@renewals.operation("POST", permission="circulate:circulate_remaining_permissions", summary="Renew a checkout",
                    description="The same as POST /checkouts/{checkout_id}/renewal (Koha 23.11+ name).",
                    parameters=[CHECKOUT_ID, SEEN], responses={201: SCHEMA})
def renew_checkout_renewals(request: Request):
    return _renew(request, "api:checkout_renewals")


@renewals.operation("GET", permission="circulate:circulate_remaining_permissions", summary="List the renewals of a checkout",
                    parameters=[CHECKOUT_ID, *RENEWAL.list_params(exclude=["checkout_id"])],
                    responses={200: {"type": "array", "items": RENEWAL.schema()}},
                    response_headers=RENEWAL.headers_schema())
def list_renewals(request: Request):
    checkout_id = request.validated["checkout_id"]
    session = request.dbsession
    if session.get(Checkout, checkout_id) is None and session.get(OldCheckout, checkout_id) is None:
        raise ApiError(404, "Checkout not found", "not_found")
    return RENEWAL.list(request, select(CheckoutRenewal).where(CheckoutRenewal.checkout_id == checkout_id))


ALLOWS_RENEWAL = {
    "type": "object",
    "required": ["allows_renewal", "max_renewals", "current_renewals", "unseen_renewals", "error"],
    "additionalProperties": False,
    "properties": {
        "allows_renewal": {"type": "boolean"},
        "max_renewals": {"type": ["integer", "null"]},
        "current_renewals": {"type": "integer"},
        "unseen_renewals": {"type": "integer"},
        "error": {"type": ["string", "null"]},
    },
}


@allows_renewal.operation("GET", permission="circulate:circulate_remaining_permissions", summary="Whether a checkout can be renewed",
                          description="`error` is Koha's CanBookBeRenewed reason (too_many, on_reserve, "
                                      "too_soon, auto_renew, restriction, overdue, card_expired, "
                                      "onsite_checkout) or null.",
                          parameters=[CHECKOUT_ID], responses={200: ALLOWS_RENEWAL})
def get_allows_renewal(request: Request):
    session = request.dbsession
    row = session.get(Checkout, request.validated["checkout_id"])
    if row is None:
        raise ApiError(404, "Checkout not found", "not_found")
    error = None
    try:
        circulation.can_renew(session, row)
    except circulation.CirculationError as exc:
        error = exc.code
    return {"allows_renewal": error is None, "max_renewals": circulation.renewals_allowed(session, row),
            "current_renewals": row.renewals_count, "unseen_renewals": row.unseen_renewals or 0,
            "error": error}


AVAILABILITY = {
    "type": "object",
    "required": ["blockers", "confirms", "warnings", "confirmation_token"],
    "additionalProperties": False,
    "properties": {"blockers": {"type": "object"}, "confirms": {"type": "object"},
                   "warnings": {"type": "object"}, "confirmation_token": {"type": ["string", "null"]}},
}
# CanBookBeIssued answers that Koha lets staff confirm rather than blocking outright
CONFIRMABLE = {"RESERVE_WAITING", "ISSUED_TO_ANOTHER", "TOO_MANY"}


@availability.operation("GET", permission="circulate:circulate_remaining_permissions", summary="Whether an item can be checked out to a patron",
                        description="Koha's CanBookBeIssued as `blockers`, `confirms` and `warnings` "
                                    "(reason code -> detail).",
                        parameters=[query("patron_id", {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                                          required=True),
                                    query("item_id", {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                                          required=True),
                                    query("library_id", {"type": "string", "maxLength": 10})],
                        responses={200: AVAILABILITY})
def checkout_availability(request: Request):
    session = request.dbsession
    values = request.validated
    if session.get(Patron, values["patron_id"]) is None:
        raise ApiError(400, "Patron not found", "patron_not_found")
    if session.get(Item, values["item_id"]) is None:
        raise ApiError(400, "Item not found", "item_not_found")
    answer = {"blockers": {}, "confirms": {}, "warnings": {}, "confirmation_token": None}
    try:
        circulation.can_checkout(session, values["patron_id"], values["item_id"],
                                 branchcode=values.get("library_id") or acting_library(request))
    except circulation.CirculationError as exc:
        place = "confirms" if exc.code in CONFIRMABLE else "blockers"
        answer[place][exc.code] = exc.limit if exc.limit is not None else exc.message
    if answer["confirms"]:
        import hashlib

        answer["confirmation_token"] = hashlib.md5(  # noqa: S324 (a token, not a secret: Koha's form)
            ",".join(sorted(answer["confirms"])).encode()).hexdigest()
    return answer


def _refusal(what: str, exc: circulation.CirculationError) -> ApiError:
    status = 400 if exc.code in NOT_FOUND_CODES else 403
    return ApiError(status, f"{what}. Reason: {exc.code}", exc.code, details=exc.message)


SERVICES = [checkouts, availability, checkout, renewal, renewals, allows_renewal]
