"""The versioned REST API under ``/api/v1`` (Koha's paths, field names and error bodies).

Services are cornice ``Service`` objects (``ApiService``) whose operations declare their
permission and OpenAPI pieces next to the view; the core's resources and every plugin's
services are added with ``config.add_cornice_service(service)`` and aggregated into one
OpenAPI 3.1 document, served at ``GET /api/v1/``, rendered at ``GET /api/v1/.html`` and explored
interactively (Swagger UI, try-it-out) at ``GET /api/v1/explorer``.
"""

from __future__ import annotations

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPMethodNotAllowed
from pyramid.request import Request
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED

from .errors import ApiError, api_error, api_error_view, method_not_allowed_view
from .listing import Field, Resource
from .service import API_PREFIX, ApiService, Param, contrib_service, header, path, query

__all__ = ["API_PREFIX", "ApiError", "ApiService", "Field", "Param", "Resource", "api_error", "contrib_service",
           "header", "path", "query"]


def includeme(config: Configurator) -> None:
    # cornice's own exception views would replace the core's 401/403/404 JSON errors
    config.get_settings().setdefault("handle_exceptions", False)
    config.include("cornice")
    config.add_route("api.document", API_PREFIX + "/")
    config.add_route("api.document_noslash", API_PREFIX)
    config.add_route("api.html", API_PREFIX + "/.html")
    for route in ("api.document", "api.document_noslash"):
        config.add_view(document_view, route_name=route, request_method=("GET", "HEAD"),
                        permission=NO_PERMISSION_REQUIRED)
    config.add_view(html_view, route_name="api.html", request_method=("GET", "HEAD"),
                    renderer="kohaweb.api:templates/api.html", permission=NO_PERMISSION_REQUIRED)
    config.include("kohaweb.api.explorer")  # /api/v1/explorer, before the resources' routes
    config.add_exception_view(api_error_view, context=ApiError)
    config.add_exception_view(method_not_allowed_view, context=HTTPMethodNotAllowed,
                              path_info=r"^/api/")
    config.include("kohaweb.api.resources")
    config.include("kohaweb.plugins.include_rest_services")  # plugins' /api/v1/contrib/<plugin>/ paths


def document(request: Request) -> dict:
    """The aggregated document, built on first use (every service is registered by then)."""
    registry = request.registry
    cached = getattr(registry, "kohaweb_openapi", None)
    if cached is None:
        from .openapi import build_document

        cached = registry.kohaweb_openapi = build_document(registry)
    return cached


def document_view(request: Request) -> Response:
    return Response(json_body=document(request))


def html_view(request: Request) -> dict:
    return {"doc": document(request)}
