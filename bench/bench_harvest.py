"""Harvest throughput: kohaweb harvesting a local kohaweb instance over OAI-PMH.

A source catalogue of N generated records (realistic by default, see bench/common.py) is served by kohaweb-oai (waitress, loopback); a second
database harvests it with kohaweb-harvester. Prints records/s for marcxml and oai_dc.

    .venv/bin/python bench/bench_harvest.py --records 100000
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import add_data_options, database, load_catalogue, peak_rss_mb, report  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--backend", default="sqlite", choices=("sqlite", "postgresql", "mariadb"))
    parser.add_argument("--prefixes", nargs="+", default=["marcxml", "oai_dc"])
    parser.add_argument("--fast-load", action="store_true",
                        help="fill the source with bench_oai's bulk loader (no items or index there)")
    add_data_options(parser)
    args = parser.parse_args()

    from kohaweb_harvester.runner import Harvester
    from kohaweb_harvester.sources import add_source

    from kohaweb.app import make_app
    from kohaweb.db import make_engine, make_session_factory, transaction
    from kohaweb.testing import make_settings, serve

    with database(args.backend) as source_url:
        if args.fast_load:
            from bench_oai import fast_load

            rate = fast_load(source_url, args.records, args=args)
        else:
            rate = load_catalogue(source_url, args.records, args=args)
        report(f"source catalogue of {args.records} records", load_records_per_s=rate)
        app = make_app(make_settings(source_url, ["oai"], **{"oai.max_count": "500"}))
        time.sleep(1.1)  # OAI lists end at the second before the response
        with serve(app, threads=4) as base:
            for prefix in args.prefixes:
                with database(args.backend) as target_url:
                    factory = make_session_factory(make_engine(target_url))
                    from kohaweb.sampledata import ensure_reference_data

                    with transaction(factory) as session:
                        ensure_reference_data(session)
                        source_id = add_source(session, "bench", base + "/oai", prefix).id
                    started = time.perf_counter()
                    run = Harvester(factory).run(source_id)
                    elapsed = time.perf_counter() - started
                    report(f"harvest {prefix} into {args.backend}", status=run.status, records=run.added,
                           failed=run.failed, seconds=elapsed, records_per_s=run.added / elapsed,
                           peak_rss_mb=peak_rss_mb())


if __name__ == "__main__":
    main()
