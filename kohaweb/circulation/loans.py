"""Checkouts, check-ins (and the hold a returned item fills) and renewals."""

from __future__ import annotations

import datetime as dt
import functools
from typing import NamedTuple, TypeVar

from sqlalchemy import Select, bindparam, case, delete, func, insert, or_, select, union_all
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.util import identity_key

from .. import ids
from ..catalog import Catalog
from ..driver import autoflush, read_rows
from ..models import (
    Checkout,
    Hold,
    Item,
    OldCheckout,
    Patron,
    utcnow,
)
from ..models.circulation import CheckoutRenewal
from ..preferences import get_preference
from .common import (
    CirculationError,
    LoanItem,
    PatronState,
    _archive_hold,
    _int_rule,
    _require_item,
    _require_patron,
    _rule_scope,
    _rules_for,
    calculate_due_date,
    current_checkout,
    expired_blocks,
    has_overdues,
    is_expired,
    is_notforloan,
    is_restricted,
    loan_item,
    loan_patron,
    read_preferences,
    renumber_hold_queue,
    today,
)
from .holds import cancel_requested_waiting_holds, item_holdable


def can_checkout(session: Session, patron: Patron | int, item: Item | int | str, *,
                 branchcode: str | None = None) -> None:
    """Raise CirculationError with Koha's CanBookBeIssued code when the loan is impossible:
    DEBARRED, EXPIRED, CARD_LOST, GNA, UNKNOWN_BARCODE, NOT_FOR_LOAN, ITEM_LOST, WTHDRAWN,
    ISSUED_TO_ANOTHER, ALREADY_ISSUED (to this patron: renew instead), RESERVE_WAITING (waiting
    for someone else), TOO_MANY (maxissueqty)."""
    _check_loan(session, loan_patron(session, patron), loan_item(session, item), branchcode)


def _check_loan(session: Session, patron: Patron | PatronState, item: LoanItem,
                branchcode: str | None) -> list[HoldRow]:
    """``can_checkout``'s checks; returns the holds a loan looks at (``_loan_holds``)."""
    if is_restricted(patron):
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
    # the rules first: the loan limit's count then comes in the statement that reads who has
    # the item. These reads run on the driver (plain rows, statements built once): as ORM
    # statements and objects they cost a loan more than the database's answers; what the
    # session holds unflushed is written first, as an ORM read would
    branch, itype, rule = _rules_for(session, item, patron, branchcode)
    limit = _int_rule(rule("maxissueqty"))
    scope = _rule_scope(session, "maxissueqty", branch, patron.categorycode, itype) if limit is not None else None
    autoflush(session)
    params = {"itemnumber": item.itemnumber, "borrowernumber": patron.borrowernumber,
              "biblionumber": item.biblionumber}
    if limit is None:
        borrower, held, count = *read_rows(session, _statements().state, params)[0], 0
    elif scope is None or scope.itemtype is None:
        borrower, held, count = read_rows(session, _statements().state_and_loans, params)[0]
    else:
        borrower, held, count = read_rows(session, _statements().state_and_loans_of_type,
                                          {**params, "itype": scope.itemtype})[0]
    if borrower is not None:
        if borrower == patron.borrowernumber:
            raise CirculationError("ALREADY_ISSUED", "the item is already on loan to this patron; renew it")
        raise CirculationError("ISSUED_TO_ANOTHER", "the item is on loan to another patron")
    holds = _loan_holds(session, patron, item) if held else []  # most loans: no hold to look at
    if any(h.itemnumber == item.itemnumber and h.found in ("W", "T") and h.borrowernumber != patron.borrowernumber
           for h in holds):
        raise CirculationError("RESERVE_WAITING", "the item is waiting for another patron's hold")
    if limit is not None and count >= limit:
        raise CirculationError("TOO_MANY", f"the patron has reached the limit of {limit} loans", limit=limit)
    return holds


class HoldRow(NamedTuple):
    """A hold as a loan looks at it (``_loan_holds``)."""

    reserve_id: int
    borrowernumber: int
    biblionumber: int
    itemnumber: int | None
    found: str | None
    priority: int | None


class _LoanStatements(NamedTuple):
    state: Select
    state_and_loans: Select
    state_and_loans_of_type: Select
    holds: Select


