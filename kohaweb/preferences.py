"""System preferences (key/value, keys matched case-insensitively as in Koha)."""

from __future__ import annotations

import functools
from collections.abc import Iterable

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from .db import transaction_cache
from .driver import read_rows
from .models import SystemPreference

# preference writes made by this process: a cache of preferences (kohaweb.search.state) takes a
# new count as "read again now", so what this process changes is seen at once
_writes = [0]


def writes() -> int:
    """How many preference writes this process has made so far (see ``note_write``)."""
    return _writes[0]


def note_write() -> None:
    """Say that this process wrote a preference: its caches of preferences read them again."""
    _writes[0] += 1  # two threads may count one: either way the count differs from the cached one


def get_preference(session: Session, name: str, default: str | None = None) -> str | None:
    """One preference's value, or ``default`` when it is absent or NULL. Read once per
    transaction of ``session`` (a checkout asks for CircControl twice), and again after the
    session writes a preference."""
    key = name.lower()
    read = transaction_cache(session, "kohaweb.preferences", SystemPreference)
    if key not in read:
        read[key] = session.scalar(select(SystemPreference.value).where(func.lower(SystemPreference.variable) == key))
    value = read[key]
    return default if value is None else value


def prefetch(session: Session, names: Iterable[str]) -> dict[str, str | None]:
    """Read these preferences for the rest of the transaction, those not yet read in one
    statement; ``{name: value}`` (None where absent or NULL). ``get_preference`` then answers
    from what was read: a loan needs CircControl and the visibility preferences, two round trips
    when each asked for its own."""
    names = list(names)
    read = transaction_cache(session, "kohaweb.preferences", SystemPreference)
    missing = [name for name in names if name.lower() not in read]
    if missing:
        for name, value in get_preferences(session, missing).items():
            read[name.lower()] = value
    return {name: read[name.lower()] for name in names}


def get_preferences(session: Session, names: Iterable[str]) -> dict[str, str | None]:
    """Several preferences in one statement (a request that needs two pays one round trip):
    ``{name: value}`` for each of ``names`` as given, None where absent or NULL."""
    wanted = {name.lower(): name for name in names}
    found: dict[str, str | None] = dict.fromkeys(wanted.values())
    if not wanted:
        return found
    rows = read_rows(session, _several_statement(len(wanted)), {f"name_{i}": name for i, name in enumerate(wanted)})
    for variable, value in rows:
        found[wanted[variable.lower()]] = value
    return found


@functools.cache
def _several_statement(count: int):
    # Core columns and one parameter per name (callers ask a fixed few): every search request
    # runs this, and as an ORM statement with an expanding IN (rewritten at each execution) it
    # cost 3% more of a rare-word SRU request's CPU
    prefs = SystemPreference.__table__
    return select(prefs.c.variable, prefs.c.value).where(
        func.lower(prefs.c.variable).in_([bindparam(f"name_{i}") for i in range(count)]))


def set_preference(session: Session, name: str, value: str | None, type_: str | None = None) -> None:
    row = session.scalar(select(SystemPreference).where(func.lower(SystemPreference.variable) == name.lower()))
    if row is None:
        session.add(SystemPreference(variable=name, value=value, type=type_))
    else:
        row.value = value
    session.flush()
    note_write()
