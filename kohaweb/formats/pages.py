"""Loading one page of stored records for a service to render: the one loader OAI-PMH lists and
SRU searchRetrieve share (REST reads its records through kohaweb.api's own listing).

A service chooses the biblionumbers of a page (OAI-PMH by keyset over datestamps, SRU from the
search result) and asks :func:`load_records` for them: two statements whatever the page size,
one for the records with their metadata, one for their items when the format embeds them.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, bindparam, select, type_coerce
from sqlalchemy.orm import Session

from ..driver import read_rows
from .base import RecordSource


@dataclass(frozen=True)
class StoredRecord:
    """One live record of a page, as stored."""

    biblionumber: int
    flavour: str
    datestamp: dt.datetime  # the OAI datestamp, naive UTC
    marcxml: str  # as stored: MARCXML without items
    items: list[dict[str, Any]] | None  # kohaweb.catalog.item_dict rows the viewer may see; None: not loaded
    hidden: bool = False  # Biblio.hidden_from_public

    def source(self, session: Session | None = None) -> RecordSource:
        """What a format renders (``session`` for formats that look up names)."""
        return RecordSource(self.biblionumber, self.flavour, self.marcxml, self.items, session)


# A page's numbers are bound one parameter each, padded (the last repeated: the same set) to the
# next power of two: an expanding IN is rewritten at each execution (2% of an SRU request's CPU),
# while a statement per page size would crowd SQLAlchemy's statement cache. Larger pages, rare,
# take the expanding statement.
MOST_BOUND_ONE_BY_ONE = 128


@functools.cache
def _records_statement(bound: int = 0):
    """The page statement: with ``bound`` parameters ``n0``..., else an expanding ``numbers``.
    Core columns: the rows are read as tuples, and an ORM statement's set-up cost a page of SRU
    records more CPU than the database's answer."""
    from ..models import Biblio, BiblioMetadata

    biblio, metadata = Biblio.__table__, BiblioMetadata.__table__
    numbers = [bindparam(f"n{i}") for i in range(bound)] if bound else bindparam("numbers", expanding=True)
    # the flag read as the number it is stored as (``load_records`` makes it a bool): MariaDB's
    # booleans would otherwise need SQLAlchemy's conversion, and the page could not be read on
    # the driver's cursor (kohaweb.driver)
    hidden = type_coerce(biblio.c.hidden_from_public, Integer)
    return (select(biblio.c.biblionumber, biblio.c.flavour, biblio.c.datestamp, hidden, metadata.c.metadata)
            .join(metadata, metadata.c.biblionumber == biblio.c.biblionumber)
            .where(biblio.c.biblionumber.in_(numbers)))


def _records(session: Session, numbers: list[int]):
    """The rows of the live records among ``numbers`` (not empty)."""
    if len(numbers) > MOST_BOUND_ONE_BY_ONE:
        return session.execute(_records_statement(), {"numbers": numbers})
    bound = 1 << (len(numbers) - 1).bit_length()
    padded = numbers + numbers[-1:] * (bound - len(numbers))
    return read_rows(session, _records_statement(bound), {f"n{i}": number for i, number in enumerate(padded)})


def load_records(session: Session, biblionumbers: Sequence[int], *, with_items: bool = False,
                 viewer: Any = None) -> dict[int, StoredRecord]:
    """The live records among ``biblionumbers`` by biblionumber (deleted or unknown numbers are
    absent; the caller keeps its own order). With ``with_items``, each record's items ordered by
    itemnumber, only those ``viewer`` (a ``kohaweb.visibility.Viewer``; None: every item) sees."""
    if not biblionumbers:
        return {}
    numbers = list(dict.fromkeys(biblionumbers))
    items: dict[int, list[dict[str, Any]]] = {}
    if with_items:
        from ..catalog import item_dict
        from ..models import Item

        for item in session.scalars(select(Item).where(Item.biblionumber.in_(numbers)).order_by(Item.itemnumber)):
            if viewer is None or viewer.sees_item(item):
                items.setdefault(item.biblionumber, []).append(item_dict(item))
    return {number: StoredRecord(number, flavour, _naive(datestamp), marcxml,
                                 items.get(number, []) if with_items else None, bool(hidden))
            for number, flavour, datestamp, hidden, marcxml
            in _records(session, numbers)}


def _naive(value: dt.datetime) -> dt.datetime:
    """Datestamps are stored as naive UTC; some drivers hand them back aware."""
    if value is not None and value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value
