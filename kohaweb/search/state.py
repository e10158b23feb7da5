"""Whether the index can be trusted, kept as the system preference ``SearchIndexStatus``.

``ready`` (or absent: the index has been maintained by the data layer since the tables were
created), ``rebuilding`` while ``kohaweb index rebuild`` runs (and after it died half-way), and
``stale`` when the index tables were created on a catalogue that already had records.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import SystemPreference
from ..preferences import set_preference

_PREFS = SystemPreference.__table__

PREFERENCE = "SearchIndexStatus"
READY = "ready"
REBUILDING = "rebuilding"
STALE = "stale"


def status(session: Session) -> str:
    # an exact-name lookup on the primary key: this runs on every search request
    # (set_status and the migration always write this exact name)
    value = session.execute(select(_PREFS.c.value).where(_PREFS.c.variable == PREFERENCE)).scalar()
    return (value or READY).lower()


def set_status(session: Session, value: str) -> None:
    set_preference(session, PREFERENCE, value, "Choice")


def is_ready(session: Session) -> bool:
    return status(session) == READY
