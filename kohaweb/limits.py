"""What every service gets from the core to stay up under hostile or unlucky requests.

- **Request body size**: a tween refuses (413) a body larger than ``kohaweb.max_body_size``
  (``kohaweb.max_form_size`` for forms, which are parsed in memory) before anything reads it;
  a view may declare a smaller limit of its own with the view option ``max_body_size=N``
  (e.g. ``config.add_view(view, route_name="oai", max_body_size=settings["max_post_size"])``).
- **Database outages**: a database that cannot be reached (refused or lost connections, a lock
  that did not come free in time, an exhausted pool) answers 503 with ``Retry-After``
  (``kohaweb.retry_after``) instead of 500, with one log line and no traceback; the pool
  reconnects by itself once the database is back. A service answers in its own protocol by
  registering an exception view for :class:`DatabaseUnavailable` restricted to its routes
  (``config.add_exception_view(view, context=DatabaseUnavailable, route_name="sru")``); the core
  answers JSON under ``/api/`` and plain text elsewhere. ``Retry-After`` is added either way.
- **Security headers** on every response, pages and API alike: ``Content-Security-Policy:
  frame-ancestors`` with ``X-Frame-Options`` (``kohaweb.frame_ancestors``),
  ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy`` (``kohaweb.referrer_policy``).
  A response that sets one of them itself keeps its own value (a CSP without frame-ancestors
  gets it appended).
"""

from __future__ import annotations

import logging
import re
import sqlite3
from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response
from pyramid.tweens import EXCVIEW, INGRESS
from sqlalchemy import exc as sa_exc

from .db import mysql_error_code
from .settings import ConfigError

log = logging.getLogger(__name__)

FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


class DatabaseUnavailable(Exception):
    """The context of the exception views that answer while the database cannot be reached;
    ``retry_after`` is the number of seconds the response advertises."""

    def __init__(self, retry_after: int, reason: str = ""):
        super().__init__(reason or "the database cannot be reached")
        self.retry_after = retry_after
        self.reason = reason


def includeme(config: Configurator) -> None:
    core = config.registry.kohaweb.core
    _check_header_settings(core)
    config.add_tween("kohaweb.limits.security_headers_tween_factory", under=INGRESS)
    config.add_tween("kohaweb.limits.body_limit_tween_factory",
                     under="kohaweb.limits.security_headers_tween_factory")
    config.add_tween("kohaweb.limits.outage_tween_factory", over=EXCVIEW)
    config.add_view_deriver(body_limit_view_deriver)
    for context in (sa_exc.DBAPIError, sa_exc.TimeoutError, sa_exc.DisconnectionError):
        config.add_exception_view(database_error_view, context=context)
    config.add_exception_view(unavailable_view, context=DatabaseUnavailable)


# --- request bodies --------------------------------------------------------------------------------

def body_limit(request: Request, limit: int) -> int | None:
    """The body's size when it is larger than ``limit`` bytes (reading at most limit + 1 bytes
    of a body of unknown length), else None."""
    length = request.content_length
    if length is None:
        if "chunked" not in request.headers.get("Transfer-Encoding", "").lower():
            return None
        data = request.body_file_raw.read(limit + 1)
        if len(data) > limit:
            return len(data)
        request.body = data  # keep what was read for the view (it is within the limit)
        return None
    return length if length > limit else None


def body_too_large(request: Request, limit: int) -> Response:
    from .views.errors import error_response

    return error_response(request, 413, f"Request body too large: at most {limit} bytes here",
                          "request_too_large", max_bytes=limit)


def body_limit_tween_factory(handler, registry):
    """Refuse bodies over the site-wide limits before any view, form parser or retry copy reads
    them (a 200 MB form once cost 686 MB of memory)."""
    core = registry.kohaweb.core
    body_max, form_max = core["max_body_size"], core["max_form_size"]

    def tween(request: Request) -> Response:
        limit = form_max if (request.content_type or "").lower() in FORM_TYPES else body_max
        if body_limit(request, limit) is not None:
            return body_too_large(request, limit)
        return handler(request)

    return tween


