"""``/api/v1/reports``: list, create, read, change and delete saved reports (``reports``
permission). Saving runs the same checks as running, so an unrunnable report is refused
with 400 and nothing stored."""

from __future__ import annotations

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

from kohaweb.plugin_api import ERROR_REF, ApiError, ApiService, Field, Resource, SavedReport, path

from . import store

REPORT = Resource("report", SavedReport, [
    Field("report_id", SavedReport.id, "integer", nullable=False),
    Field("name", SavedReport.report_name, "string", nullable=False, writable=True, max_length=store.NAME_LENGTH,
          extra={"minLength": 1}),
    Field("description", SavedReport.notes, "string", writable=True),
    Field("sql", SavedReport.savedsql, "string", nullable=False, writable=True, extra={"minLength": 1}),
    Field("public", SavedReport.public, "boolean", nullable=False, writable=True),
    Field("cache_expiry", SavedReport.cache_expiry, "integer", nullable=False, writable=True,
          extra={"minimum": 0}),
    Field("patron_id", SavedReport.borrowernumber, "integer"),
    Field("created_on", SavedReport.date_created, "date-time", nullable=False),
    Field("updated_on", SavedReport.last_modified, "date-time", nullable=False),
    Field("last_run_on", SavedReport.last_run, "date-time"),
], id_field="report_id")

# API field name -> SavedReport attribute, for writes
COLUMNS = {"name": "report_name", "description": "notes", "sql": "savedsql", "public": "public",
           "cache_expiry": "cache_expiry"}

reports = ApiService("reports", "/reports", tag="reports")
report = ApiService("report", "/reports/{report_id}", tag="reports")


def includeme(config: Configurator) -> None:
    config.add_cornice_service(reports)
    config.add_cornice_service(report)


def _service(request: Request):
    return request.registry.kohaweb.extras["reports"]


def _get(request: Request) -> SavedReport:
    row = request.dbsession.get(SavedReport, request.validated["report_id"])
    if row is None:
        raise ApiError(404, "Report not found", "not_found")
    return row


def _api_error(exc: store.ReportError) -> ApiError:
    return ApiError(exc.status, exc.message, exc.code)


@reports.operation("GET", permission="reports", summary="List saved reports", parameters=REPORT.list_params(),
                   responses={200: {"type": "array", "items": REPORT.schema()}},
                   response_headers=REPORT.headers_schema())
def list_reports(request: Request) -> Response:
    return REPORT.list(request)


@reports.operation("POST", permission="reports", summary="Save a new report",
                   description="The SQL must be one read-only SELECT (see the svc/report service); it is "
                               "checked before anything is stored.",
                   body=REPORT.write_schema(required=["name", "sql"]),
                   responses={201: REPORT.schema(), 409: ERROR_REF})
def create_report(request: Request) -> Response:
    body = request.validated["body"]
    data = store.ReportInput(report_name=body["name"], savedsql=body["sql"], notes=body.get("description"),
                             public=body.get("public", False), cache_expiry=body.get("cache_expiry", 300))
    identity = request.kohaweb_identity
    try:
        created = store.create(request.dbsession, _service(request), data,
                               identity.patron_id if identity else None)
    except store.ReportError as exc:
        raise _api_error(exc) from None
    response = Response(status=201, json_body=REPORT.to_api(created))
    response.location = request.route_url("api:report", report_id=created.id)
    return response


@report.operation("GET", permission="reports", summary="Get a saved report", parameters=[path("report_id")],
                  responses={200: REPORT.schema()})
def get_report(request: Request) -> dict:
    return REPORT.to_api(_get(request))


@report.operation("PUT", permission="reports", summary="Change a saved report",
                  description="Fields left out keep their values.", parameters=[path("report_id")],
                  body=REPORT.write_schema(), responses={200: REPORT.schema(), 409: ERROR_REF})
def update_report(request: Request) -> dict:
    row = _get(request)
    changes = {COLUMNS[k]: v for k, v in request.validated["body"].items()}
    try:
        store.update(request.dbsession, _service(request), row, changes)
    except store.ReportError as exc:
        raise _api_error(exc) from None
    return REPORT.to_api(row)


@report.operation("DELETE", permission="reports", summary="Delete a saved report", parameters=[path("report_id")],
                  responses={204: None})
def delete_report(request: Request) -> Response:
    store.delete(request.dbsession, _service(request), _get(request))
    return Response(status=204)
