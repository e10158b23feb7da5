"""What the public may see: the one visibility policy of every service that answers the public.

Koha's OPAC rules, read from the system preferences (names as in Koha):

- ``OpacSuppression`` (YesNo): records flagged ``biblio.opac_suppressed`` are hidden. Koha's
  installer writes 0; here an *absent* preference counts as on, so that a record a cataloguer
  suppressed never leaks from a fresh installation.
- ``OpacHiddenItems`` (YAML, Koha's form): item column -> list of values, e.g.
  ``itype: [REF, DVD]`` / ``location: [STAFF]`` / ``withdrawn: [1]``. An item is hidden when any
  listed column holds one of the listed values (compared as text regardless of letter case, as
  Koha's MariaDB collation compares them, on every database; an empty column never matches). ``hidelostitems`` (YesNo, default 0) also hides lost items.
- ``OpacHiddenItemsHidesRecord`` (YesNo, default 1): a record that has items, all of them hidden,
  is hidden (a record without items never is, as Koha's ``Koha::Biblio->hidden_in_opac``).
- ``OpacHiddenItemsExceptions``: patron categories (separated by ``|`` or ``,``) for which the
  OpacHiddenItems rules do not apply (suppression and hidelostitems still do).

Who looks is a ``Viewer``: the anonymous public (``public_viewer``), a patron (their category
may be an exception) or staff with ``catalogue`` (everything), see ``viewer_for(request)``.

The record-level answer for the public is *stored*: ``biblio.hidden_from_public`` is kept by the
data layer (``kohaweb.catalog`` calls ``record_hidden`` on every record or item change, whose
datestamp moves anyway), and the search index, OAI-PMH lists and every other public service read
it, so they all agree. A change of the preferences takes effect for records with
``apply(session)`` (``kohaweb oai apply-visibility``): the records whose state changes get a new
datestamp (OAI-PMH harvesters then see them deleted, or back as a new version) and are re-indexed.
Which *items* of a visible record are shown follows the current preferences at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import yaml
from sqlalchemy import ColumnElement, Integer, String, Text, and_, cast, event, func, or_, select, true
from sqlalchemy.orm import Session

from .models import Biblio, Item, SystemPreference
from .preferences import prefetch

log = logging.getLogger(__name__)

# preference -> value used when the preference is absent
PREFERENCES = {
    "OpacSuppression": "1",
    "OpacHiddenItems": "",
    "OpacHiddenItemsHidesRecord": "1",
    "hidelostitems": "0",
    "OpacHiddenItemsExceptions": "",
}
ITEM_FIELDS = frozenset(c.key for c in Item.__table__.columns)


class PolicyError(ValueError):
    """The preferences cannot be turned into a policy (OpacHiddenItems is not Koha's YAML form)."""


@dataclass(frozen=True)
class Policy:
    """The preferences, parsed. Build one with ``load_policy(session)`` (or directly in tests)."""

    suppression: bool = True
    rules: Mapping[str, frozenset[str]] = field(default_factory=dict)
    hides_record: bool = True
    hide_lost: bool = False
    exception_categories: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        # matching ignores letter case: keep the values folded once
        object.__setattr__(self, "rules", {column: frozenset(v.lower() for v in values)
                                           for column, values in self.rules.items()})

    def item_hidden(self, item: Any, *, apply_rules: bool = True) -> bool:
        """Whether the OPAC hides this item (an ``Item`` or a ``kohaweb.catalog.item_dict``)."""
        if self.hide_lost and (_value(item, "itemlost") or 0) > 0:
            return True
        if apply_rules:
            for column, values in self.rules.items():
                text = _text(_value(item, column))
                if text is not None and text.lower() in values:
                    return True
        return False

    def record_hidden(self, suppressed: bool, items: Iterable[Any]) -> bool:
        """Whether the anonymous public may not see a record (what ``hidden_from_public`` stores)."""
        if self.suppression and suppressed:
            return True
        if not self.hides_record or not (self.rules or self.hide_lost):
            return False
        found = False
        for item in items:
            if not self.item_hidden(item):
                return False
            found = True
        return found  # no items: not hidden

    @property
    def item_columns(self) -> tuple[str, ...]:
        """The item columns the policy reads."""
        return tuple(sorted(set(self.rules) | ({"itemlost"} if self.hide_lost else set())))


@dataclass(frozen=True)
class Viewer:
    """Who is looking: the anonymous public, a patron of ``category``, or ``staff`` (sees all)."""

    policy: Policy
    staff: bool = False
    category: str | None = None

    @property
    def exempt_from_rules(self) -> bool:
        """Staff, or a patron category listed in OpacHiddenItemsExceptions."""
        return self.staff or (self.category is not None and self.category in self.policy.exception_categories)

    def sees_record(self, biblio: Any) -> bool:
        """``biblio``: a ``Biblio`` (or any object with ``opac_suppressed`` and ``hidden_from_public``)."""
        if self.staff:
            return True
        if self.exempt_from_rules:
            return not (self.policy.suppression and biblio.opac_suppressed)
        return not biblio.hidden_from_public

    def sees_item(self, item: Any) -> bool:
        return self.staff or not self.policy.item_hidden(item, apply_rules=not self.exempt_from_rules)

    def visible_items(self, items: Iterable[Any]) -> list[Any]:
        """The items this viewer may see, in their order (works on ``Item`` rows and item dicts)."""
        return list(items) if self.staff else [i for i in items if self.sees_item(i)]

    def items_condition(self) -> ColumnElement[bool]:
        """``sees_item`` as a SQL condition on ``items`` (for paged item lists)."""
        conditions: list[ColumnElement[bool]] = []
        if self.staff:
            return true()
        if self.policy.hide_lost:
            conditions.append(or_(Item.itemlost.is_(None), Item.itemlost <= 0))
        if not self.exempt_from_rules:
            for column_name, values in sorted(self.policy.rules.items()):
                column = getattr(Item, column_name)
                compared, typed = _comparable(column, values)
                if typed:
                    conditions.append(or_(column.is_(None), compared.not_in(typed)))
        return and_(true(), *conditions)


# --- reading the preferences ------------------------------------------------------------------------

def parse_hidden_items(text: str | None) -> dict[str, frozenset[str]]:
    """OpacHiddenItems (Koha's YAML: ``column: [value, ...]``) -> column -> values as text.
    A single value stands for a one-value list. Raises ``PolicyError`` for anything else."""
    if text is None or not text.strip():
        return {}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"OpacHiddenItems is not valid YAML: {' '.join(str(exc).split())}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PolicyError("OpacHiddenItems must map item columns to lists of values, e.g. 'itype: [REF]'")
    rules: dict[str, frozenset[str]] = {}
    for column, values in data.items():
        name = str(column).strip()
        if name not in ITEM_FIELDS:
            raise PolicyError(f"OpacHiddenItems: {name!r} is not an item column (items table)")
        if values is None:
            values = []
        elif not isinstance(values, list):
            values = [values]
        if any(isinstance(v, (dict, list)) for v in values):
            raise PolicyError(f"OpacHiddenItems: the values of {name} must be plain values")
        rules[name] = frozenset(t for t in (_text(v) for v in values) if t is not None)
    return rules


def parse_categories(text: str | None) -> frozenset[str]:
    """OpacHiddenItemsExceptions: category codes separated by ``|`` (older Koha) or ``,``."""
    return frozenset(part.strip() for part in re.split(r"[|,\s]+", text or "") if part.strip())


def policy_from_preferences(values: Mapping[str, str | None], *, strict: bool = False) -> Policy:
    """A policy from preference values (names as in ``PREFERENCES``, any letter case). With
    ``strict`` a bad OpacHiddenItems raises ``PolicyError``; otherwise it is logged and ignored,
    as Koha ignores YAML it cannot read."""
    lowered = {k.lower(): v for k, v in values.items()}

    def get(name: str) -> str:
        value = lowered.get(name.lower())
        return PREFERENCES[name] if value is None else value

    try:
        rules = parse_hidden_items(get("OpacHiddenItems"))
    except PolicyError as exc:
        if strict:
            raise
        log.error("%s; the item rules are ignored until it is corrected", exc)
        rules = {}
    return Policy(suppression=_yes(get("OpacSuppression")), rules=rules,
                  hides_record=_yes(get("OpacHiddenItemsHidesRecord")), hide_lost=_yes(get("hidelostitems")),
                  exception_categories=parse_categories(get("OpacHiddenItemsExceptions")))


_CACHE = "kohaweb.visibility.policy"
_HOOKED = "kohaweb.visibility.hooked"


def load_policy(session: Session, *, strict: bool = False) -> Policy:
    """The policy of the current preferences, read once per transaction of ``session`` (and again
    after the session writes a preference)."""
    transaction = session.get_transaction()
    cached = session.info.get(_CACHE)
    if not strict and cached is not None and transaction is not None and cached[0] is transaction:
        return cached[1]
    # read with the transaction's other preferences (kohaweb.preferences.prefetch), not alone
    policy = policy_from_preferences(prefetch(session, PREFERENCES), strict=strict)
    if not session.info.get(_HOOKED):
        event.listen(session, "after_flush", _forget_after_preference_change)
        session.info[_HOOKED] = True
    session.info[_CACHE] = (session.get_transaction(), policy)
    return policy


def _forget_after_preference_change(session: Session, flush_context: Any) -> None:
    changed = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(obj, SystemPreference) for obj in changed):
        session.info.pop(_CACHE, None)


