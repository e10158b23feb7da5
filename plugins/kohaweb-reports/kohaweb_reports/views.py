"""Koha's JSON report service.

- ``/svc/report`` — staff: any report, ``reports`` permission.
- ``/opac/svc/report`` and ``/cgi-bin/koha/opac/svc/report`` — anyone, public reports only; a
  private report answers 404 so its existence does not leak.
- ``/cgi-bin/koha/svc/report`` — Koha serves this path from both its staff and its OPAC host.
  Here it acts as the staff service when the request carries credentials with ``reports``
  and as the public one otherwise; bad credentials get 401.

Parameters as in Koha: ``id`` or ``name`` (name wins), ``annotated``, repeatable ``sql_params``
and ``param_names`` (``param_name`` too); ``format=csv`` is an addition.
"""

from __future__ import annotations

import json

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

from kohaweb.plugin_api import auth_error

from . import output
from .placeholders import ParameterError
from .runner import DatabaseUnavailable, ReportFailed, ReportsUnavailable, TooBusy
from .safety import Refused
from .service import ReportService

TRUE = {"1", "true", "yes", "on", "y"}


def includeme(config: Configurator) -> None:
    config.add_route("reports.svc.staff", "/svc/report")
    config.add_route("reports.svc.public", "/opac/svc/report")
    config.add_route("reports.svc.koha_opac", "/cgi-bin/koha/opac/svc/report")
    config.add_route("reports.svc.koha", "/cgi-bin/koha/svc/report")
    config.add_view(staff_report, route_name="reports.svc.staff", request_method=("GET", "HEAD"),
                    permission="reports")
    for route in ("reports.svc.public", "reports.svc.koha_opac"):
        config.add_view(public_report, route_name=route, request_method=("GET", "HEAD"))
    config.add_view(koha_report, route_name="reports.svc.koha", request_method=("GET", "HEAD"))


JSON_TYPE = "application/json; charset=UTF-8"  # as Koha sends it


def json_response(body: bytes, status: int = 200) -> Response:
    response = Response(body=body, status=status)
    response.headers["Content-Type"] = JSON_TYPE
    return response


def json_error(status: int, message: str, code: str) -> Response:
    return json_response(json.dumps({"error": message, "error_code": code}).encode("utf-8"), status)


def staff_report(request: Request) -> Response:
    return serve_report(request, staff=True)


def public_report(request: Request) -> Response:
    response = serve_report(request, staff=False)
    origin = request.registry.kohaweb.settings["reports"]["cors_origin"]
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
    return response


def koha_report(request: Request) -> Response:
    refused = auth_error(request)
    if refused is not None:
        response = json_error(401, refused, "invalid_credentials")
        response.headers["WWW-Authenticate"] = 'Bearer realm="kohaweb"'
        return response
    identity = request.kohaweb_identity
    if identity is not None and identity.has("reports"):
        return serve_report(request, staff=True)
    return public_report(request)


def serve_report(request: Request, staff: bool) -> Response:
    service: ReportService = request.registry.kohaweb.extras["reports"]
    try:
        params = request.GET
        params.keys()
    except UnicodeDecodeError:
        return json_error(400, "the query string is not UTF-8", "invalid_parameter")
    name = params.get("name")
    raw_id = params.get("id")
    if name is None and raw_id is None:
        return json_error(400, "give the report's id or name", "missing_parameter")
    fmt = params.get("format", "json").lower()
    if fmt not in ("json", "csv"):
        return json_error(400, f"format must be json or csv, got {fmt!r}", "invalid_parameter")
    report_id = None
    if name is None:
        try:
            report_id = int(raw_id)
        except ValueError:
            return json_error(400, f"id must be a number, got {raw_id!r}", "invalid_parameter")
    report = service.find(request.dbsession, report_id, name)
    if report is None or (not staff and not report.public):
        return json_error(404, "There is no such report.", "not_found")
    param_names = params.getall("param_names") or params.getall("param_name")
    try:
        outcome = service.run(report, params.getall("sql_params"), param_names)
    except (Refused, ParameterError) as exc:
        code = exc.code if isinstance(exc, Refused) else "invalid_parameter"
        return json_error(400, str(exc), code)
    except ReportFailed as exc:
        if exc.timeout:
            limit = service.runner.timeout_ms
            return json_error(400, f"the report ran longer than {limit} ms and was stopped", "timeout")
        if exc.code == "result_too_large":
            return json_error(400, f"the report's result is larger than {service.runner.max_bytes} bytes "
                                   "and was stopped", "result_too_large")
        message = f"the database refused the report: {exc.message}" if staff else "the report failed to run"
        return json_error(400, message, "query_failed")
    except TooBusy as exc:
        response = json_error(429, str(exc), "too_many_running_reports")
        response.headers["Retry-After"] = "5"
        return response
    except ReportsUnavailable as exc:
        # the administrator's fix is in the log and for staff; the public learns only that
        message = f"reports are unavailable: {exc}" if staff else "reports are unavailable"
        response = json_error(503, message, "reports_unavailable")
        response.headers["Retry-After"] = "30"
        return response
    except DatabaseUnavailable:
        return json_error(503, "the database is unavailable", "unavailable")
    if not outcome.cached:
        service.mark_run(report.id)
    if fmt == "csv":
        response = Response(output.to_csv(outcome.result), content_type="text/csv", charset="UTF-8")
    else:
        response = json_response(output.to_json(outcome.result, params.get("annotated", "").lower() in TRUE))
    if outcome.result.truncated:
        response.headers["X-Report-Truncated"] = str(service.max_rows)
    response.headers["X-Report-Cache"] = "hit" if outcome.cached else "miss"
    return response
