"""``POST /biblios/{biblio_id}/merge``: Koha's merge of two bibliographic records.

The record ``biblio_id_to_merge`` is merged into ``biblio_id``: its items (with their loans) and
its holds move to the kept record, whose hold queue is renumbered, and the merged record is
deleted (it joins the deleted records, so harvesters drop it). With ``rules: override_ext`` the
kept record's MARC is first replaced by ``datarecord`` (MARC-in-JSON), as Koha's. The answer is
the kept record in MARC-in-JSON, with its items, as Koha answers.

Everything happens in the request's transaction through the data layer: each item moves with
``Catalog.move_item`` (both records' datestamps, search index and OAI set membership follow),
the kept record's hold queue is renumbered with ``renumber_hold_queue`` and the merged record is
removed with ``Catalog.delete_record``. ``framework_to_use`` (with ``override_ext``) becomes the
kept record's framework code, as Koha's ModBiblio; kohaweb keeps the code but has no framework
definitions to check it against or to apply to the MARC.
"""

from __future__ import annotations

import json

import pymarc
from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import select

from ... import marc
from ...catalog import CatalogError
from ...circulation import renumber_hold_queue
from ...models import Biblio, Hold, Item
from ..errors import ApiError
from ..service import ApiService, path
from .biblios import MARC_IN_JSON, record_renderers

merge = ApiService("biblio_merge", "/biblios/{biblio_id}/merge", tag="biblios")

MERGE_BODY = {
    "type": "object",
    "required": ["biblio_id_to_merge"],
    "additionalProperties": False,
    "properties": {
        "biblio_id_to_merge": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
        "rules": {"type": ["string", "null"], "enum": ["override", "override_ext", None]},
        "framework_to_use": {"type": ["string", "null"], "maxLength": 4},
        "datarecord": {"type": ["object", "null"]},
    },
}


@merge.operation("POST", permission="editcatalogue:edit_catalogue", summary="Merge two bibliographic records",
                 description="Moves the items and holds of `biblio_id_to_merge` to this record and deletes "
                             "it. `rules`: `override` (default: this record's MARC is kept) or `override_ext` "
                             "(replaced by `datarecord`, MARC-in-JSON). Answers the merged record in "
                             "MARC-in-JSON.",
                 parameters=[path("biblio_id")], body=MERGE_BODY,
                 responses={200: {MARC_IN_JSON: {"type": "object"}}})
def merge_biblios(request: Request):
    session = request.dbsession
    body = request.validated["body"]
    kept_id, merged_id = request.validated["biblio_id"], body["biblio_id_to_merge"]
    kept = session.get(Biblio, kept_id)
    if kept is None:
        raise ApiError(404, f"[{kept_id}] biblio to merge into not found", "not_found")
    merged = session.get(Biblio, merged_id)
    if merged is None:
        raise ApiError(404, f"[{merged_id}] from which to merge not found", "not_found")
    if merged_id == kept_id:
        raise ApiError(400, "A record cannot be merged into itself", "invalid_value")
    rules = body.get("rules") or "override"
    if rules == "override" and body.get("framework_to_use"):
        # Koha's answer to this combination, status included
        raise ApiError(404, "With the rule 'override' you can not use the field 'framework_to_use'.", "not_found")
    if rules == "override_ext":
        # Koha: ModBiblio with framework_to_use, else the record's own framework
        _replace_marc(request, kept_id, body.get("datarecord"), body.get("framework_to_use") or kept.frameworkcode)
    _move_items_and_holds(request, merged, kept)
    try:
        request.catalog.delete_record(merged_id)
    except CatalogError as exc:
        raise ApiError(400, str(exc), exc.code) from None
    session.refresh(kept)
    render = record_renderers(request).get(MARC_IN_JSON)
    rendered = render(request, kept) if render is not None \
        else json.dumps(marc.parse_xml(kept.metadata_row.metadata_xml).as_dict()).encode("utf-8")
    response = Response(body=rendered, content_type=MARC_IN_JSON)
    response.charset = "utf-8"
    return response


def _replace_marc(request: Request, biblio_id: int, datarecord: dict | None, frameworkcode: str) -> None:
    if not datarecord:
        raise ApiError(400, "rules 'override_ext' needs a datarecord (MARC-in-JSON)", "invalid_record")
    try:
        records = list(pymarc.JSONReader(json.dumps(datarecord)))
    except Exception as exc:  # noqa: BLE001  (pymarc raises many kinds on malformed input)
        raise ApiError(400, f"Invalid MARC record: {type(exc).__name__}: {exc}", "invalid_record") from None
    if len(records) != 1 or records[0] is None or marc.validate(records[0]):
        raise ApiError(400, "Invalid MARC record in datarecord", "invalid_record")
    try:
        request.catalog.update_record(biblio_id, records[0], frameworkcode=frameworkcode)
    except CatalogError as exc:
        raise ApiError(400, str(exc), exc.code) from None


def _move_items_and_holds(request: Request, merged: Biblio, kept: Biblio) -> None:
    """The merged record's items and holds become the kept record's (Koha's merge_with)."""
    session = request.dbsession
    items = session.scalars(select(Item).where(Item.biblionumber == merged.biblionumber)
                            .order_by(Item.itemnumber)).all()
    for item in items:
        request.catalog.move_item(item.itemnumber, kept.biblionumber)
    for hold in session.scalars(select(Hold).where(Hold.biblionumber == merged.biblionumber)).all():
        hold.biblionumber = kept.biblionumber
    session.flush()
    session.expire(merged, ["items"])
    renumber_hold_queue(session, kept.biblionumber)


SERVICES = [merge]
