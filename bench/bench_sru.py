"""SRU searchRetrieve latency and throughput over HTTP (waitress), and the same queries against
Zebra, the SRU server Koha relies on, side by side.

    .venv/bin/python bench/bench_sru.py                       # 20k realistic records, SQLite, with Zebra
    .venv/bin/python bench/bench_sru.py --records 100000 --backend postgresql
    .venv/bin/python bench/bench_sru.py --records 1000000 --backend postgresql --fast-load
    .venv/bin/python bench/bench_sru.py --url postgresql+psycopg://postgres@127.0.0.1/big   # already loaded

The catalogue is realistic by default (bench/realistic.py; ``--generator sample`` for the old
generator). The query mix is drawn from the catalogue's own term statistics (sru_queries.py):
rare, medium and very common words per index, phrases, right and left truncation, masking,
booleans of common words, date ranges, ISBN and rec.id look-ups and sorts, ``--per-kind`` of each
(maximumRecords=10, marcxml). Prints throughput with 1 and 8 concurrent clients, a table of median
and p95 latency per query kind for every server side by side, and, when idzebra-2.0 is installed,
Zebra's hit counts next to kohaweb's for every query (agreement). The servers run side by side
and take turns, ``--rounds`` whole runs of the mix each, so that the machine's changes of speed
fall on all of them alike (``timed_rounds``).
kohaweb runs in its own processes, as Zebra does, so the client's work is not charged to it: as
``kohaweb serve --workers 2`` runs it (two waitress processes on one socket, 8 threads each; the
machine has two cores and zebrasrv also answers from several processes), and also in one. ``--fast-load`` bulk-inserts the records and builds the index with
``kohaweb index rebuild``'s code (2 worker processes), which is how a 1M catalogue is loaded in
minutes rather than hours. Zebra gets an equivalent index: the same MARC fields per index, fed as the same folded words
(see zebra_sru.py), so the comparison is about the engines, not about two normalisers.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable

from lxml import etree

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (  # noqa: E402
    add_data_options,
    data_choice,
    database,
    database_reads,
    index_size_mb,
    load_catalogue,
    percentiles,
    report,
)
from sru_queries import build_mix, kind_order, term_statistics  # noqa: E402

SRW = "{http://www.loc.gov/zing/srw/}"


def fold_terms(query: str) -> str:
    """The query as Zebra must see it: its quoted terms folded like kohaweb folds them (what an ICU
    chain in Zebra's index configuration would do; Zebra's default character map does not fold
    accents), masking characters kept."""
    import re

    from kohaweb.search import MASK_ANY, MASK_ONE, normalize

    def fold(match: re.Match) -> str:
        masked = match.group(1).replace("*", MASK_ANY).replace("?", MASK_ONE)
        words = " ".join(normalize.query_words(masked))
        return '"' + words.replace(MASK_ANY, "*").replace(MASK_ONE, "?") + '"'

    return re.sub(r'"([^"]*)"', fold, query)


def sru_count(base: str, query: str) -> int | None:
    """A query's hit count (None when the server answers with a diagnostic)."""
    try:
        return sru_get(base, query, maximum=0)[0]
    except RuntimeError:
        return None


def sru_get(base: str, query: str, maximum: int = 10) -> tuple[int, float]:
    url = base + "?" + urllib.parse.urlencode({"operation": "searchRetrieve", "version": "1.1", "query": query,
                                               "maximumRecords": maximum, "recordSchema": "marcxml"})
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as response:
        body = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    doc = etree.fromstring(body)
    diag = doc.find(".//{http://www.loc.gov/zing/srw/diagnostic/}uri")
    if diag is not None:
        raise RuntimeError(f"{query}: diagnostic {diag.text}")
    return int(doc.findtext(f"{SRW}numberOfRecords")), elapsed


def run_sequential(base: str, qs: list[tuple[str, str]]) -> tuple[dict[str, list[float]], dict[str, int], float]:
    latencies: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    started = time.perf_counter()
    for kind, query in qs:
        hits, ms = sru_get(base, query)
        latencies.setdefault(kind, []).append(ms)
        counts[fold_terms(query)] = hits
    return latencies, counts, len(qs) / (time.perf_counter() - started)


def run_concurrent(base: str, qs: list[tuple[str, str]], clients: int = 8) -> float:
    errors: list[Exception] = []

    def worker(part):
        try:
            for _, query in part:
                sru_get(base, query)
        except Exception as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    parts = [qs[i::clients] for i in range(clients)]
    threads = [threading.Thread(target=worker, args=(p,)) for p in parts]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return len(qs) / (time.perf_counter() - started)


