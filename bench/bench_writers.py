"""Concurrent writers: two `kohaweb import` runs into a catalogue that already holds records, while a
circulation desk checks items out and back in, each loan and each return its own transaction.

    .venv/bin/python bench/bench_writers.py --backends postgresql mariadb sqlite

A base catalogue (``--base`` realistic records) is imported first; then two more files of
``--each`` records (other seeds: other 001s and barcodes) are imported at once by two `kohaweb
import` processes (``--workers`` each), which take the incremental path since the catalogue is not
empty. Meanwhile this process lends and returns items of the base catalogue through
``kohaweb.circulation`` (the data layer, index included). Circulation is timed alone before the
imports and again while they run: what a desk feels while the catalogue is being loaded.
Reports each import's records/s, the circulation transactions' percentiles, how many writes
failed (a lock timeout or deadlock would show there), and on MariaDB how often and how long
transactions waited for another's row lock meanwhile.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import add_data_options, data_choice, database, percentiles, report, row_lock_waits  # noqa: E402


def kohaweb_import(ini: str, path: str, workers: int) -> subprocess.Popen:
    """A `kohaweb import` process of its own, as a second cataloguer would start it."""
    command = [os.path.join(os.path.dirname(sys.executable), "kohaweb"), "-c", ini, "import",
               "--workers", str(workers), path]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


class Desk:
    """Lends and returns items of the base catalogue, timing each committed transaction."""

    def __init__(self, url: str, seed: int = 1):
        from sqlalchemy import select

        from kohaweb.db import make_engine, make_session_factory, transaction
        from kohaweb.models import Item, Patron
        from kohaweb.sampledata import generate_patrons

        self.engine = make_engine(url)
        self.factory = make_session_factory(self.engine)
        self.rng = random.Random(seed)
        with transaction(self.factory) as session:
            generate_patrons(session, 300, seed=seed)
        with self.factory() as session:
            self.patrons = list(session.scalars(select(Patron.borrowernumber)))
            self.items = list(session.scalars(select(Item.itemnumber).order_by(Item.itemnumber).limit(20000)))
        self.on_loan: list[int] = []
        self.refused = 0
        self.failed = 0

    def one(self) -> float | None:
        """One loan or return, committed; its seconds, or None when refused by the rules or failed."""
        from kohaweb.circulation import CirculationError, checkin, checkout
        from kohaweb.db import transaction

        lend = len(self.on_loan) < 50 or self.rng.random() < 0.5
        started = time.perf_counter()
        try:
            with transaction(self.factory) as session:
                if lend:
                    item = self.rng.choice(self.items)
                    checkout(session, self.rng.choice(self.patrons), item)
                else:
                    item = self.on_loan.pop(self.rng.randrange(len(self.on_loan)))
                    checkin(session, item)
        except CirculationError:
            self.refused += 1  # expired card, item already out, loan limit: the rules said no
            return None
        except Exception as exc:  # a lock timeout or deadlock: what this bench is here to find
            self.failed += 1
            print(f"circulation failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}", flush=True)
            return None
        if lend:
            self.on_loan.append(item)
        return time.perf_counter() - started

    def run_for(self, count: int) -> list[float]:
        return [s for s in (self.one() for _ in range(count)) if s is not None]

    def run_while(self, processes: list[subprocess.Popen], started: float) -> tuple[list[float], list[float]]:
        """Loans and returns until every process has ended; their timings, and the seconds from
        ``started`` at which each process was seen to end (within one transaction's time)."""
        samples: list[float] = []
        ends: list[float | None] = [None] * len(processes)
        while any(end is None for end in ends):
            seconds = self.one()
            if seconds is not None:
                samples.append(seconds)
            for n, process in enumerate(processes):
                if ends[n] is None and process.poll() is not None:
                    ends[n] = time.perf_counter() - started
        return samples, [end for end in ends if end is not None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=int, default=20000, help="records imported before the concurrent runs")
    parser.add_argument("--each", type=int, default=20000, help="records of each concurrent import")
    parser.add_argument("--workers", type=int, default=1, help="kohaweb import --workers of each concurrent import")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql", "mariadb"])
    parser.add_argument("--flavour", default="MARC21", choices=("MARC21", "UNIMARC"))
    add_data_options(parser)
    args = parser.parse_args()
    generator, data = data_choice(args, args.flavour)
    if generator != "real":
        raise SystemExit("this bench needs the real collections (realistic records): give --data PATH")
    import realistic
    from bench_import import reference_data

    base = str(realistic.cached_file(args.base, flavour=args.flavour, seed=11, data=data))
    files = [str(realistic.cached_file(args.each, flavour=args.flavour, seed=seed, data=data)) for seed in (12, 13)]
    for backend in args.backends:
        with database(backend) as url, tempfile.NamedTemporaryFile("w", suffix=".ini") as ini:
            ini.write(f"[app:main]\nuse = egg:kohaweb\nkohaweb.database_url = {url}\nkohaweb.secret = bench\n")
            ini.flush()
            reference_data(url)
            started = time.perf_counter()
            first = kohaweb_import(ini.name, base, workers=2)
            if first.wait() != 0:
                raise SystemExit(f"the base import failed: {first.stderr.read()[-2000:]}")
            print(f"{backend}: base catalogue of {args.base:,} records in {time.perf_counter() - started:.1f} s",
                  flush=True)
            desk = Desk(url)
            alone = desk.run_for(300)
            locks_before = row_lock_waits(url)
            started = time.perf_counter()
            imports = [kohaweb_import(ini.name, path, args.workers) for path in files]
            during, ends = desk.run_while(imports, started)
            statuses = [p.returncode for p in imports]
            for process in imports:
                if process.returncode != 0:
                    print(process.stderr.read()[-2000:], flush=True)
            desk.engine.dispose()
            figures = {"import_1_records_per_s": args.each / ends[0], "import_2_records_per_s": args.each / ends[1],
                       "both_records_per_s": 2 * args.each / max(ends), "import_statuses": str(statuses)}
            for name, samples in (("alone", alone), ("during_imports", during)):
                for key, value in percentiles(samples).items():
                    figures[f"circulation_{name}_{key}_ms"] = 1000 * value
                figures[f"circulation_{name}_count"] = len(samples)
            figures.update(circulation_refused=desk.refused, circulation_failed=desk.failed)
            locks_after = row_lock_waits(url)
            if locks_before and locks_after:  # MariaDB: waits for another writer's row lock meanwhile
                figures.update(row_lock_waits=locks_after[0] - locks_before[0],
                               row_lock_wait_s=(locks_after[1] - locks_before[1]) / 1000)
            report(f"two imports of {args.each:,} records each + circulation, into {args.base:,} ({backend})",
                   **figures)


if __name__ == "__main__":
    main()
