"""The data layer: the only place that writes bibliographic records and items.

Every change goes through a ``Catalog`` bound to a session, so that in one transaction the
denormalised columns, the record and OAI datestamps, the deleted-record history and the public
visibility stay right. After each change it calls the hooks (kohaweb.hookspecs:
``record_changed``, ``record_deleted``, ``item_changed``, ``item_deleted`` in the transaction,
``changes_committed`` after it): the search backend and OAI set membership are kept by listeners
of those hooks like any plugin's. Services call it; nothing writes these rows behind its back.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import pymarc
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from . import bulk, ids, marc, visibility
from .call_numbers import call_number_sort_key
from .changes import ItemChange, RecordChange, remember
from .models import (
    Biblio,
    BiblioMetadata,
    Checkout,
    DeletedBiblio,
    DeletedBiblioMetadata,
    DeletedItem,
    Item,
    ItemType,
    Library,
    utcnow,
)
from .plugins import hooks_for

if TYPE_CHECKING:
    from .plugins import Hooks

ITEM_COLUMNS = [c.key for c in Item.__table__.columns]
_ITEM_EDITABLE = set(ITEM_COLUMNS) - {"itemnumber", "biblionumber", "created_on", "timestamp"}
_BIBLIO_COPY = [c.key for c in Biblio.__table__.columns]


class CatalogError(Exception):
    """A change the catalogue refuses; ``code`` is a stable machine-readable reason."""

    def __init__(self, message: str, code: str = "invalid"):
        super().__init__(message)
        self.code = code


class NotFound(CatalogError):
    def __init__(self, message: str):
        super().__init__(message, "not_found")


class Catalog:
    def __init__(self, session: Session, flavour: str = marc.MARC21, hooks: Hooks | None = None):
        """``hooks``: the site's (``site.hooks``); by default those of the site whose session
        factory made ``session``, else the built-ins alone (kohaweb.plugins.hooks_for)."""
        self.session = session
        self.flavour = flavour
        self.hooks = hooks or hooks_for(session)
        self._codes: dict[str, set[str]] | None = None

    # --- reading -------------------------------------------------------------------------------

    def get(self, biblionumber: int, *, with_marc: bool = False) -> Biblio | None:
        """The record, or None; ``with_marc``: its MARC row read in the same statement (when the
        session does not hold the record already), for a caller that reads or replaces it."""
        options = [joinedload(Biblio.metadata_row)] if with_marc else None
        return self.session.get(Biblio, biblionumber, options=options)

    def require(self, biblionumber: int, *, with_marc: bool = False) -> Biblio:
        """The record (``with_marc``: as ``get``); ``NotFound`` when there is none."""
        biblio = self.get(biblionumber, with_marc=with_marc)
        if biblio is None:
            raise NotFound(f"no record with id {biblionumber}")
        return biblio

    def marc(self, biblionumber: int, *, with_items: bool = False) -> pymarc.Record:
        biblio = self.require(biblionumber, with_marc=True)
        record = marc.parse_xml(biblio.metadata_row.metadata_xml)
        if with_items:
            marc.embed_items(record, biblio.flavour, (item_dict(i) for i in biblio.items))
        return record

    def iter_biblios(self, batch: int = 1000) -> Iterator[Biblio]:
        """All live records in id order, loaded in batches (constant memory)."""
        last = 0
        while True:
            rows = list(self.session.scalars(
                select(Biblio).options(selectinload(Biblio.metadata_row))
                .where(Biblio.biblionumber > last).order_by(Biblio.biblionumber).limit(batch)))
            if not rows:
                return
            yield from rows
            last = rows[-1].biblionumber
            self.session.expunge_all()

    # --- records -------------------------------------------------------------------------------

    def add_record(self, record: pymarc.Record | str | bytes, *, flavour: str | None = None,
                   frameworkcode: str = "", items: Iterable[dict[str, Any]] | None = None) -> Biblio:
        """Store a new record. Items embedded in 952/995 become item rows unless ``items`` is given."""
        return self.add_records([record], flavour=flavour, frameworkcode=frameworkcode,
                                items=[items] if items is not None else None)[0]

    def add_records(self, records: list, *, flavour: str | None = None, frameworkcode: str = "",
                    items: list | None = None) -> list[Biblio]:
        """Store several new records with one id allocation (the import and harvest path)."""
        parsed = [self._coerce(r) for r in records]
        numbers = ids.allocate(self.session, "biblio", len(parsed))
        now = utcnow()
        created = []
        for index, (record, number) in enumerate(zip(parsed, numbers, strict=True)):
            rec_flavour = flavour or marc.detect_flavour(record, self.flavour)
            embedded = marc.strip_items(record, rec_flavour)
            item_values = items[index] if items is not None and items[index] is not None else embedded
            biblio = Biblio(biblionumber=number, frameworkcode=frameworkcode, flavour=rec_flavour,
                            datecreated=now, timestamp=now, datestamp=now, **marc.summary(record, rec_flavour))
            biblio.metadata_row = BiblioMetadata(schema=rec_flavour, timestamp=now,
                                                 metadata_xml=marc.record_to_xml(record).decode("utf-8"))
            self.session.add(biblio)
            created.append((biblio, record, list(item_values)))
        self.session.flush()
        all_items = [(biblio, values) for biblio, _, item_values in created for values in item_values]
        inserted = self._insert_items(all_items, now, strict=False) if all_items else []
        # new records' item lists are known: set them, so deriving does not query them one by one
        by_record: dict[int, list[Item]] = {b.biblionumber: [] for b, _, _ in created}
        for item in inserted:
            by_record[item.biblionumber].append(item)
        for biblio, _, _ in created:
            set_committed_value(biblio, "items", by_record[biblio.biblionumber])
        for biblio, record, _ in created:
            self._derive(biblio, record, "added")
        return [b for b, _, _ in created]

    def add_prepared(self, batch, *, frameworkcode: str = "") -> list[int]:
        """Store a ``kohaweb.loading.PreparedBatch`` (the import path): the records were parsed,
        numbered and indexed in worker processes; here their rows are inserted in bulk, without
        loading objects, with their index rows. Unknown item types are created (the code as
        their description); libraries must exist (the batch was prepared against them).
        Returns the record numbers stored."""
        records = batch.records
        if not records:
            return []
        self._ensure_codes([{"itype": i.get("itype")} for r in records for i in r.items])
        item_count = sum(len(r.items) for r in records)
        item_numbers = iter(ids.allocate(self.session, "item", item_count) if item_count else ())
        now = utcnow()
        biblios, metadata, items = [], [], []
        for record in records:
            for values in record.items:
                items.append({**_with_sort_key(values), "itemnumber": next(item_numbers), "biblionumber": record.biblionumber,
                              "created_on": now, "timestamp": now})
            biblios.append({"biblionumber": record.biblionumber, "frameworkcode": frameworkcode,
                            "flavour": record.flavour, "datecreated": now, "timestamp": now, "datestamp": now,
                            "opac_suppressed": False, "hidden_from_public": record.hidden, **record.summary})
            metadata.append({"biblionumber": record.biblionumber, "format": "marcxml", "schema": record.flavour,
                             _METADATA_COLUMN: record.marcxml, "timestamp": now})
        self.session.flush()
        # bulk inserts on the session's connection: the rows are complete column values, so the
        # ORM's per-row bookkeeping (and on MariaDB PyMySQL's per-value escaping, a fifth of an
        # import's writing time) would be spent for nothing
        connection = self.session.connection()
        bulk.insert_rows(connection, Biblio.__table__, biblios)
        bulk.insert_rows(connection, BiblioMetadata.__table__, metadata)
        if items:
            bulk.insert_rows(connection, Item.__table__, _uniform(Item.__table__, items))
        # the index rows were made beforehand: a backend that can take them is not asked again
        append = getattr(self.hooks.search, "append_prepared", None)
        if append is not None:
            append(self.session, batch.index)
        for record in records:
            biblio = None if append is not None else self.session.get(Biblio, record.biblionumber)
            self._changed(RecordChange("added", record.biblionumber, biblio, indexed=append is not None,
                                       marcxml=record.marcxml, items=record.items,
                                       given_flavour=record.flavour))
        return [r.biblionumber for r in records]

    def library_codes(self) -> frozenset[str]:
        """The codes of the libraries that exist."""
        return frozenset(self.session.scalars(select(Library.branchcode)))

    def update_record(self, biblionumber: int, record: pymarc.Record | str | bytes, *,
                      frameworkcode: str | None = None) -> Biblio:
        """Replace a record's MARC; embedded item fields are ignored (items change separately).
        ``frameworkcode``, when given, becomes the record's framework (Koha's ModBiblio)."""
        # the MARC row with the record, and before any attribute changes: loading it later would
        # first flush them, in an UPDATE of their own (two round trips for the one row)
        biblio = self.require(biblionumber, with_marc=True)
        metadata = biblio.metadata_row
        record = self._coerce(record)
        if frameworkcode is not None:
            biblio.frameworkcode = frameworkcode
        marc.strip_items(record, biblio.flavour)
        now = utcnow()
        for key, value in marc.summary(record, biblio.flavour).items():
            setattr(biblio, key, value)
        metadata.metadata_xml = marc.record_to_xml(record).decode("utf-8")
        metadata.timestamp = now
        biblio.timestamp = now
        biblio.datestamp = now
        self.session.flush()
        self._derive(biblio, record, "updated")
        return biblio

    def delete_record(self, biblionumber: int) -> DeletedBiblio:
        """Move a record and its items to the deleted tables (refused while an item is on loan)."""
        biblio = self.require(biblionumber, with_marc=True)
        if self.session.scalar(select(Checkout.issue_id).join(Item, Item.itemnumber == Checkout.itemnumber)
                               .where(Item.biblionumber == biblionumber).limit(1)) is not None:
            raise CatalogError(f"record {biblionumber} has items on loan", "checked_out")
        now = utcnow()
        archived = [self._archive_item(item, now) for item in list(biblio.items)]
        self.session.flush()  # items go first: the record's own DELETE would cascade to them
        self.session.expire(biblio, ["items"])
        values = {k: getattr(biblio, k) for k in _BIBLIO_COPY}
        values.update(timestamp=now, datestamp=now)
        deleted = DeletedBiblio(deleted_on=now, **values)
        deleted_meta = DeletedBiblioMetadata(biblionumber=biblionumber, schema=biblio.metadata_row.schema,
                                             metadata_xml=biblio.metadata_row.metadata_xml, timestamp=now)
        self.session.delete(biblio)
        self.session.flush()
        self.session.add(deleted)
        self.session.flush()
        self.session.add(deleted_meta)
        self.session.flush()
        for item in archived:
            self._item_event("item_deleted", ItemChange("deleted", item.itemnumber, biblionumber, item))
        change = RecordChange("deleted", biblionumber, deleted, marcxml=deleted_meta.metadata_xml)
        self.hooks.hook.record_deleted(session=self.session, change=change)
        remember(self.session, self.hooks, change)
        return deleted

    def set_suppressed(self, biblionumber: int, suppressed: bool = True) -> Biblio:
        """Hide a record from public services (OPAC suppression) without deleting it."""
        biblio = self.require(biblionumber)
        if biblio.opac_suppressed != suppressed:
            biblio.opac_suppressed = suppressed
            biblio.datestamp = utcnow()
            self.session.flush()
            self._derive(biblio, None, "suppressed")  # the search index hides suppressed records
        return biblio

    # --- items ---------------------------------------------------------------------------------

    def add_item(self, biblionumber: int, **values: Any) -> Item:
        biblio = self.require(biblionumber)
        now = utcnow()
        item = self._insert_items([(biblio, values)], now)[0]
        biblio.datestamp = now
        self.session.flush()
        self._item_event("item_changed", ItemChange("added", item.itemnumber, biblionumber, item))
        self._derive(biblio, None, "items")
        return item

    def update_item(self, itemnumber: int, **values: Any) -> Item:
        # with its record in the same statement: the record's datestamp moves with every change
        item = self.session.get(Item, itemnumber, options=[joinedload(Item.biblio)])
        if item is None:
            raise NotFound(f"no item with id {itemnumber}")
        unknown = set(values) - _ITEM_EDITABLE
        if unknown:
            raise CatalogError(f"unknown item field(s): {', '.join(sorted(unknown))}")
        typed = _with_sort_key(_typed_item_values(values), item)
        # only the columns whose value changes tell the listeners what to redo: a check-in passes
        # the branch that already holds the item, which no index or rule needs to see again
        changed = frozenset(key for key, value in typed.items() if getattr(item, key) != value)
        for key, value in typed.items():
            setattr(item, key, value)
        now = utcnow()
        item.timestamp = now
        item.biblio.datestamp = now
        self.session.flush()
        self._item_event("item_changed", ItemChange("updated", itemnumber, item.biblionumber, item))
        self._derive(item.biblio, None, "items", item_columns=changed)
        return item

    def update_item_columns(self, state: Any, **values: Any) -> Item | None:
        """``update_item`` for a loan's or a return's columns (``CIRCULATION_COLUMNS``), from the
        item's row as the caller read it: ``state`` has the item's ``itemnumber``,
        ``biblionumber``, the current value of each column given, and its record's
        ``opac_suppressed`` and ``hidden_from_public`` (``kohaweb.circulation.LoanItem``). The
        item and its record's datestamp (and visibility, when it changes) are written by Core
        statements, without loading them as objects: the ORM's objects and flush cost a loan
        more CPU than the database's work. The same listeners are told the same things; their
        ``change.item`` and ``change.biblio`` are loaded when first used (at once when a
        ``changes_committed`` listener will get them). An ``Item`` or ``Biblio`` the session
        holds gets the values written. Other columns, or a held object with unflushed
        changes, go through ``update_item`` (which returns the item; None here otherwise)."""
        session = self.session
        item_key, biblio_key = identity_key(Item, state.itemnumber), identity_key(Biblio, state.biblionumber)
        held_item, held_biblio = session.identity_map.get(item_key), session.identity_map.get(biblio_key)
        if set(values) - CIRCULATION_COLUMNS or any(
                held is not None and held in session.dirty for held in (held_item, held_biblio)):
            return self.update_item(state.itemnumber, **values)
        typed = _typed_item_values(values)
        changed = frozenset(key for key, value in typed.items() if getattr(state, key) != value)
        was = state.hidden_from_public
        hidden = self._hidden_with(state, typed)
        now = utcnow()
        # the record's columns written only when they change, as the ORM's flush did (a datestamp
        # has one-second resolution); the record's row first, then the item's, as the flush did
        record_values: dict[str, Any] = {}
        if state.datestamp != now:
            record_values["datestamp"] = now
        if hidden != was:
            record_values["hidden_from_public"] = hidden
        connection = session.connection()  # not session.execute: no ORM event, no cache emptied
        if record_values and connection.dialect.name not in _RECORD_WITH_ITEM:
            connection.execute(_record_statement(tuple(record_values)),
                               {**{f"new_{key}": value for key, value in record_values.items()},
                                "where_biblionumber": state.biblionumber})
        connection.execute(_item_statement(connection.dialect.name, tuple(typed), tuple(record_values)),
                           {**{f"new_{key}": value for key, value in (*typed.items(), *record_values.items())},
                            "new_timestamp": now, "where_itemnumber": state.itemnumber,
                            "where_biblionumber": state.biblionumber})
        if held_item is not None:
            for key, value in {**typed, "timestamp": now}.items():
                set_committed_value(held_item, key, value)
        if held_biblio is not None:
            for key, value in record_values.items():
                set_committed_value(held_biblio, key, value)
        item_change = _ItemChangeOnUse("updated", state.itemnumber, state.biblionumber)
        record_change = _RecordChangeOnUse("items", state.biblionumber, item_columns=changed,
                                           visibility_changed=bool(was) != bool(hidden))
        item_change.session = record_change.session = session
        if self.hooks.hook.changes_committed.get_hookimpls():  # they get them after commit: load them now
            _ = item_change.item, record_change.biblio
        self._item_event("item_changed", item_change)
        self._changed(record_change)
        return held_item

    def _hidden_with(self, state: Any, typed: dict[str, Any]) -> bool:
        """``visibility.record_hidden`` of the item's record once the item has ``typed``'s
        values; its other items' columns are read only when the policy looks at items."""
        policy = visibility.load_policy(self.session)
        suppressed = bool(state.opac_suppressed)
        if policy.suppression and suppressed:
            return True
        if not (policy.hides_record and (policy.rules or policy.hide_lost)):
            return False
        columns = policy.item_columns
        items = Item.__table__
        values = []
        for number, *read in self.session.connection().execute(
                select(items.c.itemnumber, *(items.c[c] for c in columns))
                .where(items.c.biblionumber == state.biblionumber).order_by(items.c.itemnumber)):
            row = dict(zip(columns, read, strict=True))
            if number == state.itemnumber:
                row.update((key, value) for key, value in typed.items() if key in row)
            values.append(row)
        return policy.record_hidden(suppressed, values)

    def move_item(self, itemnumber: int, to_biblionumber: int) -> Item:
        """Attach an item (with its loan, which follows the item) to another record, as Koha's
        merge and "attach item" do. Both records get a new datestamp, and the listeners (search
        index, OAI set membership, plugins) hear that the item changed and that both records'
        items changed: the record it left no longer shows it, the one it joined does."""
        item = self.session.get(Item, itemnumber)
        if item is None:
            raise NotFound(f"no item with id {itemnumber}")
        target = self.require(to_biblionumber)
        source = item.biblio
        if source.biblionumber == target.biblionumber:
            return item
        now = utcnow()
        item.biblionumber = target.biblionumber
        item.timestamp = now
        source.datestamp = now
        target.datestamp = now
        self.session.flush()
        # the relationships loaded before the move still show the item on its former record
        self.session.expire(item, ["biblio"])
        self.session.expire(source, ["items"])
        self.session.expire(target, ["items"])
        self._item_event("item_changed", ItemChange("updated", itemnumber, target.biblionumber, item))
        self._derive(source, None, "items")
        self._derive(target, None, "items")
        return item

    def delete_item(self, itemnumber: int) -> DeletedItem:
        item = self.session.get(Item, itemnumber)
        if item is None:
            raise NotFound(f"no item with id {itemnumber}")
        if self.session.scalar(select(Checkout.issue_id).where(Checkout.itemnumber == itemnumber)):
            raise CatalogError(f"item {itemnumber} is on loan", "checked_out")
        biblio = item.biblio
        now = utcnow()
        deleted = self._archive_item(item, now)
        biblio.datestamp = now
        self.session.flush()
        self.session.expire(biblio, ["items"])
        self._item_event("item_deleted", ItemChange("deleted", itemnumber, biblio.biblionumber, deleted))
        self._derive(biblio, None, "items")
        return deleted

    # --- internals -----------------------------------------------------------------------------

    def _coerce(self, record: pymarc.Record | str | bytes) -> pymarc.Record:
        if isinstance(record, (str, bytes)):
            try:
                record = marc.parse_xml(record)
            except marc.MarcError as exc:
                raise CatalogError(f"invalid MARCXML: {exc}", "invalid_marc") from None
        problem = marc.validate(record)
        if problem:
            raise CatalogError(f"invalid MARC record: {problem}", "invalid_marc")
        return record

    def _insert_items(self, pairs: list[tuple[Biblio, dict[str, Any]]], now: dt.datetime,
                      strict: bool = True) -> list[Item]:
        """Insert items for (record, column values) pairs with one id allocation and one flush."""
        self._ensure_codes([values for _, values in pairs])
        numbers = ids.allocate(self.session, "item", len(pairs))
        created = []
        for (biblio, values), number in zip(pairs, numbers, strict=True):
            values = _typed_item_values({k: v for k, v in values.items() if k in _ITEM_EDITABLE}, strict)
            values = _with_sort_key(values)
            values.setdefault("permanent_location", values.get("location"))
            created.append(Item(itemnumber=number, biblionumber=biblio.biblionumber, created_on=now,
                                timestamp=now, **values))
        self.session.add_all(created)
        self.session.flush()
        for biblio in {id(b): b for b, _ in pairs}.values():
            self.session.expire(biblio, ["items"])
        return created

    def _ensure_codes(self, values_list: list[dict[str, Any]]) -> None:
        """Libraries and item types named by imported items are created if unknown, with the
        code as their name, so an import never fails on a foreign key."""
        if self._codes is None:
            self._codes = {"branch": set(self.session.scalars(select(Library.branchcode))),
                           "itype": set(self.session.scalars(select(ItemType.itemtype)))}
        for column, kind, model, key, label in (
                ("homebranch", "branch", Library, "branchcode", "branchname"),
                ("holdingbranch", "branch", Library, "branchcode", "branchname"),
                ("itype", "itype", ItemType, "itemtype", "description")):
            for values in values_list:
                value = values.get(column)
                if value and value not in self._codes[kind]:
                    if self.session.get(model, value) is None:
                        self.session.add(model(**{key: value, label: value}))
                        self.session.flush()
                    self._codes[kind].add(value)

    def _archive_item(self, item: Item, now: dt.datetime) -> DeletedItem:
        values = {k: getattr(item, k) for k in ITEM_COLUMNS}
        values["timestamp"] = now
        deleted = DeletedItem(deleted_on=now, **values)
        self.session.add(deleted)
        self.session.delete(item)
        return deleted

    def _derive(self, biblio: Biblio, record: pymarc.Record | None, action: str,
                item_columns: frozenset[str] | None = None) -> None:
        """Refresh the record's public visibility under the current rules, then tell the listeners
        (the search backend and OAI set membership among them) that it changed: ``item_columns``,
        the columns of an item that changed, and whether the visibility did let them skip what
        the change cannot affect."""
        was = biblio.hidden_from_public
        hidden = visibility.record_hidden(self.session, biblio)
        if hidden != was:  # set only when it changes: the same value set again leaves the row to flush at commit
            biblio.hidden_from_public = hidden
        self._changed(RecordChange(action, biblio.biblionumber, biblio, _record=record, item_columns=item_columns,
                                   visibility_changed=bool(was) != bool(hidden)))

    def _changed(self, change: RecordChange) -> None:
        self.hooks.hook.record_changed(session=self.session, change=change)
        remember(self.session, self.hooks, change)

    def _item_event(self, hook: str, change: ItemChange) -> None:
        getattr(self.hooks.hook, hook)(session=self.session, change=change)
        remember(self.session, self.hooks, change)


