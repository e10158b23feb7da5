"""The staff page of the search index (``catalogue`` or ``parameters`` permission): whether it
can be trusted (``SearchIndexStatus``: ready, rebuilding, stale), how many records it holds beside
the catalogue, the delta segments waiting to be compacted, and whether ``kohaweb index rebuild``
is needed. The web page of ``kohaweb index status``; read-only."""

from __future__ import annotations

from dataclasses import dataclass

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPForbidden
from pyramid.request import Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import Biblio
from ..search import count_rows, state, tables
from ..search.compaction import blocks_with_deltas
from ..search.writer import COMPACT_AFTER

PERMISSIONS = ("catalogue", "parameters")  # either one opens the page


@dataclass(frozen=True)
class IndexReport:
    """What the page shows, computed once per request."""

    status: str
    records: int  # live records in the catalogue
    indexed: int  # records the index holds
    segments: int  # delta segments not yet folded into their blocks
    blocks_with_deltas: int

    @property
    def rebuild_needed(self) -> bool:
        """Stale, or a rebuild that stopped half-way, or an index that disagrees with the catalogue."""
        return self.status != state.READY or self.indexed != self.records

    @property
    def reasons(self) -> list[str]:
        """Why a rebuild is needed, in words."""
        found = []
        if self.status == state.STALE:
            found.append("the index tables were created on a catalogue that already had records")
        elif self.status == state.REBUILDING:
            found.append("a rebuild or a first import is running, or one stopped before it finished (the "
                         "next kohaweb import finishes a first import, kohaweb index rebuild either)")
        elif self.status != state.READY:
            found.append(f"the index status is {self.status!r}")
        if self.indexed != self.records:
            found.append(f"the index holds {self.indexed} records and the catalogue {self.records}")
        return found

    @property
    def progress(self) -> int | None:
        """Percentage of the catalogue indexed while rebuilding (None otherwise)."""
        if self.status != state.REBUILDING or not self.records:
            return None
        return min(100, self.indexed * 100 // self.records)


def index_report(session: Session) -> IndexReport:
    """The index's state as ``kohaweb index status`` reports it, plus the catalogue's size and the
    deltas awaiting compaction."""
    return IndexReport(
        status=state.status(session),
        records=session.scalar(select(func.count()).select_from(Biblio)) or 0,
        indexed=count_rows(session),
        segments=session.scalar(select(func.count()).select_from(tables.segments)) or 0,
        blocks_with_deltas=len(blocks_with_deltas(session)),
    )


def index_status_page(request: Request) -> dict:
    """The page; anonymous visitors are sent to the login form, others without either permission get 403."""
    if request.kohaweb_identity is None or not any(request.has_permission(p) for p in PERMISSIONS):
        raise HTTPForbidden()
    return {"report": index_report(request.dbsession), "compact_after": COMPACT_AFTER}


def includeme(config: Configurator) -> None:
    """Route, view and home-page link of the index status page."""
    config.add_route("index_status", "/index-status")
    config.add_view(index_status_page, route_name="index_status", request_method=("GET", "HEAD"),
                    renderer="index_status.html")
    config.add_home_link("Search index", "Index status", "/index-status",
                         "whether the search index is ready, its size, pending deltas, and whether a rebuild is "
                         "needed", staff=True)
