"""Latency of everyday writes on an existing catalogue: a record edited through the data layer
(index included), an item change no index uses (what a checkout or check-in writes), an item's
barcode changed, and a record deleted with its items, each in its own committed transaction.

    .venv/bin/python bench/bench_edits.py --url postgresql+psycopg://postgres@127.0.0.1/big --edits 300
    .venv/bin/python bench/bench_edits.py --records 20000 --backend mariadb

``--url``: a loaded catalogue (``bench_import.py --keep`` leaves one); the bench changes it (its
edits are real). Without it, a throwaway catalogue of ``--records`` realistic records is imported
first (``kohaweb import`` of ``bench/realistic.py``'s file) and dropped afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time

from sqlalchemy import func, select

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import add_data_options, data_choice, database, peak_rss_mb  # noqa: E402


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    if not ordered:
        return "no samples"

    def at(q: float) -> float:
        return ordered[min(int(q * len(ordered)), len(ordered) - 1)] * 1000

    return f"p50 {at(0.5):7.2f} ms  p95 {at(0.95):7.2f} ms  max {ordered[-1] * 1000:7.2f} ms  (n={len(ordered)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="database URL of a loaded catalogue (default: import one of --records)")
    parser.add_argument("--records", type=int, default=10000, help="records of the throwaway catalogue (no --url)")
    parser.add_argument("--backend", default="sqlite", choices=("sqlite", "postgresql", "mariadb"))
    parser.add_argument("--edits", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    add_data_options(parser)
    args = parser.parse_args()
    if args.url:
        return measure(args.url, args)
    generator, data = data_choice(args)
    if generator != "real":
        raise SystemExit("a throwaway catalogue needs the real collections: give --data PATH, or --url")
    import realistic
    from bench_import import reference_data, run_import

    path = str(realistic.cached_file(args.records, seed=11, data=data))
    with database(args.backend) as url:
        reference_data(url)
        seconds = run_import(url, path)[0]
        print(f"imported {args.records:,} records in {seconds:.1f} s", flush=True)
        return measure(url, args)


def measure(url: str, args: argparse.Namespace) -> int:
    """Time the writes on the catalogue at ``url``."""
    from kohaweb.catalog import Catalog
    from kohaweb.db import make_engine, make_session_factory
    from kohaweb.marc import parse_xml
    from kohaweb.models import Biblio, Item

    engine = make_engine(url)
    factory = make_session_factory(engine)
    rng = random.Random(args.seed)
    with factory() as session:
        top = session.scalar(select(func.max(Biblio.biblionumber))) or 0
        records = session.scalar(select(func.count()).select_from(Biblio))
        item_ids = list(session.scalars(select(Item.itemnumber).order_by(Item.itemnumber).limit(50000)))
    print(f"catalogue: {records:,} records, {len(item_ids):,} items sampled ({engine.dialect.name})")

    def timed(work) -> float:
        started = time.perf_counter()
        with factory() as session, session.begin():
            work(Catalog(session))
        return time.perf_counter() - started

    def stored(number: int) -> bool:
        with factory() as session:
            return session.get(Biblio, number) is not None

    def edit_title(catalog: Catalog, number: int) -> None:
        record = parse_xml(catalog.require(number).metadata_row.metadata_xml)
        for field in record.get_fields("245", "200")[:1]:
            field.add_subfield("b", f"revised edition {rng.randint(1, 10**6)}")
        catalog.update_record(number, record)

    edits, circulation, barcodes, deletions = [], [], [], []
    run = f"{os.getpid() % 100000:05d}"  # new barcodes differ from an earlier run's with the same --seed
    # a serving process is warm: the first write of this one compiles its statements, reads the
    # preferences and loads the index mapping (about 0.3 s here), so it is reported apart
    number = rng.randint(1, top)
    while not stored(number):
        number = rng.randint(1, top)
    cold = timed(lambda c, n=number: edit_title(c, n))
    print(f"first edit of the process (cold) {cold * 1000:7.2f} ms", flush=True)
    for _ in range(args.edits):
        number = rng.randint(1, top)
        if not stored(number):  # deleted by an earlier run
            continue
        edits.append(timed(lambda c, n=number: edit_title(c, n)))
        if item_ids:
            item = rng.choice(item_ids)
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
            circulation.append(timed(lambda c, i=item, t=now: c.update_item(i, datelastseen=t, issues=rng.randint(1, 50))))
            barcodes.append(timed(lambda c, i=item: c.update_item(i, barcode=f"B{run}{rng.randint(1, 10**9)}")))
    def delete_with_items(catalog: Catalog, number: int) -> None:
        # as a cataloguer withdraws a title: its items first (a record with items cannot be deleted)
        for item in list(catalog.require(number).items):
            catalog.delete_item(item.itemnumber)
        catalog.delete_record(number)

    for _ in range(max(args.edits // 10, 1)):
        # another record when the draw was deleted by an earlier run with the same --seed (which
        # draws the same numbers): a second run over a catalogue measures deletions too
        for _attempt in range(100):
            number = rng.randint(1, top)
            if stored(number):
                deletions.append(timed(lambda c, n=number: delete_with_items(c, n)))
                break
    print(f"record edited (245 $b added)     {percentiles(edits)}")
    print(f"item change no index uses        {percentiles(circulation)}")
    print(f"item barcode changed             {percentiles(barcodes)}")
    print(f"record deleted (with its items)  {percentiles(deletions)}")
    print(f"peak RSS {peak_rss_mb():.0f} MB")
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
