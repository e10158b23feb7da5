"""Ids that never go backwards.

Records, items, loans and holds move to history tables when they end; their ids must never be
handed out again (Koha lost data when InnoDB's auto-increment counter reset on restart).

- Records, items and authorities come in batches of consecutive ids: a row per counter in
  ``id_counters`` is incremented in a short transaction of its own on PostgreSQL and MariaDB
  (``kohaweb.db.autonomous``), so concurrent writers (two imports, a harvest and the
  circulation desk) do not queue behind each other's whole transaction.
- Loans and holds take one id at a time from a database sequence there (migration 0026),
  computed by the INSERT that stores the row (``next_id``): no statement of its own, no lock,
  nothing to commit.

Either way an id taken by a transaction that rolls back is simply never used. SQLite has a
single writer: there every counter is a row that moves inside the caller's transaction.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Sequence, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .db import autonomous
from .models import Biblio, Checkout, DeletedBiblio, DeletedItem, Hold, IdCounter, Item, OldCheckout, OldHold

# counter name -> (live table id column, history table id column)
COUNTERS = {
    "biblio": (Biblio.biblionumber, DeletedBiblio.biblionumber),
    "item": (Item.itemnumber, DeletedItem.itemnumber),
    "checkout": (Checkout.issue_id, OldCheckout.issue_id),
    "hold": (Hold.reserve_id, OldHold.reserve_id),
}


# counters served by a sequence on PostgreSQL and MariaDB (one id at a time)
SEQUENCES = {"checkout": Sequence("checkout_ids"), "hold": Sequence("hold_ids")}
_SEQUENCE_DIALECTS = frozenset({"postgresql", "mysql", "mariadb"})


def next_id(session: Session, name: str) -> int | ColumnElement[int]:
    """The id of one new row of counter ``name``, to assign to the row's id attribute. On
    PostgreSQL and MariaDB, for a counter served by a sequence, it is the sequence's next value
    as an expression: the INSERT that stores the row computes it and hands it back, so taking
    the id costs no statement of its own. Otherwise ``allocate``'s first id."""
    sequence = SEQUENCES.get(name)
    if sequence is not None and session.get_bind().dialect.name in _SEQUENCE_DIALECTS:
        return sequence.next_value()
    return allocate(session, name)[0]


def allocate(session: Session, name: str, count: int = 1) -> range:
    """Reserve ``count`` consecutive new ids for counter ``name`` (loans and holds: one)."""
    if count < 1:
        raise ValueError("count must be positive")
    sequence = SEQUENCES.get(name)
    if sequence is not None and session.get_bind().dialect.name in _SEQUENCE_DIALECTS:
        if count != 1:
            raise ValueError(f"{name} ids are taken one at a time")
        value = session.scalar(select(sequence.next_value()))
        return range(value, value + 1)
    table = IdCounter.__table__
    with autonomous(session) as conn:
        target = conn if conn is not None else session.connection()
        bump = update(table).where(table.c.name == name).values(value=table.c.value + count)
        if target.dialect.update_returning:  # PostgreSQL, SQLite: the new value in the same round trip
            last = target.execute(bump.returning(table.c.value)).scalar()
            if last is None:
                _create(target, name)
                last = target.execute(bump.returning(table.c.value)).scalar_one()
            return range(last - count + 1, last + 1)
        if target.execute(bump).rowcount == 0:
            _create(target, name)
            target.execute(bump)
        last = target.execute(select(table.c.value).where(table.c.name == name)).scalar_one()
    return range(last - count + 1, last + 1)


def _create(conn, name: str) -> None:
    """The counter's row, starting after every id ever used (live or in history)."""
    live, history = COUNTERS[name]
    start = max(conn.execute(select(func.coalesce(func.max(live), 0))).scalar_one(),
                conn.execute(select(func.coalesce(func.max(history), 0))).scalar_one())
    try:
        with conn.begin_nested():
            conn.execute(insert(IdCounter.__table__).values(name=name, value=start))
    except IntegrityError:  # another writer created it first
        pass
