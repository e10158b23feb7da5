"""Writing the index: one record at a time from the data layer, or everything by ``rebuild``."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pymarc
from sqlalchemy import bindparam, delete, event, func, inspect, select
from sqlalchemy import text as sql_text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from .. import marc
from ..db import empty_sqlite_wal
from ..driver import autoflush
from ..models import Biblio, Item
from . import compactor, mapping, normalize, posting_format, staging, state, tables, writer
from .posting_format import BLOCK_BITS, MAX_POSITION

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, term)


Terms = dict[str, list[int] | None]  # one namespace's terms: word positions (None outside word indexes)


@dataclass
class Entry:
    """What one record puts in the index: its terms, grouped by namespace (``groups``: {namespace:
    {term: word positions, or None outside word indexes}}), and its sort keys.

    Grouped, a record's 200-odd terms are keyed by their strings: an import packs a block's
    1.8 million (term, record) pairs (kohaweb.search.packing) and writes each record's term list
    (``writer.encode_groups``) without making a (namespace, term) tuple per term and hashing it
    again; ``terms`` gives them by that key, for comparing a record's old and new terms."""

    groups: dict[str, Terms] = field(default_factory=dict)
    title: str | None = None
    author: str | None = None
    year: int | None = None

    @property
    def terms(self) -> dict[Key, list[int] | None]:
        """The terms by (namespace, term): a dict made on each call (``add`` changes the entry)."""
        return {(name, term): positions for name, terms in self.groups.items() for term, positions in terms.items()}

    def add(self, key: Key, positions: list[int] | None = None) -> None:
        """Index the record under ``key`` (with these word positions)."""
        self.groups.setdefault(key[0], {})[key[1]] = positions


ITEM_COLUMNS = frozenset({"barcode", "homebranch", "holdingbranch", "itype"})  # what the index reads of items


def _item_values(biblio: Any) -> list[dict]:
    return [{column: getattr(i, column) for column in ITEM_COLUMNS} for i in biblio.items]


def _items_of(session: Session, biblios: list[Any]) -> dict[int, list[dict]]:
    """The index's item columns of each of ``biblios``, by record number: from the items the
    session holds where a record's ``items`` are loaded (a hook that needed them loaded them),
    the others read in one statement per ``CHUNK`` records. Loading them as ORM items, whole
    rows and an object each, was the costliest read of a record edit on MariaDB (0.8 ms against
    0.25 for these four columns)."""
    values: dict[int, list[dict]] = {}
    unread = []
    for biblio in biblios:
        if _items_loaded(biblio):
            values[biblio.biblionumber] = _item_values(biblio)
        else:
            unread.append(biblio)
    if unread:
        autoflush(session)  # as the ORM's lazy load would: items added or changed but not flushed count
        numbers = [biblio.biblionumber for biblio in unread]  # after the flush: a new record has its number
        values.update((number, []) for number in numbers)
        statement = _items_statement()
        for start in range(0, len(numbers), CHUNK):
            for number, *columns in session.execute(statement, {"numbers": numbers[start:start + CHUNK]}):
                values[number].append(dict(zip(_ITEM_ORDER, columns, strict=True)))
    return values


def _items_loaded(biblio: Any) -> bool:
    state = inspect(biblio, raiseerr=False)
    return state is None or "items" not in state.unloaded


_ITEM_ORDER = tuple(sorted(ITEM_COLUMNS))
CHUNK = 500  # records per items read


@functools.cache
def _items_statement():
    items = Item.__table__
    return (select(items.c.biblionumber, *(items.c[column] for column in _ITEM_ORDER))
            .where(items.c.biblionumber.in_(bindparam("numbers", expanding=True)))
            .order_by(items.c.biblionumber, items.c.itemnumber))


