"""The ``reports`` service: saved SQL reports, Koha's JSON report service (``svc/report``), a
REST resource, a staff page and ``kohaweb report`` commands. Report SQL is checked by parsing
(``safety``) and runs read-only with a timeout and a row limit (``runner``)."""

from __future__ import annotations

from pyramid.config import Configurator

from kohaweb.settings import Setting

SETTINGS = [
    Setting("reports.database_url", "str", "",
            "Database URL reports run on, e.g. a role that may only SELECT (empty: the site's database)."),
    Setting("reports.timeout_ms", "int", 10000, "Statement timeout of a report, in milliseconds.", minimum=1),
    Setting("reports.max_rows", "int", 10,
            "Most rows a report returns (Koha's SvcMaxReportRows; a smaller LIMIT of the report is kept).",
            minimum=1),
    Setting("reports.max_running", "int", 4,
            "Reports that may run at once in this process; more get HTTP 429 (0 = no limit).", minimum=0),
    Setting("reports.cache_entries", "int", 1000,
            "Cached report results kept in memory (each for its report's cache_expiry; 0 = no cache).",
            minimum=0),
    Setting("reports.max_cache_expiry", "int", 2592000,
            "Largest cache_expiry a report may be saved with, in seconds (Koha: 30 days).", minimum=0),
    Setting("reports.forbidden_tables", "list", ["sessions"],
            "Tables no report may read at all (besides system catalogues and secret columns)."),
    Setting("reports.cors_origin", "str", "",
            "Access-Control-Allow-Origin sent with public report results (empty: none)."),
]


def includeme(config: Configurator) -> None:
    from .service import ReportService

    site = config.registry.kohaweb
    site.extras["reports"] = ReportService(site.engine, site.settings["reports"])
    config.include(".views")
    config.include(".api")
    config.include(".pages")
