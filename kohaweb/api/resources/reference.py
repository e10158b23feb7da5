"""Reference lists: ``/item_types``, ``/patron_categories``, ``/authorised_value_categories`` and
``/authorised_value_categories/{authorised_value_category_name}/authorised_values``.

Koha's field names, restricted to what kohaweb's models hold; every list takes Koha's listing
parameters. Permissions as Koha: ``catalogue`` for item types and authorised values,
``parameters`` (Koha's ``parameters: manage_patron_categories``) for patron categories.
"""

from __future__ import annotations

from pyramid.request import Request
from sqlalchemy import func, select

from ...models import AuthorisedValue, ItemType, PatronCategory
from ..errors import ApiError
from ..listing import Field, Resource
from ..service import ApiService, path

ITEM_TYPE = Resource("item_type", ItemType, [
    Field("item_type_id", ItemType.itemtype, "string", nullable=False, max_length=10),
    Field("description", ItemType.description, "string"),
    Field("rentalcharge", ItemType.rentalcharge, "number"),
    Field("not_for_loan_status", ItemType.notforloan, "boolean", nullable=False),
    Field("hide_in_opac", ItemType.hideinopac, "boolean", nullable=False),
], id_field="item_type_id")

PATRON_CATEGORY = Resource("patron_category", PatronCategory, [
    Field("patron_category_id", PatronCategory.categorycode, "string", nullable=False, max_length=10),
    Field("name", PatronCategory.description, "string"),
    Field("category_type", PatronCategory.category_type, "string", nullable=False, max_length=1),
    Field("enrolment_period", PatronCategory.enrolmentperiod, "integer"),
], id_field="patron_category_id",
    # kohaweb keeps no per-category override: every category follows the preference, Koha's default
    extra=lambda row: {"block_expired_patron_opac_actions": "follow_syspref_BlockExpiredPatronOpacActions"},
    extra_schema={"block_expired_patron_opac_actions": {"type": "string"}})

AUTHORISED_VALUE = Resource("authorised_value", AuthorisedValue, [
    Field("authorised_value_id", AuthorisedValue.id, "integer", nullable=False),
    Field("category_name", AuthorisedValue.category, "string", nullable=False, max_length=32),
    Field("value", AuthorisedValue.authorised_value, "string", nullable=False, max_length=80),
    Field("description", AuthorisedValue.lib, "string", max_length=200),
    Field("opac_description", AuthorisedValue.lib_opac, "string", max_length=200),
], id_field="authorised_value_id")

# kohaweb has no table of categories: a category exists while it has values
AUTHORISED_VALUE_CATEGORY = Resource("authorised_value_category", AuthorisedValue, [
    Field("category_name", AuthorisedValue.category, "string", nullable=False, max_length=32),
], id_field="category_name")

CATEGORY_NAME = path("authorised_value_category_name", {"type": "string", "maxLength": 32})

item_types = ApiService("item_types", "/item_types", description="Item types")
patron_categories = ApiService("patron_categories", "/patron_categories", description="Patron categories")
av_categories = ApiService("authorised_value_categories", "/authorised_value_categories",
                           description="Authorised value categories")
authorised_values = ApiService("authorised_values",
                               "/authorised_value_categories/{authorised_value_category_name}/authorised_values",
                               description="Authorised values")


def _list_operation(service: ApiService, resource: Resource, permission: str, summary: str):
    return service.operation("GET", permission=permission, summary=summary, parameters=resource.list_params(),
                             responses={200: {"type": "array", "items": resource.schema()}},
                             response_headers=resource.headers_schema())


@_list_operation(item_types, ITEM_TYPE, "catalogue", "List item types")
def list_item_types(request: Request):
    return ITEM_TYPE.list(request, select(ItemType))


@_list_operation(patron_categories, PATRON_CATEGORY, "parameters:manage_patron_categories", "List patron categories")
def list_patron_categories(request: Request):
    return PATRON_CATEGORY.list(request, select(PatronCategory))


@_list_operation(av_categories, AUTHORISED_VALUE_CATEGORY, "catalogue", "List authorised value categories")
def list_authorised_value_categories(request: Request):
    return AUTHORISED_VALUE_CATEGORY.list(request, select(AuthorisedValue.category).distinct(),
                                          serialise=lambda name: {"category_name": name})


@authorised_values.operation("GET", permission="catalogue", summary="List the authorised values of a category",
                             parameters=[CATEGORY_NAME, *AUTHORISED_VALUE.list_params()],
                             responses={200: {"type": "array", "items": AUTHORISED_VALUE.schema()}},
                             response_headers=AUTHORISED_VALUE.headers_schema())
def list_authorised_values(request: Request):
    name = request.validated["authorised_value_category_name"]
    # Koha's MySQL collation matches category names case-insensitively (VuFind asks for "loc")
    of_category = select(AuthorisedValue).where(func.upper(AuthorisedValue.category) == name.upper())
    if request.dbsession.scalar(of_category.with_only_columns(AuthorisedValue.id).limit(1)) is None:
        raise ApiError(404, "Category not found", "not_found")
    return AUTHORISED_VALUE.list(request, of_category)


SERVICES = [item_types, patron_categories, av_categories, authorised_values]
