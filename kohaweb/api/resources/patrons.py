"""``/patrons`` and ``/patrons/{patron_id}`` (read): Koha's patron fields. The password hash
is not a field of the resource, so no listing, filter or sort can ever reach it."""

from __future__ import annotations

import datetime as dt

from pyramid.request import Request
from sqlalchemy import select

from ...models import Patron
from ..errors import ApiError
from ..listing import Field, Resource
from ..service import ApiService, path


def _computed(patron: Patron) -> dict:
    # Koha: a patron is restricted while a debarment date lies in the future (or today)
    return {"restricted": patron.debarred is not None and patron.debarred >= dt.date.today()}


PATRON = Resource("patron", Patron, [
    Field("patron_id", Patron.borrowernumber, "integer", nullable=False),
    Field("cardnumber", Patron.cardnumber, "string"),
    Field("userid", Patron.userid, "string"),
    Field("surname", Patron.surname, "string"),
    Field("firstname", Patron.firstname, "string"),
    Field("title", Patron.title, "string"),
    Field("other_name", Patron.othernames, "string"),
    Field("initials", Patron.initials, "string"),
    Field("street_number", Patron.streetnumber, "string"),
    Field("address", Patron.address, "string"),
    Field("address2", Patron.address2, "string"),
    Field("city", Patron.city, "string"),
    Field("state", Patron.state, "string"),
    Field("postal_code", Patron.zipcode, "string"),
    Field("country", Patron.country, "string"),
    Field("email", Patron.email, "string"),
    Field("phone", Patron.phone, "string"),
    Field("mobile", Patron.mobile, "string"),
    Field("date_of_birth", Patron.dateofbirth, "date"),
    Field("library_id", Patron.branchcode, "string", nullable=False),
    Field("category_id", Patron.categorycode, "string", nullable=False),
    Field("date_enrolled", Patron.dateenrolled, "date"),
    Field("expiry_date", Patron.dateexpiry, "date"),
    Field("incorrect_address", Patron.gonenoaddress, "boolean", nullable=False),
    Field("patron_card_lost", Patron.lost, "boolean", nullable=False),
    Field("staff_notes", Patron.borrowernotes, "string"),
    Field("opac_notes", Patron.opacnote, "string"),
    Field("gender", Patron.sex, "string"),
    Field("lang", Patron.lang, "string", nullable=False),
    Field("privacy", Patron.privacy, "integer", nullable=False),
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


SERVICES = [patrons, patron]
