"""Compaction: folding a block's delta segments back into one merged row per term.

kohaweb.search.writer appends deltas; once a block has ``writer.COMPACT_AFTER`` segments, they
are folded (``compact``, run by kohaweb.search.compactor) in a transaction of their own, holding the block's
``search_blocks`` row exclusively (writers hold it shared until they commit), so compaction sees
every delta of the block committed and none in flight. ``blocks_with_deltas`` lists the blocks
that have segments left to fold.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ..bulk import insert_rows
from . import posting_folds, posting_format, postings, staging, tables
from .writer import decode_keys


def compact(session: Session, block: int) -> int:
    """Fold a block's delta segments into one row per term; returns the segments folded.

    Holds the block exclusively, so every delta it reads is committed and none is in flight.
    Only the keys the logged segments wrote are read (a cost proportional to what was written
    since the last compaction); a key left with a single row that removes nothing stays as is."""
    b, s, p = tables.blocks, tables.segments, tables.postings
    try:
        with session.begin_nested():
            found = session.execute(select(b.c.block).where(b.c.block == block).with_for_update(nowait=True)).first()
    except OperationalError:  # a writer holds the block: its deltas are not all committed yet
        return 0
    if found is None:
        return 0
    if staging.unfinished(session, block):  # a first load is not finished (kohaweb.search.staging)
        return 0
    logged = list(session.execute(select(s.c.seg, s.c.written).where(s.c.block == block).order_by(s.c.seg)))
    if not logged:
        return 0
    by_idx: dict[str, set[str]] = {}
    for _, blob in logged:
        for idx, term in decode_keys(blob):
            by_idx.setdefault(idx, set()).add(term)
    conn = session.connection()
    rows_out: list[dict] = []
    for idx, terms in by_idx.items():
        ordered = sorted(terms)
        for start in range(0, len(ordered), postings.CHUNK):
            chunk = ordered[start:start + postings.CHUNK]
            rows = conn.execute(select(p.c.term, p.c.seg, p.c.docs, p.c.positions, p.c.dels).where(
                p.c.idx == idx, p.c.block == block, p.c.term.in_(chunk)).order_by(p.c.term, p.c.seg)).all()
            groups: dict[str, list] = {}
            for term, seg, docs, positions, dels in rows:
                groups.setdefault(term, []).append((seg, docs, positions, dels))
            folded_terms = []
            for term, group in groups.items():
                if len(group) == 1 and group[0][3] is None:
                    continue
                folded_terms.append(term)
                docs = posting_folds.fold_docs([(g[1], g[3]) for g in group])
                positional = any(g[2] for g in group)
                keys = posting_folds.fold_keys([(g[1], g[2], g[3]) for g in group]) if positional else None
                if len(docs):
                    rows_out.append({"idx": idx, "term": term, "block": block, "seg": 0, "ndocs": len(docs),
                                     "docs": posting_format.encode_docs(docs),
                                     "positions": posting_format.encode_positions(keys) if positional else None,
                                     "dels": None})
            if folded_terms:
                conn.execute(delete(p).where(p.c.idx == idx, p.c.block == block, p.c.term.in_(folded_terms)))
    insert_rows(conn, p, rows_out)
    segs = [seg for seg, _ in logged]
    for start in range(0, len(segs), postings.CHUNK):
        conn.execute(delete(s).where(s.c.seg.in_(segs[start:start + postings.CHUNK])))
    return len(segs)


def blocks_with_deltas(session: Session) -> list[int]:
    s = tables.segments
    return list(session.scalars(select(s.c.block).distinct().order_by(s.c.block)))
