"""One OpenAPI 3.1 document from every ``ApiService`` registered with ``add_cornice_service``
(the core's resources and the enabled plugins' ones), built once per application."""

from __future__ import annotations

import copy
from typing import Any

from pyramid.registry import Registry

from .. import __version__
from .errors import ERROR_SCHEMA
from .service import JSON, ApiService, Operation, koha_permissions

ERROR_REF = {"$ref": "#/components/schemas/error"}
ERROR_DESCRIPTIONS = {
    400: "Bad parameter or body",
    401: "Authentication required or credentials refused",
    403: "Access forbidden: missing permission",
    404: "Resource not found",
    406: "None of the requested media types can be produced",
    409: "Conflict with the resource's current state",
    415: "Unsupported request body media type",
}
SECURITY = [{"bearer": []}, {"basic": []}, {"cookie": []}]


def build_document(registry: Registry) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    tags: set[str] = set()
    services = [s for s in registry.cornice_services.values() if isinstance(s, ApiService)]
    for service in sorted(services, key=lambda s: s.api_path):
        item = paths.setdefault(service.api_path, {})
        for method, op in service.operations.items():
            item[method.lower()] = _operation(op, service)
            tags.add(service.tag)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "kohaweb REST API",
            "version": f"1 ({__version__})",
            "description": "Koha-compatible REST API. Lists take `_page`, `_per_page` (-1 = all, up to the "
                           "site's largest page), `_order_by`, `_match` and `q` (JSON filters with API field names); they "
                           "answer with `X-Total-Count`, `X-Base-Total-Count` and `Link` headers. "
                           "Operations needing a permission name it in `x-koha-authorization`.",
        },
        "servers": [{"url": "/api/v1"}],
        "tags": [{"name": t} for t in sorted(tags)],
        "paths": paths,
        "components": {
            "schemas": {"error": ERROR_SCHEMA},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "OAuth2 client-credentials access token (POST /api/v1/oauth/token)"},
                "basic": {"type": "http", "scheme": "basic",
                          "description": "Only when the site enables kohaweb.auth.basic"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "kohaweb_session",
                           "description": "The staff login session"},
            },
        },
    }


def _operation(op: Operation, service: ApiService) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": list(op.tags),
    }
    if op.description:
        spec["description"] = op.description
    if op.parameters:
        spec["parameters"] = [p.to_openapi() for p in op.parameters]
    if op.body is not None:
        spec["requestBody"] = {"required": True, "content": {JSON: {"schema": copy.deepcopy(op.body)}}}
    elif op.body_media_types:
        spec["requestBody"] = {"required": True, "content": {
            mt: {"schema": copy.deepcopy(schema)} for mt, schema in op.body_schemas.items()}}
    responses: dict[str, Any] = {}
    for status, body in sorted(op.responses.items()):
        response: dict[str, Any] = {"description": _describe(status)}
        if body is not None:
            content = body if _is_content_map(body) else {JSON: body}
            response["content"] = {mt: {"schema": copy.deepcopy(s)} for mt, s in content.items()}
        if status in op.response_headers:
            response["headers"] = {name: {"schema": s} for name, s in op.response_headers[status].items()}
        responses[str(status)] = response
    errors = {400} if op.parameters or op.body is not None or op.body_media_types else set()
    if op.body_media_types or op.body is not None:
        errors.add(415)
    if op.permission is not None:
        errors |= {401, 403}
        spec["security"] = SECURITY
        spec["x-koha-authorization"] = {"permissions": koha_permissions(op.required_permissions)}
    else:
        spec["security"] = []
    if any(p.location == "path" for p in op.parameters):
        errors.add(404)
    if op.json_only:
        errors.add(406)
    for status in sorted(errors):
        responses.setdefault(str(status), {"description": ERROR_DESCRIPTIONS[status],
                                           "content": {JSON: {"schema": ERROR_REF}}})
    spec["responses"] = responses
    return spec


def _is_content_map(body: Any) -> bool:
    return isinstance(body, dict) and bool(body) and all("/" in key for key in body)


def _describe(status: int) -> str:
    return {200: "OK", 201: "Created", 202: "Accepted", 204: "No content"}.get(
        status, ERROR_DESCRIPTIONS.get(status, "Response"))