# the item columns loans, returns and renewals change (``Catalog.update_item_columns``): none of
# them moves the call number's sort key or a status date
CIRCULATION_COLUMNS = frozenset({"onloan", "issues", "renewals", "datelastborrowed", "datelastseen", "holdingbranch"})


# databases whose item UPDATE also writes the record's row (``_item_statement``)
_RECORD_WITH_ITEM = frozenset({"postgresql", "mysql", "mariadb"})


@functools.cache
def _item_statement(database: str, item_keys: tuple[str, ...], record_keys: tuple[str, ...]):
    """``update_item_columns``'s write, built once per database and set of columns: the item's
    columns (and its timestamp), with the record's (``record_keys``: its datestamp, visibility)
    in the same statement on PostgreSQL (the record's UPDATE in a WITH the item's UPDATE reads,
    so the record's row is written first) and MariaDB (one UPDATE of both tables); elsewhere
    (SQLite) the record's UPDATE comes first as a statement of its own (``_record_statement``)."""
    items, biblio = Item.__table__, Biblio.__table__
    # parameters named apart from the columns: in an UPDATE of two tables, SQLAlchemy would set a
    # column of the other table that a parameter is named after (biblio.timestamp)
    item_values = {items.c[key]: bindparam(f"new_{key}") for key in (*item_keys, "timestamp")}
    item_update = update(items).where(items.c.itemnumber == bindparam("where_itemnumber"))
    if not record_keys or database not in _RECORD_WITH_ITEM:
        return item_update.values(item_values)
    record_values = {biblio.c[key]: bindparam(f"new_{key}") for key in record_keys}
    if database in ("mysql", "mariadb"):  # SQLAlchemy's name for MariaDB by a mariadb:// URL
        return (item_update.where(biblio.c.biblionumber == items.c.biblionumber,
                                  biblio.c.biblionumber == bindparam("where_biblionumber"))
                .values({**item_values, **record_values}))
    record = (update(biblio).where(biblio.c.biblionumber == bindparam("where_biblionumber"))
              .values(record_values).returning(biblio.c.biblionumber).cte("record"))
    return item_update.add_cte(record).where(items.c.biblionumber == record.c.biblionumber).values(item_values)


