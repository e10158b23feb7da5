"""Writing the index: one record at a time from the data layer, or everything by ``rebuild``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import pymarc
from sqlalchemy import delete, event, insert, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from .. import marc
from ..models import Biblio
from . import mapping, normalize, state, tables

log = logging.getLogger(__name__)

FIELD_GAP = 10  # position gap between two fields: adjacency (distance 1) never spans fields


def _item_values(biblio: Any) -> list[dict]:
    return [{"barcode": i.barcode, "homebranch": i.homebranch, "holdingbranch": i.holdingbranch,
             "itype": i.itype} for i in biblio.items]


def rows_for(biblionumber: int, record: pymarc.Record, flavour: str, items: list[dict] | None,
             hidden: bool = False) -> dict[str, list[dict]]:
    """The rows of every index table for one record."""
    extracted = mapping.extract(record, flavour, items)
    term_rows: list[dict] = []
    phrase_rows: list[dict] = []
    cache: dict[str, list[str]] = {}  # most texts feed two indexes (their own and "any")
    for name, texts in extracted.fields.items():
        pos = 0
        seen_phrases: set[str] = set()
        for text in texts:
            words = cache.get(text)
            if words is None:
                words = cache[text] = normalize.words(text)
            for word in words:
                term_rows.append({"idx": name, "term": word, "biblionumber": biblionumber, "pos": pos})
                pos += 1
            pos += FIELD_GAP
            value = " ".join(words)[:normalize.MAX_PHRASE].rstrip()
            if value and value not in seen_phrases:
                seen_phrases.add(value)
                phrase_rows.append({"idx": name, "value": value, "biblionumber": biblionumber})
    for name, values in extracted.identifiers.items():
        for pos, value in enumerate(sorted(values)):
            term_rows.append({"idx": name, "term": value, "biblionumber": biblionumber, "pos": pos})
    number_rows = [{"idx": name, "num": n, "biblionumber": biblionumber}
                   for name, values in extracted.numbers.items() for n in sorted(values)]
    record_row = {"biblionumber": biblionumber, "title": normalize.sort_key(extracted.title),
                  "author": normalize.sort_key(extracted.author), "year": extracted.year, "hidden": hidden}
    return {"terms": term_rows, "phrases": phrase_rows, "numbers": number_rows, "records": [record_row]}


def write(session: Session, biblionumbers: list[int], rows: Iterable[dict[str, list[dict]]],
          *, replace: bool = True) -> None:
    """Replace the index rows of these records by ``rows`` (one bulk insert per table)."""
    if not biblionumbers:
        return
    if replace:
        _delete(session, biblionumbers)
    merged: dict[str, list[dict]] = {"terms": [], "phrases": [], "numbers": [], "records": []}
    for one in rows:
        for key, values in one.items():
            merged[key].extend(values)
    for key, table in (("terms", tables.terms), ("phrases", tables.phrases), ("numbers", tables.numbers),
                       ("records", tables.records)):
        if merged[key]:
            session.execute(insert(table), merged[key])


def _delete(session: Session, biblionumbers: list[int]) -> None:
    for table in tables.ALL:
        if len(biblionumbers) == 1:
            session.execute(delete(table).where(table.c.biblionumber == biblionumbers[0]))
        else:
            session.execute(delete(table).where(table.c.biblionumber.in_(biblionumbers)))


# --- the data layer's path: changes are queued and written in batches ----------------------------
#
# Writing a record's rows the moment it changes costs several statements per record, which
# dominates bulk imports. Changes are queued on the session instead, each tagged with the
# (sub)transaction it was made in, and written together (one DELETE and one INSERT per table)
# before the session commits and before any search on that session, so a search always sees its
# own transaction's changes. Rolling back a transaction or savepoint drops what was queued in it.

_PENDING = "kohaweb.search.pending"
_HOOKED = "kohaweb.search.hooked"
BATCH = 2000


def index_record(session: Session, biblio: Any, record: pymarc.Record) -> None:
    rows = rows_for(biblio.biblionumber, record, biblio.flavour, _item_values(biblio),
                    bool(biblio.opac_suppressed))
    _queue(session, biblio.biblionumber, rows)


def remove_record(session: Session, biblionumber: int) -> None:
    _queue(session, biblionumber, None)


def _queue(session: Session, biblionumber: int, rows: dict[str, list[dict]] | None) -> None:
    if not session.info.get(_HOOKED):
        event.listen(session, "before_commit", flush_pending)
        event.listen(session, "after_soft_rollback", _discard)
        session.info[_HOOKED] = True
    transaction = session.get_nested_transaction() or session.get_transaction()
    pending = session.info.setdefault(_PENDING, [])
    pending.append((biblionumber, rows, transaction))
    if len(pending) >= BATCH and session.get_nested_transaction() is None:
        flush_pending(session)


def flush_pending(session: Session) -> None:
    """Write the queued changes of this session now (the last change of a record wins)."""
    pending = session.info.get(_PENDING)
    if not pending:
        return
    nested = session.get_nested_transaction()
    # Inside a savepoint, what was queued outside it is written but also kept queued: if the
    # savepoint rolls back, those writes are undone and must be made again (writing is idempotent).
    session.info[_PENDING] = [e for e in pending if not _inside(e[2], nested)] if nested else []
    final: dict[int, dict[str, list[dict]] | None] = {}
    for biblionumber, rows, _ in pending:
        final[biblionumber] = rows
    numbers = list(final)
    for start in range(0, len(numbers), 500):  # keep IN lists short
        _delete(session, numbers[start:start + 500])
    write(session, numbers, [rows for rows in final.values() if rows is not None], replace=False)


def _discard(session: Session, previous_transaction) -> None:
    """Drop what was queued inside the transaction or savepoint just rolled back."""
    pending = session.info.get(_PENDING)
    if pending:
        session.info[_PENDING] = [e for e in pending if not _inside(e[2], previous_transaction)]


def _inside(transaction, ancestor) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


def rebuild(factory: sessionmaker[Session], *, batch: int = 500,
            progress: Callable[[int], None] | None = None) -> int:
    """Re-index every record from its stored MARCXML. The index is marked as being rebuilt first
    (services refuse to answer from it) and ready only when the last batch has committed, so an
    interrupted rebuild leaves it marked unusable rather than silently incomplete."""
    with _tx(factory) as session:
        state.set_status(session, state.REBUILDING)
    with _tx(factory) as session:
        for table in tables.ALL:
            session.execute(delete(table))
    done = 0
    last = 0
    while True:
        with _tx(factory) as session:
            biblios = list(session.scalars(
                select(Biblio).options(selectinload(Biblio.metadata_row), selectinload(Biblio.items))
                .where(Biblio.biblionumber > last).order_by(Biblio.biblionumber).limit(batch)))
            if not biblios:
                break
            all_rows = []
            for biblio in biblios:
                try:
                    record = marc.parse_xml(biblio.metadata_row.metadata_xml)
                except (marc.MarcError, ValueError) as exc:
                    log.warning("record %s not indexed: %s", biblio.biblionumber, exc)
                    continue
                all_rows.append(rows_for(biblio.biblionumber, record, biblio.flavour, _item_values(biblio),
                                         bool(biblio.opac_suppressed)))
            write(session, [b.biblionumber for b in biblios], all_rows)
            last = biblios[-1].biblionumber
        done += len(biblios)
        if progress:
            progress(len(biblios))
    with _tx(factory) as session:
        state.set_status(session, state.READY)
    return done


def _tx(factory: sessionmaker[Session]):
    from ..db import transaction

    return transaction(factory)
