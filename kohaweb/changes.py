"""What the data layer tells the hooks about a change (``record_changed`` and friends), and the
after-commit delivery (``changes_committed``).

The change objects are cheap to make: the MARC record is parsed only when a listener asks for
it, once, whatever the number of listeners.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pymarc
from sqlalchemy import event
from sqlalchemy.orm import Session

from . import marc

if TYPE_CHECKING:
    from .plugins import Hooks

log = logging.getLogger(__name__)

PENDING_KEY = "kohaweb.changes"  # session.info: changes made in the open transaction


@dataclass(eq=False)
class RecordChange:
    """One change of a bibliographic record.

    ``action``: ``"added"``, ``"updated"``, ``"suppressed"``, ``"items"`` (one of its items
    changed) or ``"deleted"``. ``biblio``: the ``Biblio`` row (``DeletedBiblio`` once deleted);
    None for records stored in bulk by the import path (``session.get(Biblio, n)`` loads it).
    ``indexed``: the search backend already holds this change (the import path writes index rows
    made beforehand), so the index listener skips it. ``item_columns``: for ``"items"``, the item
    columns whose value one stored item changed (a checkout sets ``onloan``, ``issues``...; a
    column given its value again is not among them; None when not known, or when an item was
    added, moved or deleted); ``visibility_changed``: whether
    ``biblio.hidden_from_public`` changed with it. A listener whose view of the record uses none
    of those columns may skip the change (a loan then costs no index work)."""

    action: str
    biblionumber: int
    biblio: Any = None
    indexed: bool = False
    item_columns: frozenset[str] | None = None
    visibility_changed: bool = True
    marcxml: str | None = field(default=None, repr=False)  # given when there is no biblio row
    items: list[dict] | None = field(default=None, repr=False)  # idem (item column dicts)
    given_flavour: str | None = field(default=None, repr=False)
    _record: pymarc.Record | None = field(default=None, repr=False)
    _with_items: pymarc.Record | None = field(default=None, repr=False)

    @property
    def deleted(self) -> bool:
        return self.action == "deleted"

    @property
    def flavour(self) -> str:
        return self.given_flavour or self.biblio.flavour

    def record(self) -> pymarc.Record:
        """The record's MARC (without items), parsed on first use. Do not modify it."""
        if self._record is None:
            self._record = marc.parse_xml(self._stored_xml())
        return self._record

    def record_with_items(self) -> pymarc.Record:
        """The record with its current items embedded in 952 (MARC21) or 995 (UNIMARC)."""
        if self._with_items is None:
            from .catalog import item_dict

            if self.items is not None:
                items = self.items
            else:
                items = [] if self.deleted else [item_dict(i) for i in self.biblio.items]
            copy = marc.parse_xml(marc.record_to_xml(self.record()))
            self._with_items = marc.embed_items(copy, self.flavour, items)
        return self._with_items

    def _stored_xml(self) -> str:
        if self.marcxml is not None:
            return self.marcxml
        if self.deleted:
            from .models import DeletedBiblioMetadata

            session = Session.object_session(self.biblio)
            row = session.get(DeletedBiblioMetadata, self.biblionumber) if session else None
            return row.metadata_xml if row else ""
        return self.biblio.metadata_row.metadata_xml


@dataclass(eq=False)
class ItemChange:
    """One change of an item: ``action`` ``"added"``, ``"updated"`` or ``"deleted"``; ``item`` is the
    ``Item`` row (``DeletedItem`` once deleted)."""

    action: str
    itemnumber: int
    biblionumber: int
    item: Any = None


def remember(session: Session, hooks: Hooks, change: RecordChange | ItemChange) -> None:
    """Keep ``change`` for ``changes_committed``, called once the session's outermost transaction
    commits (dropped when it rolls back)."""
    if not hooks.hook.changes_committed.get_hookimpls():
        return  # nobody listens: keep nothing
    pending = session.info.get(PENDING_KEY)
    if pending is None:
        pending = session.info[PENDING_KEY] = []
        if not session.info.get(PENDING_KEY + ".listening"):
            session.info[PENDING_KEY + ".listening"] = True
            event.listen(session, "after_commit", _after_commit)
            event.listen(session, "after_rollback", _after_rollback)
    pending.append((hooks, change))


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: the transaction goes on
    pending = session.info.pop(PENDING_KEY, None)
    if not pending:
        return
    by_hooks: dict[int, tuple[Hooks, list]] = {}
    for hooks, change in pending:
        by_hooks.setdefault(id(hooks), (hooks, []))[1].append(change)
    for hooks, changes in by_hooks.values():
        for impl in hooks.hook.changes_committed.get_hookimpls():
            try:
                impl.function(**{name: value for name, value in
                                 (("changes", changes), ("bind", session.bind)) if name in impl.argnames})
            except Exception:  # noqa: BLE001  (the commit happened; one listener must not stop the others)
                log.exception("changes_committed of plugin %s failed", impl.plugin_name)


def _after_rollback(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint rolled back: keep the changes made before it (listeners re-read state)
    session.info.pop(PENDING_KEY, None)
