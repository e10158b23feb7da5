"""Loading whole files of records: the work that needs no database runs in worker processes.

``kohaweb import`` reads a file as raw records (``marc.read_raw_records``), hands batches of them
to ``prepare`` in a pool of processes (parsing, validation, flavour, the denormalised summary,
items taken out of 952/995, the stored MARCXML and the search-index entry), and the writing
process stores each prepared batch through ``Catalog.add_prepared`` in one transaction. Authority
records (leader/06 z, and x or y in UNIMARC; every record with ``--authorities``) go to the
authorities (``kohaweb.authorities``) in the same batch and transaction; holdings records are
refused with their position rather than stored as books.
"""

from __future__ import annotations

import gc
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from . import marc

# leader/06 of records that are not bibliographic: MARC21 authority (z) and holdings (u v x y);
# UNIMARC authorities use x (and y, z) as well
NOT_BIBLIOGRAPHIC = {"z": "an authority record", "u": "a holdings record", "v": "a holdings record",
                     "x": "a holdings or authority record", "y": "a holdings record"}
# those refused by an import: holdings (authorities are stored as such, see ``prepare``)
HOLDINGS = {"u": "a holdings record", "v": "a holdings record", "x": "a holdings record",
            "y": "a holdings record"}


@dataclass
class LoadContext:
    """What the worker processes need to know of the catalogue: a forced flavour, the visibility
    policy (``kohaweb.visibility.Policy``), the library codes that exist, whether every record is
    to be taken as an authority (``kohaweb import --authorities``) and the site's flavour."""

    flavour: str | None
    policy: Any
    libraries: frozenset[str]
    authorities: bool = False
    site_flavour: str = marc.MARC21


@dataclass
class PreparedRecord:
    """One record made ready for ``Catalog.add_prepared`` (no database needed to make it)."""

    position: int
    biblionumber: int
    flavour: str
    summary: dict[str, Any]
    marcxml: str
    items: list[dict[str, Any]]  # item columns, typed
    hidden: bool


@dataclass
class RefusedRecord:
    """A record that cannot be stored, with its 1-based position in the file and why."""

    position: int
    reason: str


@dataclass
class SkippedItem:
    """An item of a stored record that could not be stored (e.g. at an unknown library)."""

    position: int
    reason: str


@dataclass
class PreparedBatch:
    """A batch of prepared records with their index rows (``kohaweb.search.writer.NewRows`` per
    block), the authority records (``kohaweb.authorities.PreparedAuthority``, numbered when
    stored), the records refused and the items left out."""

    records: list[PreparedRecord] = field(default_factory=list)
    authorities: list = field(default_factory=list)
    refused: list[RefusedRecord] = field(default_factory=list)
    skipped_items: list[SkippedItem] = field(default_factory=list)
    index: dict = field(default_factory=dict)
    numbers: range = range(0)  # the numbers the batch was given (some left unused)


@contextmanager
def cycle_collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector while a batch is built or stored.

    A batch creates hundreds of thousands of small objects (fields, subfields, index keys,
    posting rows) that form no reference cycles and live until the batch is done; the collector
    would re-scan them again and again as they accumulate (about a third of a worker's time on
    real records) and could free nothing. Plain reference counting still frees everything. Any
    cycle made meanwhile is collected once the collector runs again."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def prepare(raws: list[tuple[int, bytes]], numbers: range, context: LoadContext) -> PreparedBatch:
    """Parse and prepare raw records (ISO 2709 or MARCXML bytes, one record each), giving the
    n-th record the n-th of ``numbers`` (a refused record or an authority leaves its number
    unused)."""
    with cycle_collector_paused():
        return _prepare(raws, numbers, context)


