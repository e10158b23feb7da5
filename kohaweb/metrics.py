"""``/metrics`` in the Prometheus text format (prometheus_client).

Per request, a tween counts ``kohaweb_requests_total{service,operation,method,status}``, times
``kohaweb_request_duration_seconds{service,operation}`` (until the response is ready to send: a
streamed body's transfer is not included) and counts ``kohaweb_request_errors_total{service,
operation}`` (5xx answers and exceptions that escaped every view) and
``kohaweb_protocol_errors_total{service,operation,code}``: errors a protocol answers inside a
successful HTTP answer (an OAI-PMH ``<error>``, an SRU fatal diagnostic), which a view reports
with ``note_protocol_error``. At scrape time a collector
reads the database pool, whether the database answers, the search index's state and its
uncompacted delta segments, and the record counts of the catalogue and of the index.

Labels are bounded whatever clients send: the service comes from the matched route's name
(``oai_koha`` -> ``oai``, ``api:biblios`` -> ``api``) and must be an enabled service or a core
area; the operation is the OAI-PMH ``verb``, SRU ``operation`` or ILS-DI ``service`` when it is
one of the protocol's own names, the route name otherwise, and ``other`` for anything else;
methods outside the standard ones are ``other``.

Each app has a registry of its own (not prometheus_client's global one), so several apps in a
process (tests) do not share counters. Counters are per process: behind ``kohaweb serve
--workers N`` each scrape answers for the worker that accepted it.

Access: ``kohaweb.metrics.allow`` lists the addresses and networks that may read ``/metrics``
(the caller's address as ``kohaweb.throttle.client_address`` finds it, and every address a
forwarding header names, so a proxy that is not listed in ``kohaweb.trusted_proxies`` does not
open it to the world); a staff user with the ``parameters`` permission may read it from
anywhere. Others get 403.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.tweens import INGRESS
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from .settings import ConfigError
from .transactions import will_retry

log = logging.getLogger(__name__)

ROUTE = "metrics"
PATH = "/metrics"
PERMISSION = "parameters"  # the permission /status/details asks for: staff who look after the site
OTHER = "other"
UNMATCHED = "unmatched"  # no route matched (404s, refused paths)

# Seconds; beyond the client's defaults because harvesting pages and reports may take a minute.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, float("inf"))

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# Routes of the core that belong to no service plugin, by area.
CORE_ROUTES = {"home": "core", "login": "core", "logout": "core", "favicon": "core",
               "health": "health", "ready": "health", ROUTE: "metrics"}
CORE_AREAS = frozenset({"core", "health", "metrics", "api", "static"})

# The parameter naming a protocol's operation, the names it defines, and the operation meant
# when the parameter is absent (SRU answers explain then). Values outside the list are "other".
PROTOCOL_OPERATIONS: dict[str, tuple[str, frozenset[str], str | None]] = {
    "oai": ("verb", frozenset({"Identify", "ListMetadataFormats", "ListSets", "ListIdentifiers",
                               "ListRecords", "GetRecord"}), None),
    "sru": ("operation", frozenset({"explain", "searchRetrieve", "scan"}), "explain"),
    "ilsdi": ("service", frozenset({"GetAvailability", "GetRecords", "GetAuthorityRecords", "LookupPatron",
                                    "AuthenticatePatron", "GetPatronInfo", "GetPatronStatus", "GetServices",
                                    "RenewLoan", "HoldTitle", "HoldItem", "CancelHold", "Describe"}), None),
}

# Protocol error codes are chosen by the plugin, not the client; still, a label value must be short
# and plain, and a service may not create more than this many distinct codes.
PROTOCOL_ERROR_CODE = re.compile(r"[A-Za-z0-9_.:/-]{1,40}")
MAX_ERROR_CODES = 64
PROTOCOL_ERRORS_KEY = "kohaweb.protocol_errors"  # WSGI environ: codes noted while answering

FORWARDED_FOR = re.compile(r'for="?\[?([^\]";,]+)', re.IGNORECASE)


def includeme(config: Configurator) -> None:
    """Add the tween and the ``/metrics`` view unless ``kohaweb.metrics.enabled`` is false."""
    site = config.registry.kohaweb
    if not site.core["metrics.enabled"]:
        return
    config.registry.kohaweb_metrics = Metrics(site, allow=parse_allow(site.core["metrics.allow"]))
    config.add_tween("kohaweb.metrics.metrics_tween_factory", under=INGRESS)
    config.add_route(ROUTE, PATH)
    config.add_view(metrics_view, route_name=ROUTE, request_method=("GET", "HEAD"),
                    permission=NO_PERMISSION_REQUIRED)


def parse_allow(entries: Iterable[str]) -> tuple:
    """The networks of ``kohaweb.metrics.allow``; raises ConfigError naming entries that are not
    addresses or networks (a typo must not silently close, or open, the endpoint)."""
    networks, problems = [], []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            problems.append(f"kohaweb.metrics.allow: {entry!r} is not an address or network")
    if problems:
        raise ConfigError(problems)
    return tuple(networks)


class Metrics:
    """The request metrics of one app and the registry they, and the scrape-time gauges, live in."""

    def __init__(self, site: Any, allow: tuple = ()):
        self.allow = allow
        self.registry = CollectorRegistry()
        self.requests = Counter("kohaweb_requests", "Requests answered, by service, operation, method and "
                                "HTTP status.", ["service", "operation", "method", "status"],
                                registry=self.registry)
        self.duration = Histogram("kohaweb_request_duration_seconds", "Time until the response was ready "
                                  "to send (streamed bodies excluded).", ["service", "operation"],
                                  buckets=BUCKETS, registry=self.registry)
        self.errors = Counter("kohaweb_request_errors", "Requests that ended in a server error (5xx or an "
                              "exception no view handled).", ["service", "operation"], registry=self.registry)
        self.protocol_errors = Counter("kohaweb_protocol_errors", "Errors a protocol answered inside a "
                                       "successful HTTP answer (OAI-PMH error codes, SRU diagnostic "
                                       "numbers), by service, operation and code.",
                                       ["service", "operation", "code"], registry=self.registry)
        self._error_codes: dict[str, set[str]] = {}
        self.registry.register(SiteCollector(site))
        self.services = frozenset(site.services) | CORE_AREAS
        self._route_services: dict[str, str] = {}  # bounded by the routes the app declares

    def service_of(self, route_name: str | None) -> str:
        """The service a route belongs to: its name's first part, when that is an enabled
        service; the core's routes by area; ``other`` otherwise."""
        if route_name is None:
            return UNMATCHED
        cached = self._route_services.get(route_name)
        if cached is None:
            if route_name in CORE_ROUTES:
                cached = CORE_ROUTES[route_name]
            elif route_name.startswith("__"):  # Pyramid names static views "__<name>/"
                cached = "static"
            else:
                head = re.split(r"[._:]", route_name, maxsplit=1)[0]
                cached = head if head in self.services else OTHER
            self._route_services[route_name] = cached
        return cached

    def observe(self, request: Request, status: int, seconds: float) -> None:
        """Count one answered request."""
        route = getattr(request, "matched_route", None)
        route_name = route.name if route is not None else None
        service = self.service_of(route_name)
        operation = operation_of(request, service, route_name)
        method = request.method if request.method in METHODS else OTHER
        self.requests.labels(service, operation, method, str(status)).inc()
        self.duration.labels(service, operation).observe(seconds)
        if status >= 500:
            self.errors.labels(service, operation).inc()
        for code in request.environ.get(PROTOCOL_ERRORS_KEY, ()):
            self.protocol_errors.labels(service, operation, self._error_code(service, code)).inc()

    def _error_code(self, service: str, code: str) -> str:
        """``code`` as a label value: itself when plain and one of the first codes the service
        used, ``other`` beyond (the label set stays bounded whatever a plugin passes)."""
        if not PROTOCOL_ERROR_CODE.fullmatch(code):
            return OTHER
        seen = self._error_codes.setdefault(service, set())
        if code not in seen:
            if len(seen) >= MAX_ERROR_CODES:
                return OTHER
            seen.add(code)
        return code


