"""``/patrons`` and ``/patrons/{patron_id}`` (read): Koha's patron fields. The password hash
is not a field of the resource, so no listing, filter or sort can ever reach it."""

from __future__ import annotations

import datetime as dt

from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import func, select

from ...models import Checkout, Library, Patron, PatronCategory
from ..errors import ApiError
from ..listing import Field, Resource
from ..openapi import ERROR_REF
from ..service import ApiService, path


def _computed(patron: Patron) -> dict:
    # Koha: a patron is restricted while a debarment date lies in the future (or today)
    return {"restricted": patron.debarred is not None and patron.debarred >= dt.date.today()}


PATRON = Resource("patron", Patron, [
    Field("patron_id", Patron.borrowernumber, "integer", nullable=False),
    Field("cardnumber", Patron.cardnumber, "string", writable=True, max_length=32),
    Field("userid", Patron.userid, "string", writable=True, max_length=75),
    Field("surname", Patron.surname, "string", writable=True),
    Field("firstname", Patron.firstname, "string", writable=True),
    Field("title", Patron.title, "string", writable=True),
    Field("other_name", Patron.othernames, "string", writable=True),
    Field("initials", Patron.initials, "string", writable=True),
    Field("street_number", Patron.streetnumber, "string", writable=True, max_length=10),
    Field("address", Patron.address, "string", writable=True),
    Field("address2", Patron.address2, "string", writable=True),
    Field("city", Patron.city, "string", writable=True),
    Field("state", Patron.state, "string", writable=True),
    Field("postal_code", Patron.zipcode, "string", writable=True, max_length=25),
    Field("country", Patron.country, "string", writable=True),
    Field("email", Patron.email, "string", writable=True),
    Field("phone", Patron.phone, "string", writable=True),
    Field("mobile", Patron.mobile, "string", writable=True, max_length=50),
    Field("date_of_birth", Patron.dateofbirth, "date", writable=True),
    Field("library_id", Patron.branchcode, "string", nullable=False, writable=True, max_length=10),
    Field("category_id", Patron.categorycode, "string", nullable=False, writable=True, max_length=10),
    Field("date_enrolled", Patron.dateenrolled, "date", writable=True),
    Field("expiry_date", Patron.dateexpiry, "date", writable=True),
    Field("incorrect_address", Patron.gonenoaddress, "boolean", nullable=False, writable=True),
    Field("patron_card_lost", Patron.lost, "boolean", nullable=False, writable=True),
    Field("staff_notes", Patron.borrowernotes, "string", writable=True),
    Field("opac_notes", Patron.opacnote, "string", writable=True),
    Field("gender", Patron.sex, "string", writable=True, max_length=1),
    Field("lang", Patron.lang, "string", nullable=False, writable=True, max_length=25),
    Field("privacy", Patron.privacy, "integer", nullable=False, writable=True),
    Field("login_attempts", Patron.login_attempts, "integer", nullable=False),
    Field("last_seen", Patron.lastseen, "date-time"),
    Field("updated_on", Patron.updated_on, "date-time", nullable=False),
], id_field="patron_id", extra=_computed, extra_schema={"restricted": {"type": "boolean"}})

patrons = ApiService("patrons", "/patrons", description="Patrons (borrowers)")
patron = ApiService("patron", "/patrons/{patron_id}", tag="patrons")


@patrons.operation("GET", permission="borrowers", summary="List patrons", parameters=PATRON.list_params(),
                   responses={200: {"type": "array", "items": PATRON.schema()}},
                   response_headers=PATRON.headers_schema())
def list_patrons(request: Request):
    return PATRON.list(request, select(Patron))


@patron.operation("GET", permission="borrowers", summary="Get a patron", parameters=[path("patron_id")],
                  responses={200: PATRON.schema()})
def get_patron(request: Request):
    row = request.dbsession.get(Patron, request.validated["patron_id"])
    if row is None:
        raise ApiError(404, "Patron not found", "not_found")
    return PATRON.to_api(row)


PATRON_ID = path("patron_id")


@patrons.operation("POST", permission="borrowers", summary="Add a patron",
                   description="Passwords are set elsewhere (never through this resource).",
                   body=PATRON.write_schema(required=["surname", "library_id", "category_id"]),
                   responses={201: PATRON.schema(), 409: ERROR_REF})
def add_patron(request: Request):
    values = _checked_values(request)
    row = Patron(**values)
    request.dbsession.add(row)
    request.dbsession.flush()
    response = Response(status=201, json_body=PATRON.to_api(row))
    response.location = request.route_url("api:patron", patron_id=row.borrowernumber)
    return response


@patron.operation("PUT", permission="borrowers", summary="Update a patron",
                  description="Sets the fields given; the others keep their values.",
                  parameters=[PATRON_ID], body=PATRON.write_schema(), responses={200: PATRON.schema(), 409: ERROR_REF})
def update_patron(request: Request):
    row = _require(request)
    for key, value in _checked_values(request, row.borrowernumber).items():
        setattr(row, key, value)
    request.dbsession.flush()
    return PATRON.to_api(row)


@patron.operation("DELETE", permission="borrowers", summary="Delete a patron",
                  description="Refused (409) while the patron has items checked out.",
                  parameters=[PATRON_ID], responses={204: None, 409: ERROR_REF})
def delete_patron(request: Request):
    row = _require(request)
    loans = request.dbsession.scalar(select(func.count()).select_from(Checkout)
                                     .where(Checkout.borrowernumber == row.borrowernumber))
    if loans:
        raise ApiError(409, f"The patron has {loans} checkout(s)", "has_checkouts")
    request.dbsession.delete(row)
    request.dbsession.flush()
    return Response(status=204)


def _require(request: Request) -> Patron:
    row = request.dbsession.get(Patron, request.validated["patron_id"])
    if row is None:
        raise ApiError(404, "Patron not found", "not_found")
    return row


def _checked_values(request: Request, patron_id: int | None = None) -> dict:
    """Columns from the body: library and category must exist, cardnumber and userid stay unique
    (case-insensitively, as logins are matched)."""
    values = PATRON.columns_from_api(request.validated["body"])
    session = request.dbsession
    for column, model, label in (("branchcode", Library, "library"), ("categorycode", PatronCategory, "category")):
        if column in values and (values[column] is None or session.get(model, values[column]) is None):
            raise ApiError(400, f"Unknown {label} {values[column]!r}", "invalid_value")
    for column in ("cardnumber", "userid"):
        value = values.get(column)
        if value is None:
            continue
        attribute = getattr(Patron, column)
        other = session.scalar(select(Patron.borrowernumber).where(func.lower(attribute) == value.lower()))
        if other is not None and other != patron_id:
            raise ApiError(409, f"The {column} {value!r} is already in use", f"duplicate_{column}")
    return values


SERVICES = [patrons, patron]
