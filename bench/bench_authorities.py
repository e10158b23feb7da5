"""Authorities (issue 18): import into the authorities index, searches, linking and merge.

The authority records of ../shared/data/authority are copied ``--copies`` times (each copy's
headings and tracings made distinct with a number), stored in import batches
(``Authorities.add_prepared``: records and index rows in one transaction), then queried the way
the SRU authorities database queries them; ``--records`` bibliographic records with headings
taken from those authorities are linked (``link_record``), and one authority linked from
``--linked`` records has its heading edited (Koha's merge). Prints the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pymarc
from sqlalchemy.orm import sessionmaker

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from kohaweb import marc  # noqa: E402
from kohaweb.authorities import Authorities, prepare_authority  # noqa: E402
from kohaweb.authority_links import link_record  # noqa: E402
from kohaweb.catalog import Catalog  # noqa: E402
from kohaweb.db import make_engine  # noqa: E402
from kohaweb.migrate import upgrade  # noqa: E402
from kohaweb.search import MASK_ANY, Clause  # noqa: E402
from kohaweb.search import authority_index as index  # noqa: E402

SHARED = Path(os.environ.get("KOHAWEB_SHARED", HERE.parent.parent / "shared")) / "data" / "authority"


def source_records() -> list[pymarc.Record]:
    out = []
    for path in sorted(SHARED.glob("*/*")):
        if path.suffix in (".mrc", ".xml"):
            out.extend(r.record for r in marc.read_records(str(path)) if r.record is not None)
    return out


def copy_of(record: pymarc.Record, number: int) -> pymarc.Record:
    clone = pymarc.Record(leader=str(record.leader))
    for fld in record.fields:
        if fld.is_control_field():
            clone.add_field(pymarc.Field(tag=fld.tag, data=fld.data))
            continue
        subfields = [pymarc.Subfield(s.code, s.value) for s in fld.subfields]
        if number and fld.tag[0] in "145" and subfields and subfields[0].code == "a":
            subfields[0] = pymarc.Subfield("a", f"{subfields[0].value} {number}")
        clone.add_field(pymarc.Field(tag=fld.tag, indicators=fld.indicators, subfields=subfields))
    return clone


def median_ms(run, repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--records", type=int, default=2000, help="bibliographic records to link")
    parser.add_argument("--linked", type=int, default=500, help="records linked to the authority edited")
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    args = parser.parse_args()
    if not SHARED.is_dir():
        print(f"needs the authority records of ../shared/data (not found at {SHARED})")
        return 1
    tmp = tempfile.TemporaryDirectory()
    url = args.database_url or f"sqlite:///{tmp.name}/bench.sqlite"
    upgrade(url)
    engine = make_engine(url)
    factory = sessionmaker(engine)
    sources = source_records()
    records = [copy_of(r, n) for n in range(args.copies) for r in sources]

    start = time.perf_counter()
    for first in range(0, len(records), 2000):
        with factory.begin() as session:
            batch = [prepare_authority(i, r, None) for i, r in enumerate(records[first:first + 2000], first)]
            Authorities(session).add_prepared(batch)
    elapsed = time.perf_counter() - start
    print(f"import: {len(records)} authorities in {elapsed:.1f} s ({len(records) / elapsed:.0f}/s, records and "
          "index rows in batches of 2,000)")

    with factory() as session:
        queries = {
            "Heading word": Clause("heading", "=", "hillen"), "Heading prefix": Clause("heading", "=", "arn" + MASK_ANY),
            "See-from word": Clause("see-from", "=", "montgomery"),
            "Match-heading exact": Clause("heading", "exact", "Buena Vista Mining District (Nev.) 7"),
            "authtype (most records)": Clause("authtype", "=", "PERSO_NAME"),
            "Any word": Clause("any", "=", "nevada"),
        }
        for name, node in queries.items():
            found = index.search(session, node, limit=10)
            print(f"search {name}: {found.total} hits, median {median_ms(lambda n=node: index.search(session, n)):.1f} ms")
        print(f"scan Heading: median {median_ms(lambda: index.scan(session, 'heading', 'hillen')):.1f} ms")

    headings = [copy_of(r, n) for n in range(args.copies) for r in sources if r.get_fields("100")]
    with factory.begin() as session:
        catalog = Catalog(session)
        bibs = []
        for i in range(args.records):
            auth = headings[i % len(headings)].get_fields("100")[0]
            bib = pymarc.Record(leader="00000nam a2200000 a 4500")
            bib.add_field(pymarc.Field(tag="245", indicators=pymarc.Indicators("1", "0"),
                                       subfields=[pymarc.Subfield("a", f"Title {i}")]))
            bib.add_field(pymarc.Field(tag="100", indicators=pymarc.Indicators("1", " "),
                                       subfields=[s for s in auth.subfields if s.code in "abcdq"]
                                       + [pymarc.Subfield("e", "author.")]))
            bibs.append(bib)
        numbers = [getattr(b, "biblionumber", b) for b in catalog.add_records(bibs, items=[[] for _ in bibs])]
    start = time.perf_counter()
    linked = 0
    with factory.begin() as session:
        catalog = Catalog(session)
        cache: dict = {}
        for number in numbers:
            record = catalog.marc(number)
            outcome = link_record(session, record, marc.MARC21, linker="first", cache=cache)
            if outcome.linked:
                linked += 1
                catalog.update_record(number, record)
    elapsed = time.perf_counter() - start
    print(f"link: {len(numbers)} records, {linked} linked, in {elapsed:.1f} s ({len(numbers) / elapsed:.0f} records/s, "
          "stored and re-indexed)")

    with factory.begin() as session:
        target = index.search(session, Clause("heading", "=", "hillenius")).ids[-1]
        heading = marc.parse_xml(Authorities(session).get(target).marcxml).get_fields("100")[0]
        catalog = Catalog(session)
        extra = []
        for i in range(args.linked):
            bib = pymarc.Record(leader="00000nam a2200000 a 4500")
            bib.add_field(pymarc.Field(tag="245", indicators=pymarc.Indicators("1", "0"),
                                       subfields=[pymarc.Subfield("a", f"Photographs {i}")]))
            bib.add_field(pymarc.Field(tag="700", indicators=pymarc.Indicators("1", " "), subfields=[
                *heading.subfields, pymarc.Subfield("9", str(target))]))
            extra.append(bib)
        catalog.add_records(extra, items=[[] for _ in extra])
    start = time.perf_counter()
    with factory.begin() as session:
        store = Authorities(session)
        record = marc.parse_xml(store.get(target).marcxml)
        record.get_fields("100")[0].subfields[0] = pymarc.Subfield("a", "Hillenius, T.,")
        store.update(target, record)
    elapsed = time.perf_counter() - start
    print(f"merge: heading edit of an authority linked from {args.linked} records in {elapsed:.1f} s "
          f"({args.linked / elapsed:.0f} records rewritten/s, in the edit's transaction)")
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
