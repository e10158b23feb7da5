"""``/checkouts`` and ``/checkouts/{checkout_id}`` (Koha's issues; ``checked_in=true`` lists the
finished ones from old_issues)."""

from __future__ import annotations

from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import select

from ... import circulation
from ...models import Checkout, Library, OldCheckout
from ..errors import ApiError
from ..listing import Field, Resource
from ..service import ApiService, path, query


def _resource(model: type) -> Resource:
    return Resource("checkout", model, [
        Field("checkout_id", model.issue_id, "integer", nullable=False),
        Field("patron_id", model.borrowernumber, "integer", nullable=model is OldCheckout),
        Field("item_id", model.itemnumber, "integer", nullable=model is OldCheckout),
        Field("library_id", model.branchcode, "string"),
        Field("checkout_date", model.issuedate, "date-time", nullable=False),
        Field("due_date", model.date_due, "date-time", nullable=False),
        Field("last_renewed_date", model.lastreneweddate, "date-time"),
        Field("checkin_date", model.returndate, "date-time"),
        Field("renewals_count", model.renewals_count, "integer", nullable=False),
        Field("auto_renew", model.auto_renew, "boolean", nullable=False),
        Field("onsite_checkout", model.onsite_checkout, "boolean", nullable=False),
        Field("note", model.note, "string"),
        Field("timestamp", model.timestamp, "date-time", nullable=False),
    ], id_field="checkout_id")


CHECKOUT = _resource(Checkout)
OLD_CHECKOUT = _resource(OldCheckout)
# one schema for both tables: the ids of finished checkouts may be null (patron anonymised)
SCHEMA = OLD_CHECKOUT.schema()

checkouts = ApiService("checkouts", "/checkouts", description="Checkouts (loans)")
checkout = ApiService("checkout", "/checkouts/{checkout_id}", tag="checkouts")


@checkouts.operation("GET", permission="circulate", summary="List checkouts",
                     parameters=[*CHECKOUT.list_params(),
                                 query("checked_in", "boolean", "true: finished checkouts (old_issues)")],
                     responses={200: {"type": "array", "items": SCHEMA}},
                     response_headers=CHECKOUT.headers_schema())
def list_checkouts(request: Request):
    resource = OLD_CHECKOUT if request.validated.get("checked_in") else CHECKOUT
    return resource.list(request, select(resource.model))


@checkout.operation("GET", permission="circulate", summary="Get a checkout (current or finished)",
                    parameters=[path("checkout_id")], responses={200: SCHEMA})
def get_checkout(request: Request):
    checkout_id = request.validated["checkout_id"]
    row = request.dbsession.get(Checkout, checkout_id)
    if row is not None:
        return CHECKOUT.to_api(row)
    row = request.dbsession.get(OldCheckout, checkout_id)
    if row is None:
        raise ApiError(404, "Checkout not found", "not_found")
    return OLD_CHECKOUT.to_api(row)


renewal = ApiService("checkout_renewal", "/checkouts/{checkout_id}/renewal", tag="checkouts")
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


@checkouts.operation("POST", permission="circulate", summary="Check an item out to a patron",
                     description="Refusals by the circulation rules are 403 with Koha's reason code "
                                 "(CanBookBeIssued) as error_code.",
                     body=CHECKOUT_BODY, responses={201: SCHEMA})
def add_checkout(request: Request):
    body = request.validated["body"]
    library_id = body.get("library_id")
    if library_id is not None and request.dbsession.get(Library, library_id) is None:
        raise ApiError(400, f"Unknown library {library_id!r}", "invalid_value")
    due = CHECKOUT.by_name["due_date"].from_api(body.get("due_date"))
    try:
        created = circulation.checkout(request.dbsession, body["patron_id"], int(body["item_id"]),
                                       branchcode=library_id, due=due, catalog=request.catalog)
    except circulation.CirculationError as exc:
        raise _refusal("Checkout not allowed", exc) from None
    response = Response(status=201, json_body=CHECKOUT.to_api(created))
    response.location = request.route_url("api:checkout", checkout_id=created.issue_id)
    return response


@renewal.operation("POST", permission="circulate", summary="Renew a checkout",
                   parameters=[path("checkout_id")], responses={201: SCHEMA})
def renew_checkout(request: Request):
    row = request.dbsession.get(Checkout, request.validated["checkout_id"])
    if row is None:
        raise ApiError(404, "Checkout not found", "not_found")
    try:
        renewed = circulation.renew(request.dbsession, row, catalog=request.catalog)
    except circulation.CirculationError as exc:
        raise _refusal("Renewal not allowed", exc) from None
    return Response(status=201, json_body=CHECKOUT.to_api(renewed))


def _refusal(what: str, exc: circulation.CirculationError) -> ApiError:
    status = 400 if exc.code in NOT_FOUND_CODES else 403
    return ApiError(status, f"{what}. Reason: {exc.code} ({exc.message})", exc.code)


SERVICES = [checkouts, checkout, renewal]
