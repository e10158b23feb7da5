"""The rules and states every circulation decision reads: circulation rules, patron and item
state, the loan of an item, and the hold queue's bookkeeping."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import Integer, Select, bindparam, delete, func, literal_column, or_, select, type_coerce
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.util import identity_key

from .. import visibility
from ..db import transaction_cache
from ..driver import autoflush, read_rows
from ..models import (
    AccountLine,
    Biblio,
    Checkout,
    CirculationRule,
    Hold,
    Item,
    ItemType,
    OldHold,
    Patron,
    PatronRestriction,
    utcnow,
)
from ..models.circulation import HoldCancellationRequest
from ..preferences import get_preference, prefetch

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
    best = _deciding_rule(session, rule_name, branchcode, categorycode, itemtype)
    return RULE_DEFAULTS.get(rule_name) if best is None else best.rule_value


class RuleRow(NamedTuple):
    """One circulation_rules row as the rules read it (NULL scope columns: any)."""

    branchcode: str | None
    categorycode: str | None
    itemtype: str | None
    rule_name: str
    rule_value: str | None


def _deciding_rule(session: Session, rule_name: str, branchcode: str | None, categorycode: str | None,
                   itemtype: str | None) -> RuleRow | None:
    rows = [row for row in _applicable_rules(session, branchcode, categorycode, itemtype) if row.rule_name == rule_name]
    if not rows:
        return None
    return max(rows, key=lambda r: (r.branchcode is not None, r.categorycode is not None, r.itemtype is not None))


def _applicable_rules(session: Session, branchcode: str | None, categorycode: str | None,
                      itemtype: str | None) -> list[RuleRow]:
    """Every rule row that applies to a library, patron category and item type, read once per
    transaction: a checkout asks for four rules (the loan limit and its scope, the loan length and
    its unit), one statement instead of four. A rule written in the transaction makes the next
    call read again. Read as plain rows by a statement built once (``read_rows``): as ORM
    objects they cost a loan more than the database's answer."""
    read = transaction_cache(session, "kohaweb.circulation.rules", CirculationRule)
    scope = (branchcode, categorycode, itemtype)
    if scope not in read:
        autoflush(session)  # a rule added in the transaction counts, as an ORM read would see it
        read[scope] = [RuleRow(*row) for row in read_rows(session, _rules_statement(), {
            "branchcode": branchcode, "categorycode": categorycode, "itemtype": itemtype})]
    return read[scope]


@functools.cache
def _rules_statement():
    # a NULL argument matches only the rows that apply to any (``= NULL`` is never true)
    rules = CirculationRule.__table__
    return (select(*(rules.c[name] for name in RuleRow._fields))
            .where(or_(rules.c.branchcode.is_(None), rules.c.branchcode == bindparam("branchcode")))
            .where(or_(rules.c.categorycode.is_(None), rules.c.categorycode == bindparam("categorycode")))
            .where(or_(rules.c.itemtype.is_(None), rules.c.itemtype == bindparam("itemtype"))))


def _int_rule(value: str | None) -> int | None:
    """Koha stores rule values as strings; an empty value means "no limit"."""
    if value is None or str(value).strip() == "":
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def _rule_scope(session: Session, rule_name: str, branchcode: str | None, categorycode: str | None,
                itemtype: str | None) -> RuleRow | None:
    """The rule row that decides, so counts can be limited to its item type (Koha counts loans
    and holds of the item type a per-itemtype limit is about)."""
    return _deciding_rule(session, rule_name, branchcode, categorycode, itemtype)


# --- patrons and items ---------------------------------------------------------------------------

def today() -> dt.date:
    return utcnow().date()


@dataclass(frozen=True)
class PatronState:
    """The columns of a patron a loan decides on (``loan_patron``): a borrowers row has some 90
    columns, and loading it as a ``Patron`` cost a loan more than the database's answer."""

    borrowernumber: int
    categorycode: str
    branchcode: str
    dateexpiry: dt.date | None
    debarred: dt.date | None
    lost: bool | None
    gonenoaddress: bool | None


PATRON_STATE_COLUMNS = tuple(PatronState.__dataclass_fields__)


def is_expired(patron: Patron | PatronState, on: dt.date | None = None) -> bool:
    return patron.dateexpiry is not None and patron.dateexpiry < (on or today())


def active_restrictions(session: Session, patron: Patron) -> list[PatronRestriction]:
    """Restrictions in force (borrower_debarments without expiration or expiring after today)."""
    return list(session.scalars(
        select(PatronRestriction).where(PatronRestriction.borrowernumber == patron.borrowernumber)
        .where(or_(PatronRestriction.expiration.is_(None), PatronRestriction.expiration > today()))
        .order_by(PatronRestriction.borrower_debarment_id)))


