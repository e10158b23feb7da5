"""REST management of harvest sources under /api/v1/harvest (permission: parameters).

Starting a run (POST .../runs) answers 202 at once and harvests in a background thread, as a
harvest can take hours; its progress is visible in GET .../runs.
"""

from __future__ import annotations

import threading

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import select

from kohaweb.api import ApiError, ApiService, path
from kohaweb.api.openapi import ERROR_REF
from kohaweb.models import HarvestRun, HarvestSource

from .sources import SourceError, add_source, find_source, remove_source, run_dict, source_dict

RUN = {"type": "object", "properties": {
    "run_id": {"type": "integer"}, "status": {"type": "string"},
    "started": {"type": ["string", "null"]}, "finished": {"type": ["string", "null"]},
    "added": {"type": "integer"}, "updated": {"type": "integer"}, "deleted": {"type": "integer"},
    "failed": {"type": "integer"}, "last_error": {"type": ["string", "null"]}}}
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
                  parameters=[path("source_id")], responses={204: None})
def delete_source(request: Request):
    remove_source(request.dbsession, _source(request))
    return Response(status=204)


@runs.operation("GET", permission="parameters", summary="Runs of a harvest source",
                parameters=[path("source_id")], responses={200: {"type": "array", "items": RUN}})
def list_runs(request: Request):
    found = _source(request)
    rows = request.dbsession.scalars(select(HarvestRun).where(HarvestRun.source_id == found.id)
                                     .order_by(HarvestRun.id.desc()))
    return [run_dict(row) for row in rows]


@runs.operation("POST", permission="parameters", summary="Start a harvest run in the background",
                parameters=[path("source_id")], responses={202: {"type": "object", "properties": {
                    "source_id": {"type": "integer"}, "status": {"type": "string"}}}})
def start_run(request: Request):
    from .runner import Harvester

    found = _source(request)
    site = request.registry.kohaweb
    settings = site.settings["harvester"]
    harvester = Harvester(site.session_factory, site.core["marcflavour"], deleted=settings["deleted"],
                          retries=settings["retries"])
    threading.Thread(target=harvester.run, args=(found.id,), name=f"harvest-{found.id}", daemon=True).start()
    response = Response(status=202, json_body={"source_id": found.id, "status": "started"})
    response.location = request.route_url("api:harvest.runs", source_id=found.id)
    return response


def includeme(config: Configurator) -> None:
    for service in (sources, source, runs):
        config.add_cornice_service(service)