@functools.cache
def _record_statement(record_keys: tuple[str, ...]):
    biblio = Biblio.__table__
    return (update(biblio).where(biblio.c.biblionumber == bindparam("where_biblionumber"))
            .values({biblio.c[key]: bindparam(f"new_{key}") for key in record_keys}))


class _LoadedOnUse:
    """A change's ``item`` or ``biblio`` attribute loaded from the change's ``session`` (by
    ``model`` and the change's ``key``) when first read, unless it was set."""

    def __init__(self, model: type, key: str):
        self.model, self.key = model, key

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    def __get__(self, change: Any, owner: type | None = None) -> Any:
        if change is None:
            return self
        loaded = change.__dict__.get(self.slot)
        if loaded is None and change.session is not None:
            loaded = change.__dict__[self.slot] = change.session.get(self.model, getattr(change, self.key))
        return loaded

    def __set__(self, change: Any, value: Any) -> None:
        change.__dict__[self.slot] = value


class _ItemChangeOnUse(ItemChange):
    """An ``ItemChange`` whose ``item`` is loaded from ``session`` when first used."""

    session: Session | None = None
    item = _LoadedOnUse(Item, "itemnumber")  # type: ignore[assignment]


class _RecordChangeOnUse(RecordChange):
    """A ``RecordChange`` whose ``biblio`` is loaded from ``session`` when first used."""

    session: Session | None = None
    biblio = _LoadedOnUse(Biblio, "biblionumber")  # type: ignore[assignment]


