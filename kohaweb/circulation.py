"""Circulation: loans, renewals and holds, decided by Koha's circulation rules.

Every service (ILS-DI, the REST API, the CLI) goes through these functions so that a loan made
at the command line and a renewal asked for by a discovery layer follow the same rules. They
take a SQLAlchemy ``Session`` and never commit: the caller owns the transaction. Refusals raise
``CirculationError`` whose ``code`` is Koha's own reason code (``too_many``, ``on_reserve``,
``tooManyReserves``, ``ITEM_LOST``...), so each protocol can map it to its own vocabulary.

Item changes (``onloan``, counters, ``holdingbranch``) go through ``Catalog.update_item`` so the
OAI datestamp and the search index follow; checkout and hold ids come from ``kohaweb.ids`` and
are never reused. Times are naive UTC, like every other timestamp in the catalogue.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from . import ids
from .catalog import Catalog
from .models import (
    AccountLine,
    Biblio,
    Checkout,
    CirculationRule,
    Hold,
    Item,
    ItemType,
    Library,
    OldCheckout,
    OldHold,
    Patron,
    PatronRestriction,
    utcnow,
)
from .models.circulation import CheckoutRenewal
from .preferences import get_preference

# Koha's defaults when no circulation rule says otherwise.
RULE_DEFAULTS = {
    "issuelength": "14",
    "lengthunit": "days",
    "renewalsallowed": "0",
    "renewalperiod": None,  # None: same as issuelength
    "norenewalbefore": None,
    "maxissueqty": None,  # None: unlimited
    "reservesallowed": None,
    "holds_per_record": "1",
    "holds_per_day": None,
    "max_holds": None,
    "holdallowed": "from_any_library",
    "hold_fulfillment_policy": "any",
}


class CirculationError(Exception):
    """A refused circulation action. ``code`` is Koha's reason code; ``limit`` the rule value
    that was reached, when there is one."""

    def __init__(self, code: str, message: str | None = None, *, limit: int | None = None):
        super().__init__(message or code)
        self.code = code
        self.message = message or code
        self.limit = limit


# --- rules ---------------------------------------------------------------------------------------

def get_rule(session: Session, rule_name: str, *, branchcode: str | None = None,
             categorycode: str | None = None, itemtype: str | None = None) -> str | None:
    """The effective value of a circulation rule (Koha's get_effective_rule).

    A NULL branchcode/categorycode/itemtype in a rule row means "any"; among the rows that apply,
    the most specific wins, the library counting first, then the patron category, then the item
    type (Koha orders by those three columns, descending, NULLs last).
    """
    rows = session.execute(
        select(CirculationRule.branchcode, CirculationRule.categorycode, CirculationRule.itemtype,
               CirculationRule.rule_value)
        .where(CirculationRule.rule_name == rule_name)
        .where(or_(CirculationRule.branchcode.is_(None), CirculationRule.branchcode == branchcode))
        .where(or_(CirculationRule.categorycode.is_(None), CirculationRule.categorycode == categorycode))
        .where(or_(CirculationRule.itemtype.is_(None), CirculationRule.itemtype == itemtype))).all()
    if not rows:
        return RULE_DEFAULTS.get(rule_name)
    best = max(rows, key=lambda r: (r.branchcode is not None, r.categorycode is not None, r.itemtype is not None))
    return best.rule_value


def _int_rule(value: str | None) -> int | None:
    """Koha stores rule values as strings; an empty value means "no limit"."""
    if value is None or str(value).strip() == "":
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def _rule_scope(session: Session, rule_name: str, branchcode: str | None, categorycode: str | None,
                itemtype: str | None) -> CirculationRule | None:
    """The rule row that decides, so counts can be limited to its item type (Koha counts loans
    and holds of the item type a per-itemtype limit is about)."""
    rows = session.scalars(
        select(CirculationRule).where(CirculationRule.rule_name == rule_name)
        .where(or_(CirculationRule.branchcode.is_(None), CirculationRule.branchcode == branchcode))
        .where(or_(CirculationRule.categorycode.is_(None), CirculationRule.categorycode == categorycode))
        .where(or_(CirculationRule.itemtype.is_(None), CirculationRule.itemtype == itemtype))).all()
    if not rows:
        return None
    return max(rows, key=lambda r: (r.branchcode is not None, r.categorycode is not None, r.itemtype is not None))


# --- patrons and items ---------------------------------------------------------------------------

def today() -> dt.date:
    return utcnow().date()


def is_expired(patron: Patron, on: dt.date | None = None) -> bool:
    return patron.dateexpiry is not None and patron.dateexpiry < (on or today())


def active_restrictions(session: Session, patron: Patron) -> list[PatronRestriction]:
    """Restrictions in force (borrower_debarments without expiration or expiring after today)."""
    return list(session.scalars(
        select(PatronRestriction).where(PatronRestriction.borrowernumber == patron.borrowernumber)
        .where(or_(PatronRestriction.expiration.is_(None), PatronRestriction.expiration > today()))
        .order_by(PatronRestriction.borrower_debarment_id)))


def is_restricted(session: Session, patron: Patron) -> bool:
    """Debarred, by ``borrowers.debarred`` (Koha keeps the latest restriction end date there) or by
    a restriction row in force."""
    if patron.debarred is not None and patron.debarred > today():
        return True
    return bool(active_restrictions(session, patron))


def has_overdues(session: Session, patron: Patron) -> bool:
    return session.scalar(select(Checkout.issue_id).where(Checkout.borrowernumber == patron.borrowernumber)
                          .where(Checkout.date_due < utcnow()).limit(1)) is not None


def non_issue_charges(session: Session, patron: Patron) -> float:
    """What the patron owes (sum of outstanding amounts), as ILS-DI's ``charges``."""
    total = session.scalar(select(func.coalesce(func.sum(AccountLine.amountoutstanding), 0))
                           .where(AccountLine.borrowernumber == patron.borrowernumber))
    return float(total or 0)


def _blocked_expired_actions(session: Session) -> set[str]:
    # Koha's BlockExpiredPatronOpacActions; absent means the issue's rule: an expired patron
    # can neither renew nor place holds.
    value = get_preference(session, "BlockExpiredPatronOpacActions", "hold,renew") or ""
    return {part.strip() for part in value.replace("|", ",").split(",") if part.strip()}


def expired_blocks(session: Session, patron: Patron, action: str) -> bool:
    """True when ``patron`` is expired and expired patrons may not do ``action`` (hold, renew)."""
    return is_expired(patron) and action in _blocked_expired_actions(session)


def effective_itemtype(session: Session, item: Item) -> str | None:
    if item.itype:
        return item.itype
    return session.scalar(select(Biblio.itemtype).where(Biblio.biblionumber == item.biblionumber))


def is_notforloan(session: Session, item: Item) -> bool:
    """Not for loan by the item's own status or by its item type (Koha's effective status)."""
    if item.notforloan:
        return True
    itype = effective_itemtype(session, item)
    return bool(itype and session.scalar(select(ItemType.notforloan).where(ItemType.itemtype == itype)))


def find_item(session: Session, itemnumber_or_barcode: int | str) -> Item | None:
    """An item by barcode, or by itemnumber when given an int or a string of digits with no
    item having it as barcode."""
    if isinstance(itemnumber_or_barcode, int):
        return session.get(Item, itemnumber_or_barcode)
    text = str(itemnumber_or_barcode).strip()
    item = session.scalar(select(Item).where(Item.barcode == text)) if text else None
    if item is None and text.isdigit() and len(text) < 10:
        item = session.get(Item, int(text))
    return item


@dataclass(frozen=True)
class Availability:
    """Why an item is or is not on the shelf, in ILS-DI GetAvailability's order and words."""

    available: bool
    code: str | None = None  # notforloan, onloan, itemlost, withdrawn, damaged, intransit, onhold
    message: str | None = None


_AVAILABILITY_MESSAGES = {
    "notforloan": "Not for loan", "onloan": "Checked out", "itemlost": "Item lost",
    "withdrawn": "Item withdrawn", "damaged": "Item damaged", "intransit": "In transit", "onhold": "On hold",
}


def item_availability(session: Session, item: Item) -> Availability:
    """First reason, in Koha's order, why an item is not available; available otherwise."""
    code = None
    if is_notforloan(session, item):
        code = "notforloan"
    elif _on_loan(session, item):
        code = "onloan"
    elif item.itemlost:
        code = "itemlost"
    elif item.withdrawn:
        code = "withdrawn"
    elif item.damaged:
        code = "damaged"
    elif session.scalar(select(Hold.reserve_id).where(Hold.itemnumber == item.itemnumber)
                        .where(Hold.found == "T").limit(1)) is not None:
        code = "intransit"
    elif current_item_holds(session, item):
        code = "onhold"
    if code is None:
        return Availability(True)
    return Availability(False, code, _AVAILABILITY_MESSAGES[code])


def _on_loan(session: Session, item: Item) -> bool:
    return item.onloan is not None or session.scalar(
        select(Checkout.issue_id).where(Checkout.itemnumber == item.itemnumber)) is not None


def current_item_holds(session: Session, item: Item) -> list[Hold]:
    """Holds on this very item that are in force now (Koha's Item->current_holds)."""
    return list(session.scalars(
        select(Hold).where(Hold.itemnumber == item.itemnumber).where(Hold.suspend.is_(False))
        .where(or_(Hold.reservedate <= today(), Hold.waitingdate.is_not(None)))
        .order_by(Hold.priority, Hold.reserve_id)))


# --- checkouts -----------------------------------------------------------------------------------

def _require_patron(session: Session, patron: Patron | int) -> Patron:
    if isinstance(patron, Patron):
        return patron
    found = session.get(Patron, patron)
    if found is None:
        raise CirculationError("PATRON_NOT_FOUND", f"no patron with id {patron}")
    return found


def _require_item(session: Session, item: Item | int | str) -> Item:
    if isinstance(item, Item):
        return item
    found = find_item(session, item)
    if found is None:
        raise CirculationError("UNKNOWN_BARCODE", f"no item {item}")
    return found


def circulation_branch(session: Session, item: Item, patron: Patron, branchcode: str | None = None) -> str | None:
    """The library whose rules apply (Koha's CircControl: ItemHomeLibrary by default,
    PatronLibrary, or PickupLibrary = where the transaction happens)."""
    control = get_preference(session, "CircControl", "ItemHomeLibrary")
    if control == "PatronLibrary":
        return patron.branchcode
    if control == "PickupLibrary" and branchcode:
        return branchcode
    return item.homebranch


def _rules_for(session: Session, item: Item, patron: Patron, branchcode: str | None = None):
    branch = circulation_branch(session, item, patron, branchcode)
    itype = effective_itemtype(session, item)

    def rule(name: str) -> str | None:
        return get_rule(session, name, branchcode=branch, categorycode=patron.categorycode, itemtype=itype)

    return branch, itype, rule


def calculate_due_date(session: Session, item: Item, patron: Patron, start: dt.datetime | None = None,
                       *, branchcode: str | None = None, renewal: bool = False) -> dt.datetime:
    """Due date from ``issuelength`` (or ``renewalperiod`` on renewal) in ``lengthunit`` days or
    hours. A loan counted in days is due at 23:59 of its last day, as in Koha."""
    _, _, rule = _rules_for(session, item, patron, branchcode)
    start = start or utcnow()
    length = _int_rule(rule("renewalperiod")) if renewal else None
    if length is None:
        length = _int_rule(rule("issuelength"))
    length = 14 if length is None else length
    if (rule("lengthunit") or "days") == "hours":
        return (start + dt.timedelta(hours=length)).replace(second=0, microsecond=0)
    day = start.date() + dt.timedelta(days=length)
    return dt.datetime.combine(day, dt.time(23, 59))


def can_checkout(session: Session, patron: Patron | int, item: Item | int | str, *,
                 branchcode: str | None = None) -> None:
    """Raise CirculationError with Koha's CanBookBeIssued code when the loan is impossible:
    DEBARRED, EXPIRED, CARD_LOST, GNA, UNKNOWN_BARCODE, NOT_FOR_LOAN, ITEM_LOST, WTHDRAWN,
    ISSUED_TO_ANOTHER, ALREADY_ISSUED (to this patron: renew instead), RESERVE_WAITING (waiting
    for someone else), TOO_MANY (maxissueqty)."""
    patron = _require_patron(session, patron)
    item = _require_item(session, item)
    if is_restricted(session, patron):
        raise CirculationError("DEBARRED", "the patron is restricted")
    if is_expired(patron):
        raise CirculationError("EXPIRED", "the patron's card has expired")
    if patron.lost:
        raise CirculationError("CARD_LOST", "the patron's card is reported lost")
    if patron.gonenoaddress:
        raise CirculationError("GNA", "the patron's address is in doubt")
    if item.withdrawn:
        raise CirculationError("WTHDRAWN", "the item is withdrawn")
    if item.itemlost:
        raise CirculationError("ITEM_LOST", "the item is lost")
    if is_notforloan(session, item):
        raise CirculationError("NOT_FOR_LOAN", "the item is not for loan")
    loan = session.scalar(select(Checkout).where(Checkout.itemnumber == item.itemnumber))
    if loan is not None:
        if loan.borrowernumber == patron.borrowernumber:
            raise CirculationError("ALREADY_ISSUED", "the item is already on loan to this patron; renew it")
        raise CirculationError("ISSUED_TO_ANOTHER", "the item is on loan to another patron")
    waiting = session.scalar(select(Hold).where(Hold.itemnumber == item.itemnumber)
                             .where(Hold.found.in_(("W", "T")))
                             .where(Hold.borrowernumber != patron.borrowernumber).limit(1))
    if waiting is not None:
        raise CirculationError("RESERVE_WAITING", "the item is waiting for another patron's hold")
    branch, itype, rule = _rules_for(session, item, patron, branchcode)
    limit = _int_rule(rule("maxissueqty"))
    if limit is not None:
        count = select(func.count()).select_from(Checkout).where(Checkout.borrowernumber == patron.borrowernumber)
        scope = _rule_scope(session, "maxissueqty", branch, patron.categorycode, itype)
        if scope is not None and scope.itemtype is not None:
            count = count.join(Item, Item.itemnumber == Checkout.itemnumber).where(Item.itype == scope.itemtype)
        if session.scalar(count) >= limit:
            raise CirculationError("TOO_MANY", f"the patron has reached the limit of {limit} loans", limit=limit)


def checkout(session: Session, patron: Patron | int, item: Item | int | str, *, branchcode: str | None = None,
             due: dt.datetime | None = None, catalog: Catalog | None = None) -> Checkout:
    """Lend ``item`` to ``patron`` (after ``can_checkout``). The patron's own hold on the record
    or item is filled (moved to old_reserves with found F), as Koha does when the holder borrows."""
    patron = _require_patron(session, patron)
    item = _require_item(session, item)
    can_checkout(session, patron, item, branchcode=branchcode)
    now = utcnow()
    branchcode = branchcode or item.holdingbranch or item.homebranch or patron.branchcode
    due = due or calculate_due_date(session, item, patron, now, branchcode=branchcode)
    loan = Checkout(issue_id=ids.allocate(session, "checkout")[0], borrowernumber=patron.borrowernumber,
                    itemnumber=item.itemnumber, branchcode=branchcode, issuedate=now, date_due=due,
                    renewals_count=0, auto_renew=False, onsite_checkout=False, timestamp=now)
    session.add(loan)
    session.flush()
    _fill_own_hold(session, patron, item, now)
    (catalog or Catalog(session)).update_item(
        item.itemnumber, onloan=due.date(), issues=(item.issues or 0) + 1, datelastborrowed=now.date(),
        datelastseen=now, holdingbranch=branchcode)
    return loan


def _fill_own_hold(session: Session, patron: Patron, item: Item, now: dt.datetime) -> None:
    hold = session.scalar(
        select(Hold).where(Hold.borrowernumber == patron.borrowernumber)
        .where(Hold.biblionumber == item.biblionumber)
        .where(or_(Hold.itemnumber.is_(None), Hold.itemnumber == item.itemnumber))
        .order_by(Hold.itemnumber.is_(None), Hold.priority).limit(1))
    if hold is not None:
        hold.itemnumber = item.itemnumber
        _archive_hold(session, hold, now, found="F")
        _renumber_queue(session, item.biblionumber)


def checkin(session: Session, item: Item | int | str, *, branchcode: str | None = None,
            catalog: Catalog | None = None) -> OldCheckout:
    """Return an item: the loan moves to old_issues with its returndate. Raises ``not_checked_out``."""
    item = _require_item(session, item)
    loan = session.scalar(select(Checkout).where(Checkout.itemnumber == item.itemnumber))
    if loan is None:
        raise CirculationError("not_checked_out", f"item {item.itemnumber} is not on loan")
    now = utcnow()
    values = {c.key: getattr(loan, c.key) for c in Checkout.__table__.columns}
    values.update(returndate=now, timestamp=now)
    session.delete(loan)
    session.flush()
    old = OldCheckout(**values)
    session.add(old)
    session.flush()
    (catalog or Catalog(session)).update_item(
        item.itemnumber, onloan=None, datelastseen=now, holdingbranch=branchcode or item.holdingbranch)
    return old


def trap_hold(session: Session, item: Item | int | str, *, branchcode: str | None = None) -> Hold | None:
    """Give a returned item to the first hold it can fill (Koha's check-in "hold found", once
    confirmed): by queue priority, not suspended, already started, on this item or on its record.
    The hold becomes waiting (found W) at ``branchcode`` = its pickup library, or in transit (T)
    when the item is elsewhere; it leaves the queue (priority 0) and the queue moves up."""
    item = _require_item(session, item)
    if current_checkout(session, item) is not None or not item_holdable(session, item):
        return None
    if session.scalar(select(Hold.reserve_id).where(Hold.itemnumber == item.itemnumber)
                      .where(Hold.found.is_not(None)).limit(1)) is not None:
        return None  # already set aside for someone
    hold = session.scalar(
        select(Hold).where(Hold.biblionumber == item.biblionumber).where(Hold.found.is_(None))
        .where(or_(Hold.itemnumber.is_(None), Hold.itemnumber == item.itemnumber))
        .where(Hold.suspend.is_(False)).where(Hold.reservedate <= today())
        .order_by(Hold.priority, Hold.reserve_id).limit(1))
    if hold is None:
        return None
    here = branchcode or item.holdingbranch
    hold.itemnumber = item.itemnumber
    hold.found = "W" if hold.branchcode == here else "T"
    hold.waitingdate = today() if hold.found == "W" else None
    hold.priority = 0
    hold.timestamp = utcnow()
    session.flush()
    _renumber_queue(session, item.biblionumber)
    return hold


# --- renewals ------------------------------------------------------------------------------------

def current_checkout(session: Session, item: Item | int) -> Checkout | None:
    number = item.itemnumber if isinstance(item, Item) else item
    return session.scalar(select(Checkout).where(Checkout.itemnumber == number))


def can_renew(session: Session, loan: Checkout, patron: Patron | None = None) -> None:
    """Raise CirculationError with Koha's CanBookBeRenewed reason, checked in Koha's order:
    too_many, restriction, overdue, card_expired, onsite_checkout, auto_renew, too_soon,
    on_reserve. ``patron`` defaults to the borrower of the loan."""
    patron = patron or session.get(Patron, loan.borrowernumber)
    item = session.get(Item, loan.itemnumber)
    _, _, rule = _rules_for(session, item, patron, loan.branchcode)
    allowed = _int_rule(rule("renewalsallowed")) or 0
    if loan.renewals_count >= allowed:
        raise CirculationError("too_many", f"no more renewals allowed ({loan.renewals_count} of {allowed})",
                               limit=allowed)
    # RestrictionBlockRenewing: a restricted patron may not renew (on unless the pref says 0).
    if is_restricted(session, patron) and get_preference(session, "RestrictionBlockRenewing", "1") != "0":
        raise CirculationError("restriction", "the patron is restricted")
    overdue_rule = get_preference(session, "OverduesBlockRenewing", "allow")
    if (overdue_rule == "block" and has_overdues(session, patron)) or \
            (overdue_rule == "blockitem" and loan.date_due < utcnow()):
        raise CirculationError("overdue", "the patron has overdue items")
    if expired_blocks(session, patron, "renew"):
        raise CirculationError("card_expired", "the patron's card has expired")
    if loan.onsite_checkout:
        raise CirculationError("onsite_checkout", "on-site checkouts cannot be renewed")
    if loan.auto_renew:
        raise CirculationError("auto_renew", "the loan is renewed automatically")
    before = _int_rule(rule("norenewalbefore"))
    if before is not None and utcnow() < loan.date_due - dt.timedelta(days=before):
        raise CirculationError("too_soon", f"renewal is possible from {before} days before the due date")
    if _holds_waiting_for(session, item, exclude=patron.borrowernumber):
        raise CirculationError("on_reserve", "another patron has a hold on this title")


def renewals_allowed(session: Session, loan: Checkout) -> int:
    """The renewalsallowed rule that applies to ``loan`` (Koha's max_renewals)."""
    patron = session.get(Patron, loan.borrowernumber)
    item = session.get(Item, loan.itemnumber)
    _, _, rule = _rules_for(session, item, patron, loan.branchcode)
    return _int_rule(rule("renewalsallowed")) or 0


def _holds_waiting_for(session: Session, item: Item, exclude: int) -> bool:
    """Another patron holds this item or its title (not suspended, already started)."""
    return session.scalar(
        select(Hold.reserve_id).where(Hold.biblionumber == item.biblionumber)
        .where(or_(Hold.itemnumber.is_(None), Hold.itemnumber == item.itemnumber))
        .where(Hold.borrowernumber != exclude).where(Hold.suspend.is_(False))
        .where(Hold.reservedate <= today()).limit(1)) is not None


def renew(session: Session, loan: Checkout | Item | int | str, *, patron: Patron | int | None = None,
          catalog: Catalog | None = None, renewer_id: int | None = None, interface: str = "intranet",
          seen: bool = True) -> Checkout:
    """Renew a loan (or the loan of an item) after ``can_renew``; new due date from
    ``renewalperiod`` counted from the old due date (Koha's RenewalPeriodBase=date_due) or from
    now (RenewalPeriodBase=now, or when the loan is overdue). The renewal is recorded in
    checkout_renewals (who, through which interface; an unseen one counts in unseen_renewals)."""
    if not isinstance(loan, Checkout):
        item = _require_item(session, loan)
        found = current_checkout(session, item)
        if found is None:
            raise CirculationError("no_checkout", f"item {item.itemnumber} is not on loan")
        loan = found
    patron_row = _require_patron(session, patron) if patron is not None else session.get(Patron, loan.borrowernumber)
    if patron_row.borrowernumber != loan.borrowernumber:
        raise CirculationError("no_checkout", "the item is not on loan to this patron")
    can_renew(session, loan, patron_row)
    item = session.get(Item, loan.itemnumber)
    now = utcnow()
    base = loan.date_due
    if get_preference(session, "RenewalPeriodBase", "date_due") == "now" or base < now:
        base = now
    loan.date_due = calculate_due_date(session, item, patron_row, base, branchcode=loan.branchcode, renewal=True)
    loan.renewals_count += 1
    if not seen:
        loan.unseen_renewals = (loan.unseen_renewals or 0) + 1
    loan.lastreneweddate = now
    loan.timestamp = now
    session.add(CheckoutRenewal(checkout_id=loan.issue_id, renewer_id=renewer_id, seen=seen,
                                interface=interface, timestamp=now, renewal_type="Manual"))
    session.flush()
    (catalog or Catalog(session)).update_item(item.itemnumber, onloan=loan.date_due.date(),
                                              renewals=(item.renewals or 0) + 1, datelastseen=now)
    return loan


# --- holds ---------------------------------------------------------------------------------------

def check_patron_can_hold(session: Session, patron: Patron) -> None:
    """Patron-level refusals (Koha::Patron->can_place_holds): debarred, expired, card_lost."""
    if is_restricted(session, patron):
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
    # the id first: its counter row is locked until commit, so concurrent holds queue up here
    # and each counts the others' (committed) places in the queue
    reserve_id = ids.allocate(session, "hold")[0]
    queue = session.scalar(select(func.count()).select_from(Hold)
                           .where(Hold.biblionumber == biblio.biblionumber).where(Hold.found.is_(None)))
    now = utcnow()
    hold = Hold(reserve_id=reserve_id, borrowernumber=patron.borrowernumber,
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
    _renumber_queue(session, biblionumber)
    return old


def _archive_hold(session: Session, hold: Hold, now: dt.datetime, found: str | None = None) -> OldHold:
    values = {c.key: getattr(hold, c.key) for c in Hold.__table__.columns}
    values["timestamp"] = now
    if found is not None:
        values["found"] = found
    session.delete(hold)
    session.flush()
    old = OldHold(**values)
    session.add(old)
    session.flush()
    return old


def _renumber_queue(session: Session, biblionumber: int) -> None:
    """Pending holds of a record keep consecutive priorities 1..n in their order (Koha's _FixPriority)."""
    pending = session.scalars(select(Hold).where(Hold.biblionumber == biblionumber).where(Hold.found.is_(None))
                              .order_by(Hold.priority, Hold.reserve_id)).all()
    for position, hold in enumerate(pending, start=1):
        if hold.priority != position:
            hold.priority = position
    session.flush()


def holds_count(session: Session, *, itemnumber: int | None = None, biblionumber: int | None = None) -> int:
    query = select(func.count()).select_from(Hold)
    if itemnumber is not None:
        query = query.where(Hold.itemnumber == itemnumber)
    if biblionumber is not None:
        query = query.where(Hold.biblionumber == biblionumber)
    return session.scalar(query)


@dataclass
class PatronServices:
    """What a patron can do with an item (ILS-DI GetServices)."""

    title_hold: bool = False
    item_hold: bool = False
    hold_cancellation: bool = False
    renewal: bool = False
    reasons: dict[str, str] = field(default_factory=dict)


def services_for(session: Session, patron: Patron, item: Item) -> PatronServices:
    """Evaluate, without changing anything, which actions are open to ``patron`` on ``item``."""
    result = PatronServices()
    biblio = session.get(Biblio, item.biblionumber)
    for name, check in (("title_hold", lambda: can_place_hold(session, patron, biblio)),
                        ("item_hold", lambda: can_place_hold(session, patron, biblio, item=item))):
        try:
            check()
            setattr(result, name, True)
        except CirculationError as exc:
            result.reasons[name] = exc.code
    result.hold_cancellation = session.scalar(
        select(Hold.reserve_id).where(Hold.borrowernumber == patron.borrowernumber)
        .where(Hold.itemnumber == item.itemnumber).limit(1)) is not None
    loan = current_checkout(session, item)
    if loan is not None and loan.borrowernumber == patron.borrowernumber:
        try:
            can_renew(session, loan, patron)
            result.renewal = True
        except CirculationError as exc:
            result.reasons["renewal"] = exc.code
    return result


def patron_checkouts(session: Session, patron: Patron, *, limit: int | None = None,
                     offset: int = 0) -> list[Checkout]:
    query = select(Checkout).where(Checkout.borrowernumber == patron.borrowernumber) \
        .order_by(Checkout.date_due, Checkout.issue_id).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def patron_holds(session: Session, patron: Patron) -> list[Hold]:
    return list(session.scalars(select(Hold).where(Hold.borrowernumber == patron.borrowernumber)
                                .order_by(Hold.reservedate, Hold.reserve_id)))


def restrict(session: Session, patron: Patron, *, expiration: dt.date | None = None,
             comment: str | None = None, type_: str = "MANUAL") -> PatronRestriction:
    """Add a restriction (borrower_debarments) and keep ``borrowers.debarred`` on the latest end
    date, as Koha does (9999-12-31 for an indefinite one)."""
    row = PatronRestriction(borrowernumber=patron.borrowernumber, expiration=expiration, type=type_,
                            comment=comment, created=utcnow())
    session.add(row)
    session.flush()
    ends: Iterable[dt.date] = [r.expiration or dt.date(9999, 12, 31) for r in active_restrictions(session, patron)]
    patron.debarred = max(ends, default=None)
    patron.debarredcomment = comment
    session.flush()
    return row
