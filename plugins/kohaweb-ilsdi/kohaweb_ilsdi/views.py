"""The ILS-DI dispatcher (Koha's opac/ilsdi.pl)."""

from __future__ import annotations

from pyramid.request import Request
from pyramid.response import Response

from kohaweb.plugin_api import discard_changes as discard

from . import docs, services
from .access import allowed, client_address
from .availability import get_availability
from .protocol import SERVICES, check_id_count, check_parameters
from .xmlout import document

XML_TYPE = "text/xml"


def _xml(request: Request, body: bytes, status: int = 200) -> Response:
    if status != 200 and not request.registry.kohaweb.extras["ilsdi"]["http_error_status"]:
        status = 200
    return Response(body=body, status=status, content_type=XML_TYPE, charset="utf-8")


def _html(body: bytes) -> Response:
    return Response(body=body, content_type="text/html", charset="utf-8")


def _parameters(request: Request) -> list[tuple[str, str]] | None:
    """All (name, value) pairs of the query string and form body, or None if not UTF-8."""
    try:
        return list(request.params.items())
    except UnicodeDecodeError:
        return None


def ilsdi_view(request: Request) -> Response:
    config = request.registry.kohaweb.extras["ilsdi"]
    params = _parameters(request)
    if params is None:
        return _xml(request, document("ilsdi", {"code": "IllegalParameter",
                                                "message": "Parameters must be UTF-8."}), 400)
    values = dict(reversed(params))  # first value of each name, as CGI's param() in scalar context
    service = values.get("service")
    base = request.path_url
    if service is None:
        return _html(docs.index_page(base, request.registry.kohaweb.core["library_name"],
                                     config["http_error_status"]))
    if service == "Describe" and values.get("verb") in SERVICES:
        return _html(docs.describe_page(base, values["verb"]))

    address, shown = client_address(request.remote_addr, request.headers.get("X-Forwarded-For"),
                                    config["trusted"])
    if not allowed(address, config["authorized"]):
        return _xml(request, document("ilsdi", {"code": "NotAllowed",
                                                "message": f"Unauthorized IP address: {shown}."}), 403)
    spec = SERVICES.get(service)
    if spec is None:
        return _xml(request, document("ilsdi", {"message": "NotSupported"}), 400)
    error = check_parameters(spec, params) or check_id_count(spec, values, config["max_ids"])
    if error is not None:
        return _xml(request, document(service, {"code": error.code, "message": error.message}), 400)

    session = request.dbsession
    try:
        if service == "GetAvailability":
            return _xml(request, get_availability(session, values))
        result = services.SERVICES[service](session, values)
    except services.ParameterError as exc:
        discard(request)
        return _xml(request, document(service, {"code": "IllegalParameter",
                                                "message": f"The parameter {exc.name} is illegal."}), 400)
    if result.get("code") not in (None, "Canceled") or result.get("success") == 0:
        discard(request)  # a refused action leaves nothing behind
    return _xml(request, document(service, result))


def unavailable(exc: Exception, request: Request) -> Response:
    """The database cannot be reached (``kohaweb.limits.DatabaseUnavailable``): an ILS-DI error
    answer for the service asked for; the core makes it a 503 with Retry-After."""
    try:
        service = request.params.get("service") or "ilsdi"
    except UnicodeDecodeError:
        service = "ilsdi"
    root = service if service in SERVICES else "ilsdi"
    body = document(root, {"code": "ServiceUnavailable",
                           "message": "The database cannot be reached; retry later."})
    return Response(body=body, status=503, content_type=XML_TYPE, charset="utf-8")
