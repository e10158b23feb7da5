"""``/libraries`` (Koha's branches), read-only here: list and get."""

from __future__ import annotations

from pyramid.request import Request
from sqlalchemy import select

from ...models import Library
from ..errors import ApiError
from ..listing import Field, Resource
from ..service import ApiService, path

LIBRARY = Resource("library", Library, [
    Field("library_id", Library.branchcode, "string", nullable=False, max_length=10),
    Field("name", Library.branchname, "string", nullable=False),
    Field("address1", Library.branchaddress1, "string"),
    Field("address2", Library.branchaddress2, "string"),
    Field("address3", Library.branchaddress3, "string"),
    Field("postal_code", Library.branchzip, "string"),
    Field("city", Library.branchcity, "string"),
    Field("state", Library.branchstate, "string"),
    Field("country", Library.branchcountry, "string"),
    Field("phone", Library.branchphone, "string"),
    Field("email", Library.branchemail, "string"),
    Field("url", Library.branchurl, "string"),
    Field("notes", Library.branchnotes, "string"),
    Field("marc_org_code", Library.marcorgcode, "string"),
    Field("pickup_location", Library.pickup_location, "boolean", nullable=False),
    Field("public", Library.public, "boolean", nullable=False),
], id_field="library_id")

libraries = ApiService("libraries", "/libraries", description="Libraries (branches)")
library = ApiService("library", "/libraries/{library_id}", tag="libraries")


@libraries.operation("GET", permission="catalogue", summary="List libraries",
                     parameters=LIBRARY.list_params(),
                     responses={200: {"type": "array", "items": LIBRARY.schema()}},
                     response_headers=LIBRARY.headers_schema())
def list_libraries(request: Request):
    return LIBRARY.list(request, select(Library))


@library.operation("GET", permission="catalogue", summary="Get a library",
                   parameters=[path("library_id", {"type": "string", "maxLength": 10})],
                   responses={200: LIBRARY.schema()})
def get_library(request: Request):
    row = request.dbsession.get(Library, request.validated["library_id"])
    if row is None:
        raise ApiError(404, "Library not found", "not_found")
    return LIBRARY.to_api(row)


SERVICES = [libraries, library]