def public_viewer(session: Session) -> Viewer:
    """The anonymous public."""
    return Viewer(load_policy(session))


def viewer_for(request: Any, *, staff_permission: str | None = "catalogue") -> Viewer:
    """The viewer of a request: staff when its identity has ``staff_permission`` (None: nobody
    is staff on this endpoint), a patron of their category when authenticated, else the public."""
    from .models import Patron

    session = request.dbsession
    policy = load_policy(session)
    identity = getattr(request, "kohaweb_identity", None)
    if identity is None:
        return Viewer(policy)
    if staff_permission is not None and identity.has(staff_permission):
        return Viewer(policy, staff=True)
    patron = session.get(Patron, identity.patron_id) if identity.patron_id is not None else None
    return Viewer(policy, category=patron.categorycode if patron is not None else None)


# --- the data layer's part -----------------------------------------------------------------------

def record_hidden(session: Session, biblio: Biblio) -> bool:
    """The value of ``biblio.hidden_from_public`` under the current policy (``biblio.items`` read)."""
    policy = load_policy(session)
    if not (policy.suppression and biblio.opac_suppressed) and not (
            policy.hides_record and (policy.rules or policy.hide_lost)):
        return False
    return policy.record_hidden(bool(biblio.opac_suppressed), biblio.items)


