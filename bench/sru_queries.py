"""The SRU benches' query mix, drawn from the catalogue's own term statistics.

A sample of the stored records (the first ``sample`` by record number; generated records are
independent draws, so any slice is representative) is run through the search index's own
extraction (kohaweb.search.mapping / normalize), which gives per-index document frequencies,
title phrases, ISBNs, years and record numbers. Candidate queries are then checked against the
server (a count with maximumRecords=0) and kept only when their hit count falls in their kind's
band, so "rare" means 1-10 records and "very common" more than 10 % at any catalogue size:

- ``rare|medium|common <index>``: one word of title, author, subject or any (cql.serverChoice)
  with df 1-10, 0.1-1 % and > 10 % of the records (the most common words of the index when
  none reaches 10 %);
- ``phrase``: 2-3 consecutive title words; ``right-trunc`` ``word*``; ``left-trunc`` ``*ord``;
  ``masking`` ``wo?d``;
- ``and common`` / ``or common``: two very common words of any;
- ``date range``: ``dc.date >= Y and dc.date <= Y+span``;
- ``isbn``, ``rec.id``: identifier look-ups (one hit);
- ``sort title``, ``sort date``: a medium word sorted by title, by date descending;
  ``sort common``: a very common word sorted by title.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

WORD_INDEXES = {"title": "dc.title", "author": "dc.creator", "subject": "dc.subject", "any": "cql.serverChoice"}
BANDS = ("rare", "medium", "common")


@dataclass
class TermStats:
    """What a sample of the catalogue holds, in the index's normalised forms."""

    total: int  # records in the catalogue
    sampled: int
    df: dict[str, Counter] = field(default_factory=dict)  # index -> word -> records
    phrases: list[str] = field(default_factory=list)
    isbns: list[str] = field(default_factory=list)
    years: Counter = field(default_factory=Counter)
    record_numbers: list[int] = field(default_factory=list)


def term_statistics(database_url: str, sample: int = 20000, seed: int = 7, batch: int = 2000) -> TermStats:
    """Document frequencies and look-up values of the first ``sample`` records of a catalogue."""
    from sqlalchemy import func, select

    from kohaweb import marc
    from kohaweb.db import make_engine
    from kohaweb.models import Biblio, BiblioMetadata
    from kohaweb.search import mapping, normalize

    rng = random.Random(seed)
    engine = make_engine(database_url)
    page = (select(Biblio.biblionumber, Biblio.flavour, BiblioMetadata.metadata_xml)
            .join(BiblioMetadata, BiblioMetadata.biblionumber == Biblio.biblionumber)
            .order_by(Biblio.biblionumber).limit(batch))
    try:
        with engine.connect() as conn:
            stats = TermStats(conn.scalar(select(func.count()).select_from(Biblio)), 0,
                              {name: Counter() for name in WORD_INDEXES})
            last = 0
            while stats.sampled < sample:
                rows = conn.execute(page.where(Biblio.biblionumber > last)).all()
                if not rows:
                    break
                for number, flavour, xml in rows[:sample - stats.sampled]:
                    extracted = mapping.extract(marc.parse_xml(xml), flavour)
                    for name, counter in stats.df.items():
                        counter.update({w for text in extracted.fields.get(name, ()) for w in normalize.words(text)})
                    titles = [normalize.words(t) for t in extracted.fields.get("title", ())[:1]]
                    if titles and len(titles[0]) >= 2 and len(stats.phrases) < 5000:
                        size = min(len(titles[0]), rng.choice((2, 2, 3)))
                        start = rng.randrange(len(titles[0]) - size + 1)
                        stats.phrases.append(" ".join(titles[0][start:start + size]))
                    stats.isbns.extend(i for i in extracted.identifiers.get("isbn", ()) if len(i) == 13)
                    stats.years.update(extracted.numbers.get("date", ()))
                    stats.record_numbers.append(number)
                    stats.sampled += 1
                last = rows[-1].biblionumber
    finally:
        engine.dispose()
    return stats