def body_limit_view_deriver(view, info):
    """The view option ``max_body_size``: a smaller body limit for one view (its route)."""
    limit = info.options.get("max_body_size")
    if limit is None:
        return view

    def wrapper(context, request: Request):
        if body_limit(request, limit) is not None:
            return body_too_large(request, limit)
        return view(context, request)

    return wrapper


body_limit_view_deriver.options = ("max_body_size",)


# --- database outages ------------------------------------------------------------------------------

# SQLite primary result codes of a database that is there but cannot be used just now
_SQLITE_UNAVAILABLE = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN,
                       sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_PROTOCOL}
# PostgreSQL SQLSTATE classes and codes: connection exceptions, insufficient resources,
# operator intervention (shutdown, cannot connect now), lock not available, deadlock, serialisation
_POSTGRES_CLASSES = ("08", "53", "57P")
_POSTGRES_CODES = {"55P03", "40001", "40P01"}
# MariaDB/MySQL client and server errors: can't connect (2002/2003), gone away (2006), lost
# (2013, 2055), too many connections (1040), shutdown in progress (1053), lock wait timeout
# (1205), deadlock (1213), connection killed (1927), disconnected by the server (4031)
_MYSQL_UNREACHABLE = {2002, 2003, 2006, 2013, 2055}
# ... and a server whose disk is full: a temporary file not written (3, EE_WRITE), disk full
# (1021), a table full (1114)
_MYSQL_CODES = _MYSQL_UNREACHABLE | {3, 1021, 1114, 1040, 1053, 1205, 1213, 1927, 4031}


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached or used for now (as opposed to a
    wrong statement or bad data, which stay 500s/400s)."""
    if isinstance(exc, (sa_exc.TimeoutError, sa_exc.DisconnectionError)):
        return True  # the pool is exhausted / a connection was lost
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    if isinstance(orig, sqlite3.Error):
        code = getattr(orig, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in _SQLITE_UNAVAILABLE
        return str(orig).startswith(("database is locked", "unable to open database file", "disk I/O error",
                                     "database or disk is full"))
    module = type(orig).__module__
    if module.startswith("psycopg"):
        state = getattr(orig, "sqlstate", None)
        if state is None:  # raised by the client library itself: no connection to the server
            return isinstance(exc, sa_exc.OperationalError)
        return state.startswith(_POSTGRES_CLASSES) or state in _POSTGRES_CODES
    code = mysql_error_code(orig)
    return code is not None and code in _MYSQL_CODES


def database_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` (one ``database_unavailable`` accepts) says the database was not reached at
    all (no connection), rather than refusing work (a full disk, a lock): the two read
    differently to whoever runs a command."""
    if isinstance(exc, (sa_exc.TimeoutError, sa_exc.DisconnectionError)):
        return True
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    module = type(orig).__module__
    if module.startswith("psycopg"):
        state = getattr(orig, "sqlstate", None)
        return state is None or state.startswith("08")
    code = mysql_error_code(orig)
    return code is not None and code in _MYSQL_UNREACHABLE


def error_reason(exc: BaseException) -> str:
    """One short line for the log: never the statement, its parameters or a traceback."""
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [""])[0]
    return f"{type(orig).__name__}: {first[:200]}"


def unavailable_response(request: Request, exc: BaseException) -> Response:
    """503 in the protocol of the route (its DatabaseUnavailable exception view), with Retry-After."""
    retry_after = request.registry.kohaweb.core["retry_after"]
    log.warning("database unavailable on %s %s: %s", request.method, request.path[:200], error_reason(exc))
    unavailable = DatabaseUnavailable(retry_after, error_reason(exc))
    try:
        response = request.invoke_exception_view((DatabaseUnavailable, unavailable, None))
    except Exception:  # noqa: BLE001  (a service's view failed too: the core's answer will do)
        response = unavailable_view(unavailable, request)
    response.status = 503
    response.headers["Retry-After"] = str(retry_after)
    response.headers["Cache-Control"] = "no-store"
    return response


