"""Saved reports (kohaweb-reports): how long the parse-and-check of report SQL takes, and
svc/report requests through the WSGI app, run every time (cache_expiry 0) and from the cache.

    .venv/bin/python bench/bench_reports.py --backend sqlite --records 2000 --requests 500
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import database, load_catalogue, peak_rss_mb, percentiles, report  # noqa: E402

REPORTS = {
    "count by library": "SELECT homebranch, COUNT(*) AS items FROM items GROUP BY homebranch ORDER BY homebranch",
    "titles with items (join)": "SELECT b.biblionumber, b.title, COUNT(i.itemnumber) AS items FROM biblio b "
                                "JOIN items i ON i.biblionumber = b.biblionumber GROUP BY b.biblionumber, b.title "
                                "ORDER BY b.biblionumber",
    "new items (date parameter)": "SELECT itemnumber, barcode, dateaccessioned FROM items "
                                  "WHERE dateaccessioned >= <<Since|date>> ORDER BY itemnumber",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "mariadb"), default="sqlite")
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=500, help="requests per report and mode")
    parser.add_argument("--checks", type=int, default=2000, help="parse-and-check runs per report")
    args = parser.parse_args()

    import webtest
    from kohaweb_reports.prepare import compile_checked, prepare
    from kohaweb_reports.safety import Guard

    from kohaweb.app import make_app
    from kohaweb.db import make_engine, make_session_factory, transaction
    from kohaweb.models import SavedReport
    from kohaweb.testing import make_settings

    guard = Guard.from_columns({"borrowers": ["password"]}, ["sessions"])
    for name, sql in REPORTS.items():
        values = ["2000-01-01"] if "<<" in sql else []
        for mode in ("cold", "compiled cache"):
            started = time.perf_counter()
            for _ in range(args.checks):
                if mode == "cold":
                    compile_checked.cache_clear()
                prepare(sql, args.backend, guard, 100, values)
            elapsed = time.perf_counter() - started
            report(f"prepare '{name}' ({mode})", checks_per_s=args.checks / elapsed,
                   mean_us=elapsed / args.checks * 1e6)

    with database(args.backend) as url:
        report("catalogue", records=args.records, load_records_per_s=load_catalogue(url, args.records))
        engine = make_engine(url)
        with transaction(make_session_factory(engine)) as session:
            ids = {}
            for name, sql in REPORTS.items():
                for cached in (False, True):
                    row = SavedReport(report_name=f"{name} {cached}", savedsql=sql, public=True,
                                      cache_expiry=3600 if cached else 0)
                    session.add(row)
                    session.flush()
                    ids[name, cached] = row.id
        app = webtest.TestApp(make_app(make_settings(url, ["reports"], **{"reports.max_rows": "100"})))
        for (name, cached), report_id in ids.items():
            query = [("id", report_id), ("annotated", "1")]
            if "<<" in REPORTS[name]:
                query.append(("sql_params", "2000-01-01"))
            app.get("/opac/svc/report", query)  # warm up (and fill the cache)
            samples = []
            for _ in range(args.requests):
                started = time.perf_counter()
                app.get("/opac/svc/report", query)
                samples.append((time.perf_counter() - started) * 1000)
            figures = percentiles(samples)
            report(f"svc/report {args.backend} '{name}' {'cached' if cached else 'run each time'}",
                   requests_per_s=len(samples) / (sum(samples) / 1000),
                   **{f"{k}_ms": v for k, v in figures.items()})
        app.app.registry.kohaweb.extras["reports"].runner.dispose()
        engine.dispose()
    report("done", peak_rss_mb=peak_rss_mb())


if __name__ == "__main__":
    main()
