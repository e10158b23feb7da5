"""Rendering throughput of the metadata formats (records/s), on generated records.

Records are generated and serialised first; the timed loop renders each stored record through
each format, one record at a time (as the services stream them), and keeps nothing.

    .venv/bin/python bench/bench_formats.py --records 100000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import peak_rss_mb, report  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10000)
    parser.add_argument("--formats", nargs="+", default=["marcxml", "oai_dc", "mods", "marc-in-json", "iso2709"])
    parser.add_argument("--flavour", default="MARC21", choices=("MARC21", "UNIMARC"))
    args = parser.parse_args()

    from kohaweb import marc
    from kohaweb.formats import RecordSource, build_registry
    from kohaweb.sampledata import generate_records

    registry = build_registry()
    # stored records go to a scratch file, one MARCXML record a line, and are read back one at a
    # time: memory stays flat whatever --records is, as in a service streaming a list
    scratch = tempfile.NamedTemporaryFile("w+", encoding="utf-8", suffix=".marcxml-lines")
    for generated in generate_records(args.records, 3, args.flavour):
        scratch.write(marc.record_to_xml(generated.record).decode().replace("\n", "&#10;") + "\n")
    scratch.flush()
    report(f"generated {args.records} {args.flavour} records", mb_stored=scratch.tell() / 1e6,
           peak_rss_mb=peak_rss_mb())
    for name in args.formats:
        fmt = registry.get(name)
        if fmt is None or not fmt.accepts(args.flavour):
            print(f"{name}: not installed or not for {args.flavour}; skipped")
            continue
        total = 0
        started, cpu_started = time.perf_counter(), time.process_time()
        scratch.seek(0)
        for number, line in enumerate(scratch, 1):
            total += len(fmt.render_bytes(RecordSource(number, args.flavour, line)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        # per CPU-second too: the wall-clock figure drops when the machine is shared
        report(f"render {name}", records_per_s=args.records / elapsed, records_per_cpu_s=args.records / cpu,
               seconds=elapsed,
               mb_out=total / 1e6, peak_rss_mb=peak_rss_mb())


if __name__ == "__main__":
    main()
