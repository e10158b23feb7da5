"""``/libraries`` (Koha's branches): list and get (permission catalogue); add, update and
delete (Koha's ``parameters: manage_libraries``, here the ``parameters`` flag)."""

from __future__ import annotations

import copy

from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError

from ...models import Checkout, CirculationRule, Hold, Item, Library, Patron
from ..errors import ApiError
from ..listing import Field, Resource
from ..openapi import ERROR_REF
from ..service import ApiService, path

LIBRARY = Resource("library", Library, [
    Field("library_id", Library.branchcode, "string", nullable=False, writable=True, max_length=10),
    Field("name", Library.branchname, "string", nullable=False, writable=True),
    Field("address1", Library.branchaddress1, "string", writable=True),
    Field("address2", Library.branchaddress2, "string", writable=True),
    Field("address3", Library.branchaddress3, "string", writable=True),
    Field("postal_code", Library.branchzip, "string", writable=True, max_length=25),
    Field("city", Library.branchcity, "string", writable=True),
    Field("state", Library.branchstate, "string", writable=True),
    Field("country", Library.branchcountry, "string", writable=True),
    Field("phone", Library.branchphone, "string", writable=True),
    Field("email", Library.branchemail, "string", writable=True),
    Field("url", Library.branchurl, "string", writable=True),
    Field("notes", Library.branchnotes, "string", writable=True),
    Field("marc_org_code", Library.marcorgcode, "string", writable=True, max_length=16),
    Field("pickup_location", Library.pickup_location, "boolean", nullable=False, writable=True),
    Field("public", Library.public, "boolean", nullable=False, writable=True),
], id_field="library_id")


def _library_body() -> dict:
    """Koha's library object as a request body: ``library_id`` (1-10 characters) and ``name``
    are required, for PUT as for POST."""
    schema = copy.deepcopy(LIBRARY.write_schema(required=["library_id", "name"]))
    schema["properties"]["library_id"]["minLength"] = 1
    return schema


LIBRARY_BODY = _library_body()
LIBRARY_ID = path("library_id", {"type": "string", "maxLength": 10})

libraries = ApiService("libraries", "/libraries", description="Libraries (branches)")
library = ApiService("library", "/libraries/{library_id}", tag="libraries")


@libraries.operation("GET", permission="catalogue", summary="List libraries",
                     parameters=LIBRARY.list_params(),
                     responses={200: {"type": "array", "items": LIBRARY.schema()}},
                     response_headers=LIBRARY.headers_schema())
def list_libraries(request: Request):
    return LIBRARY.list(request, select(Library))


@library.operation("GET", permission="catalogue", summary="Get a library", parameters=[LIBRARY_ID],
                   responses={200: LIBRARY.schema()})
def get_library(request: Request):
    return LIBRARY.to_api(_require(request))


@libraries.operation("POST", permission="parameters:manage_libraries", summary="Add a library",
                     description="409 (with `conflict`, as Koha) when the library_id is taken.",
                     body=LIBRARY_BODY, responses={201: LIBRARY.schema(), 409: ERROR_REF})
def add_library(request: Request):
    values = LIBRARY.columns_from_api(request.validated["body"])
    code = values["branchcode"]
    session = request.dbsession
    # Koha's codes are compared case-insensitively (MySQL collations): "cpl" is taken when "CPL" is
    taken = session.scalar(select(Library.branchcode).where(func.lower(Library.branchcode) == code.lower()))
    if taken is None:
        session.add(Library(**values))
        try:
            session.flush()
        except IntegrityError:  # a concurrent add, or a code the database's collation finds equal
            taken = code
    if taken is not None:
        raise ApiError(409, f"Duplicate ID: library {taken!r} already exists", "duplicate_id", conflict=taken)
    row = session.get(Library, code)
    response = Response(status=201, json_body=LIBRARY.to_api(row))
    response.location = request.route_url("api:library", library_id=row.branchcode)
    return response


@library.operation("PUT", permission="parameters:manage_libraries", summary="Update a library",
                   description="Sets the fields given; the others keep their values. The library_id "
                               "cannot be changed (it must be the one in the path).",
                   parameters=[LIBRARY_ID], body=LIBRARY_BODY, responses={200: LIBRARY.schema()})
def update_library(request: Request):
    row = _require(request)
    values = LIBRARY.columns_from_api(request.validated["body"])
    if values.pop("branchcode") != row.branchcode:
        raise ApiError(400, "Invalid parameter value", "invalid_parameter_value", path="/body/library_id",
                       values={"library_id": row.branchcode})
    for key, value in values.items():
        setattr(row, key, value)
    request.dbsession.flush()
    return LIBRARY.to_api(row)


@library.operation("DELETE", permission="parameters:manage_libraries", summary="Delete a library",
                   description="Refused (409, `library_in_use`) while items, patrons, holds or checkouts "
                               "refer to the library; its circulation rules go with it.",
                   parameters=[LIBRARY_ID], responses={204: None, 409: ERROR_REF})
def delete_library(request: Request):
    row = _require(request)
    session = request.dbsession
    code = row.branchcode
    uses = {
        "item(s)": select(func.count()).select_from(Item)
        .where(or_(Item.homebranch == code, Item.holdingbranch == code)),
        "patron(s)": select(func.count()).select_from(Patron).where(Patron.branchcode == code),
        "hold(s)": select(func.count()).select_from(Hold).where(Hold.branchcode == code),
        "checkout(s)": select(func.count()).select_from(Checkout).where(Checkout.branchcode == code),
    }
    counts = {label: session.scalar(query) for label, query in uses.items()}
    in_use = ", ".join(f"{count} {label}" for label, count in counts.items() if count)
    if in_use:
        raise ApiError(409, f"Library {code!r} is in use: {in_use}", "library_in_use")
    # Koha's circulation_rules.branchcode cascades on delete
    session.execute(delete(CirculationRule).where(CirculationRule.branchcode == code))
    session.delete(row)
    session.flush()
    return Response(status=204)


def _require(request: Request) -> Library:
    row = request.dbsession.get(Library, request.validated["library_id"])
    if row is None:
        raise ApiError(404, "Library not found", "not_found")
    return row


SERVICES = [libraries, library]