# the column that holds the MARCXML (Koha's name, ``metadata``; the attribute is ``metadata_xml``)
_METADATA_COLUMN = BiblioMetadata.metadata_xml.property.columns[0].key


def item_values_from_marc(values: dict[str, Any]) -> dict[str, Any]:
    """Item column values read from a 952/995 field, typed for storage (statuses that are not
    numbers become 0: other systems put codes such as 'L4' in 995$o)."""
    typed = _typed_item_values({k: v for k, v in values.items() if k in _ITEM_EDITABLE}, strict=False)
    typed.setdefault("permanent_location", typed.get("location"))
    return typed


def _with_sort_key(values: dict[str, Any], item: Item | None = None) -> dict[str, Any]:
    """The item's values with its call number sort key (``cn_sort``), computed here for every way
    an item is stored, as Koha's Koha::Item->store: a new item with a call number or a source
    gets it; a stored one (``item``) again when its call number or source changes, otherwise a
    ``cn_sort`` given with the values is kept."""
    def now(key: str) -> Any:
        return values[key] if key in values else getattr(item, key, None)

    if item is None:
        changed = bool(values.get("itemcallnumber") or values.get("cn_source"))
    else:
        changed = any(key in values and values[key] != getattr(item, key) for key in ("itemcallnumber", "cn_source"))
    if not changed:
        return values
    return {**values, "cn_sort": call_number_sort_key(now("cn_source"), now("itemcallnumber"))}