def note_protocol_error(request: Request, code: str) -> None:
    """Count an error the protocol answers with HTTP 200 (an OAI-PMH ``<error code>``, an SRU
    diagnostic number) in ``kohaweb_protocol_errors_total`` when the request's metrics are
    recorded. Harmless when metrics are off.

    Example, in a plugin's view::

        except OaiError as exc:
            note_protocol_error(request, exc.code)
    """
    request.environ.setdefault(PROTOCOL_ERRORS_KEY, []).append(str(code))


def operation_of(request: Request, service: str, route_name: str | None) -> str:
    """The protocol operation for OAI-PMH, SRU and ILS-DI; the route name (without the REST
    API's ``api:`` prefix) for the rest; never a value a client made up."""
    if route_name is None:
        return "none"
    protocol = PROTOCOL_OPERATIONS.get(service)
    if protocol is None:
        return route_name.removeprefix("api:")
    parameter, known, absent = protocol
    value = _parameter(request, parameter)
    if value is None:
        return absent or OTHER
    return value if value in known else OTHER


def _parameter(request: Request, name: str) -> str | None:
    """A parameter's first value from the query string, or from a form body the view already
    parsed: reading a body here could read one the limits refused, or one never meant as a form."""
    sources = [request.GET]
    if request.method == "POST" and "webob._parsed_post_vars" in request.environ:
        sources.append(request.POST)
    try:
        for source in sources:
            value = source.get(name)
            if value is not None:
                return value
    except (UnicodeDecodeError, ValueError):
        return None  # not UTF-8: the view answered an error, the label is "other"
    return None


