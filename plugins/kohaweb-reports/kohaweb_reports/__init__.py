"""The ``reports`` service: saved SQL reports, Koha's JSON report service (``svc/report``), a
REST resource, a staff page and ``kohaweb report`` commands. Report SQL is checked by parsing
against an allowlist (``safety``, ``functions``), runs as a database role (SQLite: under an
authorizer) that can read only the catalogue, items, patrons' non-secret columns and
circulation (``access``), read-only, with a timeout and row and byte limits (``runner``)."""

from __future__ import annotations

from pyramid.config import Configurator

from kohaweb.plugin_api import Setting

from .access import READABLE_TABLES

SETTINGS = [
    Setting("reports.database_url", "str", "",
            "Database URL reports connect with instead of reports.role; it must not be able to read secret "
            "columns (an owner or superuser is refused). Empty: the site's database through reports.role."),
    Setting("reports.role", "str", "kohaweb_reports",
            "Database role reports run as (SELECT on readable columns only): a login whose password is derived "
            "from kohaweb.secret (PostgreSQL falls back to SET ROLE from the site's user; MariaDB: NAME or "
            "NAME@HOST). Sites sharing a server with different secrets need different names."),
    Setting("reports.setup_role", "bool", True,
            "Create or refresh reports.role on first use when the site's database user may "
            "(else run `kohaweb report setup-role --admin-url ...` once and after migrations)."),
    Setting("reports.readable_tables", "list", READABLE_TABLES,
            "Tables reports may read (their columns named like secrets never): the catalogue, items, "
            "patrons and circulation."),
    Setting("reports.max_bytes", "int", 5000000,
            "Largest result of a report in bytes (and, on SQLite, of any value it builds).", minimum=1000),
    Setting("reports.timeout_ms", "int", 10000, "Statement timeout of a report, in milliseconds.", minimum=1),
    Setting("reports.max_rows", "int", 10,
            "Most rows a report returns (Koha's SvcMaxReportRows; a smaller LIMIT of the report is kept).",
            minimum=1),
    Setting("reports.max_running", "int", 4,
            "Reports that may run at once in this process; more get HTTP 429 (0 = no limit).", minimum=0),
    Setting("reports.cache_entries", "int", 1000,
            "Cached report results kept in memory (each for its report's cache_expiry; 0 = no cache).",
            minimum=0),
    Setting("reports.cache_bytes", "int", 50000000,
            "Bytes of cached report results kept in memory, all reports together (0 = no bound).", minimum=0),
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
    site.extras["reports"] = ReportService(site.engine, site.settings["reports"], site.core["secret"])
    config.include(".views")
    config.include(".api")
    config.add_home_link("Reports", "Saved reports", "/reports",
                         "SQL reports, published as JSON at /cgi-bin/koha/svc/report?id=N", staff=True)
    config.include(".pages")
