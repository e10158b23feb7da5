"""REST operations of the service, declared as the core's ``ApiService`` objects so they appear
in the OpenAPI document at ``/api/v1/`` and requests are validated against it.

- ``POST /oauth/token`` (public: the client authenticates with its own credentials);
- ``/patrons/{patron_id}/api_keys`` list and create, ``.../{client_id}`` get and delete,
  ``.../{client_id}/revoke`` and ``.../activate``.

Managing keys follows Koha: the patron themself or a superlibrarian (or, by setting, anyone with
``borrowers``). The core's permission check knows only named permissions, so these operations
are registered without one and :func:`_patron_id` decides; the document still names the
permission needed to manage *someone else's* keys (see :func:`_document_permission`).
"""

from __future__ import annotations

import copy
from typing import Any

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPForbidden
from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import select

from kohaweb.plugin_api import (
    ERROR_REF,
    SUPERLIBRARIAN,
    ApiError,
    ApiKey,
    ApiService,
    Field,
    Patron,
    Resource,
    path,
)

from . import keys
from .oauth import token_response

API_KEY = Resource("api_key", ApiKey, [
    Field("client_id", ApiKey.client_id, "string", nullable=False),
    Field("description", ApiKey.description, "string", nullable=False, writable=True,
          max_length=keys.DESCRIPTION_MAX),
    Field("patron_id", ApiKey.patron_id, "integer", nullable=False),
    Field("active", ApiKey.active, "boolean", nullable=False),
    Field("created_on", ApiKey.created_on, "date-time", nullable=False),
    Field("last_used_on", ApiKey.last_used_on, "date-time"),
], id_field="client_id")

NEW_KEY_SCHEMA: dict[str, Any] = copy.deepcopy(API_KEY.schema())
NEW_KEY_SCHEMA["properties"]["secret"] = {
    "type": "string", "description": "The client secret. Shown only in this response; store it now."}
NEW_KEY_SCHEMA["required"] = [*NEW_KEY_SCHEMA["required"], "secret"]

TOKEN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["access_token", "token_type", "expires_in"],
    "properties": {
        "access_token": {"type": "string"},
        "token_type": {"type": "string", "const": "Bearer"},
        "expires_in": {"type": "integer"},
        "scope": {"type": "string", "description": "Only when scopes (permission names) were asked for"},
    },
}

