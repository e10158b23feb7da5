"""The search index, kept in step with the catalogue by kohaweb.catalog in the same transaction.

- Writing: ``index_record(session, biblio, record)`` and ``remove_record(session, biblionumber)``
  (called by the data layer), ``rebuild(session_factory)`` (``kohaweb index rebuild``).
- Reading: build a tree of ``Clause`` / ``Boolean`` on the index names of ``INDEXES`` and run
  ``search(session, node, offset=, limit=, sort=)`` or ``scan(session, index, term)``;
  ``QueryError.code`` says why a query cannot be answered.
- ``search_state(session)``: the index status and the see-from preference, read in one statement
  before a search (``.ready``, ``.see_from``).
- ``is_ready(session)``: false while a rebuild runs or died half-way; services must then refuse
  to answer rather than serve a partial index.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pymarc
from sqlalchemy.orm import Session

from .mapping import INDEXES, Index
from .normalize import MASK_ANY, MASK_ONE
from .query_tree import ANCHOR, Boolean, Clause, QueryError
from .results import ScanTerm, SearchResult, SortKey, count_rows, scan, search
from .state import SearchState, is_ready, search_state, status


def index_record(session: Session, biblio: Any, record: pymarc.Record | Callable[[], pymarc.Record]) -> None:
    """(Re)index one record; called after every add or update. ``record`` is its MARC, or what
    returns it when called: the entry is made when the session's queue is written, and only for
    a record's last change."""
    from .indexer import index_record as run

    run(session, biblio, record)


def append_prepared(session: Session, blocks: dict) -> None:
    """Write index rows made beforehand for new records (the import path; see kohaweb.loading);
    blocks that collect enough deltas are compacted after the session commits."""
    from .indexer import append_prepared as run

    run(session, blocks)


def hide_entry(entry: Any) -> Any:
    """An index entry marked hidden from the public."""
    from .indexer import hide_entry as run

    return run(entry)


def remove_record(session: Session, biblionumber: int) -> None:
    """Drop one record from the index; called when it is deleted."""
    from .indexer import remove_record as run

    run(session, biblionumber)


def rebuild(session_factory, **kwargs) -> int:
    """Re-index every record (see kohaweb.search.indexer.rebuild)."""
    from .indexer import rebuild as run

    return run(session_factory, **kwargs)


__all__ = ["ANCHOR", "Boolean", "Clause", "INDEXES", "Index", "MASK_ANY", "MASK_ONE", "QueryError", "ScanTerm",
           "SearchResult", "SearchState", "SortKey", "append_prepared", "count_rows", "hide_entry", "index_record", "is_ready", "rebuild",
           "remove_record", "scan", "search", "search_state", "status"]