def timed_rounds(servers: dict[str, str], qs: list[tuple[str, str]], rounds: int,
                 reads: Callable[[], int | None] | None = None
                 ) -> tuple[dict[str, dict[str, list[float]]], dict[str, dict[str, int]], dict[str, float],
                            dict[str, float]]:
    """Latencies per kind, hit counts, sequential and 8-client requests/s of every server, the
    servers running side by side and taking turns: in each of ``rounds`` rounds each server in
    turn answers the whole mix once untimed, then once timed (the first of each round moves
    on); then the same with 8 clients. The untimed run puts back in the caches (the processor's,
    Python's, the database's and Zebra's) what a server in continuous service holds: after the
    other servers' turns a server answered more slowly (rare words after 90 s idle: 1.95 ms
    against 1.35 ms hot, no page read from the disk either time).

    The servers used to be timed one after the other, each once: the machine's speed, which
    changes from minute to minute on a shared machine, then counted as the servers'
    difference. In one such run every kind was 0.6 to 1.1 ms slower with kohaweb's 2 processes
    than with 1 (measured first); with whole runs alternated, on the same catalogue an hour
    later, the two medians of each kind were within 0.5 ms, either way."""
    mixes = {label: [(kind, fold_terms(query)) for kind, query in qs] if label == "zebra" else qs
             for label in servers}

    def warm(label: str) -> None:
        for _, query in mixes[label]:
            sru_get(servers[label], query)

    latencies: dict[str, dict[str, list[float]]] = {label: {} for label in servers}
    counts: dict[str, dict[str, int]] = {}
    seconds = dict.fromkeys(servers, 0.0)
    concurrent: dict[str, list[float]] = {label: [] for label in servers}
    labels = list(servers)
    pages = dict.fromkeys(labels, 0)

    def reads_now() -> int:
        return (reads() or 0) if reads else 0

    for round_ in range(rounds):
        order = labels[round_ % len(labels):] + labels[:round_ % len(labels)]
        for label in order:
            warm(label)
            before = reads_now()
            found, found_counts, rate = run_sequential(servers[label], mixes[label])
            pages[label] += reads_now() - before
            for kind, values in found.items():
                latencies[label].setdefault(kind, []).extend(values)
            counts.setdefault(label, found_counts)
            seconds[label] += len(qs) / rate
        for label in order:
            warm(label)
            before = reads_now()
            concurrent[label].append(run_concurrent(servers[label], mixes[label]))
            pages[label] += reads_now() - before
    sequential = {label: rounds * len(qs) / seconds[label] for label in labels}
    clients = {label: statistics.median(concurrent[label]) for label in labels}
    for label in labels:
        database = {"database_pages_read": pages[label]} if reads and label != "zebra" else {}
        report(f"{label} throughput req/s", sequential=sequential[label], clients_8=clients[label], **database)
    return latencies, counts, sequential, clients


def side_by_side(results: dict[str, dict[str, list[float]]], kinds: list[str]) -> None:
    """Median and p95 latency (ms) per query kind, one column pair per server, and the ratio of
    the medians of the last kohaweb column to Zebra's (below 1: kohaweb is faster)."""
    labels = list(results)
    print(f"{'query kind':18s} {'n':>4s} " + " ".join(f"{label.strip():>22s}" for label in labels)
          + ("   kohaweb/zebra" if "zebra" in labels else ""))
    print(f"{'':18s} {'':4s} " + " ".join(f"{'median':>11s}{'p95':>11s}" for _ in labels))
    faster = compared = 0
    main = [label for label in labels if label != "zebra"][-1]
    for kind in kinds:
        row = {label: percentiles(results[label].get(kind, [])) for label in labels}
        cells = " ".join(f"{row[label]['p50']:11.2f}{row[label]['p95']:11.2f}" if row[label] else f"{'-':>22s}"
                         for label in labels)
        line = f"{kind:18s} {len(results[main].get(kind, [])):4d} {cells}"
        if "zebra" in labels and row["zebra"] and row[main]:
            ratio = row[main]["p50"] / row["zebra"]["p50"]
            compared += 1
            faster += ratio <= 1
            line += f"   {ratio:13.2f}"
        print(line, flush=True)
    if compared:
        report(f"{main.strip()} median <= zebra's", kinds=f"{faster} of {compared}")


