"""Whether the index can be trusted, kept as the system preference ``SearchIndexStatus``.

``ready`` (or absent: the index has been maintained by the data layer since the tables were
created), ``rebuilding`` while ``kohaweb index rebuild`` runs (and after it died half-way), and
``stale`` when the index tables were created on a catalogue that already had records.

``search_state(session)`` reads it together with the other preferences every search request needs
(Koha's ``IncludeSeeFromInSearches``, see kohaweb.search.see_from, and ``SearchIndexMultiNumbers``)
in one statement, and a process keeps what it read for ``STATE_CACHE_SECONDS`` (see there).

``SearchIndexMultiNumbers`` (1) says that every record of the index was indexed with its numbers
under ``name#2`` too when it has several (kohaweb.search.posting_format.multi_number_space), so
that a range ``X >= a and X <= b`` may take the fast path (kohaweb.search.query_numbers). Migration
0023 sets it on an empty index and ``kohaweb index rebuild`` when it completes; an index written
before then lacks those rows, and its ranges take the two half-index reads they always took.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import engine_of
from ..models import SystemPreference
from ..preferences import get_preferences, set_preference, writes

_PREFS = SystemPreference.__table__

PREFERENCE = "SearchIndexStatus"
READY = "ready"
REBUILDING = "rebuilding"
STALE = "stale"
SEE_FROM_PREFERENCE = "IncludeSeeFromInSearches"
# how every record of the index lists its numbers (kohaweb.search.posting_format): 0 plain; 1 also
# several numbers apart (``name#2``); 2 also by tens and hundreds (``name#/10``, ``name#/100``)
MULTI_NUMBERS_PREFERENCE = "SearchIndexMultiNumbers"
NUMBER_LAYOUT = 2  # what kohaweb.search.indexer.entry_for writes
_NUMBER_LAYOUT = "kohaweb.search.number_layout"  # session.info: (transaction, layout) read by search_state
# Seconds a process answers searches with the state it read (per database, see search_state).
# The state changes seldom (a rebuild, a staff setting) and reading it was one of the three
# round trips of a rare-word search; ``kohaweb index rebuild`` waits this long after marking
# the index before it empties it, so no process still trusts it by then.
STATE_CACHE_SECONDS = 1.0
_CACHED_STATE = "_kohaweb_search_state"  # on the engine: (trusted until, preference writes, state, layout)
clock = time.monotonic  # replaced by tests


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
    """The index status, ``IncludeSeeFromInSearches`` and ``SearchIndexMultiNumbers``, read in one
    statement and then trusted for ``STATE_CACHE_SECONDS`` by this process, per database (kept
    on the session's engine). A preference this process writes (``set_preference``) is read
    again at once; another process's change is seen within ``STATE_CACHE_SECONDS``. The layout
    is kept on the session for the rest of its transaction, where the query evaluator finds it
    (``number_layout``) without reading it again.

    A layout read a moment late is harmless (a lower level answers the same, the older way),
    and a rebuild waits out the cache before it touches the index (``wait_for_searches``)."""
    engine = engine_of(session)
    known = _trusted(engine)
    if known is not None:
        state, layout = known[2], known[3]
    else:
        now, written = clock(), writes()
        values = get_preferences(session, (PREFERENCE, SEE_FROM_PREFERENCE, MULTI_NUMBERS_PREFERENCE))
        layout = _layout(values[MULTI_NUMBERS_PREFERENCE])
        state = SearchState((values[PREFERENCE] or READY).lower(), preference_on(values[SEE_FROM_PREFERENCE]),
                            layout >= 1, layout >= 2)
        # on the engine rather than in a table keyed by engines, which would keep them all alive
        setattr(engine, _CACHED_STATE, (now + STATE_CACHE_SECONDS, written, state, layout))
    session.info[_NUMBER_LAYOUT] = (session.get_transaction(), layout)
    return state


def _trusted(engine) -> tuple | None:
    """What ``search_state`` read on this engine, while it may still be trusted, else None."""
    known = engine.__dict__.get(_CACHED_STATE)
    if known is not None and known[0] > clock() and known[1] == writes():
        return known
    return None


def wait_for_searches() -> None:
    """Wait until no process answers from a state read before now (after marking the index as
    being rebuilt, before emptying it): see ``STATE_CACHE_SECONDS``."""
    time.sleep(STATE_CACHE_SECONDS)


def number_layout(session: Session) -> int:
    """How every record of the index lists its numbers (``SearchIndexMultiNumbers``: 0, 1 or 2,
    see ``NUMBER_LAYOUT``): as ``search_state`` read it in this transaction, or as this process
    read it within ``STATE_CACHE_SECONDS`` (when ``search_state`` found it cached, the session
    had begun no transaction to keep it with), else read now (a search that did not ask
    ``search_state`` pays this statement when its query has a range)."""
    known = session.info.get(_NUMBER_LAYOUT)
    if known is not None and known[0] is session.get_transaction() and known[0] is not None:
        return known[1]
    cached = _trusted(engine_of(session))
    if cached is not None:
        layout = cached[3]
    else:
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
