"""Whether the index can be trusted, kept as the system preference ``SearchIndexStatus``.

``ready`` (or absent: the index has been maintained by the data layer since the tables were
created), ``rebuilding`` while ``kohaweb index rebuild`` runs (and after it died half-way), and
``stale`` when the index tables were created on a catalogue that already had records.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..preferences import get_preference, set_preference

PREFERENCE = "SearchIndexStatus"
READY = "ready"
REBUILDING = "rebuilding"
STALE = "stale"


def status(session: Session) -> str:
    return (get_preference(session, PREFERENCE, READY) or READY).lower()


def set_status(session: Session, value: str) -> None:
    set_preference(session, PREFERENCE, value, "Choice")


def is_ready(session: Session) -> bool:
    return status(session) == READY
