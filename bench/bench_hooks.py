"""Cost of the plugin hooks on catalogue writes: the dispatch of ``record_changed`` alone (pluggy,
the change object, no listener work), and a record edit through the data layer with the built-in
listeners only, then with ten more no-op listeners and an outbox row per change.

    .venv/bin/python bench/bench_hooks.py [--records 500] [--edits 300]

Uses a fresh SQLite catalogue of generated records in a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


class NoOp:
    def __init__(self):
        self.calls = 0

    def record_changed(self, session, change) -> None:
        self.calls += 1


def main() -> int:
    from kohaweb.app import build_site
    from kohaweb.catalog import Catalog
    from kohaweb.changes import RecordChange
    from kohaweb.hookspecs import hookimpl
    from kohaweb.migrate import upgrade
    from kohaweb.sampledata import ensure_reference_data, generate_records
    from kohaweb.testing import make_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=500)
    parser.add_argument("--edits", type=int, default=300)
    args = parser.parse_args()

    NoOp.record_changed = hookimpl(NoOp.record_changed)
    with tempfile.TemporaryDirectory() as work:
        url = f"sqlite:///{work}/catalogue.sqlite"
        upgrade(url)
        generated = list(generate_records(args.records, seed=1))

        def site_with(extra: int, outbox: bool):
            site = build_site(make_settings(url, [], **{"kohaweb.search.outbox": "true" if outbox else "false"}))[0]
            for number in range(extra):
                site.hooks.manager.register(NoOp(), name=f"noop{number}")
            return site

        site = site_with(0, False)
        with site.session_factory() as session:
            ensure_reference_data(session)
            numbers = [b.biblionumber for b in Catalog(session).add_records([g.record for g in generated])]
            session.commit()

        # dispatch alone: a manager whose only record_changed listeners do nothing
        bare = site_with(0, False).hooks
        bare.manager.unregister(name="kohaweb.index")
        bare.manager.unregister(name="kohaweb.sets")
        with site.session_factory() as session:
            biblio = Catalog(session).require(numbers[0])
            for extra in (0, 1, 10):
                for number in range(extra):
                    if bare.manager.get_plugin(f"d{number}") is None:
                        bare.manager.register(NoOp(), name=f"d{number}")
                rounds = 20000
                started = time.perf_counter()
                for _ in range(rounds):
                    bare.hook.record_changed(session=session, change=RecordChange("updated", biblio.biblionumber,
                                                                                  biblio))
                took = (time.perf_counter() - started) / rounds * 1e6
                print(f"record_changed dispatch, {extra:2d} no-op listeners: {took:6.2f} µs per change")

        for label, extra, outbox in (("built-in listeners (SQL index, OAI sets)", 0, False),
                                     ("+ 10 no-op listeners", 10, False),
                                     ("+ 10 no-op listeners + outbox row", 10, True)):
            site = site_with(extra, outbox)
            samples = []
            for index in range(args.edits):
                number = numbers[index % len(numbers)]
                record = generated[index % len(generated)].record
                started = time.perf_counter()
                with site.session_factory() as session:
                    Catalog(session).update_record(number, record)
                    session.commit()
                samples.append(time.perf_counter() - started)
            samples.sort()
            p50, p95 = samples[len(samples) // 2] * 1000, samples[int(len(samples) * 0.95)] * 1000
            print(f"record edit + commit, {label:42s}: p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  (n={len(samples)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