def _uniform(table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with the same keys (a bulk INSERT takes one column list): a column some rows leave
    out gets its default in those rows (``notforloan`` 0, not NULL), or NULL when it has none."""
    keys = {k for row in rows for k in row}
    defaults = {k: (table.c[k].default.arg if table.c[k].default is not None and table.c[k].default.is_scalar
                    else None) for k in keys}
    return [{**defaults, **row} for row in rows]


def item_dict(item: Item) -> dict[str, Any]:
    return {k: getattr(item, k) for k in ITEM_COLUMNS}


_INT_COLUMNS = {"notforloan", "damaged", "itemlost", "withdrawn", "restricted", "issues", "renewals", "reserves"}
_DATE_COLUMNS = {"onloan", "dateaccessioned", "datelastborrowed"}


def _typed_item_values(values: dict[str, Any], strict: bool = True) -> dict[str, Any]:
    """Coerce values read from MARC subfields (all strings) to the column types. Not strict (items
    embedded in imported records), a status that is not a number becomes 0 instead of refusing the
    record: other systems put codes such as 'L4' in 995$o."""
    typed = {}
    for key, value in values.items():
        if isinstance(value, str):
            value = value.strip()
            if key in _INT_COLUMNS:
                try:
                    value = int(value or 0)
                except ValueError:
                    if not strict:
                        value = 0
                    else:
                        raise CatalogError(f"item field {key} must be a number, got {value!r}") from None
            elif key in _DATE_COLUMNS:
                try:
                    value = dt.date.fromisoformat(value[:10]) if value else None
                except ValueError:
                    value = None
            elif key == "datelastseen":
                try:
                    value = dt.datetime.fromisoformat(value) if value else None
                except ValueError:
                    value = None
            elif key in ("price", "replacementprice"):
                try:
                    value = float(value.replace(",", ".")) if value else None
                except ValueError:
                    value = None
            elif value == "":
                value = None
        typed[key] = value
    return typed