# bounded like the borrowers.borrowernumber column, so no database sees an out-of-range number
PATRON_ID = path("patron_id", {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                 "The patron who owns the keys")
CLIENT_ID = path("client_id", {"type": "string", "maxLength": 191}, "The key's client id")
MANAGE = ("The patron themself or a superlibrarian may manage a patron's API keys (staff with "
          "`borrowers` too when the site sets `apikeys.borrowers_manage_keys`). "
          "Tokens narrowed by scopes act for their own patron only through those scopes, and a bearer "
          "token cannot create or activate keys of its own patron (log in with a session or HTTP "
          "Basic) unless that patron may manage others' keys.")

token = ApiService("apikeys.token", "/oauth/token", tag="oauth")
api_keys = ApiService("apikeys.list", "/patrons/{patron_id}/api_keys", tag="api_keys")
api_key = ApiService("apikeys.key", "/patrons/{patron_id}/api_keys/{client_id}", tag="api_keys")
revoke = ApiService("apikeys.revoke", "/patrons/{patron_id}/api_keys/{client_id}/revoke",
                    tag="api_keys")
activate = ApiService("apikeys.activate", "/patrons/{patron_id}/api_keys/{client_id}/activate",
                      tag="api_keys")
SERVICES = (token, api_keys, api_key, revoke, activate)


def includeme(config: Configurator) -> None:
    _document_permission()
    for service in SERVICES:
        config.add_cornice_service(service)


# --- OAuth2 -----------------------------------------------------------------------------------------

@token.operation(
    "POST", permission=None, summary="Get an access token (OAuth2 client credentials)",
    description="RFC 6749 §4.4. Form fields `grant_type=client_credentials` and optionally `scope` "
                "(space-separated permission names that narrow the token: a module such as `circulate`, or "
                "one of Koha's sub-permissions as `module:code`, e.g. `reserveforothers:place_holds`). The client authenticates "
                "with HTTP Basic (client id and secret) or with `client_id` and `client_secret` fields. "
                "Errors follow RFC 6749 §5.2 (`error` is the OAuth2 error code).",
    body_media_types=("application/x-www-form-urlencoded",),
    responses={200: TOKEN_SCHEMA, 400: ERROR_REF, 401: ERROR_REF})
def issue_token(request: Request) -> Response:
    return token_response(request)


# --- API keys ---------------------------------------------------------------------------------------

def _patron_id(request: Request, creating: bool = False) -> int:
    """The path's patron when the caller may manage their keys (``creating``: make lasting
    credentials, see ``keys.can_manage``): 401 without credentials, 403 when not allowed
    (before 404, so outsiders learn nothing about which patrons exist)."""
    identity = request.kohaweb_identity
    if identity is None:
        raise HTTPForbidden()  # the core answers 401 with WWW-Authenticate
    patron_id = request.validated["patron_id"]
    borrowers = request.registry.kohaweb.settings["apikeys"]["borrowers_manage_keys"]
    if not keys.can_manage(identity, patron_id, borrowers, creating=creating):
        needed = keys.required_permission(borrowers)
        if creating and identity.method == "bearer" and identity.patron_id == patron_id:
            raise ApiError(403, "Authorization failure. A bearer token cannot create or activate API keys "
                           "of its own patron: log in (session or HTTP Basic) to do so.", "forbidden",
                           required_permissions={needed: 1})
        raise ApiError(403, "Authorization failure. Only the patron themself or a superlibrarian may "
                       "manage these API keys.", "forbidden", required_permissions={needed: 1})
    if request.dbsession.get(Patron, patron_id) is None:
        raise ApiError(404, "Patron not found", "not_found")
    return patron_id


def _key(request: Request, creating: bool = False) -> ApiKey:
    key = keys.get_key(request.dbsession, _patron_id(request, creating), request.validated["client_id"])
    if key is None:
        raise ApiError(404, "API key not found", "not_found")
    return key


def _refusal(exc: keys.ApiKeyError) -> ApiError:
    return ApiError(exc.status, str(exc), exc.code)


@api_keys.operation(
    "GET", permission=None, summary="List a patron's API keys", description=MANAGE,
    parameters=[PATRON_ID, *API_KEY.list_params(exclude=("patron_id",))],
    responses={200: {"type": "array", "items": API_KEY.schema()}}, response_headers=API_KEY.headers_schema())
def list_api_keys(request: Request) -> Response:
    patron_id = _patron_id(request)
    return API_KEY.list(request, base=select(ApiKey).where(ApiKey.patron_id == patron_id))


@api_keys.operation(
    "POST", permission=None, summary="Generate a new client id/secret pair",
    description=MANAGE + " The secret is in this response only; the server keeps a slow hash of it.",
    parameters=[PATRON_ID], body=API_KEY.write_schema(required=["description"]),
    responses={201: NEW_KEY_SCHEMA}, response_headers={201: {"Location": {"type": "string"}}},
    authorize=lambda request: _patron_id(request))  # who may, before the body is read
def create_api_key(request: Request) -> Response:
    patron_id = _patron_id(request, creating=True)
    try:
        fresh = keys.create_key(request.dbsession, patron_id, request.validated["body"]["description"])
    except keys.ApiKeyError as exc:
        raise _refusal(exc) from None
    response = Response(status=201, json_body={**API_KEY.to_api(fresh.key), "secret": fresh.secret})
    response.location = request.route_url(api_key.name, patron_id=patron_id, client_id=fresh.key.client_id)
    response.headers["Cache-Control"] = "no-store"
    return response


@api_key.operation("GET", permission=None, summary="Get one API key (never its secret)", description=MANAGE,
                   parameters=[PATRON_ID, CLIENT_ID], responses={200: API_KEY.schema()})
def get_api_key(request: Request) -> dict[str, Any]:
    return API_KEY.to_api(_key(request))


@api_key.operation("DELETE", permission=None, summary="Delete an API key and its access tokens",
                   description=MANAGE, parameters=[PATRON_ID, CLIENT_ID], responses={204: None})
def delete_api_key(request: Request) -> Response:
    keys.delete_key(request.dbsession, _key(request))
    return Response(status=204)


@revoke.operation("POST", permission=None, summary="Revoke an API key (its tokens stop working at once)",
                  description=MANAGE, parameters=[PATRON_ID, CLIENT_ID],
                  responses={200: API_KEY.schema(), 409: ERROR_REF})
def revoke_api_key(request: Request) -> dict[str, Any]:
    key = _key(request)
    try:
        keys.revoke(request.dbsession, key)
    except keys.ApiKeyError as exc:
        raise _refusal(exc) from None
    return API_KEY.to_api(key)


@activate.operation("POST", permission=None, summary="Activate a revoked API key", description=MANAGE,
                    parameters=[PATRON_ID, CLIENT_ID], responses={200: API_KEY.schema(), 409: ERROR_REF})
def activate_api_key(request: Request) -> dict[str, Any]:
    key = _key(request, creating=True)
    try:
        keys.activate(request.dbsession, key)
    except keys.ApiKeyError as exc:
        raise _refusal(exc) from None
    return API_KEY.to_api(key)


def _document_permission() -> None:
    """Show in the OpenAPI document that these operations need credentials and, for another
    patron's keys, ``superlibrarian``. Their views were registered (by the decorators above)
    without a Pyramid permission, because the owner needs none; this changes only what the
    document says, never what the security policy checks."""
    for service in SERVICES[1:]:
        for operation in service.operations.values():
            operation.permission = SUPERLIBRARIAN
