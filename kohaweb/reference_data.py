"""The reference tables a catalogue needs before its first record or patron: libraries, item
types, patron categories and the default circulation rules, and the site definition
``kohaweb init`` reads (a YAML file, or answers to its questions).

A site definition, every section optional::

    libraries:
      - {code: MAIN, name: Main Library, city: Springfield}
    item_types:
      - {code: BK, description: Books}
      - {code: REF, description: Reference, not_for_loan: true}
    patron_categories:
      - {code: S, description: Staff, type: S}
      - {code: PT, description: Patron, type: A, enrolment_period: 24}
    circulation:             # default rules (any library, category and item type)
      issuelength: 21
      renewalsallowed: 2
    preferences:             # Koha system preferences
      OPACBaseURL: https://catalogue.example.org
    superlibrarian:          # the first staff user; the password is never read from the file
      userid: admin
      library: MAIN
      category: S

Applying a definition adds what is missing and changes nothing that exists: running it twice is
harmless, and it never overwrites what staff edited since.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jsonschema
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .circulation import RULE_DEFAULTS
from .models import CirculationRule, ItemType, Library, PatronCategory, SystemPreference
from .preferences import note_write

CODE_PATTERN = r"^[A-Za-z0-9_.-]{1,10}$"  # Koha's codes: short, no spaces (they appear in URLs and MARC)
# Koha's category types: Adult, Child, Staff, Organisation, Professional, Statistical
CATEGORY_TYPES = ("A", "C", "S", "I", "P", "X")
# the rules the circulation code reads, plus the unit rule
CIRCULATION_RULES = tuple(sorted(RULE_DEFAULTS))

_CODE = {"type": "string", "pattern": CODE_PATTERN}
_TEXT = {"type": "string", "minLength": 1, "maxLength": 200}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "libraries": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["code", "name"],
            "properties": {"code": _CODE, "name": _TEXT, "city": _TEXT, "email": _TEXT, "phone": _TEXT,
                           "url": _TEXT, "marc_org_code": {"type": "string", "maxLength": 16},
                           "pickup_location": {"type": "boolean"}, "public": {"type": "boolean"}}}},
        "item_types": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["code", "description"],
            "properties": {"code": _CODE, "description": _TEXT, "not_for_loan": {"type": "boolean"},
                           "hide_in_opac": {"type": "boolean"}}}},
        "patron_categories": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["code", "description"],
            "properties": {"code": _CODE, "description": _TEXT, "type": {"enum": list(CATEGORY_TYPES)},
                           "enrolment_period": {"type": "integer", "minimum": 1, "maximum": 999}}}},
        "circulation": {"type": "object", "additionalProperties": False,
                        "properties": {name: {"type": ["string", "integer"]} for name in CIRCULATION_RULES}},
        "preferences": {"type": "object", "additionalProperties": {"type": ["string", "integer", "boolean"]},
                        "propertyNames": {"pattern": r"^[A-Za-z][A-Za-z0-9_]{0,49}$"}},
        "superlibrarian": {
            "type": "object", "additionalProperties": False, "required": ["userid"],
            "properties": {"userid": {"type": "string", "pattern": r"^\S{1,75}$"}, "cardnumber": _TEXT,
                           "surname": _TEXT, "firstname": _TEXT, "email": _TEXT, "library": _CODE,
                           "category": _CODE}},
    },
}


class DefinitionError(ValueError):
    """The site definition is not valid; the message names the place (``libraries[1].code``)."""


def validate(definition: Any) -> dict[str, Any]:
    """``definition`` checked against :data:`SCHEMA` and for references between its sections.

    Raises :class:`DefinitionError` with the first problem, located, in one line.
    """
    if definition is None:
        definition = {}
    validator = jsonschema.Draft202012Validator(SCHEMA)
    errors = sorted(validator.iter_errors(definition), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
        raise DefinitionError(f"{where or 'the definition'}: {error.message}")
    for section in ("libraries", "item_types", "patron_categories"):
        codes = [entry["code"] for entry in definition.get(section, [])]
        duplicates = sorted({c for c in codes if codes.count(c) > 1})
        if duplicates:
            raise DefinitionError(f"{section}: code {duplicates[0]!r} is listed twice")
    return definition


@dataclass
class Applied:
    """What applying a definition did: ``created`` and ``kept`` (already there) as readable lines."""

    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def add_library(session: Session, code: str, name: str, **details: Any) -> Library:
    """A new library (branch); ``details`` use the definition's names (city, email, ...)."""
    columns = {"city": "branchcity", "email": "branchemail", "phone": "branchphone", "url": "branchurl",
               "marc_org_code": "marcorgcode", "pickup_location": "pickup_location", "public": "public"}
    values = {"pickup_location": True, "public": True, **{columns[key]: value for key, value in details.items()}}
    library = Library(branchcode=code, branchname=name, **values)
    session.add(library)
    return library


