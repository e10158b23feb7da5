"""Import throughput: `kohaweb import` of a generated ISO 2709 file into SQLite, PostgreSQL, MariaDB.

    .venv/bin/python bench/bench_import.py --records 100000 --backends sqlite postgresql
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import pymarc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import database, peak_rss_mb, report  # noqa: E402


def write_file(path: str, records: int, flavour: str) -> None:
    from kohaweb.marc import embed_items
    from kohaweb.sampledata import generate_records

    with open(path, "wb") as fh:
        writer = pymarc.MARCWriter(fh)
        for generated in generate_records(records, seed=11, flavour=flavour):
            writer.write(embed_items(generated.record, flavour, generated.items))
        writer.close(close_fh=False)


def run_import(url: str, path: str, batch: int) -> float:
    from kohaweb.cli import main

    with tempfile.NamedTemporaryFile("w", suffix=".ini", delete=False) as ini:
        ini.write(f"[app:main]\nuse = egg:kohaweb\nkohaweb.database_url = {url}\nkohaweb.secret = bench\n")
    try:
        started = time.perf_counter()
        with open(os.devnull, "w") as devnull:
            stdout = sys.stdout
            sys.stdout = devnull
            try:
                status = main(["-c", ini.name, "import", "--batch-size", str(batch), path])
            finally:
                sys.stdout = stdout
        elapsed = time.perf_counter() - started
        if status != 0:
            raise SystemExit(f"import failed with status {status}")
        return elapsed
    finally:
        os.remove(ini.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10000)
    parser.add_argument("--flavour", default="MARC21", choices=("MARC21", "UNIMARC"))
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.mrc")
        write_file(path, args.records, args.flavour)
        size_mb = os.path.getsize(path) / 1e6
        for backend in args.backends:
            with database(backend) as url:
                elapsed = run_import(url, path, args.batch_size)
            report(f"import {args.records} {args.flavour} records into {backend}", seconds=elapsed,
                   records_per_s=args.records / elapsed, file_mb=size_mb, peak_rss_mb=peak_rss_mb())


if __name__ == "__main__":
    main()
