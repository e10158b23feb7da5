"""``/patrons`` and ``/patrons/{patron_id}`` (read): Koha's patron fields. The password hash
is not a field of the resource, so no listing, filter or sort can ever reach it."""

from __future__ import annotations

import datetime as dt

from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import func, select

from ...models import AccountLine, Checkout, Hold, Library, Patron, PatronAttribute, PatronCategory, utcnow
from ..embeds import Embed, resource_of
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
    Field("street_type", Patron.streettype, "string", writable=True),
    Field("secondary_email", Patron.emailpro, "string", writable=True),
    Field("secondary_phone", Patron.phonepro, "string", writable=True),
    Field("fax", Patron.fax, "string", writable=True),
    Field("sms_number", Patron.smsalertnumber, "string", writable=True, max_length=50),
    Field("preferred_name", Patron.preferred_name, "string", writable=True),
    Field("middle_name", Patron.middle_name, "string", writable=True),
    Field("pronouns", Patron.pronouns, "string", writable=True),
    Field("altaddress_street_number", Patron.B_streetnumber, "string", writable=True, max_length=10),
    Field("altaddress_street_type", Patron.B_streettype, "string", writable=True, max_length=50),
    Field("altaddress_address", Patron.B_address, "string", writable=True),
    Field("altaddress_address2", Patron.B_address2, "string", writable=True),
    Field("altaddress_city", Patron.B_city, "string", writable=True),
    Field("altaddress_state", Patron.B_state, "string", writable=True),
    Field("altaddress_postal_code", Patron.B_zipcode, "string", writable=True, max_length=25),
    Field("altaddress_country", Patron.B_country, "string", writable=True),
    Field("altaddress_email", Patron.B_email, "string", writable=True),
    Field("altaddress_phone", Patron.B_phone, "string", writable=True),
    Field("altaddress_notes", Patron.contactnote, "string", writable=True, max_length=255),
    Field("altcontact_firstname", Patron.altcontactfirstname, "string", writable=True),
    Field("altcontact_surname", Patron.altcontactsurname, "string", writable=True),
    Field("altcontact_address", Patron.altcontactaddress1, "string", writable=True),
    Field("altcontact_address2", Patron.altcontactaddress2, "string", writable=True),
    Field("altcontact_city", Patron.altcontactaddress3, "string", writable=True),
    Field("altcontact_state", Patron.altcontactstate, "string", writable=True),
    Field("altcontact_postal_code", Patron.altcontactzipcode, "string", writable=True, max_length=50),
    Field("altcontact_country", Patron.altcontactcountry, "string", writable=True),
    Field("altcontact_phone", Patron.altcontactphone, "string", writable=True, max_length=50),
    Field("statistics_1", Patron.sort1, "string", writable=True, max_length=80),
    Field("statistics_2", Patron.sort2, "string", writable=True, max_length=80),
    Field("relationship_type", Patron.relationship, "string", writable=True, max_length=100),
    Field("autorenew_checkouts", Patron.autorenew_checkouts, "boolean", nullable=False, writable=True),
    Field("check_previous_checkout", Patron.checkprevcheckout, "string", nullable=False, writable=True,
          extra={"enum": ["yes", "no", "inherit"]}),
    Field("primary_contact_method", Patron.primary_contact_method, "string", writable=True, max_length=45),
    Field("date_renewed", Patron.date_renewed, "date", writable=True),
    Field("anonymized", Patron.anonymized, "boolean", nullable=False),
    Field("protected", Patron.protected, "boolean", nullable=False, writable=True),
    Field("password_expiration_date", Patron.password_expiration_date, "date", writable=True),
    Field("privacy_guarantor_checkouts", Patron.privacy_guarantor_checkouts, "integer", nullable=False,
          writable=True, extra={"minimum": 0, "maximum": 1}),
    Field("privacy_guarantor_fines", Patron.privacy_guarantor_fines, "boolean", nullable=False, writable=True),
    Field("sms_provider_id", Patron.sms_provider_id, "integer", writable=True),
    Field("overdrive_auth_token", Patron.overdrive_auth_token, "string", writable=True),
], id_field="patron_id", extra=_computed, extra_schema={"restricted": {"type": "boolean"}},
   strings={"library_id": "library", "category_id": "patron_category"})
PATRON.embeds = (
    Embed("library", resource_of("libraries", "LIBRARY"), lambda s, row: s.get(Library, row.branchcode),
          link=lambda: Library.branchcode == Patron.branchcode),
    Embed("checkouts", resource_of("checkouts", "CHECKOUT"), many=True,
          load=lambda s, row: s.scalars(select(Checkout).where(Checkout.borrowernumber == row.borrowernumber)
                                        .order_by(Checkout.issue_id)).all(),
          link=lambda: Checkout.borrowernumber == Patron.borrowernumber),
    Embed("overdues", resource_of("checkouts", "CHECKOUT"), many=True,
          load=lambda s, row: s.scalars(select(Checkout).where(Checkout.borrowernumber == row.borrowernumber)
                                        .where(Checkout.date_due < utcnow()).order_by(Checkout.issue_id)).all()),
    Embed("holds", resource_of("holds", "HOLD"), many=True,
          load=lambda s, row: s.scalars(select(Hold).where(Hold.borrowernumber == row.borrowernumber)
                                        .order_by(Hold.reserve_id)).all(),
          link=lambda: Hold.borrowernumber == Patron.borrowernumber),
    Embed("account_balance", value=lambda s, row: account_balance(s, row.borrowernumber),
          value_schema={"type": "number"}),
    Embed("extended_attributes", value=lambda s, row: extended_attributes(s, row.borrowernumber),
          value_schema={"type": "array", "items": {"type": "object"}}),
)


def account_balance(session, patron_id: int) -> float:
    """What the patron owes (debits outstanding minus unused credits), as Koha's balance."""
    total = session.scalar(select(func.coalesce(func.sum(AccountLine.amountoutstanding), 0))
                           .where(AccountLine.borrowernumber == patron_id))
    return float(total or 0)


def extended_attributes(session, patron_id: int) -> list[dict]:
    """Koha's patron_extended_attribute objects: extended_attribute_id, type, value."""
    rows = session.scalars(select(PatronAttribute).where(PatronAttribute.borrowernumber == patron_id)
                           .order_by(PatronAttribute.id)).all()
    return [{"extended_attribute_id": r.id, "type": r.code, "value": r.attribute} for r in rows]

patrons = ApiService("patrons", "/patrons", description="Patrons (borrowers)")
patron = ApiService("patron", "/patrons/{patron_id}", tag="patrons")


@patrons.operation("GET", permission="borrowers:list_borrowers", summary="List patrons", parameters=PATRON.list_params(),
                   responses={200: {"type": "array", "items": PATRON.schema()}},
                   response_headers=PATRON.headers_schema())
def list_patrons(request: Request):
    return PATRON.list(request, select(Patron))


@patron.operation("GET", permission="borrowers:list_borrowers", summary="Get a patron",
                  parameters=[path("patron_id"), *PATRON.embed_params()],
                  responses={200: PATRON.schema()})
def get_patron(request: Request):
    row = request.dbsession.get(Patron, request.validated["patron_id"])
    if row is None:
        raise ApiError(404, "Patron not found", "not_found")
    return PATRON.render(request, row)


PATRON_ID = path("patron_id")


@patrons.operation("POST", permission="borrowers:edit_borrowers", summary="Add a patron",
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


@patron.operation("DELETE", permission="borrowers:delete_borrowers", summary="Delete a patron",
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
