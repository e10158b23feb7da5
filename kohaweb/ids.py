"""Ids that never go backwards.

Records, items, loans and holds move to history tables when they end; their ids must never be
handed out again (Koha lost data when InnoDB's auto-increment counter reset on restart). A row
per counter in ``id_counters`` is incremented inside the caller's transaction, which also
serialises concurrent writers on every database.
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from .models import Biblio, Checkout, DeletedBiblio, DeletedItem, Hold, IdCounter, Item, OldCheckout, OldHold

# counter name -> (live table id column, history table id column)
COUNTERS = {
    "biblio": (Biblio.biblionumber, DeletedBiblio.biblionumber),
    "item": (Item.itemnumber, DeletedItem.itemnumber),
    "checkout": (Checkout.issue_id, OldCheckout.issue_id),
    "hold": (Hold.reserve_id, OldHold.reserve_id),
}


def allocate(session: Session, name: str, count: int = 1) -> range:
    """Reserve ``count`` consecutive new ids for counter ``name``."""
    if count < 1:
        raise ValueError("count must be positive")
    result = session.execute(update(IdCounter).where(IdCounter.name == name)
                             .values(value=IdCounter.value + count))
    if result.rowcount == 0:
        _create(session, name)
        session.execute(update(IdCounter).where(IdCounter.name == name).values(value=IdCounter.value + count))
    last = session.scalar(select(IdCounter.value).where(IdCounter.name == name))
    return range(last - count + 1, last + 1)


def _create(session: Session, name: str) -> None:
    live, history = COUNTERS[name]
    start = max(session.scalar(select(func.coalesce(func.max(live), 0))),
                session.scalar(select(func.coalesce(func.max(history), 0))))
    session.add(IdCounter(name=name, value=start))
    session.flush()
