"""REST management of harvest sources under /api/v1/harvest (permission: parameters).

Starting a run (POST .../runs) queues it and answers 202 at once, as a harvest can take hours;
``kohaweb harvest worker`` executes it (or, with ``harvester.run_in_web``, a thread of this
process). A source with a queued or running run answers 409. Progress: GET .../runs.
"""

from __future__ import annotations

import logging
import threading

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import select

from kohaweb.plugin_api import ERROR_REF, ApiError, ApiService, path

from .models import HarvestRun, HarvestSource
from .runs import RunActive, active_run, enqueue, reap_stale
from .sources import SourceError, add_source, find_source, remove_source, run_dict, source_dict

log = logging.getLogger(__name__)

RUN = {"type": "object", "properties": {
    "run_id": {"type": "integer"}, "source_id": {"type": "integer"}, "status": {"type": "string"},
    "started": {"type": ["string", "null"]}, "finished": {"type": ["string", "null"]},
    "added": {"type": "integer"}, "updated": {"type": "integer"}, "deleted": {"type": "integer"},
    "failed": {"type": "integer"}, "last_error": {"type": ["string", "null"]},
    "worker": {"type": ["string", "null"]}, "heartbeat": {"type": ["string", "null"]}}}
SOURCE = {"type": "object", "properties": {
    "source_id": {"type": "integer"}, "name": {"type": "string"}, "base_url": {"type": "string"},
    "metadata_prefix": {"type": "string"}, "sets": {"type": "array", "items": {"type": "string"}},
    "schedule": {"type": ["string", "null"]}, "enabled": {"type": "boolean"},
    "last_datestamp": {"type": ["string", "null"]}, "resumable": {"type": "boolean"},
    "records": {"type": "integer"}, "last_run": {"oneOf": [RUN, {"type": "null"}]}}}
NEW_SOURCE = {"type": "object", "additionalProperties": False, "required": ["name", "base_url"], "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 100},
    "base_url": {"type": "string", "minLength": 1, "maxLength": 500},
    "metadata_prefix": {"type": "string", "minLength": 1, "maxLength": 64},
    "sets": {"type": "array", "items": {"type": "string"}},
    "schedule": {"type": ["string", "null"], "maxLength": 64}, "enabled": {"type": "boolean"}}}

sources = ApiService("harvest.sources", "/harvest/sources", tag="harvest")
source = ApiService("harvest.source", "/harvest/sources/{source_id}", tag="harvest")
runs = ApiService("harvest.runs", "/harvest/sources/{source_id}/runs", tag="harvest")


def _source(request: Request) -> HarvestSource:
    found = request.dbsession.get(HarvestSource, request.validated["source_id"])
    if found is None:
        raise ApiError(404, "Harvest source not found", "not_found")
    return found


@sources.operation("GET", permission="parameters", summary="List harvest sources",
                   responses={200: {"type": "array", "items": SOURCE}})
def list_sources(request: Request):
    rows = request.dbsession.scalars(select(HarvestSource).order_by(HarvestSource.name))
    return [source_dict(request.dbsession, row) for row in rows]


@sources.operation("POST", permission="parameters", summary="Add a harvest source", body=NEW_SOURCE,
                   responses={201: SOURCE, 409: ERROR_REF})
def create_source(request: Request):
    body = request.validated["body"]
    if find_source(request.dbsession, body["name"]) is not None:
        raise ApiError(409, f"A source named {body['name']!r} exists", "duplicate")
    try:
        created = add_source(request.dbsession, body["name"], body["base_url"], body.get("metadata_prefix", "marcxml"),
                             body.get("sets"), body.get("schedule"), body.get("enabled", True))
    except SourceError as exc:
        raise ApiError(400, str(exc), "invalid_source") from None
    response = Response(status=201, json_body=source_dict(request.dbsession, created))
    response.location = request.route_url("api:harvest.source", source_id=created.id)
    return response


@source.operation("GET", permission="parameters", summary="Get a harvest source",
                  parameters=[path("source_id")], responses={200: SOURCE})
def get_source(request: Request):
    return source_dict(request.dbsession, _source(request))


@source.operation("DELETE", permission="parameters", summary="Remove a harvest source (its records stay)",
                  parameters=[path("source_id")], responses={204: None, 409: ERROR_REF})
def delete_source(request: Request):
    found = _source(request)
    reap_stale(request.dbsession, request.registry.kohaweb.settings["harvester"]["stale_after"], found.id)
    running = active_run(request.dbsession, found.id)
    if running is not None and running.status == "running":
        raise ApiError(409, f"Run {running.id} of this source is running", "run_active", run_id=running.id)
    remove_source(request.dbsession, found)
    return Response(status=204)


@runs.operation("GET", permission="parameters", summary="Runs of a harvest source",
                parameters=[path("source_id")], responses={200: {"type": "array", "items": RUN}})
def list_runs(request: Request):
    found = _source(request)
    rows = request.dbsession.scalars(select(HarvestRun).where(HarvestRun.source_id == found.id)
                                     .order_by(HarvestRun.id.desc()))
    return [run_dict(row) for row in rows]


@runs.operation("POST", permission="parameters", summary="Queue a harvest run (one active run per source)",
                parameters=[path("source_id")], responses={202: RUN, 409: ERROR_REF})
def start_run(request: Request):
    found = _source(request)
    settings = request.registry.kohaweb.settings["harvester"]
    try:
        run = enqueue(request.dbsession, found.id, settings["stale_after"])
    except RunActive as exc:
        raise ApiError(409, f"This source already has a {exc.status} run", "run_active", run_id=exc.run_id) from None
    if settings["run_in_web"]:
        start_after_commit(request, run.id)
    response = Response(status=202, json_body=run_dict(run))
    response.location = request.route_url("api:harvest.runs", source_id=found.id)
    return response


def start_after_commit(request: Request, run_id: int) -> None:
    """Start the queued run ``run_id`` in a thread of this process once the request's transaction
    has committed (so that the thread can claim it), and only then: an attempt whose commit fails,
    or that pyramid_retry throws away and runs again (that attempt queues a run of its own), or a
    request whose changes are discarded, starts nothing."""
    site = request.registry.kohaweb

    def after_commit(committed: bool) -> None:
        if committed:
            _run_in_thread(site, run_id)

    if request.environ.get("tm.active"):  # pyramid_tm's transaction (every kohaweb request)
        request.tm.get().addAfterCommitHook(after_commit)
    else:  # a request outside pyramid_tm: its dbsession was committed by the view, or not at all
        request.add_finished_callback(lambda req: after_commit(getattr(req, "exception", None) is None))


def _run_in_thread(site, run_id: int) -> None:
    from .runner import Harvester

    harvester = Harvester.from_settings(site.session_factory, site.core["marcflavour"], site.settings["harvester"])

    def work() -> None:
        try:
            harvester.start(run_id)
        except Exception:  # a thread's exception would only reach stderr
            log.exception("harvest run %s in the web process failed", run_id)

    threading.Thread(target=work, name=f"harvest-run-{run_id}", daemon=True).start()


def includeme(config: Configurator) -> None:
    for service in (sources, source, runs):
        config.add_cornice_service(service)