def _band(kind: str, total: int) -> tuple[int, int]:
    """The hit counts a kind's queries must have."""
    return {"rare": (1, 10), "medium": (max(1, total // 1000), max(1, total // 100)),
            "common": (max(1, total // 10), total)}.get(kind, (1, total))


def build_mix(stats: TermStats, per_kind: int, count: Callable[[str], int | None], seed: int = 7,
              log: Callable[[str], None] = print) -> list[tuple[str, str]]:
    """(kind, CQL) pairs, ``per_kind`` of each kind when the catalogue has them; ``count(query)``
    gives a query's hit count on the server (None for a diagnostic)."""
    rng = random.Random(seed)
    total, scale = stats.total, stats.total / max(stats.sampled, 1)
    mix: list[tuple[str, str]] = []

    def pick(kind: str, candidates: list[str], render: Callable[[str], str], band: tuple[int, int],
             attempts: int | None = None) -> list[str]:
        """Candidates (in a seeded random order) whose query's hit count is in the band."""
        rng.shuffle(candidates)
        kept: list[str] = []
        for candidate in candidates[:attempts or per_kind * 6]:
            hits = count(render(candidate))
            if hits is not None and band[0] <= hits <= band[1]:
                kept.append(candidate)
                mix.append((kind, render(candidate)))
                if len(kept) == per_kind:
                    break
        if len(kept) < per_kind:
            log(f"query mix: {kind}: {len(kept)} of {per_kind} queries found (hits {band[0]}-{band[1]})")
        return kept

    def words(name: str, low: float, high: float) -> list[str]:
        return sorted(w for w, df in stats.df[name].items() if low <= df * scale <= high and not w.isdigit())

    common_any: list[str] = []
    for name, cql_index in WORD_INDEXES.items():
        for kind in BANDS:
            low, high = _band(kind, total)
            if kind == "rare" and scale > 10:  # a word seen once in the sample may still be rare: checked
                candidates = sorted(w for w, df in stats.df[name].items() if df == 1 and not w.isdigit())
            else:
                candidates = words(name, low / 2, high * 2)
            if kind == "common" and len(candidates) < per_kind:  # none reach 10 %: the most common ones
                candidates = [w for w, _ in stats.df[name].most_common(per_kind * 3) if not w.isdigit()]
                low = 1
            kept = pick(f"{kind} {name}", candidates, lambda w, i=cql_index: f'{i} = "{w}"', (low, high))
            if kind == "common" and name == "any":
                common_any = kept
    medium_title = words("title", *_band("medium", total))
    pick("phrase", list(stats.phrases), lambda p: f'dc.title = "{p}"', (1, total))
    long_words = [w for w in words("title", total / 2000, total) if len(w) >= 6 and w.isalpha()]
    pick("right-trunc", sorted({w[:max(4, len(w) - 3)] for w in long_words}), lambda w: f'dc.title = "{w}*"',
         (1, total))
    pick("left-trunc", sorted({w[-5:] for w in long_words}), lambda w: f'dc.title = "*{w}"', (1, total))
    pick("masking", sorted({w[:2] + "?" + w[3:] for w in long_words}), lambda w: f'dc.title = "{w}"', (1, total))
    pairs = sorted({" ".join(sorted(rng.sample(common_any, 2))) for _ in range(per_kind * 3)}) \
        if len(common_any) >= 2 else []
    for op in ("and", "or"):
        pick(f"{op} common", list(pairs),
             lambda p, o=op: f" {o} ".join(f'cql.serverChoice = "{w}"' for w in p.split()), (1, total))
    years = sorted(stats.years)
    spans = [f"{y} {y + rng.choice((0, 1, 5, 10, 50))}" for y in rng.choices(years, [stats.years[y] for y in years],
                                                                            k=per_kind * 3)] if years else []
    pick("date range", spans, lambda s: "dc.date >= {} and dc.date <= {}".format(*s.split()), (1, total))
    pick("isbn", sorted(set(stats.isbns)), lambda i: f'dc.isbn = "{i}"', (1, 10))
    pick("rec.id", [str(n) for n in stats.record_numbers], lambda n: f"rec.id = {n}", (1, 1))
    pick("sort title", list(medium_title), lambda w: f'cql.serverChoice = "{w}" sortBy dc.title', (1, total))
    pick("sort date", list(medium_title), lambda w: f'cql.serverChoice = "{w}" sortBy dc.date/sort.descending',
         (1, total))
    pick("sort common", list(common_any), lambda w: f'cql.serverChoice = "{w}" sortBy dc.title', (1, total))
    return mix


def kind_order(kind: str) -> tuple[int, str]:
    """Report order: the word bands index by index, then the other kinds as build_mix makes them."""
    others = ["phrase", "right-trunc", "left-trunc", "masking", "and common", "or common", "date range", "isbn",
              "rec.id", "sort title", "sort date", "sort common"]
    if kind in others:
        return (100 + others.index(kind), kind)
    band, _, name = kind.partition(" ")
    return (list(WORD_INDEXES).index(name) * 3 + BANDS.index(band) if name in WORD_INDEXES else 99, kind)
