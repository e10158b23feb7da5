"""401/403/404/500 for every service: JSON for API clients, plain text otherwise, a login
redirect for a browser without credentials. Never a traceback."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from pyramid.httpexceptions import HTTPFound
from pyramid.request import Request
from pyramid.response import Response
from pyramid.view import exception_view_config, forbidden_view_config, notfound_view_config

from ..auth import auth_error, refused_basic_password

log = logging.getLogger(__name__)


def wants_json(request: Request) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


def error_response(request: Request, status: int, message: str, code: str, **extra) -> Response:
    if wants_json(request):
        response = Response(status=status, json_body={"error": message, "error_code": code, **extra})
    else:
        response = Response(status=status, body=(message + "\n").encode("utf-8"),
                            content_type="text/plain", charset="utf-8")
    return response


@forbidden_view_config()
def forbidden(exc, request: Request) -> Response:
    refused = auth_error(request)
    if request.kohaweb_identity is None and request.path.startswith("/api/") and refused_basic_password(request):
        # Koha's REST API: a wrong Basic password is 403 "Invalid password", with no challenge
        return error_response(request, 403, "Invalid password", "invalid_password")
    if request.kohaweb_identity is None:
        if refused is None and request.method == "GET" and not wants_json(request) \
                and "text/html" in request.headers.get("Accept", ""):
            return HTTPFound(request.route_url("login", _query={"came_from": request.path_qs}))
        response = error_response(request, 401, refused or "Authentication required",
                                  "invalid_token" if refused else "authentication_required")
        response.headers["WWW-Authenticate"] = 'Bearer realm="kohaweb"'
        # a script in a page (the API explorer says so with X-Requested-With) gets no Basic
        # challenge: browsers answer that one with their own sign-in dialog over the page
        if request.registry.kohaweb.core["auth.basic"] and \
                request.headers.get("X-Requested-With", "").lower() != "xmlhttprequest":
            response.headers.add("WWW-Authenticate", 'Basic realm="kohaweb"')
        return response
    permission = getattr(getattr(exc, "result", None), "msg", "")
    needed = permission.replace("missing permission ", "") if permission else None
    return error_response(request, 403, "Authorization failure. Missing required permission(s).",
                          "forbidden", **({"required_permissions": _required(needed)} if needed else {}))


def _required(permission: str) -> dict:
    """Koha's required_permissions: ``{"catalogue": 1}``, ``{"reserveforothers": "place_holds"}``."""
    module, _, code = permission.partition(":")
    return {module: code or 1}


@notfound_view_config()
def notfound(exc, request: Request) -> Response:
    return error_response(request, 404, "Not found", "not_found")


@exception_view_config(UnicodeDecodeError)
def undecodable_parameters(exc, request: Request) -> Response:
    """Parameters whose percent-encoded bytes are not UTF-8 (WebOb raises when they are read)."""
    return error_response(request, 400, "Bad request: the parameters are not valid UTF-8", "bad_encoding")


@exception_view_config(Exception)
def server_error(exc, request: Request) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.path_qs)
    return error_response(request, 500, "Internal server error; the details are in the server log.",
                          "internal_error")


def login_redirect(request: Request) -> HTTPFound:
    return HTTPFound(request.route_url("login") + "?" + urlencode({"came_from": request.path_qs}))
