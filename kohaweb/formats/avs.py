"""expanded_avs: item codes replaced by their names, as Koha's OAI server does when asked."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import AuthorisedValue, ItemType, Library

# items column -> authorised value category (Koha's defaults)
AV_CATEGORIES = {"location": "LOC", "ccode": "CCODE", "notforloan": "NOT_LOAN", "itemlost": "LOST",
                 "withdrawn": "WITHDRAWN", "damaged": "DAMAGED"}


def _labels(session: Session) -> dict[str, dict[str, str]]:
    """Code -> label maps, cached for the session's lifetime (one render batch)."""
    cached = session.info.get("kohaweb.avs")
    if cached is None:
        cached = {"branch": dict(session.execute(select(Library.branchcode, Library.branchname)).all()),
                  "itype": {code: desc for code, desc in session.execute(
                      select(ItemType.itemtype, ItemType.description)).all() if desc}}
        for category, code, lib, lib_opac in session.execute(select(
                AuthorisedValue.category, AuthorisedValue.authorised_value, AuthorisedValue.lib,
                AuthorisedValue.lib_opac)):
            label = lib_opac or lib
            if label:
                cached.setdefault(category, {})[code] = label
        session.info["kohaweb.avs"] = cached
    return cached


def expand(session: Session, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    labels = _labels(session)
    expanded = []
    for item in items:
        copy = dict(item)
        for column in ("homebranch", "holdingbranch"):
            if copy.get(column) in labels["branch"]:
                copy[column] = labels["branch"][copy[column]]
        if copy.get("itype") in labels["itype"]:
            copy["itype"] = labels["itype"][copy["itype"]]
        for column, category in AV_CATEGORIES.items():
            value = copy.get(column)
            if value is not None and str(value) in labels.get(category, {}):
                copy[column] = labels[category][str(value)]
        expanded.append(copy)
    return expanded
