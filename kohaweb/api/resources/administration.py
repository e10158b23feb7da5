"""Administration lists: ``/cities`` (Koha's cities, read with ``catalogue``, written with
``parameters``), ``/extended_attribute_types`` (patron attribute types) and
``/circulation_rules/kinds`` (the rule kinds and the scopes each may be set at)."""

from __future__ import annotations

from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import select

from ...models import PatronAttributeType
from ...models.patrons import City
from ..errors import ApiError
from ..listing import Field, Resource
from ..service import ApiService, path
from .circulation_rules import BRANCH, CATEGORY, ITEMTYPE, NOT_BLANK, RULE_SCOPES

CITY = Resource("city", City, [
    Field("city_id", City.cityid, "integer", nullable=False),
    Field("name", City.city_name, "string", nullable=False, writable=True, max_length=100),
    Field("state", City.city_state, "string", writable=True, max_length=100),
    Field("postal_code", City.city_zipcode, "string", writable=True, max_length=20),
    Field("country", City.city_country, "string", writable=True, max_length=100),
], id_field="city_id")
CITY_BODY = CITY.write_schema(required=["name"])
CITY_ID = path("city_id")

ATTRIBUTE_TYPE = Resource("extended_attribute_type", PatronAttributeType, [
    Field("extended_attribute_type_id", PatronAttributeType.code, "string", nullable=False, max_length=64),
    Field("description", PatronAttributeType.description, "string", nullable=False),
    Field("opac_display", PatronAttributeType.opac_display, "boolean", nullable=False),
], id_field="extended_attribute_type_id",
    # kohaweb's attribute types are patron attributes, Koha's "borrowers" resource type
    extra=lambda row: {"resource_type": "borrowers"}, extra_schema={"resource_type": {"type": "string"}})

cities = ApiService("cities", "/cities", description="Cities")
city = ApiService("city", "/cities/{city_id}", tag="cities")
attribute_types = ApiService("extended_attribute_types", "/extended_attribute_types", tag="patrons")
rule_kinds = ApiService("circulation_rule_kinds", "/circulation_rules/kinds", tag="circulation_rules")


@cities.operation("GET", permission="catalogue", summary="List cities", parameters=CITY.list_params(),
                  responses={200: {"type": "array", "items": CITY.schema()}}, response_headers=CITY.headers_schema())
def list_cities(request: Request):
    return CITY.list(request, select(City))


@cities.operation("POST", permission="parameters:manage_cities", summary="Add a city", body=CITY_BODY,
                  responses={201: CITY.schema()})
def add_city(request: Request):
    row = City(**CITY.columns_from_api(request.validated["body"]))
    request.dbsession.add(row)
    request.dbsession.flush()
    response = Response(status=201, json_body=CITY.to_api(row))
    response.location = request.route_url("api:city", city_id=row.cityid)
    return response


def _require(request: Request) -> City:
    row = request.dbsession.get(City, request.validated["city_id"])
    if row is None:
        raise ApiError(404, "City not found", "not_found")
    return row


@city.operation("GET", permission="catalogue", summary="Get a city", parameters=[CITY_ID],
                responses={200: CITY.schema()})
def get_city(request: Request):
    return CITY.to_api(_require(request))


@city.operation("PUT", permission="parameters:manage_cities", summary="Update a city", parameters=[CITY_ID], body=CITY_BODY,
                responses={200: CITY.schema()})
def update_city(request: Request):
    row = _require(request)
    for key, value in CITY.columns_from_api(request.validated["body"]).items():
        setattr(row, key, value)
    request.dbsession.flush()
    return CITY.to_api(row)


@city.operation("DELETE", permission="parameters:manage_cities", summary="Delete a city", parameters=[CITY_ID],
                responses={204: None})
def delete_city(request: Request):
    request.dbsession.delete(_require(request))
    request.dbsession.flush()
    return Response(status=204)


@attribute_types.operation("GET", permission="parameters:manage_additional_fields", summary="List patron attribute types",
                           parameters=ATTRIBUTE_TYPE.list_params(),
                           responses={200: {"type": "array", "items": ATTRIBUTE_TYPE.schema()}},
                           response_headers=ATTRIBUTE_TYPE.headers_schema())
def list_attribute_types(request: Request):
    return ATTRIBUTE_TYPE.list(request, select(PatronAttributeType))


SCOPE_NAMES = {BRANCH: "branchcode", CATEGORY: "categorycode", ITEMTYPE: "itemtype"}
KIND = {"type": "object", "required": ["scope"], "properties": {
    "scope": {"type": "array", "items": {"type": "string"}}, "can_be_blank": {"type": "boolean"}}}


@rule_kinds.operation("GET", permission="circulate:circulate_remaining_permissions", summary="List the circulation rule kinds",
                      description="Each kind with the scope levels it may be set at (Koha's rule_kinds).",
                      responses={200: {"type": "object", "additionalProperties": KIND}})
def list_rule_kinds(request: Request):
    return {kind: {"scope": [SCOPE_NAMES[level] for level in levels], "can_be_blank": kind not in NOT_BLANK}
            for kind, levels in sorted(RULE_SCOPES.items())}


SERVICES = [cities, city, attribute_types, rule_kinds]
