"""OAI-PMH harvest benchmark: a full ListRecords harvest over HTTP (waitress on loopback, in its
own process) of a generated catalogue (realistic records by default, see bench/common.py), for
marcxml and oai_dc.

Prints records/s, page latency (p50/p95, first and last page) and the server's peak memory (VmHWM),
for each size given, so that "page N costs what page 1 costs" and "memory stays flat as the
catalogue grows" can be read off directly.

    .venv/bin/python bench/bench_oai.py                         # 20,000 records, SQLite
    .venv/bin/python bench/bench_oai.py --records 100000 --records 1000000 --database postgresql
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import subprocess
import sys
import time
from urllib.parse import urlencode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import add_data_options, catalogue_records, database, load_catalogue, percentiles, report  # noqa: E402

TOKEN = re.compile(rb"<resumptionToken[^>]*>([^<]*)</resumptionToken>")
SECRET = "bench-secret-0123456789abcdef0123456789abcdef"


def serve(url: str, port: int, max_count: int) -> None:
    """Server mode (run in a child process): the oai service on 127.0.0.1:port."""
    from waitress import serve as waitress_serve

    from kohaweb.app import make_app

    app = make_app({"kohaweb.services": "oai", "kohaweb.database_url": url, "kohaweb.secret": SECRET,
                    "oai.admin_email": "bench@library.example.org", "oai.max_count": str(max_count)})
    waitress_serve(app, host="127.0.0.1", port=port, threads=4, _quiet=True)


def fast_load(url: str, records: int, seed: int = 1, batch: int = 5000, args=None) -> float:
    """Bulk-insert generated records straight into biblio/biblio_metadata (no items, no search
    index): the OAI read path needs nothing else, and 1M records load in minutes instead of hours.
    Datestamps are spread over the past, ten records per second."""
    import datetime as dt

    from sqlalchemy import insert

    from kohaweb import marc
    from kohaweb.db import make_engine
    from kohaweb.models import Biblio, BiblioMetadata

    engine = make_engine(url)
    start = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0) - dt.timedelta(seconds=records // 10 + 5)
    started = time.perf_counter()
    biblios, metadata = [], []

    def flush() -> None:
        with engine.begin() as conn:
            conn.execute(insert(Biblio.__table__), biblios)
            conn.execute(insert(BiblioMetadata.__table__), metadata)
        biblios.clear()
        metadata.clear()

    for number, generated in enumerate(catalogue_records(records, args, "MARC21", seed), start=1):
        record = generated.record
        stamp = start + dt.timedelta(seconds=number // 10)
        summary = marc.summary(record, "MARC21")
        biblios.append({"biblionumber": number, "frameworkcode": "", "flavour": "MARC21", "serial": False,
                        "opac_suppressed": False, "datecreated": stamp, "timestamp": stamp, "datestamp": stamp,
                        **{k: v for k, v in summary.items() if k in Biblio.__table__.c}})
        xml = getattr(generated, "marcxml", None) or marc.record_to_xml(record).decode("utf-8")
        metadata.append({"biblionumber": number, "format": "marcxml", "schema": "MARC21", "timestamp": stamp,
                         "metadata": xml})
        if len(biblios) >= batch:
            flush()
    if biblios:
        flush()
    engine.dispose()
    return records / (time.perf_counter() - started)


def peak_memory_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def harvest(port: int, prefix: str, gzip: bool) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if gzip:
        headers["Accept-Encoding"] = "gzip"
    args = {"verb": "ListRecords", "metadataPrefix": prefix}
    latencies, records, received = [], 0, 0
    started = time.perf_counter()
    while True:
        begin = time.perf_counter()
        conn.request("POST", "/oai", urlencode(args), headers)
        response = conn.getresponse()
        body = response.read()
        latencies.append(time.perf_counter() - begin)
        received += len(body)
        if gzip:
            import zlib

            body = zlib.decompress(body, 31)
        records += body.count(b"<header")
        match = TOKEN.search(body)
        if not match or not match.group(1):
            break
        args = {"verb": "ListRecords", "resumptionToken": match.group(1).decode()}
    elapsed = time.perf_counter() - started
    conn.close()
    return {"records": records, "seconds": elapsed, "latencies": latencies, "bytes": received}


def wait_for(port: int) -> None:
    for _ in range(200):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/oai?verb=Identify")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, action="append", help="catalogue size (repeatable); default 20000")
    parser.add_argument("--database", choices=("sqlite", "postgresql", "mariadb"), default="sqlite")
    parser.add_argument("--max-count", type=int, default=50, help="oai.max_count (page size)")
    parser.add_argument("--prefix", action="append", help="metadataPrefix (repeatable); default marcxml, oai_dc")
    parser.add_argument("--gzip", action="store_true", help="ask for gzip")
    parser.add_argument("--fast-load", action="store_true",
                        help="bulk-insert records without items or search index (for 100k/1M catalogues)")
    add_data_options(parser)
    parser.add_argument("--serve", nargs=2, metavar=("URL", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), args.max_count)
        return
    from kohaweb.testing import free_port

    for size in args.records or [20000]:
        with database(args.database) as url:
            rate = fast_load(url, size, args=args) if args.fast_load else load_catalogue(url, size, args=args)
            report(f"catalogue {size:,} records ({args.database})", load_records_per_s=rate)
            for prefix in args.prefix or ["marcxml", "oai_dc"]:
                port = free_port()
                server = subprocess.Popen([sys.executable, __file__, "--serve", url, str(port),
                                           "--max-count", str(args.max_count)])
                try:
                    wait_for(port)
                    result = harvest(port, prefix, args.gzip)
                    memory = peak_memory_mb(server.pid)
                finally:
                    server.terminate()
                    server.wait(timeout=30)
                lat = result["latencies"]
                pct = percentiles(lat)
                report(f"  ListRecords {prefix} max_count={args.max_count}{' gzip' if args.gzip else ''}",
                       records=result["records"], pages=len(lat),
                       records_per_s=result["records"] / result["seconds"],
                       MB_per_s=result["bytes"] / result["seconds"] / 1e6,
                       first_page_ms=lat[0] * 1000, last_page_ms=lat[-1] * 1000,
                       last_full_page_ms=(lat[-2] if len(lat) > 1 else lat[-1]) * 1000,
                       p50_ms=pct["p50"] * 1000, p95_ms=pct["p95"] * 1000,
                       server_peak_MB=memory)
                if result["records"] != size:
                    print(f"  !! harvested {result['records']} records of {size}", flush=True)


if __name__ == "__main__":
    main()
