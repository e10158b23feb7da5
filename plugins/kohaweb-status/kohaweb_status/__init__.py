"""The ``status`` service for monitoring: ``/status`` (public) answers whether the catalogue
database is reachable; ``/status/details`` (``parameters`` permission) adds the schema revision
and record counts."""

from __future__ import annotations

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from kohaweb.plugin_api import Biblio, DeletedBiblio, Item, Setting, __version__

SETTINGS = [
    Setting("status.show_counts", "bool", True, "Include record and item counts in /status."),
]


def includeme(config: Configurator) -> None:
    config.add_home_link("Status", "Status", "/status", "whether the site and its database answer")
    config.add_route("status", "/status")
    config.add_route("status_details", "/status/details")
    config.add_view(status, route_name="status", request_method="GET")
    config.add_view(status, route_name="status_details", request_method="GET", permission="parameters")


def status(request: Request) -> Response:
    site = request.registry.kohaweb
    body = {"status": "ok", "version": __version__, "services": site.services}
    try:
        session = request.dbsession
        session.execute(text("SELECT 1"))
        if request.matched_route.name != "status_details":
            return Response(json_body=body)
        revision = session.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        body["schema_revision"] = sorted(revision)
        if site.settings["status"]["show_counts"]:
            body["records"] = session.scalar(select(func.count()).select_from(Biblio))
            body["deleted_records"] = session.scalar(select(func.count()).select_from(DeletedBiblio))
            body["items"] = session.scalar(select(func.count()).select_from(Item))
    except SQLAlchemyError:
        return Response(status=503, json_body={"status": "unavailable", "error": "database unreachable"})
    return Response(json_body=body)
