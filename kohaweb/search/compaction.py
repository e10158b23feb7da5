"""Compaction: folding a block's delta segments back into one merged row per term.

kohaweb.search.writer appends deltas; once a block has ``writer.COMPACT_AFTER`` segments, they
are folded. Writers hold the block's ``search_blocks`` row shared until they commit; holding it
exclusively shows that every delta logged so far is committed and none is in flight.

- ``compact`` folds in the caller's transaction, holding the block exclusively throughout
  (SQLite, where the committing session folds: one writer at a time anyway).
- ``compact_in_steps`` (PostgreSQL and MariaDB, kohaweb.search.compactor's thread) holds the
  block exclusively only for two short moments: to list the segments to fold, and to swap the
  folded rows in. Reading and folding them, about three quarters of a fold (100-500 ms for a
  block whose deltas touched common words), happens in between, while writers go on appending:
  an edit or a deletion of a record of that block no longer waits for the fold.

``blocks_with_deltas`` lists the blocks that have segments left to fold.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from operator import itemgetter

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ..bulk import insert_rows
from . import posting_folds, posting_format, postings, staging, tables
from .writer import decode_keys

# tries at the block for the swap (writers hold it shared for milliseconds), each pause a little
# longer than the last: about 5 s in all before the fold is left for later. Without NOWAIT, a
# fold waiting behind an import's long transaction would make every writer queue behind it.
SWAP_ATTEMPTS = 20
SWAP_PAUSE = 0.05


@dataclass
class _Fold:
    """What folding a block's logged segments (those up to ``upto``) gives."""

    segments: list[int]
    upto: int
    rows: list[dict] = field(default_factory=list)  # the merged rows (seg 0)
    replaced: dict[str, list[str]] = field(default_factory=dict)  # namespace -> terms whose rows they replace


def compact(session: Session, block: int) -> int:
    """Fold a block's delta segments into one row per term, in ``session``'s transaction; returns
    the segments folded (0: the block is held by a writer, or has nothing to fold).

    Only the keys the logged segments wrote are read (a cost proportional to what was written
    since the last compaction); a key left with a single row that removes nothing stays as is."""
    logged = _hold_and_list(session, block)
    if not logged:
        return 0
    conn = session.connection()
    fold = _fold(conn, block, logged)
    _swap(conn, block, fold)
    return len(fold.segments)


def compact_in_steps(engine: Engine, block: int) -> int:
    """``compact`` in three transactions of its own, holding the block only to list the segments
    and to swap the folded rows in; returns the segments folded (0: nothing folded, the block is
    left for a later fold).

    Correct because writers only ever add segments, each numbered above every segment already
    committed when the block was last held (a writer numbers its segment while holding the
    block shared, and numbers are handed out in increasing order), and because the swap replaces
    only the rows up to the last listed segment. Another fold that got there first (another
    process's) or a rebuild that emptied the index meanwhile leaves the listed segments gone:
    nothing is swapped in then."""
    with Session(engine) as session, session.begin():
        logged = _hold_and_list(session, block)
    if not logged:
        return 0
    with Session(engine) as session, session.begin():  # a plain read: committed rows, no lock
        fold = _fold(session.connection(), block, logged)
    for attempt in range(SWAP_ATTEMPTS):
        with Session(engine) as session, session.begin():
            held = _hold(session, block)
            if held is None:  # the block is gone: a rebuild emptied the index
                return 0
            if held:
                if not _still_logged(session, block, fold.segments) or staging.unfinished(session, block):
                    return 0
                _swap(session.connection(), block, fold)
                return len(fold.segments)
        time.sleep(SWAP_PAUSE * (attempt + 1) / 2)
    return 0  # writers kept the block: the segments stay, for the next fold


def _hold(session: Session, block: int) -> bool | None:
    """Hold the block's row exclusively if no writer holds it (no wait): True, False if one does,
    None if there is no such block."""
    b = tables.blocks
    try:
        with session.begin_nested():
            found = session.execute(select(b.c.block).where(b.c.block == block).with_for_update(nowait=True)).first()
    except OperationalError:  # a writer holds the block: its deltas are not all committed yet
        return False
    return None if found is None else True


def _hold_and_list(session: Session, block: int) -> list[tuple[int, bytes]]:
    """The block's logged segments (seg, keys written), in order, once it is held exclusively
    (none while a writer holds it, or while a first load of it is unfinished)."""
    if not _hold(session, block) or staging.unfinished(session, block):
        return []
    s = tables.segments
    return [tuple(row) for row in session.execute(select(s.c.seg, s.c.written).where(s.c.block == block)
                                                  .order_by(s.c.seg))]  # type: ignore[misc]


def _still_logged(session: Session, block: int, segments: list[int]) -> bool:
    s = tables.segments
    found = 0
    for start in range(0, len(segments), postings.CHUNK):
        found += session.scalar(select(func.count()).select_from(s).where(
            s.c.block == block, s.c.seg.in_(segments[start:start + postings.CHUNK]))) or 0
    return found == len(segments)


