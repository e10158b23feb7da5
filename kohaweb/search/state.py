"""Whether the index can be trusted, kept as the system preference ``SearchIndexStatus``.

``ready`` (or absent: the index has been maintained by the data layer since the tables were
created), ``rebuilding`` while ``kohaweb index rebuild`` runs (and after it died half-way), and
``stale`` when the index tables were created on a catalogue that already had records.

``search_state(session)`` reads it together with the other preferences every search request needs
(Koha's ``IncludeSeeFromInSearches``, see kohaweb.search.see_from, and ``SearchIndexMultiNumbers``)
in one statement.

``SearchIndexMultiNumbers`` (1) says that every record of the index was indexed with its numbers
under ``name#2`` too when it has several (kohaweb.search.postings.multi_number_space), so that a
range ``X >= a and X <= b`` may take the fast path (kohaweb.search.query). Migration 0023 sets it
on an empty index and ``kohaweb index rebuild`` when it completes; an index written before then
lacks those rows, and its ranges take the two half-index reads they always took.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import SystemPreference
from ..preferences import get_preferences, set_preference

_PREFS = SystemPreference.__table__

PREFERENCE = "SearchIndexStatus"
READY = "ready"
REBUILDING = "rebuilding"
STALE = "stale"
SEE_FROM_PREFERENCE = "IncludeSeeFromInSearches"
# how every record of the index lists its numbers (kohaweb.search.postings): 0 plain; 1 also
# several numbers apart (``name#2``); 2 also by tens and hundreds (``name#/10``, ``name#/100``)
MULTI_NUMBERS_PREFERENCE = "SearchIndexMultiNumbers"
NUMBER_LAYOUT = 2  # what kohaweb.search.indexer.entry_for writes
_NUMBER_LAYOUT = "kohaweb.search.number_layout"  # session.info: (transaction, layout) read by search_state


@dataclass(frozen=True)
class SearchState:
    """What a search request reads before it runs."""

    status: str  # ready | rebuilding | stale
    see_from: bool  # IncludeSeeFromInSearches: expand name and subject clauses (kohaweb.search.see_from)
    multi_numbers: bool = False  # number ranges may take the fast path (several numbers apart)
    number_buckets: bool = False  # number ranges may read whole decades and centuries

    @property
    def ready(self) -> bool:
        return self.status == READY


def search_state(session: Session) -> SearchState:
    """The index status, ``IncludeSeeFromInSearches`` and ``SearchIndexMultiNumbers`` from one
    statement. The last is kept on the session for the rest of its transaction, where the query
    evaluator finds it (``number_layout``) without reading it again."""
    values = get_preferences(session, (PREFERENCE, SEE_FROM_PREFERENCE, MULTI_NUMBERS_PREFERENCE))
    layout = _layout(values[MULTI_NUMBERS_PREFERENCE])
    session.info[_NUMBER_LAYOUT] = (session.get_transaction(), layout)
    return SearchState((values[PREFERENCE] or READY).lower(), preference_on(values[SEE_FROM_PREFERENCE]),
                       layout >= 1, layout >= 2)


def number_layout(session: Session) -> int:
    """How every record of the index lists its numbers (``SearchIndexMultiNumbers``: 0, 1 or 2,
    see ``NUMBER_LAYOUT``): as ``search_state`` read it in this transaction, else read now (a
    search that did not ask ``search_state`` pays this statement when its query has a range)."""
    known = session.info.get(_NUMBER_LAYOUT)
    if known is not None and known[0] is session.get_transaction() and known[0] is not None:
        return known[1]
    layout = _layout(get_preferences(session, (MULTI_NUMBERS_PREFERENCE,))[MULTI_NUMBERS_PREFERENCE])
    session.info[_NUMBER_LAYOUT] = (session.get_transaction(), layout)
    return layout


def set_number_layout(session: Session, layout: int = NUMBER_LAYOUT) -> None:
    """Say how every record of the index lists its numbers: ``kohaweb index rebuild`` once every
    record is re-indexed, or a migration on an empty index; never for an index with older records."""
    set_preference(session, MULTI_NUMBERS_PREFERENCE, str(layout), "Integer")
    session.info.pop(_NUMBER_LAYOUT, None)


def _layout(value: str | None) -> int:
    text = str(value or "").strip()
    if text.isdigit():
        return min(int(text), NUMBER_LAYOUT)
    return 1 if preference_on(text) else 0  # written as a yes/no before the layout had levels


def preference_on(value: str | None) -> bool:
    """A yes/no preference's value read as Koha's (1 on; 0, empty or absent off)."""
    return str(value or "0").strip().lower() in ("1", "yes", "true", "on")


def status(session: Session) -> str:
    # an exact-name lookup on the primary key: this runs on every search request
    # (set_status and the migration always write this exact name)
    value = session.execute(select(_PREFS.c.value).where(_PREFS.c.variable == PREFERENCE)).scalar()
    return (value or READY).lower()


def set_status(session: Session, value: str) -> None:
    set_preference(session, PREFERENCE, value, "Choice")


def is_ready(session: Session) -> bool:
    return status(session) == READY
