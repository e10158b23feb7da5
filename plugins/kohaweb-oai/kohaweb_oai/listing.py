"""Which records a list request covers, read page by page with keyset paging.

A list is every live record plus (unless the deleted-record policy is ``no``) every deleted record
whose datestamp lies in [from, until], in a set, in a flavour the format accepts, ordered by
(datestamp, biblionumber). A live record the public may not see (``biblio.hidden_from_public``,
kept by the core's visibility policy: suppressed, or every item hidden) is listed as deleted, or
left out under the ``no`` policy; the datestamp it got when it became hidden is what makes
incremental harvesters remove their copy. A page is the next ``limit`` keys after the last key shown, read from
the (datestamp, biblionumber) index of each table and merged, so page N costs what page 1 costs.

Why a harvest neither repeats nor skips a record while the catalogue changes: ``until`` is fixed
when the harvest starts (at the latest, the second before its first response; see
``views.effective_until``) and carried in the resumption token. A record that changes during the
harvest gets a datestamp after that ``until``, so it leaves the list whether it was already sent
(no repeat) or not; records added during the harvest are outside it too. Every record whose
datestamp did not change keeps its key, and the keyset walk visits each key exactly once, so it is
sent exactly once (spec 3.5.1). What changed during the harvest has a datestamp at or after the
first response's responseDate, which is what the harvester passes as ``from`` next time.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select, tuple_
from sqlalchemy.orm import Session

from kohaweb.plugin_api import (
    Biblio,
    DeletedBiblio,
    OaiSet,
    OaiSetBiblio,
    StoredRecord,
    load_records,
    visibility,
)


@dataclass(frozen=True)
class Window:
    """The selection of one list request (everything but the position)."""

    from_: dt.datetime | None
    until: dt.datetime
    set_ids: tuple[int, ...] | None  # None: no set argument
    flavours: tuple[str, ...] | None  # None: the format accepts every flavour
    include_deleted: bool


@dataclass(frozen=True, order=True)
class Key:
    datestamp: dt.datetime
    biblionumber: int
    deleted: bool = False


def _conditions(table, window: Window, after: tuple[dt.datetime, int] | None, dialect: str) -> list:
    conditions = [table.datestamp <= window.until]
    if table is Biblio and not window.include_deleted:
        conditions.append(Biblio.hidden_from_public.is_(False))
    if window.from_ is not None:
        conditions.append(table.datestamp >= window.from_)
    if window.flavours is not None:
        conditions.append(table.flavour.in_(window.flavours))
    if window.set_ids is not None:
        conditions.append(table.biblionumber.in_(
            select(OaiSetBiblio.biblionumber).where(OaiSetBiblio.set_id.in_(window.set_ids))))
    if after is not None:
        stamp, number = after
        if dialect in ("mysql", "mariadb"):
            # MariaDB does not turn a row comparison into an index range; this form it does
            conditions.append(table.datestamp >= stamp)
            conditions.append(or_(table.datestamp > stamp,
                                  and_(table.datestamp == stamp, table.biblionumber > number)))
        else:
            conditions.append(tuple_(table.datestamp, table.biblionumber) > tuple_(stamp, number))
    return conditions


def page(session: Session, window: Window, after: tuple[dt.datetime, int] | None, limit: int) -> list[Key]:
    """Up to ``limit`` keys of the list following ``after`` (None: from the start)."""
    dialect = session.get_bind().dialect.name
    tables = [(Biblio, False)] + ([(DeletedBiblio, True)] if window.include_deleted else [])
    runs = []
    for table, deleted in tables:
        rows = session.execute(
            select(table.datestamp, table.biblionumber).where(*_conditions(table, window, after, dialect))
            .order_by(table.datestamp, table.biblionumber).limit(limit)).all()
        runs.append([Key(_naive(d), n, deleted) for d, n in rows])
    return list(heapq.merge(*runs))[:limit]


def count(session: Session, window: Window) -> int:
    dialect = session.get_bind().dialect.name
    tables = [Biblio] + ([DeletedBiblio] if window.include_deleted else [])
    return sum(session.scalar(select(func.count()).select_from(t).where(*_conditions(t, window, None, dialect)))
               for t in tables)


def earliest_datestamp(session: Session, include_deleted: bool) -> dt.datetime | None:
    live = select(func.min(Biblio.datestamp))
    stamps = [session.scalar(live if include_deleted else live.where(Biblio.hidden_from_public.is_(False)))]
    if include_deleted:
        stamps.append(session.scalar(select(func.min(DeletedBiblio.datestamp))))
    found = [_naive(s) for s in stamps if s is not None]
    return min(found) if found else None


def set_ids_for_spec(session: Session, spec: str) -> tuple[int, ...]:
    """The set itself and its descendants (spec 2.7: harvesting set a covers a:b)."""
    return tuple(session.scalars(select(OaiSet.id).where(
        or_(OaiSet.spec == spec, OaiSet.spec.startswith(spec + ":", autoescape=True)))))


def any_sets(session: Session) -> bool:
    return session.scalar(select(OaiSet.id).limit(1)) is not None


def set_specs(session: Session, biblionumbers: Sequence[int]) -> dict[int, list[str]]:
    """setSpecs of each record, leaving out a set implied by a descendant it is also in (spec 2.7)."""
    found: dict[int, list[str]] = {}
    if not biblionumbers:
        return found
    for number, spec in session.execute(
            select(OaiSetBiblio.biblionumber, OaiSet.spec).join(OaiSet, OaiSet.id == OaiSetBiblio.set_id)
            .where(OaiSetBiblio.biblionumber.in_(biblionumbers)).order_by(OaiSet.spec)):
        found.setdefault(number, []).append(spec)
    return {n: [s for s in specs if not any(o.startswith(s + ":") for o in specs)]
            for n, specs in found.items()}


# a live record of a page (kohaweb.formats.StoredRecord: flavour, datestamp, marcxml, items, hidden)
LiveRecord = StoredRecord


def live_records(session: Session, biblionumbers: Sequence[int], with_items: bool) -> dict[int, LiveRecord]:
    """The page's live records by the core's page loader; items only those the public may see."""
    return load_records(session, biblionumbers, with_items=with_items,
                        viewer=visibility.public_viewer(session) if with_items and biblionumbers else None)


def deleted_records(session: Session, biblionumbers: Sequence[int]) -> dict[int, tuple[str, dt.datetime]]:
    if not biblionumbers:
        return {}
    return {n: (f, _naive(d)) for n, f, d in session.execute(
        select(DeletedBiblio.biblionumber, DeletedBiblio.flavour, DeletedBiblio.datestamp)
        .where(DeletedBiblio.biblionumber.in_(biblionumbers)))}


def _naive(value: dt.datetime) -> dt.datetime:
    """Datestamps are stored as naive UTC; some drivers hand them back aware."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value