def _prepare(raws: list[tuple[int, bytes]], numbers: range, context: LoadContext) -> PreparedBatch:
    from .authorities import is_authority, prepare_authority
    from .search.indexer import entry_for, hide_entry
    from .search.writer import new_record_rows

    batch = PreparedBatch(numbers=numbers)
    entries = {}
    for (position, data), number in zip(raws, numbers, strict=True):
        try:
            record = marc.read_one(data)
        except marc.MarcError as exc:
            batch.refused.append(RefusedRecord(position, str(exc)))
            continue
        if context.authorities or is_authority(record, context.flavour):
            try:
                batch.authorities.append(prepare_authority(position, record, context.flavour,
                                                           context.site_flavour))
            except (ValueError, KeyError) as exc:
                batch.refused.append(RefusedRecord(position, f"cannot be stored: {exc}"))
            continue
        kind = HOLDINGS.get(str(record.leader)[6:7])
        if kind:
            batch.refused.append(RefusedRecord(position, f"{kind} (leader/06 '{str(record.leader)[6]}'), "
                                                         "not a bibliographic record"))
            continue
        flavour = context.flavour or marc.detect_flavour(record)
        items = []
        for values in marc.strip_items(record, flavour):
            problem = item_problem(values, context.libraries)
            if problem:
                batch.skipped_items.append(SkippedItem(position, problem))
            else:
                items.append(typed_item(values))
        try:
            xml = marc.record_xml_text(record)
            summary = marc.summary(record, flavour)
            entry = entry_for(record, flavour, items)
        except (ValueError, KeyError) as exc:
            batch.refused.append(RefusedRecord(position, f"cannot be stored: {exc}"))
            continue
        hidden = context.policy.record_hidden(False, items)
        entries[number] = hide_entry(entry) if hidden else entry
        batch.records.append(PreparedRecord(position, number, flavour, summary, xml, items, hidden))
    batch.index = new_record_rows(entries)
    # records with the same summary columns left empty side by side: the bulk INSERT of their
    # ``biblio`` rows (an ORM insert leaves NULL columns out) then takes a few statements per
    # batch instead of about one per record
    batch.records.sort(key=_empty_columns)
    return batch


def _empty_columns(record: PreparedRecord) -> tuple[str, ...]:
    return tuple(key for key, value in record.summary.items() if value is None)


def reindexed(record: PreparedRecord) -> dict:
    """The index rows of one prepared record alone (when a batch is stored record by record)."""
    from .search.indexer import entry_for, hide_entry
    from .search.writer import new_record_rows

    entry = entry_for(marc.parse_xml(record.marcxml), record.flavour, record.items)
    return new_record_rows({record.biblionumber: hide_entry(entry) if record.hidden else entry})


def item_problem(values: dict[str, Any], libraries: frozenset[str]) -> str | None:
    """Why an item read from 952/995 cannot be stored: libraries are created by staff, never by
    an import (an item at an unknown library is reported and left out, as Koha's import does)."""
    barcode = (values.get("barcode") or "").strip()
    label = f"item {barcode!r}" if barcode else "an item without barcode"
    for column in ("homebranch", "holdingbranch"):
        code = (values.get(column) or "").strip()
        if code and code not in libraries:
            return f"{label} skipped: its library {code[:40]!r} is not defined"
    itype = (values.get("itype") or "").strip()
    if len(itype) > 10:
        return f"{label} skipped: item type code {itype[:40]!r} is longer than 10 characters"
    return None


def typed_item(values: dict[str, Any]) -> dict[str, Any]:
    from .catalog import item_values_from_marc

    return item_values_from_marc(values)


# records a worker prepares at a time: one block of the index (kohaweb.search.postings.BLOCK), so
# that a stored batch is one worker's chunk, written as the worker made it. Joining 2,000-record
# chunks into a block took about a sixth of the writing process's time, and the worker's rows
# of a whole block are a third fewer to send. Memory stays flat whatever the file's size: about
# 900 MB per worker on real records
CHUNK = 8192


@contextmanager
def worker_pool(workers: int) -> Iterator[Any]:
    """The processes that prepare records for :func:`prepared_batches` (None when ``workers`` is
    1: records are prepared in this process). One pool serves a whole run, whatever its number of
    files: starting one costs a fork per worker of a process that may hold a gigabyte."""
    if workers <= 1:
        yield None
        return
    methods = multiprocessing.get_all_start_methods()
    mp_context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with mp_context.Pool(workers) as pool:
        yield pool