def entry_for(record: pymarc.Record, flavour: str, items: list[dict] | None, hidden: bool = False) -> Entry:
    """The index entry of one record."""
    extracted = mapping.extract(record, flavour, items)
    entry = Entry(title=normalize.sort_key(extracted.title), author=normalize.sort_key(extracted.author),
                  year=extracted.year)
    groups = entry.groups
    cache: dict[str, tuple[tuple[str, ...], str]] = {}  # most texts feed two indexes (their own and "any")
    word_tuple = normalize.word_tuple
    for name, texts in extracted.fields.items():
        found: dict[str, list[int]] = {}
        phrases: dict[str, None] = {}
        pos = 0
        for text in texts:
            known = cache.get(text)
            if known is None:
                words = word_tuple(text)
                known = cache[text] = (words, " ".join(words)[:normalize.MAX_PHRASE].rstrip())
            words, value = known
            if pos + len(words) <= MAX_POSITION + 1:
                for word in words:
                    if word in found:  # cheaper than get() and a test of its result (most words are new)
                        found[word].append(pos)
                    else:
                        found[word] = [pos]
                    pos += 1
            else:  # a huge field: its later words are not positional
                for word in words:
                    positions = found.setdefault(word, [])
                    if pos <= MAX_POSITION:
                        positions.append(pos)
                    pos += 1
            pos = posting_format.next_field_start(pos)
            if value:
                phrases[value] = None
        _merge(groups, name, found)
        _merge(groups, posting_format.phrase_space(name), phrases)
    for name, values in extracted.identifiers.items():
        # in order: a set of strings iterates in an order that changes with every process (hash
        # randomisation), and so would the term list stored for the record (writer.encode_groups)
        _merge(groups, name, dict.fromkeys(sorted(values)))
    for name, numbers in extracted.numbers.items():
        # the number itself, and by tens and hundreds (whole decades and centuries of a range,
        # kohaweb.search.query_numbers numbers_between); the same again apart when the record has
        # several (the fast path of ``X >= a and X <= b``, _Evaluator.bounded)
        spaces = [posting_format.number_space(name)]
        if len(numbers) > 1:
            spaces.append(posting_format.multi_number_space(name))
        for space in spaces:
            _merge(groups, space, dict.fromkeys(map(posting_format.number_term, numbers)))
            for step in posting_format.NUMBER_BUCKETS:
                _merge(groups, posting_format.number_bucket_space(space, step),
                       dict.fromkeys(posting_format.number_term(number // step) for number in numbers))
    entry.add(posting_format.ALL)
    if hidden:
        entry.add(posting_format.HIDDEN)
    return entry


def _merge(groups: dict[str, Terms], name: str, terms: Terms) -> None:
    """Add one namespace's terms to an entry's groups (no group for none)."""
    if not terms:
        return
    group = groups.get(name)
    if group is None:
        groups[name] = terms
    else:
        group.update(terms)


def apply(session: Session, changes: dict[int, Entry | None], *, fresh: bool = False) -> set[int]:
    """Replace the index entries of these records (None: remove the record); see
    kohaweb.search.writer. Returns the blocks due for compaction."""
    return writer.apply(session, changes, fresh=fresh)


# --- the data layer's path: changes are queued and written in batches ----------------------------
#
# Changes are queued on the session, each tagged with the (sub)transaction it was made in, and
# written together (block by block) before the session commits and before any search on that
# session, so a search always sees its own transaction's changes. Rolling back a transaction or
# savepoint drops what was queued in it.

_PENDING = "kohaweb.search.pending"
_HOOKED = "kohaweb.search.hooked"
_DUE = "kohaweb.search.compact"
BATCH = 2000


@dataclass
class _Deferred:
    """A record's entry, computed when the queue is written: a record whose items are deleted
    one by one before the record itself queues a change per item, and only the last change of
    a record is written (a withdrawal computed none at all, at about 3 ms a change). Computed
    then, it reads the record as it is at that moment: after any later change (which queued an
    entry of its own, so this one is no longer the last) or after a savepoint's rollback (which
    dropped what was queued in it, and restored the state this entry then reads)."""

    biblio: Any
    record: pymarc.Record | Callable[[], pymarc.Record]

    def entry(self, items: list[dict]) -> Entry:
        """The entry, with ``items``: the index's columns of the record's items (``_items_of``)."""
        biblio, record = self.biblio, self.record
        if callable(record):
            record = record()
        return entry_for(record, biblio.flavour, items, bool(biblio.hidden_from_public))


def index_record(session: Session, biblio: Any, record: pymarc.Record | Callable[[], pymarc.Record]) -> None:
    """Queue a (re)index of ``biblio``; ``record`` is its MARC, or what returns it when called
    (a record is then parsed only if this change is the one written)."""
    _queue(session, biblio.biblionumber, _Deferred(biblio, record))


def append_prepared(session: Session, blocks: dict) -> None:
    """Write ``writer.new_record_rows`` output now, after whatever is queued on the session."""
    flush_pending(session)
    _hook(session)
    writer.append_new(session, blocks)


def _hook(session: Session) -> None:
    if not session.info.get(_HOOKED):
        event.listen(session, "before_commit", flush_pending)
        event.listen(session, "after_soft_rollback", _discard)
        event.listen(session, "after_transaction_end", _compact_due)
        session.info[_HOOKED] = True


def _mark_due(session: Session, due: set[int]) -> None:
    _hook(session)
    if due:
        session.info.setdefault(_DUE, set()).update(due)
        session.info["kohaweb.search.engine"] = session.get_bind()


def hide_entry(entry: Entry) -> Entry:
    """The entry with the hidden-from-public flag set."""
    entry.add(posting_format.HIDDEN)
    return entry


def remove_record(session: Session, biblionumber: int) -> None:
    _queue(session, biblionumber, None)


def _queue(session: Session, biblionumber: int, change: _Deferred | None) -> None:
    _hook(session)
    transaction = session.get_nested_transaction() or session.get_transaction()
    pending = session.info.setdefault(_PENDING, [])
    pending.append((biblionumber, change, transaction))
    if len(pending) >= BATCH and session.get_nested_transaction() is None:
        flush_pending(session)


def flush_pending(session: Session) -> None:
    """Write the queued changes of this session now (the last change of a record wins)."""
    pending = session.info.get(_PENDING)
    if not pending:
        return
    nested = session.get_nested_transaction()
    # Inside a savepoint, what was queued outside it is written but also kept queued: if the
    # savepoint rolls back, those writes are undone and must be made again (writing is idempotent).
    session.info[_PENDING] = [e for e in pending if not _inside(e[2], nested)] if nested else []
    last: dict[int, _Deferred | None] = {}
    for biblionumber, deferred, _ in pending:
        last[biblionumber] = deferred
    items = _items_of(session, [deferred.biblio for deferred in last.values() if deferred is not None])
    final = {number: None if deferred is None else deferred.entry(items[number]) for number, deferred in last.items()}
    _mark_due(session, apply(session, final))


def _compact_due(session: Session, transaction) -> None:
    """Once the session's outermost transaction has ended (savepoints do not count: the session
    still holds its locks), have the blocks that collected enough deltas folded
    (kohaweb.search.compactor: in the background on PostgreSQL and MariaDB)."""
    if transaction.parent is not None or transaction.nested:
        return
    due = session.info.pop(_DUE, None)
    bind = session.info.pop("kohaweb.search.engine", None)
    if not due or bind is None:
        return
    compactor.compact_after_commit(getattr(bind, "engine", bind), due)


def _discard(session: Session, previous_transaction) -> None:
    """Drop what was queued inside the transaction or savepoint just rolled back."""
    if previous_transaction.parent is None:
        session.info.pop(_DUE, None)
    pending = session.info.get(_PENDING)
    if pending:
        session.info[_PENDING] = [e for e in pending if not _inside(e[2], previous_transaction)]


def _inside(transaction, ancestor) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


def rebuild(factory: sessionmaker[Session], *, batch: int = posting_format.BLOCK, workers: int = 1,
            progress: Callable[[int], None] | None = None) -> int:
    """Re-index every record from its stored MARCXML (``rebuild_index``); the number of records."""
    return rebuild_index(factory, batch=batch, workers=workers, progress=progress).records


@dataclass(frozen=True)
class Rebuilt:
    records: int  # records indexed
    key_built: bool  # the postings' key was built once the rows were in: compact, no repack needed


def rebuild_index(factory: sessionmaker[Session], *, batch: int = posting_format.BLOCK, workers: int = 1,
                  progress: Callable[[int], None] | None = None) -> Rebuilt:
    """Re-index every record from its stored MARCXML. The index is marked as being rebuilt first
    (services refuse to answer from it) and ready only when the last batch has committed, so an
    interrupted rebuild leaves it marked unusable rather than silently incomplete.

    Records are read a block at a time (``batch`` caps the records per transaction) and a block
    rebuilt from empty is written without reading anything back. With ``workers`` > 1, parsing
    and term extraction run in that many processes while this one writes."""
    with _tx(factory) as session:
        state.set_status(session, state.REBUILDING)
    state.wait_for_searches()  # other processes may still trust the "ready" they read
    with _tx(factory) as session:
        _empty_index(session)
        large = (session.scalar(select(func.count()).select_from(Biblio)) or 0) >= staging.KEY_AFTER_RECORDS
    if large:  # the postings' key built once at the end (kohaweb.search.staging)
        staging.drop_key_apart(factory.kw["bind"])
    done = 0
    pool = _pool(workers)
    try:
        waiting = None  # the batch being extracted while the previous one is written
        for raw in _raw_batches(factory, batch):
            parts = [raw[i::workers] for i in range(workers)] if pool else [raw]
            started = [pool.apply_async(_entries, (part,)) for part in parts] if pool else parts
            if waiting is not None:
                done += _write_batch(factory, *waiting, pool, progress, first=not done)
            waiting = (started, len(raw))
        if waiting is not None:
            done += _write_batch(factory, *waiting, pool, progress, first=not done)
    finally:
        if pool:
            pool.close()
            pool.join()
    # dropped above (unless readers held the table past staging.DROP_WAIT_MS), or by a staged
    # load that stopped
    key_built = staging.build_key_apart(factory.kw["bind"])
    with _tx(factory) as session:
        state.set_status(session, state.READY)
        state.set_number_layout(session)  # every record was indexed by entry_for above
    return Rebuilt(done, key_built)


TRUNCATE_WAIT_MS = 10_000  # how long a rebuild waits for the index tables' readers to finish


def _empty_index(session: Session) -> None:
    """Every index table emptied for a rebuild. On PostgreSQL by TRUNCATE: a DELETE would leave
    every old row behind as a dead tuple, and on a server without autovacuum searches would step
    over them (about twice as slow after a rebuild) until someone vacuumed; TRUNCATE frees the
    files at once. Searches are refused meanwhile (the index is marked as being rebuilt), so the
    short exclusive lock it takes stops nobody, unless a transaction that read the index stays
    open: after ``TRUNCATE_WAIT_MS`` the rebuild deletes the rows instead, rather than keep
    every writer of the index queued behind its lock request."""
    if session.get_bind().dialect.name == "postgresql":
        try:
            with session.begin_nested():
                session.execute(sql_text(f"SET LOCAL lock_timeout = {TRUNCATE_WAIT_MS}"))
                session.execute(sql_text(f"TRUNCATE {', '.join(table.name for table in tables.ALL)}"))
            return
        except DBAPIError as exc:
            log.warning("search index: the old rows are deleted rather than truncated (%s)", exc.orig)
    for table in tables.ALL:
        session.execute(delete(table))


Raw = tuple[int, str, bool, str, list[dict]]  # biblionumber, flavour, suppressed, MARCXML, items


def _pool(workers: int):
    if workers <= 1:
        return None
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn").Pool(workers)


def _raw_batches(factory: sessionmaker[Session], batch: int):
    """The stored records, a block (at most ``batch`` records) at a time, as plain tuples."""
    from ..models import BiblioMetadata, Item

    last = 0
    while True:
        with _tx(factory) as session:
            first = session.scalar(select(Biblio.biblionumber).where(Biblio.biblionumber > last)
                                   .order_by(Biblio.biblionumber).limit(1))
            if first is None:
                return
            end = (posting_format.block_of(first) + 1) << BLOCK_BITS
            rows = list(session.execute(
                select(Biblio.biblionumber, Biblio.flavour, Biblio.hidden_from_public, BiblioMetadata.metadata_xml)
                .join(BiblioMetadata, BiblioMetadata.biblionumber == Biblio.biblionumber)
                .where(Biblio.biblionumber >= first, Biblio.biblionumber < end)
                .order_by(Biblio.biblionumber).limit(batch)))
            if not rows:  # a record without stored MARC: step over it
                last = first
                continue
            top = rows[-1][0]
            items: dict[int, list[dict]] = {}
            for number, barcode, home, holding, itype in session.execute(
                    select(Item.biblionumber, Item.barcode, Item.homebranch, Item.holdingbranch, Item.itype)
                    .where(Item.biblionumber >= first, Item.biblionumber <= top)):
                items.setdefault(number, []).append({"barcode": barcode, "homebranch": home,
                                                     "holdingbranch": holding, "itype": itype})
        yield [(n, flavour, bool(hidden), xml, items.get(n, [])) for n, flavour, hidden, xml in rows]
        last = top


def _entries(raw: list[Raw]) -> dict[int, Entry]:
    entries = {}
    for number, flavour, hidden, xml, items in raw:
        try:
            record = marc.parse_xml(xml)
        except (marc.MarcError, ValueError) as exc:
            log.warning("record %s not indexed: %s", number, exc)
            continue
        entries[number] = entry_for(record, flavour, items, hidden)
    return entries


def _write_batch(factory: sessionmaker[Session], parts: list, count: int, pool, progress, *, first: bool) -> int:
    changes: dict[int, Entry | None] = {}
    for part in parts:
        changes.update(part.get() if pool else _entries(part))
    with _tx(factory) as session:
        apply(session, changes, fresh=True)
    empty_sqlite_wal(factory.kw["bind"])
    if first:
        _analyze(factory)
    if progress:
        progress(count)
    return count


def _analyze(factory: sessionmaker[Session]) -> None:
    """Refresh the planner's statistics once the tables hold a first batch: planned on an empty
    table, PostgreSQL would read a block's rows by scanning every term of an index."""
    with _tx(factory) as session:
        dialect = session.get_bind().dialect.name
        names = ", ".join(t.name for t in tables.ALL)
        if dialect == "postgresql":
            session.execute(sql_text(f"ANALYZE {names}"))
        elif dialect in ("mysql", "mariadb"):
            session.execute(sql_text(f"ANALYZE TABLE {names}"))
        else:
            session.execute(sql_text("ANALYZE"))


def _tx(factory: sessionmaker[Session]):
    from ..db import transaction

    return transaction(factory)
