"""The staff page for OAI sets (Koha's Administration › OAI sets configuration, admin/oai_sets.pl;
``parameters`` permission): list sets with their sizes, add, edit and delete a set with its
descriptions and mapping rules, preview how many records a rule set matches before saving, and
rebuild every mapped set's membership.

Server-rendered, no JavaScript; every POST carries the CSRF token. A set is saved through the REST
API's own ``_apply`` (same validation, same membership rebuild), and the preview runs that very
save inside a savepoint that is rolled back, so the count shown is the count a save produces."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from pyramid.config import Configurator
from pyramid.csrf import get_csrf_token
from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.request import Request
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from kohaweb.plugin_api import ApiError, OaiSet, OaiSetBiblio, sets

from . import api

LIST = "kohaweb_oai:templates/oai_sets.html"
EDIT = "kohaweb_oai:templates/oai_set.html"
BLANK_RULES = 3  # empty rule rows offered under the existing ones (no JavaScript to add rows)
_WRITE = Draft202012Validator(api.WRITE)


def includeme(config: Configurator) -> None:
    """Routes and views of the OAI sets staff page."""
    config.add_route("oai.sets.page", "/oai-sets")
    config.add_route("oai.sets.page.new", "/oai-sets/new")
    config.add_route("oai.sets.page.rebuild", "/oai-sets/rebuild")
    config.add_route("oai.sets.page.set", r"/oai-sets/{set_id:\d+}")
    config.add_route("oai.sets.page.delete", r"/oai-sets/{set_id:\d+}/delete")
    config.add_route("oai.sets.koha", "/cgi-bin/koha/admin/oai_sets.pl")  # Koha's address of the page
    config.add_view(koha_address, route_name="oai.sets.koha", request_method="GET")
    config.add_view(list_page, route_name="oai.sets.page", request_method="GET", renderer=LIST,
                    permission="parameters")
    config.add_view(rebuild_all, route_name="oai.sets.page.rebuild", request_method="POST",
                    permission="parameters", require_csrf=True)
    config.add_view(new_page, route_name="oai.sets.page.new", request_method="GET", renderer=EDIT,
                    permission="parameters")
    config.add_view(submit_new, route_name="oai.sets.page.new", request_method="POST", renderer=EDIT,
                    permission="parameters", require_csrf=True)
    config.add_view(edit_page, route_name="oai.sets.page.set", request_method="GET", renderer=EDIT,
                    permission="parameters")
    config.add_view(submit_edit, route_name="oai.sets.page.set", request_method="POST", renderer=EDIT,
                    permission="parameters", require_csrf=True)
    config.add_view(delete_set, route_name="oai.sets.page.delete", request_method="POST",
                    permission="parameters", require_csrf=True)
    config.add_home_link("OAI-PMH", "OAI sets configuration", "/oai-sets",
                         "define sets and the MARC rules that fill them; rebuild their membership", staff=True)


def koha_address(request: Request) -> HTTPSeeOther:
    """Bookmarks of Koha's admin/oai_sets.pl keep working."""
    return HTTPSeeOther(request.route_path("oai.sets.page"))


# --- the list -----------------------------------------------------------------------------------

def list_page(request: Request) -> dict[str, Any]:
    """Every set with its rule count and size."""
    session = request.dbsession
    sizes = dict(session.execute(select(OaiSetBiblio.set_id, func.count()).group_by(OaiSetBiblio.set_id)).all())
    rows = session.scalars(select(OaiSet).options(selectinload(OaiSet.mappings), selectinload(OaiSet.descriptions))
                           .order_by(OaiSet.spec))
    return {"sets": [api.to_api(row, sizes.get(row.id, 0)) for row in rows], "csrf_token": get_csrf_token(request),
            "messages": request.session.pop_flash()}


def rebuild_all(request: Request) -> HTTPSeeOther:
    """Recompute membership of every record in every mapped set (``kohaweb oai build-sets``).
    Memberships of deleted records are kept, so harvesters still see those deletions in the set."""
    examined = sets.rebuild(request.dbsession)
    request.session.flash(f"Set membership rebuilt: {examined} records examined.")
    return HTTPSeeOther(request.route_path("oai.sets.page"))


# --- one set ------------------------------------------------------------------------------------

def _form_from_set(data: dict[str, Any]) -> dict[str, Any]:
    """The edit form's values from the REST representation of a set."""
    return {"spec": data["spec"], "name": data["name"], "descriptions": list(data["descriptions"]),
            "mappings": [dict(m, subfield=m["subfield"] or "", rule_operator=m["rule_operator"] or "or")
                         for m in data["mappings"]]}