@functools.cache
def _statements() -> _LoanStatements:
    """The loan's reads, built once (``read_rows`` compiles each once per database). ``state``:
    who has the item (NULL when nobody: an item has one loan at most) and whether a hold is
    there for the loan to look at (``holds`` then reads them), with the patron's number of loans
    (of an item type) when a limit applies: one round trip where there were three."""
    issues, reserves, items = Checkout.__table__, Hold.__table__, Item.__table__
    columns = [reserves.c[name] for name in HoldRow._fields]
    on_item = select(*columns).where(reserves.c.itemnumber == bindparam("itemnumber"))
    own_on_record = select(*columns).where(reserves.c.borrowernumber == bindparam("borrowernumber"),
                                           reserves.c.biblionumber == bindparam("biblionumber"),
                                           reserves.c.itemnumber.is_(None))
    # each half of the holds by its own index (an OR of the two would scan reserves on MariaDB)
    held = or_(on_item.with_only_columns(reserves.c.reserve_id).exists(),
               own_on_record.with_only_columns(reserves.c.reserve_id).exists())
    state = [select(issues.c.borrowernumber).where(issues.c.itemnumber == bindparam("itemnumber")).scalar_subquery(),
             case((held, 1), else_=0)]
    loans = select(func.count()).select_from(issues).where(issues.c.borrowernumber == bindparam("borrowernumber"))
    of_type = loans.join(items, items.c.itemnumber == issues.c.itemnumber).where(items.c.itype == bindparam("itype"))
    return _LoanStatements(
        state=select(*state),
        state_and_loans=select(*state, loans.scalar_subquery()),
        state_and_loans_of_type=select(*state, of_type.scalar_subquery()),
        holds=select(union_all(on_item, own_on_record).subquery()))


def _loan_holds(session: Session, patron: Patron | PatronState, item: LoanItem) -> list[HoldRow]:
    """In one statement, the holds a loan looks at: every hold on this item (one set aside for
    someone else refuses the loan, the patron's own is filled) and the patron's holds on its
    record that name no item (the first is filled). Each half reads by its own index."""
    return [HoldRow(*row) for row in read_rows(session, _statements().holds, {
        "itemnumber": item.itemnumber, "borrowernumber": patron.borrowernumber,
        "biblionumber": item.biblionumber})]


def checkout(session: Session, patron: Patron | int, item: Item | int | str, *, branchcode: str | None = None,
             due: dt.datetime | None = None, catalog: Catalog | None = None) -> Checkout:
    """Lend ``item`` to ``patron`` (after ``can_checkout``). The patron's own hold on the record
    or item is filled (moved to old_reserves with found F), as Koha does when the holder borrows.

    The item is read as one row (``loan_item``) and the loan and the item's change are written
    by Core statements (``_store``, ``Catalog.update_item_columns``): no object is loaded or
    flushed for them. The ``Checkout`` returned is in the session, as if loaded."""
    read_preferences(session)
    patron = loan_patron(session, patron)
    item = loan_item(session, item)
    holds = _check_loan(session, patron, item, branchcode)
    now = utcnow()
    branchcode = branchcode or item.holdingbranch or item.homebranch or patron.branchcode
    due = due or calculate_due_date(session, item, patron, now, branchcode=branchcode)
    loan = _store(session, Checkout, {
        "issue_id": ids.next_id(session, "checkout"), "borrowernumber": patron.borrowernumber,
        "itemnumber": item.itemnumber, "branchcode": branchcode, "issuedate": now, "date_due": due,
        "renewals_count": 0, "auto_renew": False, "onsite_checkout": False, "timestamp": now})
    _fill_own_hold(session, patron, item, now, holds)
    (catalog or Catalog(session)).update_item_columns(
        item, onloan=due.date(), issues=(item.issues or 0) + 1, datelastborrowed=now.date(),
        datelastseen=now, holdingbranch=branchcode)
    return loan


_Stored = TypeVar("_Stored", Checkout, OldCheckout)


def _store(session: Session, model: type[_Stored], values: dict) -> _Stored:
    """Insert a row of ``model``'s table (``issues``, ``old_issues``) by a Core statement and
    return it as an object of the session, as if loaded: the columns ``values`` leaves out get
    their scalar defaults (as the ORM's INSERT gives them) or NULL. An ``issue_id`` that is a
    sequence's next value (``ids.next_id``) comes back from the INSERT (RETURNING)."""
    table = model.__table__
    row = {column.key: values[column.key] if column.key in values else _default(column) for column in table.columns}
    connection = session.connection()  # not session.execute: no ORM event, no cache emptied
    issue_id = row["issue_id"]
    if isinstance(issue_id, int):
        connection.execute(_insert_statement(model, False), row)
    elif connection.dialect.insert_returning:
        row["issue_id"] = connection.execute(_insert_statement(model, True), row).scalar_one()
    else:  # a server without INSERT ... RETURNING: the sequence's value first
        row["issue_id"] = session.scalar(select(issue_id))
        connection.execute(_insert_statement(model, False), row)
    stored = model(**row)
    make_transient_to_detached(stored)
    session.add(stored)
    return stored


