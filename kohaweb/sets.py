"""OAI set membership computed from mapping rules on MARC values (Koha's OAI sets rules).

Rules of a set are evaluated in rule order; each rule is ``field$subfield equal|notequal value``
and is combined with the result so far by its ``rule_operator`` (``and`` binds tighter than
``or``, as in Koha's AND-rules). The data layer calls ``update_membership`` whenever a record or
one of its items changes (Koha's AutoUpdateSets, always on here): this module is a built-in
plugin whose ``record_changed`` hook keeps the membership (kohaweb.hookspecs).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import pymarc
from sqlalchemy import delete, event, select
from sqlalchemy.orm import Session, selectinload

from . import marc
from .driver import autoflush, read_rows
from .hookspecs import hookimpl
from .models import OaiSet, OaiSetBiblio, OaiSetMapping

SETS_KEY = "kohaweb.sets"  # Session.info: (transaction, sets) loaded for that transaction
FIELDS_KEY = "kohaweb.sets.fields"  # Session.info: (transaction, the fields the rules read)
# where items are embedded for rules to match (952 MARC21, 995 UNIMARC)
ITEM_TAGS = frozenset(tag for tag, _ in marc.ITEM_SUBFIELDS.values())


def rule_matches(record: pymarc.Record, rule: OaiSetMapping) -> bool:
    values = []
    for field in record.get_fields(rule.marcfield):
        if field.is_control_field():
            values.append(field.data or "")
        else:
            values.extend(field.get_subfields(rule.marcsubfield))
    if rule.operator == "notequal":
        return all(v != rule.marcvalue for v in values)
    return any(v == rule.marcvalue for v in values)


def set_matches(record: pymarc.Record, rules: Sequence[OaiSetMapping]) -> bool:
    """OR of AND-groups: a rule whose operator is 'or' (or the first rule) starts a new group."""
    if not rules:
        return False
    ordered = sorted(rules, key=lambda r: (r.rule_order if r.rule_order is not None else r.id or 0))
    groups: list[list[OaiSetMapping]] = []
    for index, rule in enumerate(ordered):
        if index == 0 or (rule.rule_operator or "or").lower() != "and":
            groups.append([rule])
        else:
            groups[-1].append(rule)
    return any(all(rule_matches(record, r) for r in group) for group in groups)


def load_sets(session: Session) -> list[OaiSet]:
    return list(session.scalars(select(OaiSet).options(selectinload(OaiSet.mappings))))


def update_membership(session: Session, biblionumber: int, record: pymarc.Record,
                      sets: Sequence[OaiSet] | None = None) -> set[int]:
    """Recompute which mapped sets contain the record; sets without rules are left as they are
    (their membership is managed by hand)."""
    sets = load_sets(session) if sets is None else sets
    mapped = [s for s in sets if s.mappings]
    if not mapped:
        return set()
    wanted = {s.id for s in mapped if set_matches(record, s.mappings)}
    current = set(session.scalars(select(OaiSetBiblio.set_id).where(
        OaiSetBiblio.biblionumber == biblionumber, OaiSetBiblio.set_id.in_([s.id for s in mapped]))))
    if current - wanted:
        session.execute(delete(OaiSetBiblio).where(OaiSetBiblio.biblionumber == biblionumber,
                                                   OaiSetBiblio.set_id.in_(current - wanted)))
    for set_id in wanted - current:
        session.add(OaiSetBiblio(biblionumber=biblionumber, set_id=set_id))
    return wanted


def sets_of_transaction(session: Session) -> list[OaiSet]:
    """The sets with their rules, loaded once per transaction, and again after the session
    flushed a change of a set or a rule (rules changed by a bulk UPDATE/DELETE statement are not
    noticed: call :func:`load_sets`)."""
    transaction = session.get_transaction()
    cached = session.info.get(SETS_KEY)
    if cached is not None and cached[0] is transaction:
        return cached[1]
    loaded = load_sets(session)
    _listen(session)
    session.info[SETS_KEY] = (transaction, loaded)
    return loaded


def mapped_fields(session: Session) -> frozenset[str]:
    """The MARC fields the sets' rules read (empty: no set has a rule), once per transaction and
    again after the session flushed a change of a set or a rule, as ``sets_of_transaction``.
    From the sets already loaded in the transaction, else one narrow statement: a loan or a
    return changes an item, and the sets' rules (ORM objects, a second statement for the rules)
    were loaded for every one only to find that none reads items."""
    transaction = session.get_transaction()
    loaded = session.info.get(SETS_KEY)
    if loaded is not None and loaded[0] is transaction:
        return frozenset(m.marcfield for s in loaded[1] for m in s.mappings)
    cached = session.info.get(FIELDS_KEY)
    if cached is not None and cached[0] is transaction:
        return cached[1]
    autoflush(session)  # as the ORM's load would: a rule added but not flushed counts
    fields = frozenset(field for (field,) in read_rows(session, _fields_statement(), {}))
    _listen(session)
    session.info[FIELDS_KEY] = (transaction, fields)
    return fields


@functools.cache
def _fields_statement():
    mappings = OaiSetMapping.__table__
    return select(mappings.c.marcfield).distinct()


def _listen(session: Session) -> None:
    if not session.info.get(SETS_KEY + ".listening"):
        session.info[SETS_KEY + ".listening"] = True
        event.listen(session, "after_flush", _forget_changed_sets)


def _forget_changed_sets(session: Session, _flush_context) -> None:
    # after_flush still sees what the flush wrote in new/dirty/deleted
    if any(isinstance(o, (OaiSet, OaiSetMapping)) for o in (*session.new, *session.dirty, *session.deleted)):
        session.info[SETS_KEY] = (None, [])
        session.info.pop(FIELDS_KEY, None)


@hookimpl
def record_changed(session: Session, change) -> None:
    """Keep the record's membership of the mapped sets (items embedded, so 952/995 rules match)."""
    if change.item_columns is not None and not mapped_fields(session) & ITEM_TAGS:
        return  # an item changed, and no rule reads items (nor any rule at all): nothing to load
    sets = sets_of_transaction(session)
    if not any(s.mappings for s in sets):
        return  # no set has a rule: membership is managed by hand
    update_membership(session, change.biblionumber, change.record_with_items(), sets)


OPERATORS = ("equal", "notequal")
RULE_OPERATORS = ("and", "or")


def rebuild(session: Session, only: Sequence[OaiSet] | None = None, *, clear: bool = False,
            batch: int = 500, progress=None) -> int:
    """Recompute membership of every live record in the mapped sets (``only``: just those),
    as Koha's build_oai_sets.pl does after mappings change; items are embedded first so item
    fields (952/995) can be matched. ``clear`` first empties the membership of those sets,
    rows of deleted records included. Returns the number of records examined."""
    from . import marc
    from .catalog import Catalog, item_dict

    sets = load_sets(session) if only is None else list(only)
    mapped = [s for s in sets if s.mappings]
    if clear and mapped:
        session.execute(delete(OaiSetBiblio).where(OaiSetBiblio.set_id.in_([s.id for s in mapped])))
    if not mapped:
        return 0
    examined = 0
    for biblio in Catalog(session).iter_biblios(batch):
        record = marc.embed_items(marc.parse_xml(biblio.metadata_row.metadata_xml), biblio.flavour,
                                  (item_dict(i) for i in biblio.items))
        update_membership(session, biblio.biblionumber, record, mapped)
        session.flush()  # iter_biblios expunges the session between batches
        examined += 1
        if progress is not None:
            progress.update()
    return examined
