"""``/circulation_rules``: Koha's rule sets, read (effective or as stored) and written.

A rule set is one scope, ``context`` = ``{library_id, patron_category_id, item_type_id}`` (``*``
for "any"), plus one property per rule kind. ``GET`` answers a list: with ``effective`` (the
default) one set holding, for each kind, the value that applies to the scope asked (the most
specific rule, as ``kohaweb.circulation.get_rule`` picks it; null when no rule applies, as Koha),
else every stored scope (filtered by the scope parameters given) with its values. ``PUT`` sets
the kinds of one scope; a null value (or an empty one, for kinds that cannot be blank) deletes
the rule. Permissions as Koha's: reading ``circulate: circulate_remaining_permissions``, writing
``parameters: manage_circ_rules``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pyramid.request import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from ...models import CirculationRule, ItemType, Library, PatronCategory
from ..errors import ApiError
from ..service import ApiService, query

BRANCH, CATEGORY, ITEMTYPE = "branchcode", "categorycode", "itemtype"
ALL_LEVELS = (BRANCH, CATEGORY, ITEMTYPE)

# Koha's rule kinds (Koha::CirculationRules rule_kinds): the scope levels each may be set at, and
# the kinds whose empty value means "no rule" (can_be_blank = 0)
RULE_SCOPES: dict[str, tuple[str, ...]] = {
    "lostreturn": (BRANCH,),
    "patron_maxissueqty": (BRANCH, CATEGORY),
    "patron_maxonsiteissueqty": (BRANCH, CATEGORY),
    "max_holds": (BRANCH, CATEGORY),
    "holdallowed": (BRANCH, ITEMTYPE),
    "hold_fulfillment_policy": (BRANCH, ITEMTYPE),
    "returnbranch": (BRANCH, ITEMTYPE),
    "article_request_fee": (BRANCH, CATEGORY),
    "open_article_requests_limit": (BRANCH, CATEGORY),
    **{kind: ALL_LEVELS for kind in (
        "article_requests", "auto_renew", "cap_fine_to_replacement_price", "chargeperiod",
        "chargeperiod_charge_at", "fine", "finedays", "firstremind", "hardduedate", "hardduedatecompare",
        "waiting_hold_cancellation", "holds_per_day", "holds_per_record", "issuelength", "daysmode",
        "lengthunit", "maxissueqty", "maxonsiteissueqty", "maxsuspensiondays", "no_auto_renewal_after",
        "no_auto_renewal_after_hard_limit", "norenewalbefore", "onshelfholds", "opacitemholds",
        "overduefinescap", "renewalperiod", "renewalsallowed", "unseen_renewals_allowed", "rentaldiscount",
        "reservesallowed", "suspension_chargeperiod", "note", "decreaseloanholds", "recalls_allowed",
        "recalls_per_record", "on_shelf_recalls", "recall_due_date_interval", "recall_overdue_fine",
        "recall_shelf_time")},
}
NOT_BLANK = frozenset({"holdallowed", "hold_fulfillment_policy", "returnbranch", "waiting_hold_cancellation",
                       "rentaldiscount"})

# API context name -> (column, model that must hold the code, the list resource Koha points to)
CONTEXT = {
    "library_id": (BRANCH, Library, "/api/v1/libraries"),
    "patron_category_id": (CATEGORY, PatronCategory, "/api/v1/patron_categories"),
    "item_type_id": (ITEMTYPE, ItemType, "/api/v1/item_types"),
}
LEVEL_LABEL = {BRANCH: "library", CATEGORY: "patron category", ITEMTYPE: "item type"}
RULE_VALUE_LENGTH = 32  # circulation_rules.rule_value

CONTEXT_SCHEMA = {
    "type": "object",
    "properties": {name: {"type": "string", "maxLength": 10} for name in CONTEXT},
    "description": "The scope of the rule set; * means any",
}
RULE_SET = {
    "type": "object",
    "properties": {"context": {**CONTEXT_SCHEMA, "required": list(CONTEXT), "additionalProperties": False}},
    "required": ["context"],
    "additionalProperties": {"type": ["string", "null"]},
}
RULE_SET_BODY = {
    "type": "object",
    "properties": {"context": {**CONTEXT_SCHEMA, "additionalProperties": False}},
    "required": ["context"],
    "propertyNames": {"maxLength": 32},
    "additionalProperties": {"type": ["string", "integer", "number", "null"], "maxLength": RULE_VALUE_LENGTH},
}

circulation_rules = ApiService("circulation_rules", "/circulation_rules", description="Circulation rules")


@circulation_rules.operation(
    "GET", permission="circulate:circulate_remaining_permissions", summary="List circulation rules",
    description="effective=true (default): one rule set with the values that apply to the scope given; "
                "effective=false: every stored scope matching the scope parameters ('*' = any).",
    parameters=[
        query("effective", "boolean", "Effective rules (default) or the rules as stored"),
        query("item_type_id", {"type": "string", "maxLength": 10}, "Item type, or * for any"),
        query("library_id", {"type": "string", "maxLength": 10}, "Library, or * for any"),
        query("patron_category_id", {"type": "string", "maxLength": 10}, "Patron category, or * for any"),
        query("rules", {"type": "string", "maxLength": 4096}, "Comma-separated rule kinds (default: all)"),
    ],
    responses={200: {"type": "array", "items": RULE_SET}})
def list_rules(request: Request):
    values = request.validated
    session = request.dbsession
    kinds = (re.split(r"\s*,\s*", values["rules"].strip()) if "rules" in values else list(RULE_SCOPES))
    kinds = list(dict.fromkeys(k for k in kinds if k))
    # an empty parameter is no filter, as in Koha
    scope = {name: values[name] for name in CONTEXT if values.get(name)}
    for name, code in scope.items():
        _check_code(session, name, code, f"/query/{name}")
    columns = {CONTEXT[name][0]: (None if code == "*" else code) for name, code in scope.items()}
    if values.get("effective", True):
        return [_rule_set(columns, effective_rules(session, kinds, **columns))]
    rows = session.execute(select(CirculationRule.branchcode, CirculationRule.categorycode,
                                  CirculationRule.itemtype, CirculationRule.rule_name, CirculationRule.rule_value)
                           .where(*(_is(getattr(CirculationRule, c), v) for c, v in columns.items()))).all()
    scopes: dict[tuple, dict[str, str | None]] = {}
    for row in rows:
        found = scopes.setdefault((row.branchcode, row.categorycode, row.itemtype), dict.fromkeys(kinds))
        if row.rule_name in found:
            found[row.rule_name] = row.rule_value
    # Koha orders by the three columns, "any" (NULL) first
    ordered = sorted(scopes.items(), key=lambda entry: [(code is not None, code or "") for code in entry[0]])
    return [_rule_set(dict(zip(ALL_LEVELS, key, strict=True)), found) for key, found in ordered]


@circulation_rules.operation(
    "PUT", permission="parameters:manage_circ_rules", summary="Set circulation rules",
    description="Sets the rule kinds given for the scope in `context` (every level required, '*' = any); "
                "null deletes a rule. A kind must be set at the levels Koha defines for it: the other "
                "levels must be '*'.",
    body=RULE_SET_BODY, responses={200: RULE_SET})
def set_rules(request: Request):
    body = request.validated["body"]
    session = request.dbsession
    context = body["context"]
    columns: dict[str, str | None] = {}
    for name, (column, _model, _uri) in CONTEXT.items():
        code = context.get(name)
        if code != "*":
            _check_code(session, name, code, f"/body/context/{name}")
        columns[column] = None if code == "*" else code
    rules = {kind: value for kind, value in body.items() if kind != "context"}
    for kind, value in rules.items():
        if kind not in RULE_SCOPES:
            raise ApiError(400, f"Unknown rule kind {kind!r}", "invalid_rule_kind", path=f"/body/{kind}")
        for level in ALL_LEVELS:
            if level not in RULE_SCOPES[kind] and columns[level] is not None:
                raise ApiError(400, f"{kind!r} cannot be set for a {LEVEL_LABEL[level]}", "invalid_rule_scope",
                               path=f"/body/{kind}")
        if value is not None and len(_text(value)) > RULE_VALUE_LENGTH:
            raise ApiError(400, f"{kind}: longer than {RULE_VALUE_LENGTH} characters", "invalid_value",
                           path=f"/body/{kind}")
    result: dict[str, str | None] = {}
    for kind, value in rules.items():
        text = None if value is None else _text(value)
        if text == "" and kind in NOT_BLANK:
            text = None
        result[kind] = _set_rule(session, kind, text, columns)
    session.flush()
    return _rule_set(columns, result)


def effective_rules(session: Session, kinds: Iterable[str], *, branchcode: str | None = None,
                    categorycode: str | None = None, itemtype: str | None = None) -> dict[str, str | None]:
    """The effective value of each kind for a scope: among the rules that apply (a NULL level
    matches anything), the most specific, the library counting first, then the patron category,
    then the item type (``kohaweb.circulation.get_rule``'s choice, in one query for all kinds).
    A kind without any rule is None (Koha's answer; ``get_rule`` gives kohaweb's default)."""
    kinds = list(kinds)
    found: dict[str, tuple[tuple[bool, bool, bool], str]] = {}
    if kinds:
        rows = session.execute(
            select(CirculationRule.branchcode, CirculationRule.categorycode, CirculationRule.itemtype,
                   CirculationRule.rule_name, CirculationRule.rule_value)
            .where(CirculationRule.rule_name.in_(kinds))
            .where(_applies(CirculationRule.branchcode, branchcode))
            .where(_applies(CirculationRule.categorycode, categorycode))
            .where(_applies(CirculationRule.itemtype, itemtype))).all()
        for row in rows:
            rank = (row.branchcode is not None, row.categorycode is not None, row.itemtype is not None)
            if row.rule_name not in found or rank > found[row.rule_name][0]:
                found[row.rule_name] = (rank, row.rule_value)
    return {kind: found[kind][1] if kind in found else None for kind in kinds}


def _applies(column, code: str | None):
    return column.is_(None) if code is None else (column.is_(None) | (column == code))


def _is(column, code: str | None):
    return column.is_(None) if code is None else column == code


def _check_code(session: Session, name: str, code: str | None, where: str) -> None:
    """A context code must name an existing library / category / item type (or be '*'); else
    Koha's invalid-parameter answer."""
    if code == "*":
        return
    _column, model, uri = CONTEXT[name]
    if code is None or session.get(model, code) is None:
        raise ApiError(400, "Invalid parameter value", "invalid_parameter_value", path=where,
                       values={"uri": uri, "field": name})


def _text(value: Any) -> str:
    """Koha stores every rule value as text; JSON numbers keep their written form."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _set_rule(session: Session, kind: str, value: str | None, columns: dict[str, str | None]) -> str | None:
    rows = session.scalars(select(CirculationRule).where(CirculationRule.rule_name == kind)
                           .where(*(_is(getattr(CirculationRule, c), v) for c, v in columns.items()))).all()
    if value is None:
        for row in rows:
            session.delete(row)
        return None
    if rows:
        rows[0].rule_value = value
        for extra in rows[1:]:  # one rule per kind and scope
            session.delete(extra)
    else:
        session.add(CirculationRule(rule_name=kind, rule_value=value, **columns))
    return value


def _rule_set(columns: dict[str, str | None], rules: dict[str, str | None]) -> dict[str, Any]:
    context = {name: columns.get(column) or "*" for name, (column, _model, _uri) in CONTEXT.items()}
    return {**rules, "context": context}


SERVICES = [circulation_rules]
