"""The search index, kept in step with the catalogue by kohaweb.catalog in the same transaction.

(Implemented by the search-index work; these entry points are what the data layer calls.)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session


def index_record(session: Session, biblio: Any, record: Any) -> None:
    """(Re)index one record; called after every add or update."""


def remove_record(session: Session, biblionumber: int) -> None:
    """Drop one record from the index; called when it is deleted."""
