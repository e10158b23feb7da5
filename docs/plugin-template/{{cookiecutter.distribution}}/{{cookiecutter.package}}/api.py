"""REST: GET /api/v1/contrib/{{ cookiecutter.plugin_name }}/changes."""

from __future__ import annotations

from kohaweb.plugin_api import contrib_service, query
from sqlalchemy import select

from .models import RecordChangeNote

CHANGE = {
    "type": "object",
    "properties": {
        "change_id": {"type": "integer"},
        "biblio_id": {"type": "integer"},
        "action": {"type": "string", "enum": ["added", "updated", "suppressed", "items", "deleted"]},
        "noted_at": {"type": "string", "format": "date-time"},
    },
    "required": ["change_id", "biblio_id", "action", "noted_at"],
}

# /api/v1/contrib/{{ cookiecutter.plugin_name }}/changes, tagged contrib:{{ cookiecutter.plugin_name }} in the OpenAPI document
changes = contrib_service("{{ cookiecutter.plugin_name }}", "changes", "/changes")


@changes.operation("GET", permission="catalogue", summary="Latest record changes, newest first",
                   parameters=[query("biblio_id", "integer", "Only the changes of this record")],
                   responses={200: {"type": "array", "items": CHANGE}})
def list_changes(request):
    limit = request.registry.kohaweb.settings["{{ cookiecutter.plugin_name }}"]["max_listed"]
    statement = select(RecordChangeNote).order_by(RecordChangeNote.id.desc()).limit(limit)
    if request.validated.get("biblio_id") is not None:
        statement = statement.where(RecordChangeNote.biblionumber == request.validated["biblio_id"])
    return [{"change_id": row.id, "biblio_id": row.biblionumber, "action": row.action,
             "noted_at": row.noted_at.isoformat() + "Z"} for row in request.dbsession.scalars(statement)]