def metrics_tween_factory(handler, registry):
    """Count and time every request (see the module's docstring)."""
    metrics: Metrics = registry.kohaweb_metrics

    def tween(request: Request) -> Response:
        started = time.perf_counter()
        status = 500  # when the handler raises, the server answers 500
        try:
            response = handler(request)
            status = response.status_int
            return response
        finally:
            try:
                if not will_retry(request):  # a request counts once, by its last attempt
                    metrics.observe(request, status, time.perf_counter() - started)
            except Exception:  # noqa: BLE001  (metrics must never turn an answer into an error)
                log.warning("could not record request metrics", exc_info=True)

    return tween


def metrics_view(request: Request) -> Response:
    """The registry in the Prometheus text format, for allowed addresses and staff."""
    metrics: Metrics = request.registry.kohaweb_metrics
    if not allowed(request, metrics.allow):
        response = Response("Forbidden: /metrics is not open to this address\n", status=403,
                            content_type="text/plain", charset="utf-8")
    else:
        response = Response(body=generate_latest(metrics.registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    response.cache_control = "no-store"
    return response


def allowed(request: Request, networks: tuple) -> bool:
    """Whether the caller may read the metrics: its address and every address a forwarding header
    names are allowed, or it is authenticated staff with the ``parameters`` permission."""
    if networks and all(_within(networks, address) for address in _addresses(request)):
        return True
    identity = request.kohaweb_identity
    return identity is not None and identity.has(PERMISSION)


def _addresses(request: Request) -> Iterator[str]:
    from .throttle import client_address

    yield client_address(request)
    # a request forwarded for someone is judged by that someone too, even when the proxy is
    # missing from kohaweb.trusted_proxies (its own loopback address would otherwise let it in)
    for hop in request.headers.get("X-Forwarded-For", "").split(","):
        if hop.strip():
            yield hop
    if request.headers.get("X-Real-IP", "").strip():
        yield request.headers["X-Real-IP"]
    for match in FORWARDED_FOR.finditer(request.headers.get("Forwarded", "")):
        yield match.group(1)


def _within(networks: tuple, text: str) -> bool:
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1:text.index("]")]  # "[::1]:8080"
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]  # "127.0.0.1:8080"
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False  # "unknown", an obfuscated name or garbage: not provably allowed
    if getattr(address, "ipv4_mapped", None):
        address = address.ipv4_mapped
    return any(address in network for network in networks)


