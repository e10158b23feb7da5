"""Changes to holds already placed: suspension, priority, pickup location, cancellation requests.

The companions of ``kohaweb.circulation.place_hold``/``cancel_hold`` (Koha's Koha::Hold
suspend_hold, resume, _FixPriority, set_pickup_location, is_pickup_location_valid and
Koha::Hold::CancellationRequest). Like ``kohaweb.circulation`` they take a Session, never commit,
and refuse with ``CirculationError`` carrying Koha's reason code.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from .circulation import (
    CirculationError,
    effective_itemtype,
    get_rule,
    item_holdable,
    renumber_hold_queue,
    today,
)
from .models import Biblio, Hold, Item, Library, Patron, utcnow
from .preferences import get_preference


def is_waiting_or_in_transit(hold: Hold) -> bool:
    return hold.found in ("W", "T", "P")


def suspend(session: Session, hold: Hold, until: dt.date | None = None) -> Hold:
    """Suspend a pending hold (until the end of ``until``, or indefinitely). Waiting or in-transit
    holds cannot be suspended (Koha's ``hold_found``)."""
    if is_waiting_or_in_transit(hold):
        raise CirculationError("hold_found", "a hold that is waiting or in transit cannot be suspended")
    if until is not None and until < today():
        raise CirculationError("invalid_date", "the suspension cannot end in the past")
    hold.suspend = True
    hold.suspend_until = dt.datetime.combine(until, dt.time(23, 59, 59)) if until is not None else None
    hold.timestamp = utcnow()
    session.flush()
    return hold


def resume(session: Session, hold: Hold) -> Hold:
    hold.suspend = False
    hold.suspend_until = None
    hold.timestamp = utcnow()
    session.flush()
    return hold


def set_priority(session: Session, hold: Hold, priority: int) -> int:
    """Move a pending hold to ``priority`` in its record's queue (1 = first; beyond the end = last)
    and renumber the others, as Koha's _FixPriority. Returns the hold's new priority."""
    if is_waiting_or_in_transit(hold):
        raise CirculationError("hold_found", "a hold that is waiting or in transit has no place in the queue")
    pending = [h for h in session.scalars(select(Hold).where(Hold.biblionumber == hold.biblionumber)
                                          .where(Hold.found.is_(None))
                                          .order_by(Hold.priority, Hold.reserve_id))
               if h.reserve_id != hold.reserve_id]
    position = max(1, min(priority, len(pending) + 1))
    pending.insert(position - 1, hold)
    for number, row in enumerate(pending, start=1):
        row.priority = number
    hold.timestamp = utcnow()
    session.flush()
    renumber_hold_queue(session, hold.biblionumber)
    return hold.priority


def _items_for(session: Session, hold_or_biblio: Hold | Biblio, item: Item | None = None) -> list[Item]:
    if item is not None:
        return [item]
    if isinstance(hold_or_biblio, Hold) and hold_or_biblio.itemnumber is not None:
        found = session.get(Item, hold_or_biblio.itemnumber)
        return [found] if found is not None else []
    return list(session.scalars(select(Item).where(Item.biblionumber == hold_or_biblio.biblionumber)
                                .order_by(Item.itemnumber)))


def _item_pickups(session: Session, item: Item, patron: Patron | None, libraries: list[Library]) -> set[str]:
    """Libraries where ``item`` may be picked up under hold_fulfillment_policy."""
    if not item_holdable(session, item):
        return set()
    control = get_preference(session, "ReservesControlBranch", "ItemHomeLibrary")
    branch = patron.branchcode if control == "PatronLibrary" and patron is not None else item.homebranch
    policy = get_rule(session, "hold_fulfillment_policy", branchcode=branch,
                      itemtype=effective_itemtype(session, item)) or "any"
    codes = {lib.branchcode for lib in libraries}
    if policy == "homebranch":
        return codes & {item.homebranch}
    if policy == "holdingbranch":
        return codes & {item.holdingbranch}
    if policy == "patrongroup" and patron is not None:
        return codes & {patron.branchcode}
    return codes


def pickup_locations(session: Session, target: Hold | Biblio | Item, patron: Patron | None = None
                     ) -> list[tuple[Library, bool]]:
    """Pickup libraries for a hold, a record or an item, each with whether choosing it needs an
    override (Koha lists those only when AllowHoldPolicyOverride is on)."""
    libraries = list(session.scalars(select(Library).where(Library.pickup_location.is_(True))
                                     .order_by(Library.branchname, Library.branchcode)))
    if isinstance(target, Hold):
        patron = patron or session.get(Patron, target.borrowernumber)
        items = _items_for(session, target)
    elif isinstance(target, Item):
        items = [target]
    else:
        items = _items_for(session, target)
    valid: set[str] = set()
    for item in items:
        valid |= _item_pickups(session, item, patron, libraries)
    with_override = get_preference(session, "AllowHoldPolicyOverride", "0") == "1"
    return [(lib, lib.branchcode not in valid) for lib in libraries
            if lib.branchcode in valid or with_override]


def is_pickup_valid(session: Session, hold: Hold, branchcode: str) -> bool:
    return any(lib.branchcode == branchcode and not needs for lib, needs in pickup_locations(session, hold))


def change_pickup(session: Session, hold: Hold, branchcode: str, *, force: bool = False) -> Hold:
    """Move the hold's pickup to ``branchcode``: the library must exist and be a pickup location
    valid for the hold unless ``force`` (Koha's x-koha-override: any / pickup_location)."""
    library = session.get(Library, branchcode)
    if library is None:
        raise CirculationError("libraryNotFound", f"no library {branchcode!r}")
    if not force and not is_pickup_valid(session, hold, branchcode):
        raise CirculationError("pickupNotInHoldGroup", "the hold cannot be picked up there")
    hold.branchcode = branchcode
    hold.timestamp = utcnow()
    session.flush()
    return hold
