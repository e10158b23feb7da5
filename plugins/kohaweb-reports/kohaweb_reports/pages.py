"""A simple staff page for saved reports (``reports`` permission): list, add, run with
parameters, delete. Server-rendered; every form carries the CSRF token."""

from __future__ import annotations

from pyramid.config import Configurator
from pyramid.csrf import get_csrf_token
from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.request import Request

from kohaweb.plugin_api import SavedReport

from . import output, store
from .placeholders import ParameterError, find_placeholders
from .runner import DatabaseUnavailable, ReportFailed, TooBusy
from .safety import Refused

LIST = "kohaweb_reports:templates/reports.html"
SHOW = "kohaweb_reports:templates/report.html"


def includeme(config: Configurator) -> None:
    config.add_route("reports.page", "/reports")
    config.add_route("reports.page.report", "/reports/{report_id:\\d+}")
    config.add_route("reports.page.delete", "/reports/{report_id:\\d+}/delete")
    config.add_view(list_page, route_name="reports.page", request_method="GET", renderer=LIST, permission="reports")
    config.add_view(add_report, route_name="reports.page", request_method="POST", renderer=LIST,
                    permission="reports", require_csrf=True)
    config.add_view(report_page, route_name="reports.page.report", request_method="GET", renderer=SHOW,
                    permission="reports")
    config.add_view(delete_report, route_name="reports.page.delete", request_method="POST",
                    permission="reports", require_csrf=True)


def _listing(request: Request, **extra) -> dict:
    reports = request.dbsession.query(SavedReport).order_by(SavedReport.report_name).all()
    values = {"reports": reports, "csrf_token": get_csrf_token(request), "error": None,
              "form": {"name": "", "sql": "", "description": "", "public": False, "cache_expiry": 300}}
    values.update(extra)
    return values


def list_page(request: Request) -> dict:
    return _listing(request)


def add_report(request: Request):
    form = {"name": request.POST.get("name", ""), "sql": request.POST.get("sql", ""),
            "description": request.POST.get("description", ""), "public": bool(request.POST.get("public")),
            "cache_expiry": request.POST.get("cache_expiry", "300")}
    try:
        expiry = int(form["cache_expiry"])
    except ValueError:
        request.response.status = 400
        return _listing(request, form=form, error="The cache expiry must be a number of seconds.")
    data = store.ReportInput(form["name"], form["sql"], form["description"] or None, form["public"], expiry)
    identity = request.kohaweb_identity
    try:
        created = store.create(request.dbsession, request.registry.kohaweb.extras["reports"], data,
                               identity.patron_id if identity else None)
    except store.ReportError as exc:
        request.response.status = exc.status
        return _listing(request, form=form, error=exc.message)
    return HTTPSeeOther(request.route_path("reports.page.report", report_id=created.id))


def report_page(request: Request) -> dict:
    report = request.dbsession.get(SavedReport, int(request.matchdict["report_id"]))
    if report is None:
        raise HTTPNotFound()
    placeholders = []
    for ph in find_placeholders(report.savedsql):
        if ph.text not in [p.text for p in placeholders]:
            placeholders.append(ph)
    values = {"report": report, "placeholders": placeholders, "csrf_token": get_csrf_token(request),
              "result": None, "error": None, "rows": [], "submitted": {}}
    if "run" not in request.GET:
        return values
    submitted = {ph.text: request.GET.get(f"param:{ph.text}", "") for ph in placeholders}
    values["submitted"] = submitted
    service = request.registry.kohaweb.extras["reports"]
    try:
        # each distinct placeholder is asked once and filled by name, wherever it appears
        outcome = service.run(report, list(submitted.values()), list(submitted))
    except (Refused, ParameterError) as exc:
        values["error"] = str(exc)
    except ReportFailed as exc:
        values["error"] = ("The report ran too long and was stopped." if exc.timeout
                           else "The report's result is too large (reports.max_bytes)." if exc.code == "result_too_large"
                           else f"The database refused the report: {exc.message}")
    except (TooBusy, DatabaseUnavailable) as exc:
        values["error"] = str(exc) or "The database is unavailable."
    else:
        values["result"] = outcome.result
        values["rows"] = [[output.plain(v) for v in row] for row in outcome.result.rows]
    if values["error"]:
        request.response.status = 400
    return values


def delete_report(request: Request):
    report = request.dbsession.get(SavedReport, int(request.matchdict["report_id"]))
    if report is None:
        raise HTTPNotFound()
    store.delete(request.dbsession, request.registry.kohaweb.extras["reports"], report)
    return HTTPSeeOther(request.route_path("reports.page"))