class SiteCollector(Collector):
    """Gauges read when scraped: the database pool, the database, the search index."""

    def __init__(self, site: Any):
        self.site = site

    def collect(self) -> Iterator[Metric]:
        """Yield the pool gauges, then what the database tells (nothing more when it does not answer)."""
        yield from self._pool()
        yield from self._database()

    def _pool(self) -> Iterator[Metric]:
        from .db import for_reading
        from .reader_connections import kept_connections

        # the site's pool, and on MariaDB its readers' own (kohaweb.db.for_reading), summed
        pools = [self.site.engine.pool]
        readers = for_reading(self.site.engine).pool
        if readers is not pools[0]:
            pools.append(readers)
        # SQLAlchemy's QueuePool has all four; pools without a size (SQLite in memory, NullPool)
        # report what they have
        for name, method, doc in (
                ("kohaweb_db_pool_size", "size", "Connections the database pools keep."),
                ("kohaweb_db_pool_checked_out", "checkedout", "Pool connections in use by requests, and "
                 "those serving threads keep for their read-only requests (kohaweb_db_kept_reader_connections)."),
                ("kohaweb_db_pool_checked_in", "checkedin", "Idle connections in the pools."),
                ("kohaweb_db_pool_overflow", "overflow", "Connections beyond the pools' size (negative: "
                 "pool slots never opened yet).")):
            readers_of = [getattr(pool, method, None) for pool in pools]
            if all(callable(reader) for reader in readers_of):
                try:
                    yield GaugeMetricFamily(name, doc, value=float(sum(reader() for reader in readers_of)))
                except (TypeError, ValueError):  # a pool class whose method means something else
                    continue
        yield GaugeMetricFamily("kohaweb_db_kept_reader_connections",
                                "Connections serving threads keep for their read-only requests "
                                "(counted as checked out of the pool).",
                                value=float(kept_connections(self.site.engine)))

    def _database(self) -> Iterator[Metric]:
        from .models import Biblio

        up, values = 0, []
        try:
            with Session(self.site.engine) as session:
                session.execute(text("SELECT 1"))
                up = 1
                try:
                    values = _index_metrics(session, Biblio)
                except SQLAlchemyError as exc:  # e.g. not migrated yet: /status/ready says so
                    log.debug("metrics: search index not readable: %s", exc)
        except SQLAlchemyError:
            up = 0
        yield GaugeMetricFamily("kohaweb_database_up", "1 when the database answered this scrape.", value=up)
        yield from values


def _index_metrics(session: Session, biblio_model: Any) -> list[Metric]:
    """The search index's state, compaction backlog and size, and the catalogue's size."""
    from .search import state, tables
    from .search.writer import COMPACT_AFTER

    current = state.status(session)
    status = GaugeMetricFamily("kohaweb_search_index_status", "1 for the search index's current state "
                               "(searches are refused unless it is ready).", labels=["status"])
    for name in (state.READY, state.REBUILDING, state.STALE):
        status.add_metric([name], 1 if current == name else 0)
    segments = tables.segments
    pending = session.execute(select(func.count()).select_from(segments)).scalar() or 0
    per_block = select(func.count().label("n")).select_from(segments).group_by(segments.c.block).subquery()
    deepest = session.execute(select(func.max(per_block.c.n))).scalar() or 0
    records = session.execute(select(func.count()).select_from(biblio_model.__table__)).scalar() or 0
    indexed = session.execute(select(func.count()).select_from(tables.records)).scalar() or 0
    return [
        status,
        GaugeMetricFamily("kohaweb_search_index_pending_segments", "Delta segments written by transactions and "
                          "not yet compacted (each writing transaction updates the index itself; this is "
                          "compaction's backlog).", value=pending),
        GaugeMetricFamily("kohaweb_search_index_max_block_segments", "Most uncompacted delta segments of one "
                          f"block (compaction folds a block at {COMPACT_AFTER}; far above means it fails).",
                          value=deepest),
        GaugeMetricFamily("kohaweb_catalogue_records", "Bibliographic records in the catalogue.", value=records),
        GaugeMetricFamily("kohaweb_search_index_records", "Records in the search index (fewer than the "
                          "catalogue's while a rebuild runs).", value=indexed),
    ]
