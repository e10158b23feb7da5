"""The API's error body: ``{"error": "human text", "error_code": "machine_code", ...}``."""

from __future__ import annotations

from typing import Any

from pyramid.request import Request
from pyramid.response import Response

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "error_code"],
    "properties": {
        "error": {"type": "string"},
        "error_code": {"type": "string"},
        "errors": {"type": "array", "items": {
            "type": "object", "properties": {"path": {"type": "string"}, "message": {"type": "string"}}}},
        "required_permissions": {"type": "object"},
        "acceptable": {"type": "array", "items": {"type": "string"}},
    },
}


class ApiError(Exception):
    """Raised by views and helpers; turned into an error response by the API's exception view."""

    def __init__(self, status: int, message: str, code: str, **extra: Any):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.extra = extra


def api_error(request: Request, status: int, message: str, code: str, **extra: Any) -> Response:
    return Response(status=status, json_body={"error": message, "error_code": code, **extra})


def api_error_view(exc: ApiError, request: Request) -> Response:
    return api_error(request, exc.status, exc.message, exc.code, **exc.extra)


def method_not_allowed_view(exc, request: Request) -> Response:
    response = api_error(request, 405, f"Method {request.method} not allowed here", "method_not_allowed")
    response.allow = getattr(exc, "allow", None) or ()
    return response
