"""Barcode images per second, per type and format (kohaweb-barcode), drawing every image
(distinct data, no cache); then whole HTTP requests through the WSGI app with signed URLs,
first drawn and then served from the in-process cache.

    .venv/bin/python bench/bench_barcode.py --images 5000
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import database, peak_rss_mb, report  # noqa: E402

DIGITS = "0123456789"


def sample(type_name: str, rng: random.Random) -> str:
    """A typical library value of each type."""
    def digits(n: int) -> str:
        return "".join(rng.choice(DIGITS) for _ in range(n))

    return {
        "Code39": lambda: "3908500" + digits(7),
        "EAN13": lambda: "978" + digits(9),
        "EAN8": lambda: digits(7),
        "UPCA": lambda: digits(11),
        "UPCE": lambda: digits(6),
        "NW7": lambda: "A" + digits(13) + "B",
        "QRcode": lambda: "https://library.example.org/cgi-bin/koha/opac-detail.pl?biblionumber=" + digits(6),
    }.get(type_name, lambda: digits(14))()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000, help="images per type and format")
    parser.add_argument("--formats", nargs="+", default=["png", "svg"])
    parser.add_argument("--requests", type=int, default=2000, help="HTTP requests in the app benchmark")
    args = parser.parse_args()

    from kohaweb_barcode.render import BarcodeRequest, render
    from kohaweb_barcode.symbologies import SYMBOLOGIES, complete

    for fmt in args.formats:
        for sym in SYMBOLOGIES.values():
            rng = random.Random(sym.name)
            count = args.images if sym.linear else max(1, args.images // 5)  # QR codes are slow to make
            reqs = [BarcodeRequest(sym, complete(sym, sample(sym.name, rng)), format=fmt) for _ in range(count)]
            started, cpu = time.perf_counter(), time.process_time()
            size = sum(len(render(req)) for req in reqs)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            # CPU time too: on a shared machine the wall-clock rate says more about the neighbours.
            report(f"render {fmt} {sym.name}", images_per_s=count / elapsed, cpu_images_per_s=count / cpu,
                   mean_bytes=size / count)

    import webtest
    from kohaweb_barcode.urls import signed_barcode_params

    from kohaweb.app import make_app
    from kohaweb.testing import TEST_SECRET, make_settings

    with database("sqlite") as url:
        app = webtest.TestApp(make_app(make_settings(url, ["barcode"])))
        rng = random.Random(1)
        queries = [signed_barcode_params(TEST_SECRET, sample("Code39", rng), "Code39", max_age=3600)
                   for _ in range(args.requests)]
        for label in ("drawn", "cached"):
            started, cpu = time.perf_counter(), time.process_time()
            for query in queries:
                app.get("/svc/barcode", query)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            report(f"HTTP signed Code39 PNG, {label}", requests_per_s=args.requests / elapsed,
                   cpu_requests_per_s=args.requests / cpu)
    report("done", peak_rss_mb=peak_rss_mb())


if __name__ == "__main__":
    main()