def _fold(conn: Connection, block: int, logged: list[tuple[int, bytes]]) -> _Fold:
    """The merged rows of the keys these segments wrote, from their rows up to the last segment
    (later segments, appended meanwhile, stay as deltas on top of the merged rows)."""
    fold = _Fold(segments=[seg for seg, _ in logged], upto=logged[-1][0])
    keys = sorted({key for _, blob in logged for key in decode_keys(blob)})
    joined = postings.ranges_in_one_select(conn)
    for start in range(0, len(keys), postings.CHUNK):
        # the chunk's keys of every namespace in one read (a deletion's segment names some forty
        # namespaces: a statement each was most of a fold's time); grouped by key, in segment order
        rows = sorted(conn.execute(_rows_statement(block, fold.upto, _by_namespace(keys[start:start + postings.CHUNK]),
                                                   joined)).all(), key=_KEY_AND_SEGMENT)
        groups: dict[tuple[str, str], list] = {}
        for idx, term, _, docs, positions, dels in rows:
            groups.setdefault((idx, term), []).append((docs, positions, dels))
        # a key left with a single row that removes nothing is merged already
        folded = [(key, group) for key, group in groups.items() if len(group) > 1 or group[0][2] is not None]
        for (idx, term), (docs, keys_of) in _fold_in_batches(folded):
            fold.replaced.setdefault(idx, []).append(term)
            if len(docs):
                fold.rows.append({"idx": idx, "term": term, "block": block, "seg": 0, "ndocs": len(docs),
                                  "docs": posting_format.encode_docs(docs),
                                  "positions": None if keys_of is None else posting_format.encode_positions(keys_of),
                                  "dels": None})
    return fold


FOLD_BATCH_BYTES = 4 << 20  # posting bytes folded in one fold_groups call


def _fold_in_batches(folded: list[tuple[tuple[str, str], list]]):
    """(key, (docs, keys)) of each key's rows, folded many keys at a time but never more than
    ``FOLD_BATCH_BYTES`` of rows at once: fold_groups holds several int64 arrays of every record
    and occurrence it is given, and a block's common words are megabytes of them."""
    batch: list[tuple[tuple[str, str], list]] = []
    size = 0
    for key, group in folded:
        batch.append((key, group))
        size += sum(len(docs) + len(positions or b"") + len(dels or b"") for docs, positions, dels in group)
        if size >= FOLD_BATCH_BYTES:
            yield from zip([k for k, _ in batch], posting_folds.fold_groups([g for _, g in batch]), strict=True)
            batch, size = [], 0
    if batch:
        yield from zip([k for k, _ in batch], posting_folds.fold_groups([g for _, g in batch]), strict=True)


_KEY_AND_SEGMENT = itemgetter(0, 1, 2)  # (idx, term, seg) of a _rows_statement row


def _by_namespace(keys: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for idx, term in keys:
        out.setdefault(idx, []).append(term)
    return out


def _ranges(block: int, upto: int, by_idx: dict[str, list[str]]) -> list[list]:
    """Per namespace, its terms' rows of the block up to segment ``upto``: key ranges."""
    p = tables.postings
    return [[p.c.idx == idx, p.c.term.in_(terms), p.c.block == block, p.c.seg <= upto] for idx, terms in by_idx.items()]


def _rows_statement(block: int, upto: int, by_idx: dict[str, list[str]], joined: bool):
    """The rows (idx, term, seg, docs, positions, dels) of these keys of a block up to ``upto``
    in one read, in no order (``postings.key_ranges``: the namespaces' key ranges OR'd on
    MariaDB, a UNION ALL elsewhere); no database sorts the rows' blobs, the caller orders a few
    thousand keys."""
    p = tables.postings
    return postings.key_ranges((p.c.idx, p.c.term, p.c.seg, p.c.docs, p.c.positions, p.c.dels),
                               _ranges(block, upto, by_idx), joined, ordered=False)


def _delete_statements(block: int, upto: int, by_idx: dict[str, list[str]], joined: bool) -> list:
    """Deleting these keys' rows of a block up to ``upto``: on MariaDB one statement, its key
    ranges OR'd (its range optimizer probes the key for them, as for reads), elsewhere one per
    namespace, each a plain key range whatever the planner knows."""
    p = tables.postings
    ranges = _ranges(block, upto, by_idx)
    if joined:
        return [delete(p).where(postings.any_range(ranges))]
    return [delete(p).where(*r) for r in ranges]


def _swap(conn: Connection, block: int, fold: _Fold) -> None:
    """Replace the folded keys' rows (up to the fold's last segment) by the merged rows, and
    forget the folded segments; the block is held exclusively."""
    p, s = tables.postings, tables.segments
    replaced = [(idx, term) for idx, terms in fold.replaced.items() for term in terms]
    joined = postings.ranges_in_one_select(conn)
    for start in range(0, len(replaced), postings.CHUNK):
        for statement in _delete_statements(block, fold.upto, _by_namespace(replaced[start:start + postings.CHUNK]),
                                            joined):
            conn.execute(statement)
    insert_rows(conn, p, fold.rows)
    for start in range(0, len(fold.segments), postings.CHUNK):
        conn.execute(delete(s).where(s.c.seg.in_(fold.segments[start:start + postings.CHUNK])))


def blocks_with_deltas(session: Session) -> list[int]:
    s = tables.segments
    return list(session.scalars(select(s.c.block).distinct().order_by(s.c.block)))