def add_item_type(session: Session, code: str, description: str, not_for_loan: bool = False,
                  hide_in_opac: bool = False) -> ItemType:
    """A new item type."""
    item_type = ItemType(itemtype=code, description=description, notforloan=not_for_loan, hideinopac=hide_in_opac)
    session.add(item_type)
    return item_type


def add_patron_category(session: Session, code: str, description: str, type: str = "A",
                        enrolment_period: int | None = None) -> PatronCategory:
    """A new patron category (``type``: one of :data:`CATEGORY_TYPES`)."""
    if type not in CATEGORY_TYPES:
        raise DefinitionError(f"category type must be one of {', '.join(CATEGORY_TYPES)}")
    category = PatronCategory(categorycode=code, description=description, category_type=type,
                              enrolmentperiod=enrolment_period)
    session.add(category)
    return category


def apply(session: Session, definition: dict[str, Any]) -> Applied:
    """Add what ``definition`` (already :func:`validate`\\ d) lists and the catalogue lacks.

    The superlibrarian section is not applied here (it needs a password): see ``kohaweb init``.
    """
    applied = Applied()
    for entry in definition.get("libraries", []):
        details = {k: v for k, v in entry.items() if k not in ("code", "name")}
        _add_once(session, applied, Library, entry["code"], "library",
                  lambda e=entry, d=details: add_library(session, e["code"], e["name"], **d))
    for entry in definition.get("item_types", []):
        _add_once(session, applied, ItemType, entry["code"], "item type",
                  lambda e=entry: add_item_type(session, e["code"], e["description"],
                                                e.get("not_for_loan", False), e.get("hide_in_opac", False)))
    for entry in definition.get("patron_categories", []):
        _add_once(session, applied, PatronCategory, entry["code"], "patron category",
                  lambda e=entry: add_patron_category(session, e["code"], e["description"], e.get("type", "A"),
                                                      e.get("enrolment_period")))
    for name, value in definition.get("circulation", {}).items():
        existing = session.scalar(select(CirculationRule).where(
            CirculationRule.rule_name == name, CirculationRule.branchcode.is_(None),
            CirculationRule.categorycode.is_(None), CirculationRule.itemtype.is_(None)))
        if existing is not None:
            applied.kept.append(f"default circulation rule {name} = {existing.rule_value}")
        else:
            session.add(CirculationRule(rule_name=name, rule_value=str(value)))
            applied.created.append(f"default circulation rule {name} = {value}")
    for name, value in definition.get("preferences", {}).items():
        text = ("1" if value else "0") if isinstance(value, bool) else str(value)
        existing = session.scalar(select(SystemPreference).where(func.lower(SystemPreference.variable) == name.lower()))
        if existing is not None:
            applied.kept.append(f"preference {name} = {existing.value}")
        else:
            session.add(SystemPreference(variable=name, value=text))
            applied.created.append(f"preference {name} = {text}")
    session.flush()
    note_write()
    return applied


def _add_once(session: Session, applied: Applied, model: type, code: str, label: str, create) -> None:
    if session.get(model, code) is not None:
        applied.kept.append(f"{label} {code}")
    else:
        create()
        applied.created.append(f"{label} {code}")


# What `kohaweb init` proposes when asked interactively (an administrator edits them later).
DEFAULT_ITEM_TYPES = [{"code": "BK", "description": "Books"}]
DEFAULT_PATRON_CATEGORIES = [
    {"code": "S", "description": "Staff", "type": "S"},
    {"code": "PT", "description": "Patron", "type": "A", "enrolment_period": 24},
]
DEFAULT_CIRCULATION = {"issuelength": 21, "renewalsallowed": 2, "maxissueqty": 30, "reservesallowed": 10}