@dataclass
class Applied:
    """What ``apply`` found: records looked at, and those that became hidden or visible."""

    checked: int = 0
    hidden: list[int] = field(default_factory=list)
    shown: list[int] = field(default_factory=list)


def apply(session: Session, *, now: dt.datetime | None = None, batch: int = 2000, dry_run: bool = False,
          progress: Callable[[int], None] | None = None) -> Applied:
    """Bring every record's ``hidden_from_public`` in line with the current preferences (strict:
    ``PolicyError`` for unreadable rules). Records that change get datestamp ``now`` and are
    re-indexed; nothing is written with ``dry_run``. The caller commits."""
    from . import catalog, marc, search

    policy = load_policy(session, strict=True)
    stamp = now or catalog.utcnow()
    result = Applied()
    columns = [getattr(Item, c) for c in policy.item_columns]
    last = 0
    while True:
        rows = session.execute(select(Biblio.biblionumber, Biblio.opac_suppressed, Biblio.hidden_from_public)
                               .where(Biblio.biblionumber > last).order_by(Biblio.biblionumber)
                               .limit(batch)).all()
        if not rows:
            break
        first, last = rows[0][0], rows[-1][0]
        items: dict[int, list[dict[str, Any]]] = {}
        if columns:
            for number, *values in session.execute(
                    select(Item.biblionumber, *columns)
                    .where(Item.biblionumber >= first, Item.biblionumber <= last)):
                items.setdefault(number, []).append(dict(zip(policy.item_columns, values, strict=True)))
        changed = []
        for number, suppressed, stored in rows:
            hidden = policy.record_hidden(bool(suppressed), items.get(number, ()))
            if hidden != bool(stored):
                (result.hidden if hidden else result.shown).append(number)
                changed.append(number)
        result.checked += len(rows)
        if changed and not dry_run:
            for biblio in session.scalars(select(Biblio).where(Biblio.biblionumber.in_(changed))):
                biblio.hidden_from_public = not biblio.hidden_from_public
                biblio.datestamp = stamp
                session.flush()
                search.index_record(session, biblio, marc.parse_xml(biblio.metadata_row.metadata_xml))
        if progress:
            progress(len(rows))
    return result


# --- helpers -------------------------------------------------------------------------------------

def _comparable(column: Any, values: frozenset[str]) -> tuple[Any, list[Any]]:
    """The column and the rule values in one type: integers as integers (values an integer column
    cannot hold never match), text as text, anything else (dates, prices) as the column's text."""
    if isinstance(column.type, Integer):
        return column, sorted({int(v) for v in values if re.fullmatch(r"[+-]?\d+", v)})
    if isinstance(column.type, (String, Text)):
        return func.lower(column), sorted(values)
    return func.lower(cast(column, String)), sorted(values)


def _yes(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "yes", "true", "on")


def _value(item: Any, column: str) -> Any:
    return item.get(column) if isinstance(item, dict) else getattr(item, column, None)


def _text(value: Any) -> str | None:
    """A column or YAML value as the text Koha compares (None never matches)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, (dt.date, Decimal)):
        return str(value) if not isinstance(value, dt.date) else value.isoformat()
    return str(value)


__all__ = ["ITEM_FIELDS", "PREFERENCES", "Applied", "Policy", "PolicyError", "Viewer", "apply", "load_policy",
           "parse_categories", "parse_hidden_items", "policy_from_preferences", "public_viewer", "record_hidden",
           "viewer_for"]