def settle(url: str, backend: str) -> None:
    """What autovacuum/auto-statistics do some time after a bulk load, done now so the figures are
    those of a catalogue in service: planner statistics, and PostgreSQL's visibility map (without
    it index-only scans still read the table)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if backend == "postgresql":
            conn.execute(text("VACUUM ANALYZE"))
        elif backend == "mariadb":
            conn.execute(text("ANALYZE TABLE search_postings, search_records, search_record_terms"))
        else:
            conn.execute(text("ANALYZE"))
    engine.dispose()


def serve_child(url: str, port: int, workers: int) -> None:
    """Server mode (run in a child process): the sru service on 127.0.0.1:port, as
    ``kohaweb serve --workers N`` runs it (waitress, 8 threads per process)."""
    from kohaweb.app import make_app
    from kohaweb.serving import listening_socket, serve
    from kohaweb.testing import TEST_SECRET

    settings = {"kohaweb.services": "sru", "kohaweb.database_url": url, "kohaweb.secret": TEST_SECRET}
    serve(lambda: make_app(settings), listening_socket(f"127.0.0.1:{port}"), workers=workers, threads=8)


@contextlib.contextmanager
def kohaweb_server(url: str, workers: int):
    from kohaweb.testing import free_port

    port = free_port()
    child = subprocess.Popen([sys.executable, __file__, "--serve", url, str(port), str(workers)])
    try:
        base = f"http://127.0.0.1:{port}/sru"
        for _ in range(300):
            try:
                urllib.request.urlopen(base, timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        yield base
    finally:
        child.terminate()
        child.wait(timeout=30)


def load(url: str, args) -> None:
    if args.fast_load:
        from bench_oai import fast_load

        from kohaweb.db import make_engine, make_session_factory
        from kohaweb.search import rebuild

        rate = fast_load(url, args.records, args=args)
        engine = make_engine(url)
        started = time.perf_counter()
        rebuild(make_session_factory(engine), workers=2)
        engine.dispose()
        report(f"catalogue {args.backend} (bulk)", records=args.records, load_records_per_s=rate,
               index_rebuild_records_per_s=args.records / (time.perf_counter() - started))
    elif data_choice(args)[0] == "real":
        # as a library loads its catalogue: `kohaweb import` of the records (worker processes)
        import realistic
        from bench_import import reference_data, run_import

        path = realistic.cached_file(args.records, flavour="MARC21", seed=11, data=data_choice(args)[1])
        reference_data(url)
        elapsed = run_import(url, str(path))[0]
        report(f"catalogue {args.backend} (kohaweb import)", records=args.records,
               load_records_per_s=args.records / elapsed)
    else:
        rate = load_catalogue(url, args.records, args=args)
        report(f"catalogue {args.backend}", records=args.records, load_records_per_s=rate)
    settle(url, args.backend)


def query_mix(url: str, base: str, args) -> list[tuple[str, str]]:
    """The catalogue's query mix (sru_queries.py), in a seeded random order so that no kind runs
    on caches its neighbours warmed."""
    started = time.perf_counter()
    stats = term_statistics(url, args.sample)
    mix = build_mix(stats, args.per_kind, lambda query: sru_count(base, query))
    random.Random(7).shuffle(mix)
    report("query mix", records=stats.total, sampled=stats.sampled, queries=len(mix),
           kinds=len({kind for kind, _ in mix}), seconds=time.perf_counter() - started)
    return mix


def compare(url: str, args) -> None:
    report("kohaweb index size", megabytes=index_size_mb(url))
    zebra_ok = not args.no_zebra and shutil.which("zebraidx") and shutil.which("zebrasrv")
    if not args.no_zebra and not zebra_ok:
        print("zebra: idzebra-2.0 not installed (apt-get install idzebra-2.0); side-by-side skipped")
    with contextlib.ExitStack() as running:
        servers: dict[str, str] = {}
        for workers in sorted({1, args.workers}):
            label = f"kohaweb ({workers} process{'es' if workers > 1 else ''})"
            servers[label] = running.enter_context(kohaweb_server(url, workers))
        qs = query_mix(url, next(iter(servers.values())), args)
        if zebra_ok:
            from zebra_sru import zebra_server

            started = time.perf_counter()
            servers["zebra"] = running.enter_context(zebra_server(url))
            report("zebra indexing", seconds=time.perf_counter() - started)
        results, counts, sequential, clients = timed_rounds(servers, qs, args.rounds, lambda: database_reads(url))
    kohaweb = [label for label in servers if label != "zebra"][-1]  # the --workers server
    if zebra_ok:
        ours, zebra = counts[kohaweb], counts["zebra"]
        agree = [q for q in ours if ours[q] == zebra.get(q)]
        report("agreement", queries=len(ours), same_hit_count=len(agree))
        for q in ours:
            if ours[q] != zebra.get(q):
                print(f"  differs: {q}: kohaweb {ours[q]}, zebra {zebra.get(q)}")
        report("ratio kohaweb/zebra", sequential=sequential[kohaweb] / sequential["zebra"],
               clients_8=clients[kohaweb] / clients["zebra"])
    side_by_side(results, list(dict.fromkeys(kind for kind, _ in sorted(qs, key=lambda q: kind_order(q[0])))))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--backend", default="sqlite", choices=("sqlite", "postgresql", "mariadb"))
    parser.add_argument("--per-kind", type=int, default=20, help="queries of each kind (about 26 kinds)")
    parser.add_argument("--sample", type=int, default=20000,
                        help="records read for the term statistics the query mix is drawn from")
    parser.add_argument("--no-zebra", action="store_true", help="skip the Zebra side-by-side")
    parser.add_argument("--fast-load", action="store_true", help="bulk-insert records, then rebuild the index")
    parser.add_argument("--url", help="an already loaded and migrated catalogue to benchmark (not dropped)")
    parser.add_argument("--workers", type=int, default=2,
                        help="kohaweb server processes for the comparison (also measured with 1)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="timed runs of the whole mix per server, alternating between the servers")
    add_data_options(parser)
    parser.add_argument("--serve", nargs=3, metavar=("URL", "PORT", "WORKERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.serve:
        serve_child(args.serve[0], int(args.serve[1]), int(args.serve[2]))
        return 0
    if args.url:
        compare(args.url, args)
        return 0
    with database(args.backend) as url:
        load(url, args)
        compare(url, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