def is_restricted(patron: Patron | PatronState) -> bool:
    """Debarred: ``borrowers.debarred`` is after today (Koha's Patron->is_debarred). Koha keeps
    there the latest end of the restrictions in force (9999-12-31 for one without end), as
    ``restrict`` does, so no restriction row needs reading."""
    return patron.debarred is not None and patron.debarred > today()


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


def effective_itemtype(session: Session, item: Item | LoanItem) -> str | None:
    if item.itype:
        return item.itype
    if isinstance(item, LoanItem):
        return item.record_itemtype  # read with the item
    return session.scalar(select(Biblio.itemtype).where(Biblio.biblionumber == item.biblionumber))


def is_notforloan(session: Session, item: Item | LoanItem) -> bool:
    """Not for loan by the item's own status or by its item type (Koha's effective status)."""
    if item.notforloan:
        return True
    if isinstance(item, LoanItem):
        return bool(item.itemtype_notforloan)  # the effective item type's, read with the item
    loaded = item.item_type if item.itype else None  # with the item when find_item read it
    if loaded is not None and loaded.itemtype == item.itype:
        return bool(loaded.notforloan)
    itype = effective_itemtype(session, item)
    return bool(itype and session.scalar(select(ItemType.notforloan).where(ItemType.itemtype == itype)))


def find_item(session: Session, itemnumber_or_barcode: int | str) -> Item | None:
    """An item by barcode, or by itemnumber when given an int or a string of digits with no
    item having it as barcode."""
    # with its record in the same statement (every loan and return writes the record's datestamp)
    # and its item type (whether it may be lent)
    with_record = [joinedload(Item.biblio), joinedload(Item.item_type)]
    if isinstance(itemnumber_or_barcode, int):
        return session.get(Item, itemnumber_or_barcode, options=with_record)
    text = str(itemnumber_or_barcode).strip()
    item = session.scalar(select(Item).options(*with_record).where(Item.barcode == text)) if text else None
    if item is None and text.isdigit() and len(text) < 10:
        item = session.get(Item, int(text), options=with_record)
    return item


class LoanItem(NamedTuple):
    """The columns of an item, its record and its item type a loan or a return reads and
    writes (``loan_item``), as one plain row: read as ``Item``, ``Biblio`` and ``ItemType``
    objects they cost a loan more CPU than the database's answer. ``Catalog.update_item_columns``
    writes the item's change from it."""

    itemnumber: int
    biblionumber: int
    barcode: str | None
    homebranch: str | None
    holdingbranch: str | None
    itype: str | None
    notforloan: int | None
    itemlost: int | None
    withdrawn: int | None
    onloan: dt.date | None
    issues: int | None
    datelastborrowed: dt.date | None
    datelastseen: dt.datetime | None
    record_itemtype: str | None  # biblio.itemtype: the item type when the item names none
    datestamp: dt.datetime | None  # the record's
    opac_suppressed: int | bool | None  # as the database gives them: 0/1 or False/True
    hidden_from_public: int | bool | None
    itemtype_notforloan: int | bool | None  # of the effective item type (the item's, else the record's)


_LOAN_ITEM_COLUMNS = LoanItem._fields[:13]


@functools.cache
def _loan_item_statements() -> tuple[Select, Select]:
    """The item with its record's and its effective item type's columns (``LoanItem``), by
    itemnumber and by barcode: one statement, each table by its key."""
    items, biblio, itemtypes = Item.__table__, Biblio.__table__, ItemType.__table__
    effective = func.coalesce(func.nullif(items.c.itype, literal_column("''")), biblio.c.itemtype)
    # the booleans read as integers: no result conversion, so MariaDB's rows come from the driver too
    flags = (type_coerce(biblio.c.opac_suppressed, Integer), type_coerce(biblio.c.hidden_from_public, Integer),
             type_coerce(itemtypes.c.notforloan, Integer))
    row = (select(*(items.c[name] for name in _LOAN_ITEM_COLUMNS), biblio.c.itemtype, biblio.c.datestamp, *flags)
           .select_from(items.join(biblio, biblio.c.biblionumber == items.c.biblionumber)
                        .outerjoin(itemtypes, itemtypes.c.itemtype == effective)))
    return (row.where(items.c.itemnumber == bindparam("itemnumber")),
            row.where(items.c.barcode == bindparam("barcode")))


