"""Holds: whether a patron may hold an item or a title, placing and cancelling them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from .. import ids
from ..catalog import Catalog
from ..models import (
    Biblio,
    Hold,
    Item,
    ItemType,
    Library,
    OldHold,
    Patron,
    utcnow,
)
from ..models.circulation import HoldCancellationRequest
from ..preferences import get_preference
from .common import (
    CirculationError,
    _archive_hold,
    _int_rule,
    _require_item,
    _require_patron,
    _rule_scope,
    current_checkout,
    effective_itemtype,
    expired_blocks,
    get_rule,
    is_restricted,
    renumber_hold_queue,
    today,
)


def check_patron_can_hold(session: Session, patron: Patron) -> None:
    """Patron-level refusals (Koha::Patron->can_place_holds): debarred, expired, card_lost."""
    if is_restricted(patron):
        raise CirculationError("debarred", "the patron is restricted")
    if expired_blocks(session, patron, "hold"):
        raise CirculationError("expired", "the patron's card has expired")
    if patron.lost:
        raise CirculationError("card_lost", "the patron's card is reported lost")


def item_holdable(session: Session, item: Item) -> bool:
    """Koha's IsAvailableForItemLevelRequest basics: lost, withdrawn, damaged (unless
    AllowHoldsOnDamagedItems) and not-for-loan (positive values; negative = on order) items
    cannot be held."""
    if item.itemlost or item.withdrawn:
        return False
    if item.notforloan > 0:
        return False
    itype = effective_itemtype(session, item)
    if itype and session.scalar(select(ItemType.notforloan).where(ItemType.itemtype == itype)):
        return False
    return True


def check_pickup(session: Session, pickup_branch: str | None) -> Library:
    """The pickup library, or libraryNotFound / libraryNotPickupLocation."""
    library = session.get(Library, pickup_branch) if pickup_branch else None
    if library is None:
        raise CirculationError("libraryNotFound", f"no library {pickup_branch!r}")
    if not library.pickup_location:
        raise CirculationError("libraryNotPickupLocation", f"{library.branchname} is not a pickup location")
    return library


def can_hold_item(session: Session, patron: Patron, item: Item, pickup_branch: str | None = None) -> None:
    """Koha's CanItemBeReserved: raise with its status (damaged, itemAlreadyOnHold,
    alreadypossession, noReservesAllowed, tooManyHoldsForThisRecord, tooManyReservesToday,
    tooManyReserves, notReservable, cannotReserveFromOtherBranches, libraryNotFound,
    libraryNotPickupLocation, pickupNotInHoldGroup)."""
    if item.damaged and get_preference(session, "AllowHoldsOnDamagedItems", "1") == "0":
        raise CirculationError("damaged", "damaged items cannot be held")
    mine = select(func.count()).select_from(Hold).where(Hold.borrowernumber == patron.borrowernumber)
    if session.scalar(mine.where(Hold.itemnumber == item.itemnumber)):
        raise CirculationError("itemAlreadyOnHold", "the patron already holds this item")
    loan = current_checkout(session, item)
    if loan is not None and loan.borrowernumber == patron.borrowernumber and \
            get_preference(session, "AllowHoldsOnPatronsPossessions", "1") == "0":
        raise CirculationError("alreadypossession", "the patron has this item on loan")
    # ReservesControlBranch: ItemHomeLibrary (default) or PatronLibrary.
    control = get_preference(session, "ReservesControlBranch", "ItemHomeLibrary")
    branch = patron.branchcode if control == "PatronLibrary" else item.homebranch
    itype = effective_itemtype(session, item)

    def rule(name: str) -> str | None:
        return get_rule(session, name, branchcode=branch, categorycode=patron.categorycode, itemtype=itype)

    per_record = _int_rule(rule("holds_per_record"))
    if per_record is not None:
        if per_record == 0:
            raise CirculationError("noReservesAllowed", "no holds allowed on this item", limit=0)
        if session.scalar(mine.where(Hold.biblionumber == item.biblionumber)) >= per_record:
            raise CirculationError("tooManyHoldsForThisRecord",
                                   f"at most {per_record} hold(s) per record", limit=per_record)
    per_day = _int_rule(rule("holds_per_day"))
    if per_day is not None and session.scalar(mine.where(Hold.reservedate == today())) >= per_day:
        raise CirculationError("tooManyReservesToday", f"at most {per_day} hold(s) per day", limit=per_day)
    allowed = _int_rule(rule("reservesallowed"))
    if allowed is not None:
        if allowed == 0:
            raise CirculationError("noReservesAllowed", "no holds allowed on this item type", limit=0)
        scope = _rule_scope(session, "reservesallowed", branch, patron.categorycode, itype)
        counted = mine
        if scope is not None and scope.itemtype is not None:
            # a per-itemtype limit counts holds on items (or records) of that type
            counted = counted.outerjoin(Item, Item.itemnumber == Hold.itemnumber) \
                .join(Biblio, Biblio.biblionumber == Hold.biblionumber) \
                .where(or_(Item.itype == scope.itemtype, Hold.itemtype == scope.itemtype,
                           (Hold.itemnumber.is_(None) & (Biblio.itemtype == scope.itemtype))))
        if session.scalar(counted) >= allowed:
            raise CirculationError("tooManyReserves", f"at most {allowed} hold(s)", limit=allowed)
    max_holds = _int_rule(get_rule(session, "max_holds", branchcode=branch, categorycode=patron.categorycode))
    if max_holds is not None and session.scalar(mine) >= max_holds:
        raise CirculationError("tooManyReserves", f"at most {max_holds} hold(s) in all", limit=max_holds)
    hold_allowed = get_rule(session, "holdallowed", branchcode=branch, itemtype=itype) or "from_any_library"
    if hold_allowed == "not_allowed" or not item_holdable(session, item):
        raise CirculationError("notReservable", "this item cannot be held")
    if hold_allowed == "from_home_library" and patron.branchcode != item.homebranch:
        raise CirculationError("cannotReserveFromOtherBranches", "only patrons of the item's library may hold it")
    if pickup_branch is not None:
        check_pickup(session, pickup_branch)
        policy = get_rule(session, "hold_fulfillment_policy", branchcode=branch, itemtype=itype) or "any"
        if (policy == "homebranch" and pickup_branch != item.homebranch) or \
                (policy == "holdingbranch" and pickup_branch != item.holdingbranch):
            raise CirculationError("pickupNotInHoldGroup", "the item cannot be picked up there")


def can_hold_title(session: Session, patron: Patron, biblio: Biblio, pickup_branch: str | None = None) -> None:
    """Koha's CanBookBeReserved: OK when any item of the record can be held; otherwise raise the
    refusal of the last item tried (or ``noItems``/``tooManyReserves`` by the maxreserves pref)."""
    max_reserves = _int_rule(get_preference(session, "maxreserves", None))
    if max_reserves and session.scalar(select(func.count()).select_from(Hold)
                                       .where(Hold.borrowernumber == patron.borrowernumber)) >= max_reserves:
        raise CirculationError("tooManyReserves", f"at most {max_reserves} hold(s)", limit=max_reserves)
    items = session.scalars(select(Item).where(Item.biblionumber == biblio.biblionumber)
                            .order_by(Item.itemnumber)).all()
    if not items:
        raise CirculationError("noItems", "the record has no items")
    last: CirculationError | None = None
    for item in items:
        try:
            can_hold_item(session, patron, item, pickup_branch)
            return
        except CirculationError as exc:
            last = exc
    assert last is not None
    raise last


def can_place_hold(session: Session, patron: Patron | int, biblio: Biblio | int, *,
                   item: Item | int | None = None, pickup_branch: str | None = None) -> None:
    """All the checks of ``place_hold``, raising its CirculationError, without placing it."""
    patron = _require_patron(session, patron)
    check_patron_can_hold(session, patron)
    biblio = _require_biblio(session, biblio)
    if item is not None:
        item = _require_item(session, item) if not isinstance(item, Item) else item
        if item.biblionumber != biblio.biblionumber:
            raise CirculationError("itemNotInRecord", "the item does not belong to this record")
        can_hold_item(session, patron, item, pickup_branch)
    else:
        can_hold_title(session, patron, biblio, pickup_branch)


def _require_biblio(session: Session, biblio: Biblio | int) -> Biblio:
    if isinstance(biblio, Biblio):
        return biblio
    found = session.get(Biblio, biblio)
    if found is None:
        raise CirculationError("recordNotFound", f"no record with id {biblio}")
    return found


def place_hold(session: Session, patron: Patron | int, biblio: Biblio | int, *, item: Item | int | None = None,
               pickup_branch: str | None = None, reservedate: dt.date | None = None,
               expirationdate: dt.date | None = None, notes: str | None = None,
               force: bool = False, itemtype: str | None = None, non_priority: bool = False) -> Hold:
    """Place a title-level hold (``item`` None) or an item-level hold, picked up at
    ``pickup_branch`` (default: the patron's library). Its priority is the end of the record's
    queue (holds already waiting or in transit have priority 0, as in Koha). ``force`` skips the
    circulation rules (Koha's x-koha-override: any), not the existence of what is named."""
    patron = _require_patron(session, patron)
    biblio = _require_biblio(session, biblio)
    item_row = None if item is None else (item if isinstance(item, Item) else _require_item(session, item))
    pickup = pickup_branch or patron.branchcode
    if force:
        if session.get(Library, pickup) is None:
            raise CirculationError("libraryNotFound", f"no library {pickup!r}")
        if item_row is not None and item_row.biblionumber != biblio.biblionumber:
            raise CirculationError("itemNotInRecord", "the item does not belong to this record")
    else:
        can_place_hold(session, patron, biblio, item=item_row, pickup_branch=pickup)
    start = reservedate or today()
    if expirationdate is not None and expirationdate < start:
        raise CirculationError("invalidDates", "the expiration date is before the start date")
    # the record's row locked first, until commit: concurrent holds on one record queue up here
    # and each counts the others' (committed) places in the queue (on SQLite the writer's
    # BEGIN IMMEDIATE already orders them)
    session.execute(select(Biblio.biblionumber).where(Biblio.biblionumber == biblio.biblionumber).with_for_update())
    queue = session.scalar(select(func.count()).select_from(Hold)
                           .where(Hold.biblionumber == biblio.biblionumber).where(Hold.found.is_(None)))
    now = utcnow()
    hold = Hold(reserve_id=ids.next_id(session, "hold"), borrowernumber=patron.borrowernumber,
                biblionumber=biblio.biblionumber, itemnumber=item_row.itemnumber if item_row else None,
                branchcode=pickup, reservedate=start, expirationdate=expirationdate, reservenotes=notes,
                priority=queue + 1, item_level_hold=item_row is not None, suspend=False, timestamp=now,
                itemtype=itemtype, non_priority=non_priority)
    session.add(hold)
    session.flush()
    if item_row is not None:
        Catalog(session).update_item(item_row.itemnumber, reserves=(item_row.reserves or 0) + 1)
    return hold


def can_cancel_hold(session: Session, hold: Hold, patron: Patron | int | None = None) -> bool:
    """Whether ``patron`` may cancel ``hold`` from the OPAC: only their own, and only while it is
    not waiting or in transit (Koha's is_cancelable_from_opac)."""
    number = patron.borrowernumber if isinstance(patron, Patron) else patron
    if number is not None and hold.borrowernumber != number:
        return False
    return hold.found is None


def cancel_hold(session: Session, hold: Hold | int, *, patron: Patron | int | None = None,
                reason: str | None = None) -> OldHold:
    """Cancel a hold: it moves to old_reserves with its cancellation date and the rest of the
    queue moves up. With ``patron``, refuses (``BorrowerCannotCancelHold``) a hold that is not
    theirs or no longer cancelable by them."""
    if not isinstance(hold, Hold):
        found = session.get(Hold, hold)
        if found is None:
            raise CirculationError("holdNotFound", f"no hold with id {hold}")
        hold = found
    if patron is not None and not can_cancel_hold(session, hold, patron):
        raise CirculationError("BorrowerCannotCancelHold", "this hold cannot be cancelled by the patron")
    now = utcnow()
    hold.cancellationdate = now
    hold.cancellation_reason = reason
    biblionumber = hold.biblionumber
    old = _archive_hold(session, hold, now)
    renumber_hold_queue(session, biblionumber)
    return old


def cancellation_requestable(session: Session, hold: Hold) -> bool:
    """Whether the patron may ask to cancel this hold (Koha's cancellation_requestable_from_opac):
    only a waiting hold with its item, when the circulation rule ``waiting_hold_cancellation``
    of the patron's category and the item's type, at the library ReservesControlBranch names
    (the item's home library by default, else the patron's), allows it."""
    if hold.found != "W" or hold.itemnumber is None:
        return False
    item = session.get(Item, hold.itemnumber)
    patron = session.get(Patron, hold.borrowernumber)
    if item is None or patron is None:
        return False
    control = get_preference(session, "ReservesControlBranch", "ItemHomeLibrary")
    branch = item.homebranch if control == "ItemHomeLibrary" else patron.branchcode
    value = get_rule(session, "waiting_hold_cancellation", branchcode=branch, categorycode=patron.categorycode,
                     itemtype=effective_itemtype(session, item))
    return _int_rule(value) not in (None, 0)


def request_cancellation(session: Session, hold: Hold) -> HoldCancellationRequest:
    """Record a request to cancel a waiting hold (Koha's add_cancellation_request); the hold
    stays waiting until staff cancel it (which removes its requests)."""
    request = HoldCancellationRequest(hold_id=hold.reserve_id, creation_date=utcnow())
    session.add(request)
    session.flush()
    return request


def cancellation_requested(session: Session, hold: Hold | int) -> bool:
    """Whether a cancellation of the hold has been requested and not yet dealt with."""
    hold_id = hold.reserve_id if isinstance(hold, Hold) else hold
    return session.scalar(select(func.count()).select_from(HoldCancellationRequest)
                          .where(HoldCancellationRequest.hold_id == hold_id)) > 0


def cancel_requested_waiting_holds(session: Session, item: Item) -> list[OldHold]:
    """Cancel the holds waiting with ``item`` whose cancellation the patron requested: what
    Koha's check-in does before returning the item, which is then free for the next hold."""
    requested = select(HoldCancellationRequest.hold_id)
    waiting = session.scalars(select(Hold).where(Hold.itemnumber == item.itemnumber).where(Hold.found == "W")
                              .where(Hold.reserve_id.in_(requested)).order_by(Hold.reserve_id)).all()
    return [cancel_hold(session, hold) for hold in waiting]


def holds_count(session: Session, *, itemnumber: int | None = None, biblionumber: int | None = None) -> int:
    query = select(func.count()).select_from(Hold)
    if itemnumber is not None:
        query = query.where(Hold.itemnumber == itemnumber)
    if biblionumber is not None:
        query = query.where(Hold.biblionumber == biblionumber)
    return session.scalar(query)