def _missing_table(exc: BaseException) -> bool:
    """Whether a statement failed because a table does not exist (SQLite, PostgreSQL 42P01,
    MariaDB 1146)."""
    orig = getattr(exc, "orig", None)
    if isinstance(orig, sqlite3.Error):
        return str(orig).startswith("no such table")
    if getattr(orig, "sqlstate", None) == "42P01":
        return True
    return mysql_error_code(orig) == 1146


def database_error_view(exc: Exception, request: Request) -> Response:
    if database_unavailable(exc):
        return unavailable_response(request, exc)
    if _missing_table(exc):
        from .views.health import readiness

        # a site served before `kohaweb db upgrade`: unusable until migrated, not a bug of the view
        if readiness(request.registry.kohaweb)["migrations"] != "ok":
            log.error("the database is not migrated to this version: run kohaweb db upgrade")
            return unavailable_response(request, exc)
    from .views.errors import server_error

    return server_error(exc, request)


def unavailable_view(exc: DatabaseUnavailable, request: Request) -> Response:
    """The core's answer while the database is away: JSON under /api/, plain text elsewhere."""
    from .views.errors import error_response

    response = error_response(request, 503, "Service temporarily unavailable: the database cannot be "
                              "reached. Retry later.", "service_unavailable")
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


def outage_tween_factory(handler, registry):
    """A database outage that escapes the exception views (e.g. one an error page ran into while
    looking up the caller) still answers 503, not a bare server error."""

    def tween(request: Request) -> Response:
        try:
            return handler(request)
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            unavailable = DatabaseUnavailable(registry.kohaweb.core["retry_after"], error_reason(exc))
            log.warning("database unavailable on %s %s: %s", request.method, request.path[:200], unavailable.reason)
            return unavailable_view(unavailable, request)

    return tween


# --- security headers ------------------------------------------------------------------------------

_X_FRAME_OPTIONS = {"'none'": "DENY", "'self'": "SAMEORIGIN"}
_HEADER_VALUE = re.compile(r"^[\x20-\x7e]*$")


def _check_header_settings(core: dict[str, Any]) -> None:
    problems = [f"kohaweb.{name}: printable ASCII without ';' or ',' expected"
                for name in ("frame_ancestors", "referrer_policy")
                if not _HEADER_VALUE.match(core[name]) or ";" in core[name]
                or (name == "frame_ancestors" and "," in core[name])]
    if problems:
        raise ConfigError(problems)


def security_headers_tween_factory(handler, registry):
    """Frame-ancestors (clickjacking), nosniff and Referrer-Policy on every response."""
    core = registry.kohaweb.core
    ancestors = " ".join(core["frame_ancestors"].split())
    frame_options = _X_FRAME_OPTIONS.get(ancestors)
    referrer = core["referrer_policy"].strip()

    def tween(request: Request) -> Response:
        response = handler(request)
        headers = response.headers
        if ancestors:
            policy = headers.get("Content-Security-Policy")
            if policy is None:
                headers["Content-Security-Policy"] = f"frame-ancestors {ancestors}"
            elif "frame-ancestors" not in policy:
                headers["Content-Security-Policy"] = f"{policy.rstrip('; ')}; frame-ancestors {ancestors}"
            if frame_options and "X-Frame-Options" not in headers:
                headers["X-Frame-Options"] = frame_options
        if "X-Content-Type-Options" not in headers:
            headers["X-Content-Type-Options"] = "nosniff"
        if referrer and "Referrer-Policy" not in headers:
            headers["Referrer-Policy"] = referrer
        return response

    return tween