def prepared_batches(raw: Iterable[tuple[int, bytes | None, str | None]], allocate: Callable[[int], range],
                     context: LoadContext, *, workers: int, chunk: int = CHUNK, pool: Any = None
                     ) -> Iterator[PreparedBatch]:
    """Raw records (position, data or None, why unreadable) prepared in chunks of at most
    ``chunk``, in order, by ``workers`` processes (in this process when ``workers`` is 1), those
    of ``pool`` (:func:`worker_pool`) when given, else a pool of this call's own.

    Each chunk is numbered by ``allocate(len(chunk))`` here first, and cut so that its numbers
    stay within one block of the search index (a chunk ends where a block does): ``joined`` can
    then give each block one transaction. At most one chunk per worker and one more are in
    flight, so memory stays flat. A record the reader could not even cut out is refused in the chunk it was met in
    (so the file position a stored chunk records never passes a record still to be stored)."""
    from .search.posting_format import BLOCK

    following: list[int | None] = [None]  # the number the next chunk will start at (if no other writer takes some)

    def room() -> int:
        start = following[0]
        return chunk if start is None or context.authorities else min(chunk, BLOCK - start % BLOCK)

    def numbers(count: int) -> range:
        if not count:  # a chunk of unreadable records only (the end of the file)
            return range(0)
        # with --authorities no record is bibliographic: no record number is taken for nothing
        taken = range(1, count + 1) if context.authorities else allocate(count)
        following[0] = taken.stop
        return taken

    if workers <= 1:
        for raws, unreadable in _chunks(raw, room):
            yield _with_refused(prepare(raws, numbers(len(raws)), context), unreadable)
        return
    with ExitStack() as own:
        if pool is None:
            pool = own.enter_context(worker_pool(workers))
        waiting: list = []
        for raws, unreadable in _chunks(raw, room):
            waiting.append((pool.apply_async(prepare, (raws, numbers(len(raws)), context)), unreadable))
            if len(waiting) > workers:
                started, refused = waiting.pop(0)
                yield _with_refused(started.get(), refused)
        while waiting:
            started, refused = waiting.pop(0)
            yield _with_refused(started.get(), refused)


def _chunks(raw: Iterable[tuple[int, bytes | None, str | None]], room: Callable[[], int]
            ) -> Iterator[tuple[list[tuple[int, bytes]], list[RefusedRecord]]]:
    """Readable raw records in chunks of ``room()`` records (asked as each chunk starts, once the
    previous one is numbered), each with the unreadable records met while it was gathered; the
    last chunk may hold unreadable records only."""
    chunk: list[tuple[int, bytes]] = []
    unreadable: list[RefusedRecord] = []
    size = room()
    for position, data, error in raw:
        if data is None:
            unreadable.append(RefusedRecord(position, error or "unreadable record"))
            continue
        chunk.append((position, data))
        if len(chunk) >= size:
            yield chunk, unreadable
            chunk, unreadable = [], []
            size = room()
    if chunk or unreadable:
        yield chunk, unreadable


def _with_refused(batch: PreparedBatch, unreadable: list[RefusedRecord]) -> PreparedBatch:
    if unreadable:
        batch.refused = sorted(batch.refused + unreadable, key=lambda r: r.position)
    return batch


def joined(batches: Iterable[PreparedBatch], limit: int) -> Iterator[PreparedBatch]:
    """Consecutive prepared chunks joined into the batches that are stored, one transaction each:
    as many as stay within one block of the search index and ``limit`` records.

    An import then writes one index row per term and block rather than one per chunk: a third
    fewer rows than 2,000-record transactions on a real catalogue, so a smaller index, fewer
    inserts, and fewer rows for every search to read."""
    group: list[PreparedBatch] = []
    count = 0
    for batch in batches:
        size = len(batch.numbers)
        if group and (count + size > limit or not _continues(group[-1], batch)):
            yield _join(group)
            group, count = [], 0
        group.append(batch)
        count += size
    if group:
        yield _join(group)


def _continues(previous: PreparedBatch, batch: PreparedBatch) -> bool:
    """Whether ``batch`` starts in the block where ``previous`` ends."""
    from .search.posting_format import block_of

    if not previous.numbers or not batch.numbers:
        return True
    return block_of(previous.numbers[-1]) == block_of(batch.numbers[0])


def _join(group: list[PreparedBatch]) -> PreparedBatch:
    from .search.writer import join_new_rows

    if len(group) == 1:
        return group[0]
    numbered = [batch for batch in group if batch.numbers]
    joined_batch = PreparedBatch(
        records=[record for batch in group for record in batch.records],
        authorities=[authority for batch in group for authority in batch.authorities],
        refused=[refused for batch in group for refused in batch.refused],
        skipped_items=[skipped for batch in group for skipped in batch.skipped_items],
        index=join_new_rows([batch.index for batch in group]),
        numbers=range(numbered[0].numbers.start, numbered[-1].numbers.stop) if numbered else range(0))
    joined_batch.records.sort(key=_empty_columns)  # see _prepare
    return joined_batch
