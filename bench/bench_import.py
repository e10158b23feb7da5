"""Import throughput: `kohaweb import` of a generated ISO 2709 file into SQLite, PostgreSQL, MariaDB.

The file holds realistic records (bench/realistic.py, cached under var/bench/ by parameters) with
their items as 952/995 fields; ``--generator sample`` writes kohaweb.sampledata's records instead.

    .venv/bin/python bench/bench_import.py --records 100000 --backends sqlite postgresql mariadb

Besides records/s it reports the pace of the load's first and last tenth and the seconds the
command went on after its last batch (``LoadPace``), the CPU milliseconds per
record of the writing process, of the worker processes and of the database server when it runs
on this machine (what to compare between changes on a shared machine), and the load average.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator

import pymarc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import add_data_options, data_choice, database, peak_rss_mb, report, server_cpu_seconds  # noqa: E402


def write_file(path: str, records: int, flavour: str) -> None:
    """kohaweb.sampledata's records (``--generator sample``)."""
    from kohaweb.marc import embed_items
    from kohaweb.sampledata import generate_records

    with open(path, "wb") as fh:
        writer = pymarc.MARCWriter(fh)
        for generated in generate_records(records, seed=11, flavour=flavour):
            writer.write(embed_items(generated.record, flavour, generated.items))
        writer.close(close_fh=False)


def reference_data(url: str) -> None:
    """The sample libraries and item types, so that the items of the file are imported too."""
    from kohaweb.db import make_engine, make_session_factory, transaction
    from kohaweb.sampledata import ensure_reference_data

    engine = make_engine(url)
    with transaction(make_session_factory(engine)) as session:
        ensure_reference_data(session)
    engine.dispose()


class LoadPace:
    """When each batch of the command was stored (``kohaweb.cli.Progress.update``, called once a
    batch has committed): the pace of the load's first and last tenth, and how long the command
    went on after its last batch (the key's build or the staged rows' move, the repack)."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.points: list[tuple[float, int]] = [(0.0, 0)]  # (seconds, records done)

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        from kohaweb.cli import Progress

        update = Progress.update

        def timed(progress: Progress, count: int = 1) -> None:
            update(progress, count)
            self.points.append((time.perf_counter() - self.started, progress.done))

        Progress.update = timed  # type: ignore[method-assign]
        try:
            yield
        finally:
            Progress.update = update  # type: ignore[method-assign]

    def figures(self, ended: float) -> dict[str, float]:
        """Records/s from the start to the first batch that passes a tenth of the load, and from
        the last batch at or before nine tenths to the end of the load; seconds after it."""
        load_end, total = self.points[-1]
        if not total:
            return {}
        first = next((t, n) for t, n in self.points if n >= total / 10)
        before_last = max((t, n) for t, n in self.points if n <= total * 9 / 10)
        out = {"first_tenth_per_s": first[1] / first[0]}  # past the (0, 0) start: total > 0
        if load_end > before_last[0]:
            out["last_tenth_per_s"] = (total - before_last[1]) / (load_end - before_last[0])
        out["after_load_s"] = ended - load_end
        return out


def run_import(url: str, path: str, batch: int | None = None, workers: int | None = None
               ) -> tuple[float, float, float, LoadPace]:
    """Seconds taken, and CPU seconds of this (the writing) process and of the worker processes
    (the machine's other load changes the first, much less the others), and the command's timed
    pace (``LoadPace``). ``batch`` None: the command's default batch size."""
    from kohaweb.cli import main

    with tempfile.NamedTemporaryFile("w", suffix=".ini", delete=False) as ini:
        ini.write(f"[app:main]\nuse = egg:kohaweb\nkohaweb.database_url = {url}\nkohaweb.secret = bench\n")
    try:
        children = _children_cpu()
        started, cpu = time.perf_counter(), time.process_time()
        pace = LoadPace()
        with open(os.devnull, "w") as devnull, pace.watching():
            stdout = sys.stdout
            sys.stdout = devnull
            try:
                options = ["--workers", str(workers)] if workers else []
                options += ["--batch-size", str(batch)] if batch else []
                status = main(["-c", ini.name, "import", *options, path])
            finally:
                sys.stdout = stdout
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        if status != 0:
            raise SystemExit(f"import failed with status {status}")
        return elapsed, cpu, _children_cpu() - children, pace
    finally:
        os.remove(ini.name)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10000)
    parser.add_argument("--flavour", default="MARC21", choices=("MARC21", "UNIMARC"))
    parser.add_argument("--batch-size", type=int, default=8192,
                        help="records per transaction at most (kohaweb import's default: one index block)")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--workers", type=int, help="kohaweb import --workers (default: one per CPU)")
    parser.add_argument("--keep", action="store_true", help="keep the loaded databases (their URLs are printed)")
    add_data_options(parser)
    args = parser.parse_args()
    generator, data = data_choice(args, args.flavour)
    with tempfile.TemporaryDirectory() as tmp:
        if generator == "real":
            import realistic

            path = str(realistic.cached_file(args.records, flavour=args.flavour, seed=11, data=data))
        else:
            path = os.path.join(tmp, "bench.mrc")
            write_file(path, args.records, args.flavour)
        size_mb = os.path.getsize(path) / 1e6
        for backend in args.backends:
            load = os.getloadavg()[0]
            with database(backend, keep=args.keep) as url:
                reference_data(url)
                server = server_cpu_seconds(url)
                elapsed, cpu, workers_cpu, pace = run_import(url, path, args.batch_size, args.workers)
                if server is not None:
                    server = server_cpu_seconds(url) - server
            server_figure = {} if server is None else {"server_cpu_ms_per_record": 1000 * server / args.records}
            report(f"import {args.records} {generator} {args.flavour} records into {backend}", seconds=elapsed,
                   records_per_s=args.records / elapsed, **pace.figures(elapsed),
                   main_cpu_ms_per_record=1000 * cpu / args.records,
                   workers_cpu_ms_per_record=1000 * workers_cpu / args.records, **server_figure, load_before=load,
                   load_after=os.getloadavg()[0], file_mb=size_mb, peak_rss_mb=peak_rss_mb(),
                   workers_peak_rss_mb=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


if __name__ == "__main__":
    main()
