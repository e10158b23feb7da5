"""A patron's extended attributes (Koha's borrower_attributes) and password expiration:
``/patrons/{patron_id}/extended_attributes[/{extended_attribute_id}]`` (list, add, replace all,
change one, delete one) and ``/patrons/{patron_id}/password/expiration_date``."""

from __future__ import annotations

from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import delete, select

from ...models import PatronAttribute, PatronAttributeType
from ..errors import ApiError
from ..listing import Field, Resource
from ..service import ApiService, path
from .accounts import require_patron

ATTRIBUTE = Resource("patron_extended_attribute", PatronAttribute, [
    Field("extended_attribute_id", PatronAttribute.id, "integer", nullable=False),
    Field("type", PatronAttribute.code, "string", nullable=False, writable=True, max_length=64),
    Field("value", PatronAttribute.attribute, "string", writable=True, max_length=255),
], id_field="extended_attribute_id")
ATTRIBUTE_BODY = ATTRIBUTE.write_schema(required=["type", "value"])
PATRON_ID = path("patron_id")
ATTRIBUTE_ID = path("extended_attribute_id")

attributes = ApiService("patron_extended_attributes", "/patrons/{patron_id}/extended_attributes", tag="patrons")
attribute = ApiService("patron_extended_attribute",
                       "/patrons/{patron_id}/extended_attributes/{extended_attribute_id}", tag="patrons")
expiration = ApiService("patron_password_expiration", "/patrons/{patron_id}/password/expiration_date",
                        tag="patrons")


def _type(request: Request, code: str) -> str:
    if request.dbsession.get(PatronAttributeType, code) is None:
        raise ApiError(400, f"Attribute type {code!r} does not exist", "invalid_attribute_type")
    return code


@attributes.operation("GET", permission="borrowers:edit_borrowers", summary="List a patron's extended attributes",
                      parameters=[PATRON_ID, *ATTRIBUTE.list_params()],
                      responses={200: {"type": "array", "items": ATTRIBUTE.schema()}},
                      response_headers=ATTRIBUTE.headers_schema())
def list_attributes(request: Request):
    patron = require_patron(request)
    return ATTRIBUTE.list(request, select(PatronAttribute).where(PatronAttribute.borrowernumber == patron.borrowernumber))


@attributes.operation("POST", permission="borrowers:edit_borrowers", summary="Add an extended attribute to a patron",
                      parameters=[PATRON_ID], body=ATTRIBUTE_BODY, responses={201: ATTRIBUTE.schema()})
def add_attribute(request: Request):
    patron = require_patron(request)
    body = request.validated["body"]
    row = PatronAttribute(borrowernumber=patron.borrowernumber, code=_type(request, body["type"]),
                          attribute=body["value"])
    request.dbsession.add(row)
    request.dbsession.flush()
    response = Response(status=201, json_body=ATTRIBUTE.to_api(row))
    response.location = request.route_url("api:patron_extended_attribute", patron_id=patron.borrowernumber,
                                          extended_attribute_id=row.id)
    return response


@attributes.operation("PUT", permission="borrowers:edit_borrowers", summary="Replace all of a patron's extended attributes",
                      parameters=[PATRON_ID], body={"type": "array", "maxItems": 1000, "items": ATTRIBUTE_BODY},
                      responses={200: {"type": "array", "items": ATTRIBUTE.schema()}})
def replace_attributes(request: Request):
    patron = require_patron(request)
    wanted = [(_type(request, a["type"]), a["value"]) for a in request.validated["body"]]
    session = request.dbsession
    session.execute(delete(PatronAttribute).where(PatronAttribute.borrowernumber == patron.borrowernumber))
    rows = [PatronAttribute(borrowernumber=patron.borrowernumber, code=code, attribute=value) for code, value in wanted]
    session.add_all(rows)
    session.flush()
    return [ATTRIBUTE.to_api(row) for row in rows]


def _require(request: Request) -> PatronAttribute:
    patron = require_patron(request)
    row = request.dbsession.get(PatronAttribute, request.validated["extended_attribute_id"])
    if row is None or row.borrowernumber != patron.borrowernumber:
        raise ApiError(404, "Attribute not found", "not_found")
    return row


@attribute.operation("PATCH", permission="borrowers:edit_borrowers", summary="Change an extended attribute's value",
                     parameters=[PATRON_ID, ATTRIBUTE_ID], body={**ATTRIBUTE.write_schema(), "required": ["value"]},
                     responses={200: ATTRIBUTE.schema()})
def change_attribute(request: Request):
    row = _require(request)
    body = request.validated["body"]
    if "type" in body:
        row.code = _type(request, body["type"])
    row.attribute = body["value"]
    request.dbsession.flush()
    return ATTRIBUTE.to_api(row)


@attribute.operation("DELETE", permission="borrowers:edit_borrowers", summary="Delete an extended attribute",
                     parameters=[PATRON_ID, ATTRIBUTE_ID], responses={204: None})
def delete_attribute(request: Request):
    request.dbsession.delete(_require(request))
    request.dbsession.flush()
    return Response(status=204)


EXPIRATION = {"type": "object", "required": ["expiration_date"], "additionalProperties": False,
              "properties": {"expiration_date": {"type": ["string", "null"], "format": "date"}}}


@expiration.operation("PUT", permission="borrowers:edit_borrowers", summary="Set when a patron's password expires",
                      description="null: never (ILS-DI reports an expired password as PasswordExpired).",
                      parameters=[PATRON_ID], body=EXPIRATION, responses={200: EXPIRATION})
def set_expiration(request: Request):
    from .patrons import PATRON

    patron = require_patron(request)
    value = request.validated["body"]["expiration_date"]
    patron.password_expiration_date = PATRON.by_name["password_expiration_date"].from_api(value)
    request.dbsession.flush()
    return {"expiration_date": value}


SERVICES = [attributes, attribute, expiration]
