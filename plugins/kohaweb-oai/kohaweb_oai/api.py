"""``/api/v1/oai/sets``: manage OAI sets and their mapping rules over REST (``parameters``
permission, like Koha's Administration › OAI sets configuration). Changing the rules recomputes
the set's membership in the same transaction."""

from __future__ import annotations

from typing import Any

from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from kohaweb.plugin_api import (
    ApiError,
    ApiService,
    OaiSet,
    OaiSetBiblio,
    OaiSetDescription,
    OaiSetMapping,
    path,
    sets,
)

MAPPING = {
    "type": "object", "additionalProperties": False, "required": ["field", "value"],
    "properties": {
        "field": {"type": "string", "pattern": "^[0-9A-Za-z]{3}$", "description": "MARC tag"},
        "subfield": {"type": "string", "maxLength": 1, "default": "", "description": "empty for control fields"},
        "operator": {"type": "string", "enum": list(sets.OPERATORS), "default": "equal"},
        "value": {"type": "string", "maxLength": 80},
        "rule_operator": {"type": ["string", "null"], "enum": [*sets.RULE_OPERATORS, None],
                          "description": "how the rule joins the previous one (and binds tighter than or)"},
    },
}
WRITE = {
    "type": "object", "additionalProperties": False, "required": ["spec", "name"],
    "properties": {
        "spec": {"type": "string", "minLength": 1, "maxLength": 80,
                 "pattern": r"^[A-Za-z0-9\-_.!~*'()]+(:[A-Za-z0-9\-_.!~*'()]+)*$"},
        "name": {"type": "string", "minLength": 1, "maxLength": 80},
        "descriptions": {"type": "array", "items": {"type": "string"}},
        "mappings": {"type": "array", "items": MAPPING},
    },
}
READ = {
    "type": "object",
    "properties": {"set_id": {"type": "integer"}, "records": {"type": "integer"},
                   **WRITE["properties"]},
}

oai_sets = ApiService("oai.sets", "/oai/sets", tag="oai", description="OAI-PMH sets and their mapping rules")
oai_set = ApiService("oai.set", "/oai/sets/{set_id}", tag="oai")


def to_api(row: OaiSet, size: int) -> dict[str, Any]:
    ordered = sorted(row.mappings, key=lambda r: (r.rule_order or 0, r.id))
    return {"set_id": row.id, "spec": row.spec, "name": row.name, "records": size,
            "descriptions": [d.description for d in row.descriptions],
            "mappings": [{"field": m.marcfield, "subfield": m.marcsubfield, "operator": m.operator,
                          "value": m.marcvalue, "rule_operator": m.rule_operator} for m in ordered]}


def _size(session, set_id: int) -> int:
    return session.scalar(select(func.count()).select_from(OaiSetBiblio).where(OaiSetBiblio.set_id == set_id))


def _load(request: Request) -> OaiSet:
    row = request.dbsession.scalar(select(OaiSet).options(selectinload(OaiSet.mappings),
                                                          selectinload(OaiSet.descriptions))
                                   .where(OaiSet.id == request.validated["set_id"]))
    if row is None:
        raise ApiError(404, "OAI set not found", "not_found")
    return row


def _apply(request: Request, row: OaiSet, body: dict[str, Any]) -> None:
    session = request.dbsession
    clash = session.scalar(select(OaiSet.id).where(OaiSet.spec == body["spec"]))
    if clash is not None and clash != row.id:
        raise ApiError(409, f"a set with spec {body['spec']!r} exists", "duplicate_spec")
    row.spec, row.name = body["spec"], body["name"]
    row.descriptions.clear()
    row.descriptions.extend(OaiSetDescription(description=d) for d in body.get("descriptions", []))
    row.mappings.clear()
    session.flush()
    for order, rule in enumerate(body.get("mappings", [])):
        if not rule.get("subfield") and not rule["field"].startswith("00"):
            raise ApiError(400, f"mapping {order}: a subfield is needed for field {rule['field']}", "bad_mapping")
        row.mappings.append(OaiSetMapping(
            rule_order=order, rule_operator=None if order == 0 else (rule.get("rule_operator") or "or"),
            marcfield=rule["field"], marcsubfield=rule.get("subfield", ""), operator=rule.get("operator", "equal"),
            marcvalue=rule["value"]))
    session.add(row)
    session.flush()
    if row.mappings:
        sets.rebuild(session, [row], clear=True)
    else:  # a set without rules keeps no computed members
        session.execute(OaiSetBiblio.__table__.delete().where(OaiSetBiblio.set_id == row.id))


@oai_sets.operation("GET", permission="parameters", summary="List OAI sets",
                    responses={200: {"type": "array", "items": READ}})
def list_oai_sets(request: Request):
    session = request.dbsession
    sizes = dict(session.execute(select(OaiSetBiblio.set_id, func.count()).group_by(OaiSetBiblio.set_id)).all())
    rows = session.scalars(select(OaiSet).options(selectinload(OaiSet.mappings), selectinload(OaiSet.descriptions))
                           .order_by(OaiSet.spec))
    return [to_api(row, sizes.get(row.id, 0)) for row in rows]


@oai_sets.operation("POST", permission="parameters", summary="Add an OAI set", body=WRITE,
                    responses={201: READ, 409: {"$ref": "#/components/schemas/error"}})
def add_oai_set(request: Request):
    row = OaiSet()
    _apply(request, row, request.validated["body"])
    response = Response(status=201, json_body=to_api(row, _size(request.dbsession, row.id)))
    response.location = request.route_url("api:oai.set", set_id=row.id)
    return response


@oai_set.operation("GET", permission="parameters", summary="Get an OAI set",
                   parameters=[path("set_id")], responses={200: READ})
def get_oai_set(request: Request):
    row = _load(request)
    return to_api(row, _size(request.dbsession, row.id))


@oai_set.operation("PUT", permission="parameters", summary="Replace an OAI set and rebuild its membership",
                   parameters=[path("set_id")], body=WRITE,
                   responses={200: READ, 409: {"$ref": "#/components/schemas/error"}})
def update_oai_set(request: Request):
    row = _load(request)
    _apply(request, row, request.validated["body"])
    return to_api(row, _size(request.dbsession, row.id))


@oai_set.operation("DELETE", permission="parameters", summary="Delete an OAI set",
                   parameters=[path("set_id")], responses={204: None})
def delete_oai_set(request: Request):
    row = _load(request)
    request.dbsession.execute(OaiSetBiblio.__table__.delete().where(OaiSetBiblio.set_id == row.id))
    request.dbsession.delete(row)
    return Response(status=204)


SERVICES = [oai_sets, oai_set]
