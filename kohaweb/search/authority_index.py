"""The authorities search index: what Koha's Zebra ``authorities`` database answers.

Indexes (Koha's names in ``authority-koha-indexdefs.xml`` and the authorities' bib1.att, which
the SRU database for authorities accepts as CQL index names):

- ``heading`` (Heading, Match-heading as a whole phrase): the authorised heading, MARC21 1XX /
  UNIMARC 2XX, the subfields Koha's C4::Heading takes (no relator, no $0-$9 links);
- ``heading-main`` (Heading-Main): the heading's $a;
- ``see-from`` (See-from, Match-heading-see-from as a phrase): 4XX tracings;
- ``see-also`` (See-also-from, See-also): 5XX tracings;
- ``match`` (Match): the heading and its see-from forms;
- ``authtype`` (authtype): the authority type code (PERSO_NAME...);
- ``local-number`` (Local-number): 001; ``lc-card-number`` (LC-card-number): 010 $a $z, spaces
  removed; ``recid`` (rec.id): the authid; ``any`` (Any): every data field.

Words are normalised by kohaweb.search.normalize, posting lists encoded as
kohaweb.search.posting_format encodes them, and queries (kohaweb.search.query trees) run on the
bibliographic evaluator with this index's tables (``AuthorityEvaluator``). The data layer
(kohaweb.authorities) indexes every add, update and delete in its own transaction; ``rebuild``
re-indexes everything.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pymarc
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import bulk, marc
from ..preferences import get_preference, set_preference
from . import authority_tables as tables
from . import normalize, posting_format, postings, query, sorted_sets, variants, writer
from .mapping import Index
from .posting_format import BLOCK_BITS, MAX_POSITION, POSITION_BITS
from .query_tree import Node, QueryError
from .results import ScanTerm, SearchResult, SortKey

ALL = ("_all", "")
STATUS_PREFERENCE = "AuthoritySearchIndexStatus"

INDEXES: dict[str, Index] = {i.name: i for i in [
    Index("any", "word", "Any (every data field)"),
    Index("heading", "word", "Heading (the authorised form, 1XX / UNIMARC 2XX)"),
    Index("heading-main", "word", "Heading-Main (the heading's $a)"),
    Index("see-from", "word", "See-from (4XX tracings)"),
    Index("see-also", "word", "See-also-from (5XX tracings)"),
    Index("match", "word", "Match (heading and see-from forms)"),
    Index("authtype", "word", "Authority type code (authtype)"),
    Index("local-number", "identifier", "Local-number (001)"),
    Index("lc-card-number", "identifier", "LC-card-number (010)"),
    Index("recid", "recid", "Authority number (authid)"),
    Index("allrecords", "allrecords", "Every authority"),
]}

# Koha's C4::Heading::MARC21 subfields of authority headings, by the tag's last two digits
# (the same for 1XX headings, 4XX see-from and 5XX see-also tracings)
MARC21_SUBFIELDS = {
    "00": "abcdfghjklmnopqrstvxyz", "10": "abcdfghklmnoprstvxyz", "11": "acdfghjklnpqstvxyz",
    "30": "adfghklmnoprstvxyz", "47": "acdgvxyz", "48": "avxyz", "50": "abvxyz", "51": "avxyz",
    "55": "avxyz", "62": "avxyz", "80": "vxyz", "81": "vxyz", "82": "vxyz", "85": "vxyz",
}
UNIMARC_SUFFIXES = ("00", "10", "15", "16", "20", "30", "35", "40", "45", "50", "60", "80")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def heading_subfields(tag: str, flavour: str) -> str | None:
    """The subfields of a heading or tracing field that make its text (None: not one)."""
    if flavour == marc.UNIMARC:
        return _LETTERS if tag[0] in "245" and tag[1:] in UNIMARC_SUFFIXES else None
    return MARC21_SUBFIELDS.get(tag[1:]) if tag[0] in "145" else None


def field_text(field: pymarc.Field, subfields: str) -> str:
    return " ".join(sub.value.strip() for sub in field.subfields if sub.code in subfields and sub.value)


def match_form(text: str) -> str:
    """The normalised whole heading that exact matching compares (Koha's search_form):
    folded words joined by single spaces."""
    return " ".join(normalize.words(text))[:normalize.MAX_PHRASE].rstrip()


# --- extraction -----------------------------------------------------------------------------------

@dataclass
class Entry:
    """An authority's index terms (word positions for word indexes, None for the others)."""

    terms: dict[tuple[str, str], list[int] | None] = field(default_factory=dict)
    heading: str | None = None


def extract(record: pymarc.Record, flavour: str, authtypecode: str | None) -> dict[str, list[str]]:
    """The texts of each word index, and identifiers under ``local-number``/``lc-card-number``."""
    heading_tag = "2" if flavour == marc.UNIMARC else "1"
    texts: dict[str, list[str]] = defaultdict(list)
    for fld in record.fields:
        if fld.is_control_field():
            if fld.tag == "001" and fld.data:
                texts["local-number"].append(fld.data.strip())
            continue
        texts["any"].append(" ".join(s.value for s in fld.subfields if s.code.isalpha() and s.value))
        if fld.tag == "010" and flavour == marc.MARC21:
            texts["lc-card-number"].extend(s.value.replace(" ", "") for s in fld.subfields
                                           if s.code in "az" and s.value)
        wanted = heading_subfields(fld.tag, flavour)
        if wanted is None:
            continue
        text = field_text(fld, wanted)
        if not text:
            continue
        if fld.tag[0] == heading_tag:
            if "heading" not in texts:  # the first heading field is the heading (as auth_header.heading)
                texts["heading"].append(text)
                texts["match"].append(text)
                texts["heading-main"].extend(s.value for s in fld.subfields if s.code == "a" and s.value)
        elif fld.tag[0] == "4":
            texts["see-from"].append(text)
            texts["match"].append(text)
        elif fld.tag[0] == "5":
            texts["see-also"].append(text)
    if authtypecode:
        texts["authtype"].append(authtypecode)
    return texts


def entry_for(record: pymarc.Record, flavour: str, authtypecode: str | None) -> Entry:
    """The index entry of one authority record."""
    texts = extract(record, flavour, authtypecode)
    entry = Entry(heading=normalize.sort_key(texts["heading"][0]) if texts.get("heading") else None)
    for name, values in texts.items():
        if INDEXES[name].kind == "identifier":
            for value in values:
                term = normalize.identifier(value)
                if term:
                    entry.terms[(name, term)] = None
            continue
        pos = 0
        for text in values:
            words = normalize.words(text)
            for word in words:
                found = entry.terms.setdefault((name, word), [])
                if pos <= MAX_POSITION:
                    found.append(pos)
                pos += 1
            pos = posting_format.next_field_start(pos)
            phrase = " ".join(words)[:normalize.MAX_PHRASE].rstrip()
            if phrase:
                entry.terms[(posting_format.phrase_space(name), phrase)] = None
    entry.terms[ALL] = None
    return entry


def entry_for_xml(marcxml: str, flavour: str, authtypecode: str | None) -> Entry | None:
    try:
        record = marc.parse_xml(marcxml)
    except (ValueError, KeyError):
        return None  # a stored record that no longer parses is not findable (as a broken biblio)
    return entry_for(record, flavour, authtypecode)


# --- writing --------------------------------------------------------------------------------------

def index_authority(session: Session, authid: int, record: pymarc.Record, flavour: str,
                    authtypecode: str | None) -> None:
    """(Re)index one authority in the session's transaction."""
    apply(session, {authid: entry_for(record, flavour, authtypecode)})


def remove_authority(session: Session, authid: int) -> None:
    apply(session, {authid: None})


def apply(session: Session, changes: dict[int, Entry | None], *, fresh: bool = False) -> None:
    """Replace the entries of these authorities (None: remove). ``fresh``: the index holds none of
    them nor anything else of their blocks (a rebuild), so nothing is read back."""
    by_block: dict[int, dict[int, Entry | None]] = defaultdict(dict)
    for authid, entry in changes.items():
        by_block[authid >> BLOCK_BITS][authid] = entry
    for block in sorted(by_block):
        _apply_block(session, block, by_block[block], fresh)


def _lock_block(session: Session, block: int) -> None:
    b = tables.blocks
    done = session.execute(update(b).where(b.c.block == block).values(version=b.c.version + 1)).rowcount
    if not done:
        try:
            with session.begin_nested():
                session.execute(insert(b).values(block=block, version=1))
        except IntegrityError:  # another writer created it first: queue behind it
            session.execute(update(b).where(b.c.block == block).values(version=b.c.version + 1))


def _apply_block(session: Session, block: int, changes: dict[int, Entry | None], fresh: bool) -> None:
    p, r = tables.postings, tables.records
    if not fresh:
        _lock_block(session, block)
    numbers = sorted(changes)
    old: dict[int, dict] = {}
    if not fresh:
        for start in range(0, len(numbers), postings.CHUNK):
            chunk = numbers[start:start + postings.CHUNK]
            # locking reads: they see what the writer this one queued behind (on the block row)
            # committed under any isolation level (kohaweb runs the servers at read committed)
            for authid, blob in session.execute(select(r.c.authid, r.c.terms).where(r.c.authid.in_(chunk))
                                                .with_for_update()):
                old[authid] = writer.decode_terms(blob)
    # what changes, per key: the authids to drop and the (authid, positions) to add
    keys: dict[tuple[str, str], list] = defaultdict(lambda: [set(), []])
    for authid in numbers:
        for key in old.get(authid, {}):
            keys[key][0].add(authid)
        entry = changes[authid]
        if entry is not None:
            for key, positions in entry.terms.items():
                keys[key][0].add(authid)
                keys[key][1].append((authid, positions))
    if not fresh:
        _unchanged = [k for k, (gone, added) in keys.items()
                      if len(gone) == len(added) and all(old.get(a, {}).get(k, 0) == (tuple(pos) if pos else ())
                                                         for a, pos in added)]
        for key in _unchanged:
            del keys[key]
    current = {} if fresh else _read_rows(session, block, list(keys))
    base = block << BLOCK_BITS
    rows = []
    for key, (gone, added) in keys.items():
        docs, positions = current.get(key, (np.empty(0, np.int64), None))
        local_gone = np.array(sorted(a - base for a in gone), dtype=np.int64)
        if len(docs) and len(local_gone):
            docs = sorted_sets.difference(docs, local_gone)
            if positions is not None:
                positions = positions[~sorted_sets.member(positions >> POSITION_BITS, local_gone)]
        word = any(pos is not None for _, pos in added) or positions is not None
        if added:
            docs = sorted_sets.union(docs, np.array(sorted(a - base for a, _ in added), dtype=np.int64))
            if word:
                new = np.array(sorted(((a - base) << POSITION_BITS) | p for a, pos in added for p in (pos or ())),
                               dtype=np.int64)
                positions = new if positions is None else sorted_sets.union(positions, new)
        if key in current:
            session.execute(delete(p).where(p.c.idx == key[0], p.c.term == key[1], p.c.block == block))
        if len(docs):
            rows.append({"idx": key[0], "term": key[1], "block": block, "ndocs": len(docs),
                         "docs": posting_format.encode_docs(docs),
                         "positions": posting_format.encode_positions(positions) if word and positions is not None else None})
    bulk.insert_rows(session.connection(), p, rows)
    if old:
        session.execute(delete(r).where(r.c.authid.in_(list(old))))
    bulk.insert_rows(session.connection(), r, [
        {"authid": authid, "heading": entry.heading, "terms": writer.encode_terms(entry.terms)}
        for authid, entry in changes.items() if entry is not None])


def _read_rows(session: Session, block: int, keys: list[tuple[str, str]]) -> dict:
    """The stored (docs, positions) of these keys in one block, block-local."""
    p = tables.postings
    by_idx: dict[str, list[str]] = defaultdict(list)
    for idx, term in keys:
        by_idx[idx].append(term)
    out = {}
    for idx, terms in by_idx.items():
        for start in range(0, len(terms), postings.CHUNK):
            chunk = terms[start:start + postings.CHUNK]
            for term, docs, positions in session.execute(
                    select(p.c.term, p.c.docs, p.c.positions)
                    .where(p.c.idx == idx, p.c.block == block, p.c.term.in_(chunk)).with_for_update()):
                out[(idx, term)] = (posting_format.decode_local_docs(docs),
                                    posting_format.decode_local_positions(positions) if positions is not None else None)
    return out


# --- reading: the store the query evaluator reads through ----------------------------------------

class _Store:
    """The functions of kohaweb.search.postings the evaluator calls, on the authority tables."""

    EMPTY = posting_format.EMPTY

    @staticmethod
    def _rows(session: Session, idx: str, conditions, positional: bool):
        p = tables.postings
        column = p.c.positions if positional else p.c.docs
        return session.execute(select(p.c.term, p.c.block, column).where(p.c.idx == idx, *conditions)
                               .order_by(p.c.term, p.c.block))

    def _read(self, session: Session, idx: str, terms: Iterable[str], positional: bool) -> np.ndarray:
        terms = list(dict.fromkeys(terms))
        parts = []
        p = tables.postings
        for start in range(0, len(terms), postings.CHUNK):
            chunk = terms[start:start + postings.CHUNK]
            for _, block, blob in self._rows(session, idx, [p.c.term.in_(chunk)], positional):
                if positional:
                    parts.append(posting_format.decode_local_positions(blob) + (block << (BLOCK_BITS + POSITION_BITS)))
                else:
                    parts.append(posting_format.decode_local_docs(blob) + (block << BLOCK_BITS))
        if not parts:
            return posting_format.EMPTY
        merged = np.concatenate(parts)
        return sorted_sets.unsorted_distinct(merged) if len(terms) > 1 or len(parts) > 1 else merged

    def docs(self, session: Session, idx: str, terms: Iterable[str]) -> np.ndarray:
        return self._read(session, idx, terms, False)

    def keys(self, session: Session, idx: str, terms: Iterable[str]) -> np.ndarray:
        return self._read(session, idx, terms, True)

    def docs_and_keys(self, session: Session, idx: str, terms: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        terms = list(terms)
        return self.docs(session, idx, terms), self.keys(session, idx, terms)

    def docs_where(self, session: Session, idx: str, *conditions) -> tuple[list[str], np.ndarray]:
        rows = list(self._rows(session, idx, conditions, False))
        found = list(dict.fromkeys(row[0] for row in rows))
        if not rows:
            return found, posting_format.EMPTY
        return found, sorted_sets.unsorted_distinct(np.concatenate(
            [posting_format.decode_local_docs(blob) + (block << BLOCK_BITS) for _, block, blob in rows]))

    def vocabulary(self, session: Session, idx: str, *conditions) -> list[str]:
        p = tables.postings
        return list(session.scalars(select(p.c.term).where(p.c.idx == idx, *conditions).distinct()
                                    .order_by(p.c.term)))

    def universe(self, session: Session) -> np.ndarray:
        return self.docs(session, ALL[0], [ALL[1]])

    def universe_between(self, session: Session, low: int | None, high: int | None) -> np.ndarray:
        every = self.universe(session)
        keep = np.ones(len(every), dtype=bool)
        if low is not None:
            keep &= every >= low
        if high is not None:
            keep &= every <= high
        return every[keep]


STORE = _Store()


def size(session: Session) -> int:
    """How many authorities the index holds."""
    p = tables.postings
    return int(session.scalar(select(func.coalesce(func.sum(p.c.ndocs), 0))
                              .where(p.c.idx == ALL[0], p.c.term == ALL[1])) or 0)


# --- state and rebuild ----------------------------------------------------------------------------

def status(session: Session) -> str:
    return (get_preference(session, STATUS_PREFERENCE, "ready") or "ready").lower()


def is_ready(session: Session) -> bool:
    return status(session) == "ready"


def rebuild(factory, *, batch: int = posting_format.BLOCK, progress: Callable[[int], None] | None = None) -> int:
    """Re-index every authority from its stored MARCXML, a block of authids per transaction; the
    index is marked ``rebuilding`` (SRU refuses to answer) until the last one commits."""
    from ..db import transaction
    from ..models import Authority

    with transaction(factory) as session:
        set_preference(session, STATUS_PREFERENCE, "rebuilding", "Choice")
    with transaction(factory) as session:
        for table in tables.ALL:
            session.execute(delete(table))
    done, last = 0, 0
    batch = max(1, min(batch, posting_format.BLOCK))
    while True:
        with transaction(factory) as session:
            rows = session.execute(select(Authority.authid, Authority.flavour, Authority.authtypecode,
                                          Authority.marcxml).where(Authority.authid > last)
                                   .order_by(Authority.authid).limit(batch)).all()
            if not rows:
                break
            # a block no earlier batch wrote is written from empty, without reading anything back
            changes = {}
            for authid, flavour, code, xml in rows:
                entry = entry_for_xml(xml or "", flavour or marc.MARC21, code)
                if entry is not None:
                    changes[authid] = entry
            fresh_blocks = {a >> BLOCK_BITS for a in changes} - _written_blocks(session, changes)
            fresh = {a: e for a, e in changes.items() if a >> BLOCK_BITS in fresh_blocks}
            apply(session, fresh, fresh=True)
            apply(session, {a: e for a, e in changes.items() if a not in fresh})
            for block in fresh_blocks:
                session.execute(insert(tables.blocks).values(block=block, version=1))
            done += len(rows)
            last = rows[-1][0]
        if progress:
            progress(len(rows))
    with transaction(factory) as session:
        set_preference(session, STATUS_PREFERENCE, "ready", "Choice")
    return done


def _written_blocks(session: Session, changes: dict) -> set[int]:
    b = tables.blocks
    wanted = sorted({a >> BLOCK_BITS for a in changes})
    return set(session.scalars(select(b.c.block).where(b.c.block.in_(wanted)))) if wanted else set()


# --- searching ------------------------------------------------------------------------------------

class AuthorityEvaluator(query._Evaluator):
    """The bibliographic query evaluator on the authorities' tables and indexes."""

    store = STORE
    term_table = tables.postings
    keeps_reversed_terms = False  # authority files are small: a masked word tests every term of its index
    may_keep_multi_numbers = False  # no number index, and no several-numbers namespace
    indexes = INDEXES

    def terms(self, idx: str, word: str, modifiers: frozenset[str] = frozenset()) -> list[str]:
        if modifiers & variants.MATCHERS.keys():
            raise QueryError("unsupported_modifier", "stem, fuzzy and phonetic are not supported on authorities",
                             ", ".join(sorted(modifiers & variants.MATCHERS.keys())))
        return super().terms(idx, word, modifiers)


SORTABLE = ("heading", "recid")


def search(session: Session, node: Node, *, offset: int = 0, limit: int = 10,
           sort: tuple[SortKey, ...] = ()) -> SearchResult:
    """Count the authorities matching ``node`` and return the authids of one page, in authid
    order or by ``sort`` (``heading`` or ``recid``)."""
    for key in sort:
        if key.index not in SORTABLE:
            raise QueryError("unsupported_sort", f"cannot sort authorities by {key.index}", key.index)
    hits = AuthorityEvaluator(session).node(node)
    total = len(hits)
    if limit <= 0 or offset >= total:
        return SearchResult(total, [])
    if not sort or sort[0].index == "recid":
        ordered = hits if not sort or sort[0].ascending else hits[::-1]
        return SearchResult(total, ordered[offset:offset + limit].tolist())
    r = tables.records
    numbers = hits.tolist()
    keyed = []
    for start in range(0, len(numbers), 1000):
        keyed.extend(session.execute(select(r.c.authid, r.c.heading)
                                     .where(r.c.authid.in_(numbers[start:start + 1000]))).all())
    key = sort[0]
    present = sorted((row for row in keyed if row[1] is not None), key=lambda row: (row[1], row[0]),
                     reverse=not key.ascending)
    missing = sorted(row for row in keyed if row[1] is None)
    ordered = present + missing if (key.missing == "high") == key.ascending else missing + present
    return SearchResult(total, [row[0] for row in ordered[offset:offset + limit]])


def scan(session: Session, index: str, term: str, *, position: int = 1, count: int = 20) -> list[ScanTerm]:
    """Terms of an authorities index around ``term``, each with the number of authorities."""
    spec = INDEXES.get(index)
    if spec is None:
        raise QueryError("unsupported_index", f"unsupported index {index}", index)
    if spec.kind in ("recid", "allrecords"):
        raise QueryError("scan_unsupported", f"index {index} cannot be scanned", index)
    if spec.kind == "identifier":
        start = normalize.identifier(term) or ""
    else:
        words = normalize.words(term)
        start = words[0] if words else ""
    before_n = max(position - 1, 0)
    after_n = max(count - before_n, 0)
    p = tables.postings

    def terms(wanted: int, ascending: bool) -> list[ScanTerm]:
        if not wanted:
            return []
        condition = p.c.term >= start if ascending else p.c.term < start
        values = list(session.scalars(select(p.c.term).where(p.c.idx == index, condition).distinct()
                                      .order_by(p.c.term.asc() if ascending else p.c.term.desc()).limit(wanted)))
        return [ScanTerm(v, len(STORE.docs(session, index, [v]))) for v in values]

    return list(reversed(terms(before_n, False))) + terms(after_n, True)
