"""Whether the index can be trusted, kept as the system preference ``SearchIndexStatus``.

``ready`` (or absent: the index has been maintained by the data layer since the tables were
created), ``rebuilding`` while ``kohaweb index rebuild`` runs (and after it died half-way), and
``stale`` when the index tables were created on a catalogue that already had records.

``search_state(session)`` reads it together with the other preference every search request needs
(Koha's ``IncludeSeeFromInSearches``, see kohaweb.search.see_from) in one statement.
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


@dataclass(frozen=True)
class SearchState:
    """What a search request reads before it runs."""

    status: str  # ready | rebuilding | stale
    see_from: bool  # IncludeSeeFromInSearches: expand name and subject clauses (kohaweb.search.see_from)

    @property
    def ready(self) -> bool:
        return self.status == READY


def search_state(session: Session) -> SearchState:
    """The index status and ``IncludeSeeFromInSearches`` from one statement."""
    values = get_preferences(session, (PREFERENCE, SEE_FROM_PREFERENCE))
    return SearchState((values[PREFERENCE] or READY).lower(), preference_on(values[SEE_FROM_PREFERENCE]))


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
