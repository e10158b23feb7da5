"""What a patron may do with an item (ILS-DI GetServices), their loans and holds, restrictions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import (
    Biblio,
    Checkout,
    Hold,
    Item,
    Patron,
    PatronRestriction,
    utcnow,
)
from .common import CirculationError, active_restrictions, current_checkout
from .holds import can_place_hold
from .loans import can_renew


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
