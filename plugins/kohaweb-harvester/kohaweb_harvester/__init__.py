"""The OAI-PMH harvester: kohaweb as a service provider, which Koha never was.

Sources live in the database (``harvest_sources``); runs are recorded in ``harvest_runs``.
``POST /api/v1/harvest/sources/{id}/runs`` queues a run; ``kohaweb harvest worker`` (a systemd
service) executes queued runs, ``kohaweb harvest run`` (cron) queues and executes at once, and
with ``harvester.run_in_web`` the web process runs queued runs in a thread (development). One
run per source is active at a time; every request is bounded in time and size (settings below).
"""

from __future__ import annotations

from pyramid.config import Configurator

from kohaweb.plugin_api import Setting

SETTINGS = [
    Setting("harvester.deleted", "choice", "delete", "What a deletion at the source does to the local "
            "copy: delete it, or suppress it from public services.", choices=("delete", "suppress")),
    Setting("harvester.retries", "int", 4, "Retries of a request after a transient network error "
            "(with exponential backoff) or a 503/429 (after its Retry-After).", minimum=0),
    Setting("harvester.connect_timeout", "int", 10, "Seconds to wait for a source to accept a connection.",
            minimum=1),
    Setting("harvester.read_timeout", "int", 60, "Seconds a source may stay silent while answering (before "
            "the answer begins, or between two pieces of it).", minimum=1),
    Setting("harvester.response_timeout", "int", 600, "Seconds one response may take in all (stops a source "
            "that trickles its answer).", minimum=1),
    Setting("harvester.max_response_bytes", "int", 32 * 1024 * 1024, "Largest response accepted, in bytes "
            "after decompression; a larger one fails the run.", minimum=1024),
    Setting("harvester.max_pages", "int", 100_000, "Pages one run may request at most; a run that reaches "
            "it stops (failed) and the next run continues from its checkpoint.", minimum=1),
    Setting("harvester.max_retry_after", "int", 300, "Longest Retry-After (seconds) waited for on a 503 or "
            "429; a source asking for more fails the run.", minimum=0),
    Setting("harvester.stale_after", "int", 900, "Seconds without a heartbeat after which a running run is "
            "taken for dead and marked failed (its process renews it before every request, so keep this above "
            "connect_timeout + response_timeout and max_retry_after); a run whose process on this host is gone "
            "is marked at once.", minimum=60),
    Setting("harvester.run_in_web", "bool", False, "Run the runs queued through the REST API in a thread of "
            "the web process (convenient under make run). Off: `kohaweb harvest worker` runs them."),
]


def includeme(config: Configurator) -> None:
    from .api import includeme as api

    config.add_home_link("Harvesting", "Harvest sources", "/api/v1/harvest/sources",
                         "other OAI-PMH repositories this catalogue harvests (REST)", staff=True)
    config.include(api)
    config.include(".pages")
