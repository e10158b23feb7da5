"""The staff page for harvesting (``parameters`` permission, as the REST API): list the sources,
add, edit and remove one, start a run (queued exactly as ``POST /api/v1/harvest/sources/{id}/runs``
does) and follow its runs with their counts and errors.

Server-rendered, no JavaScript; every POST carries the CSRF token and ends in a redirect."""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from pyramid.csrf import get_csrf_token
from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.request import Request
from sqlalchemy import select

from .api import start_after_commit
from .models import HarvestRun, HarvestSource
from .runs import RunActive, active_run, enqueue, reap_stale
from .sources import SourceError, add_source, remove_source, run_dict, source_dict, validate

LIST = "kohaweb_harvester:templates/harvest_sources.html"
SHOW = "kohaweb_harvester:templates/harvest_source.html"
RUNS_SHOWN = 50  # the latest runs on a source's page
_HARVEST_FIELDS = ("base_url", "metadata_prefix", "sets")  # what a checkpoint and a high-water mark depend on


def includeme(config: Configurator) -> None:
    """Routes and views of the harvesting staff page."""
    config.add_route("harvest.page", "/harvest-sources")
    config.add_route("harvest.page.source", r"/harvest-sources/{source_id:\d+}")
    config.add_route("harvest.page.run", r"/harvest-sources/{source_id:\d+}/runs")
    config.add_route("harvest.page.delete", r"/harvest-sources/{source_id:\d+}/delete")
    config.add_view(list_page, route_name="harvest.page", request_method="GET", renderer=LIST,
                    permission="parameters")
    config.add_view(create, route_name="harvest.page", request_method="POST", renderer=LIST,
                    permission="parameters", require_csrf=True)
    config.add_view(source_page, route_name="harvest.page.source", request_method="GET", renderer=SHOW,
                    permission="parameters")
    config.add_view(edit, route_name="harvest.page.source", request_method="POST", renderer=SHOW,
                    permission="parameters", require_csrf=True)
    config.add_view(start_run, route_name="harvest.page.run", request_method="POST",
                    permission="parameters", require_csrf=True)
    config.add_view(delete, route_name="harvest.page.delete", request_method="POST",
                    permission="parameters", require_csrf=True)
    config.add_home_link("Harvesting", "Harvest sources and runs", "/harvest-sources",
                         "add the repositories to harvest, start a run, follow its progress and errors", staff=True)


def _settings(request: Request) -> dict[str, Any]:
    return request.registry.kohaweb.settings["harvester"]


def _form(request: Request) -> dict[str, Any]:
    post = request.POST
    return {"name": post.get("name", "").strip(), "base_url": post.get("base_url", "").strip(),
            "metadata_prefix": post.get("metadata_prefix", "").strip() or "marcxml",
            "sets": post.get("sets", "").split(), "schedule": post.get("schedule", "").strip() or None,
            "enabled": bool(post.get("enabled"))}


def _check_schedule(form: dict[str, Any]) -> None:
    # the REST API's schema limit (harvest_sources.schedule is 64 characters)
    if form["schedule"] is not None and len(form["schedule"]) > 64:
        raise SourceError("the schedule is at most 64 characters")
    if len(form["base_url"]) > 500:
        raise SourceError("the base URL is at most 500 characters")


def _blank() -> dict[str, Any]:
    return {"name": "", "base_url": "", "metadata_prefix": "marcxml", "sets": [], "schedule": None, "enabled": True}


def _listing(request: Request, **extra: Any) -> dict[str, Any]:
    session = request.dbsession
    # runs whose process died are marked failed first, so the list shows what is really going on
    reap_stale(session, _settings(request)["stale_after"])
    rows = session.scalars(select(HarvestSource).order_by(HarvestSource.name))
    values = {"sources": [source_dict(session, row) for row in rows], "csrf_token": get_csrf_token(request),
              "form": _blank(), "error": None, "messages": request.session.pop_flash()}
    values.update(extra)
    return values


def list_page(request: Request) -> dict[str, Any]:
    """Every source with its record count and last run, and the form for a new one."""
    return _listing(request)


def create(request: Request):
    """Add a source (the REST API's checks: unique name, http(s) URL, one-word prefix)."""
    form = _form(request)
    try:
        _check_schedule(form)
        created = add_source(request.dbsession, form["name"], form["base_url"], form["metadata_prefix"],
                             form["sets"], form["schedule"], form["enabled"])
    except SourceError as exc:
        request.response.status = 409 if "exists" in str(exc) else 400
        return _listing(request, form=form, error=str(exc))
    request.session.flash(f"Source “{created.name}” added.")
    return HTTPSeeOther(request.route_path("harvest.page.source", source_id=created.id))