def loan_item(session: Session, item: Item | int | str) -> LoanItem:
    """The item a loan or a return is about (``find_item``'s barcode or number, or an ``Item``)
    as a ``LoanItem`` row, leaving no object in the session. Raises UNKNOWN_BARCODE."""
    autoflush(session)  # the item as the transaction sees it, as an ORM read would
    by_number, by_barcode = _loan_item_statements()
    rows: list[tuple] = []
    if isinstance(item, Item):
        rows = read_rows(session, by_number, {"itemnumber": item.itemnumber})
    elif isinstance(item, int):
        rows = read_rows(session, by_number, {"itemnumber": item})
    else:
        text = str(item).strip()
        if text:
            rows = read_rows(session, by_barcode, {"barcode": text})
        if not rows and text.isdigit() and len(text) < 10:
            rows = read_rows(session, by_number, {"itemnumber": int(text)})
    if not rows:
        raise CirculationError("UNKNOWN_BARCODE", f"no item {item}")
    return LoanItem(*rows[0])


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


def loan_patron(session: Session, patron: Patron | int) -> Patron | PatronState:
    """The patron a loan is for: ``patron`` itself, or the ``Patron`` of that number the session
    already holds, else the columns a loan reads (``PatronState``), in one narrow statement that
    leaves nothing in the session. Raises PATRON_NOT_FOUND."""
    if isinstance(patron, Patron):
        return patron
    held = session.identity_map.get(identity_key(Patron, patron))
    if held is not None:
        return held
    rows = read_rows(session, _patron_state_statement(), {"borrowernumber": patron})
    if not rows:
        raise CirculationError("PATRON_NOT_FOUND", f"no patron with id {patron}")
    return PatronState(*rows[0])


@functools.cache
def _patron_state_statement():
    borrowers = Patron.__table__
    return (select(*(borrowers.c[name] for name in PATRON_STATE_COLUMNS))
            .where(borrowers.c.borrowernumber == bindparam("borrowernumber")))


def _require_item(session: Session, item: Item | int | str) -> Item:
    if isinstance(item, Item):
        return item
    found = find_item(session, item)
    if found is None:
        raise CirculationError("UNKNOWN_BARCODE", f"no item {item}")
    return found


# read in one statement when a loan, return or renewal begins (``read_preferences``)
CIRCULATION_PREFERENCES = ("CircControl", "RenewalPeriodBase", "OverduesBlockRenewing", "RestrictionBlockRenewing",
                           "BlockExpiredPatronOpacActions")


def read_preferences(session: Session) -> None:
    """Read the preferences a loan, a return or a renewal asks for, with those of the record's
    visibility (its item changes), in one statement for the rest of the transaction."""
    prefetch(session, (*CIRCULATION_PREFERENCES, *visibility.PREFERENCES))


def circulation_branch(session: Session, item: Item | LoanItem, patron: Patron | PatronState,
                       branchcode: str | None = None) -> str | None:
    """The library whose rules apply (Koha's CircControl: ItemHomeLibrary by default,
    PatronLibrary, or PickupLibrary = where the transaction happens)."""
    control = get_preference(session, "CircControl", "ItemHomeLibrary")
    if control == "PatronLibrary":
        return patron.branchcode
    if control == "PickupLibrary" and branchcode:
        return branchcode
    return item.homebranch


def _rules_for(session: Session, item: Item | LoanItem, patron: Patron | PatronState, branchcode: str | None = None):
    branch = circulation_branch(session, item, patron, branchcode)
    itype = effective_itemtype(session, item)

    def rule(name: str) -> str | None:
        return get_rule(session, name, branchcode=branch, categorycode=patron.categorycode, itemtype=itype)

    return branch, itype, rule


def calculate_due_date(session: Session, item: Item | LoanItem, patron: Patron | PatronState, start: dt.datetime | None = None,
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


def current_checkout(session: Session, item: Item | int) -> Checkout | None:
    number = item.itemnumber if isinstance(item, Item) else item
    return session.scalar(select(Checkout).where(Checkout.itemnumber == number))


def _archive_hold(session: Session, hold: Hold, now: dt.datetime, found: str | None = None) -> OldHold:
    values = {c.key: getattr(hold, c.key) for c in Hold.__table__.columns}
    values["timestamp"] = now
    # its cancellation requests end with it (the foreign key cascades too; the session may hold them)
    session.execute(delete(HoldCancellationRequest).where(HoldCancellationRequest.hold_id == hold.reserve_id))
    if found is not None:
        values["found"] = found
    session.delete(hold)
    session.flush()
    old = OldHold(**values)
    session.add(old)
    session.flush()
    return old


def renumber_hold_queue(session: Session, biblionumber: int) -> None:
    """Give a record's pending holds consecutive priorities 1..n, in their present order (Koha's
    _FixPriority). Call it after holds join or leave the record's queue (placed, cancelled,
    filled, or moved from another record by a merge); holds already found keep their priority."""
    pending = session.scalars(select(Hold).where(Hold.biblionumber == biblionumber).where(Hold.found.is_(None))
                              .order_by(Hold.priority, Hold.reserve_id)).all()
    for position, hold in enumerate(pending, start=1):
        if hold.priority != position:
            hold.priority = position
    session.flush()
