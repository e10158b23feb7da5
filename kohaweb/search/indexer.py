"""Writing the index: one record at a time from the data layer, or everything by ``rebuild``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import pymarc
from sqlalchemy import delete, insert, select
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


def index_record(session: Session, biblio: Any, record: pymarc.Record) -> None:
    rows = rows_for(biblio.biblionumber, record, biblio.flavour, _item_values(biblio),
                    bool(biblio.opac_suppressed))
    # a new record has nothing to replace: one lookup instead of a delete per table
    indexed = session.execute(select(tables.records.c.biblionumber)
                              .where(tables.records.c.biblionumber == biblio.biblionumber)).first()
    write(session, [biblio.biblionumber], [rows], replace=indexed is not None)


def remove_record(session: Session, biblionumber: int) -> None:
    _delete(session, [biblionumber])


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