def _load(request: Request) -> HarvestSource:
    found = request.dbsession.get(HarvestSource, int(request.matchdict["source_id"]))
    if found is None:
        raise HTTPNotFound()
    return found


def _show(request: Request, found: HarvestSource, **extra: Any) -> dict[str, Any]:
    session = request.dbsession
    reap_stale(session, _settings(request)["stale_after"], found.id)
    data = source_dict(session, found)
    runs = session.scalars(select(HarvestRun).where(HarvestRun.source_id == found.id)
                           .order_by(HarvestRun.id.desc()).limit(RUNS_SHOWN))
    active = active_run(session, found.id)
    values = {"source": data, "form": {k: data[k] for k in _blank()}, "runs": [run_dict(r) for r in runs],
              "active": run_dict(active) if active is not None else None, "csrf_token": get_csrf_token(request),
              "error": None, "messages": request.session.pop_flash(), "run_in_web": _settings(request)["run_in_web"]}
    values.update(extra)
    return values


def source_page(request: Request) -> dict[str, Any]:
    """A source: its settings (editable), its runs, and the buttons to start a run or remove it."""
    return _show(request, _load(request))


def edit(request: Request):
    """Change a source. Changing where or what it harvests forgets the checkpoint and the
    high-water mark (the next run harvests everything again), and is refused while a run is active."""
    found = _load(request)
    form = _form(request)
    try:
        validate(form["name"], form["base_url"], form["metadata_prefix"])
        _check_schedule(form)
    except SourceError as exc:
        request.response.status = 400
        return _show(request, found, form=form, error=str(exc))
    # by name only: find_source would take a name made of digits for an id
    clash = request.dbsession.scalar(select(HarvestSource.id).where(HarvestSource.name == form["name"]))
    if clash is not None and clash != found.id:
        request.response.status = 409
        return _show(request, found, form=form, error=f"a source named {form['name']!r} exists")
    sets = " ".join(form["sets"]) or None
    retarget = (form["base_url"], form["metadata_prefix"], sets) != (found.base_url, found.metadata_prefix, found.sets)
    if retarget:
        reap_stale(request.dbsession, _settings(request)["stale_after"], found.id)
        if active_run(request.dbsession, found.id) is not None:
            request.response.status = 409
            return _show(request, found, form=form, error="A run of this source is queued or running: change "
                         "its URL, format or sets once it has finished.")
        found.checkpoint = None
        found.last_datestamp = None
    found.name, found.base_url, found.metadata_prefix = form["name"], form["base_url"], form["metadata_prefix"]
    found.sets, found.schedule, found.enabled = sets, form["schedule"], form["enabled"]
    request.session.flash(f"Source “{found.name}” saved." + (
        " The next run harvests it from the start." if retarget else ""))
    return HTTPSeeOther(request.route_path("harvest.page.source", source_id=found.id))


def start_run(request: Request) -> HTTPSeeOther:
    """Queue a run, as the REST API does (and start it in this process with harvester.run_in_web)."""
    found = _load(request)
    settings = _settings(request)
    try:
        run = enqueue(request.dbsession, found.id, settings["stale_after"])
    except RunActive as exc:
        request.session.flash(f"This source already has a {exc.status} run.")
    else:
        request.dbsession.flush()
        run_id = run.id
        if settings["run_in_web"]:
            start_after_commit(request, run_id)
            request.session.flash(f"Run {run_id} started.")
        else:
            request.session.flash(f"Run {run_id} queued: `kohaweb harvest worker` will execute it.")
    return HTTPSeeOther(request.route_path("harvest.page.source", source_id=found.id))


def delete(request: Request) -> HTTPSeeOther:
    """Remove a source, its runs and its identifier map; its records stay in the catalogue.
    Refused while one of its runs is running (a queued run goes with the source)."""
    found = _load(request)
    reap_stale(request.dbsession, _settings(request)["stale_after"], found.id)
    running = active_run(request.dbsession, found.id)
    if running is not None and running.status == "running":
        request.session.flash(f"Run {running.id} of this source is running: remove the source once it has finished.")
        return HTTPSeeOther(request.route_path("harvest.page.source", source_id=found.id))
    name = found.name
    remove_source(request.dbsession, found)
    request.session.flash(f"Source “{name}” removed; its records stay in the catalogue.")
    return HTTPSeeOther(request.route_path("harvest.page"))
