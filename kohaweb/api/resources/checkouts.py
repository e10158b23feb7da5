"""``/checkouts`` and ``/checkouts/{checkout_id}`` (Koha's issues; ``checked_in=true`` lists the
finished ones from old_issues)."""

from __future__ import annotations

from pyramid.request import Request
from sqlalchemy import select

from ...models import Checkout, OldCheckout
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


SERVICES = [checkouts, checkout]