def _form_from_post(request: Request) -> dict[str, Any]:
    """The submitted form as the REST API's body; empty rule rows and descriptions are dropped."""
    post = request.POST
    descriptions = [d for d in post.getall("description") if d.strip()]
    mappings = []
    fields, subfields, operators = post.getall("field"), post.getall("subfield"), post.getall("operator")
    values, joins = post.getall("value"), post.getall("rule_operator")
    for index, field in enumerate(fields):
        value = _pick(values, index)
        if not field.strip() and not value:
            continue  # an unused row
        mappings.append({"field": field.strip(), "subfield": _pick(subfields, index).strip(),
                         "operator": _pick(operators, index, "equal"), "value": value,
                         "rule_operator": _pick(joins, index, "or") or "or"})
    return {"spec": post.get("spec", "").strip(), "name": post.get("name", "").strip(),
            "descriptions": descriptions, "mappings": mappings}


def _pick(column: list[str], index: int, default: str = "") -> str:
    # every row has each input, but a hand-made POST may not: missing cells take the default
    return column[index] if index < len(column) else default


def _problems(body: dict[str, Any]) -> str | None:
    """The REST API's schema check, in words for the page."""
    errors = sorted(_WRITE.iter_errors(body), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    described = []
    for error in errors:
        where = ".".join(str(p) for p in error.absolute_path) or "set"
        if list(error.absolute_path)[:1] == ["mappings"] and len(error.absolute_path) >= 2:
            where = f"rule {error.absolute_path[1] + 1} ({error.absolute_path[-1]})"
        described.append(f"{where}: {error.message}")
    return "; ".join(described)


def _values(request: Request, form: dict[str, Any], set_id: int | None, **extra: Any) -> dict[str, Any]:
    values = {"form": form, "set_id": set_id, "csrf_token": get_csrf_token(request), "error": None,
              "preview": None, "records": None, "blank_rules": BLANK_RULES,
              "operators": sets.OPERATORS, "rule_operators": sets.RULE_OPERATORS,
              "messages": request.session.pop_flash()}
    values.update(extra)
    return values


def _load(request: Request) -> OaiSet:
    row = request.dbsession.scalar(select(OaiSet).options(selectinload(OaiSet.mappings),
                                                          selectinload(OaiSet.descriptions))
                                   .where(OaiSet.id == int(request.matchdict["set_id"])))
    if row is None:
        raise HTTPNotFound()
    return row


def new_page(request: Request) -> dict[str, Any]:
    """An empty form for a new set."""
    return _values(request, {"spec": "", "name": "", "descriptions": [], "mappings": []}, None)


def edit_page(request: Request) -> dict[str, Any]:
    """The form of an existing set, with its current size."""
    row = _load(request)
    data = api.to_api(row, _size(request, row.id))
    return _values(request, _form_from_set(data), row.id, records=data["records"])


def submit_new(request: Request):
    """Preview or save a new set."""
    return _submit(request, None)


def submit_edit(request: Request):
    """Preview or save changes to a set."""
    return _submit(request, _load(request))


def preview_count(request: Request, row: OaiSet | None, body: dict[str, Any]) -> int:
    """How many records the set would hold with ``body`` saved: the save itself (REST ``_apply``,
    which rebuilds the membership) run in a savepoint that is then rolled back. Raises ApiError
    as a save would."""
    session = request.dbsession
    savepoint = session.begin_nested()
    try:
        target = row if row is not None else OaiSet()
        api._apply(request, target, body)
        return _size(request, target.id)
    finally:
        savepoint.rollback()
        # the rollback discarded the rows of the savepoint; what the session still holds of them is stale
        session.expire_all()


def _size(request: Request, set_id: int) -> int:
    return request.dbsession.scalar(select(func.count()).select_from(OaiSetBiblio)
                                    .where(OaiSetBiblio.set_id == set_id))


def _submit(request: Request, row: OaiSet | None):
    set_id = row.id if row is not None else None
    body = _form_from_post(request)
    problems = _problems(body)
    if problems is not None:
        request.response.status = 400
        return _values(request, body, set_id, error=problems)
    if request.POST.get("action") == "preview":
        try:
            count = preview_count(request, row, body)
        except ApiError as exc:
            request.response.status = exc.status
            return _values(request, body, set_id, error=exc.message)
        return _values(request, body, set_id, preview=count)
    target = row if row is not None else OaiSet()
    try:
        api._apply(request, target, body)
    except ApiError as exc:
        request.response.status = exc.status
        return _values(request, body, set_id, error=exc.message)
    size = _size(request, target.id)
    request.session.flash(f"Set “{body['spec']}” saved: {size} records.")
    return HTTPSeeOther(request.route_path("oai.sets.page.set", set_id=target.id))


def delete_set(request: Request) -> HTTPSeeOther:
    """Delete a set, its rules and its membership (as the REST API's DELETE does)."""
    row = _load(request)
    spec = row.spec
    request.dbsession.execute(OaiSetBiblio.__table__.delete().where(OaiSetBiblio.set_id == row.id))
    request.dbsession.delete(row)
    request.session.flash(f"Set “{spec}” deleted.")
    return HTTPSeeOther(request.route_path("oai.sets.page"))