def _default(column) -> object:
    default = column.default
    return default.arg if default is not None and default.is_scalar else None


@functools.cache
def _insert_statement(model: type, next_id: bool):
    """The INSERT of every column of ``model``'s table; ``next_id``: the id is the checkout
    sequence's next value, handed back."""
    table = model.__table__
    values = {column: bindparam(column.key) for column in table.columns}
    if not next_id:
        return insert(table).values(values)
    values[table.c.issue_id] = ids.SEQUENCES["checkout"].next_value()
    return insert(table).values(values).returning(table.c.issue_id)


def _fill_own_hold(session: Session, patron: Patron | PatronState, item: LoanItem, now: dt.datetime,
                   holds: list[HoldRow]) -> None:
    """The patron's hold on this item, else their first on its record naming no item, is
    filled (``holds``: those ``_loan_holds`` read)."""
    own = [h for h in holds
           if h.borrowernumber == patron.borrowernumber and h.biblionumber == item.biblionumber
           and h.itemnumber in (None, item.itemnumber)]
    if own:
        chosen = min(own, key=lambda h: (h.itemnumber is None, h.priority if h.priority is not None else 0))
        hold = session.get(Hold, chosen.reserve_id)  # the one hold a loan writes, as an object
        if hold is None:
            return
        hold.itemnumber = item.itemnumber
        _archive_hold(session, hold, now, found="F")
        renumber_hold_queue(session, item.biblionumber)


def checkin(session: Session, item: Item | int | str, *, branchcode: str | None = None,
            catalog: Catalog | None = None) -> OldCheckout:
    """Return an item: the loan moves to old_issues with its returndate. Raises ``not_checked_out``.
    As a loan, by Core statements (the ``OldCheckout`` returned is in the session)."""
    read_preferences(session)
    item = loan_item(session, item)
    values = _take_loan(session, item.itemnumber)
    if values is None:
        raise CirculationError("not_checked_out", f"item {item.itemnumber} is not on loan")
    now = utcnow()
    values.update(returndate=now, timestamp=now)
    old = _store(session, OldCheckout, values)
    (catalog or Catalog(session)).update_item_columns(
        item, onloan=None, datelastseen=now, holdingbranch=branchcode or item.holdingbranch)
    return old


def _take_loan(session: Session, itemnumber: int) -> dict | None:
    """The columns of the item's loan, which leaves issues; None when the item is not on loan.
    One ``DELETE ... RETURNING`` statement where the database has it (PostgreSQL, MariaDB 10.5,
    SQLite 3.35): reading the loan as an object, then deleting it, cost a return a statement
    and the ORM's work. A ``Checkout`` of it the session holds is let go (its row is gone)."""
    autoflush(session)  # the loan as the transaction sees it, as an ORM read would
    connection = session.connection()
    if not connection.dialect.delete_returning:
        loan = session.scalar(select(Checkout).where(Checkout.itemnumber == itemnumber))
        if loan is None:
            return None
        values = {c.key: getattr(loan, c.key) for c in Checkout.__table__.columns}
        session.delete(loan)
        return values
    row = connection.execute(_take_loan_statement(), {"itemnumber": itemnumber}).first()
    if row is None:
        return None
    values = {c.key: row._mapping[c] for c in Checkout.__table__.columns}
    held = session.identity_map.get(identity_key(Checkout, values["issue_id"]))
    if held is not None:
        session.expunge(held)
    return values


@functools.cache
def _take_loan_statement():
    issues = Checkout.__table__
    return delete(issues).where(issues.c.itemnumber == bindparam("itemnumber")).returning(*issues.columns)


def trap_hold(session: Session, item: Item | int | str, *, branchcode: str | None = None) -> Hold | None:
    """Give a returned item to the first hold it can fill (Koha's check-in "hold found", once
    confirmed): by queue priority, not suspended, already started, on this item or on its record.
    The hold becomes waiting (found W) at ``branchcode`` = its pickup library, or in transit (T)
    when the item is elsewhere; it leaves the queue (priority 0) and the queue moves up."""
    item = _require_item(session, item)
    # a waiting hold whose patron asked for its cancellation ends when the item is checked in
    cancel_requested_waiting_holds(session, item)
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
    renumber_hold_queue(session, item.biblionumber)
    return hold




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
    if is_restricted(patron) and get_preference(session, "RestrictionBlockRenewing", "1") != "0":
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
    read_preferences(session)
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
