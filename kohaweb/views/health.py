"""Probes for load balancers and orchestrators, whatever services are enabled.

- ``/status/health`` (liveness): the process answers; it touches no database, so a database
  outage does not get every instance restarted.
- ``/status/ready`` (readiness): the database answers, its schema is at the migrations' head and
  the search index is ready; 503 with the failing checks otherwise, so a balancer sends no
  traffic to an instance that would answer errors (for example before ``kohaweb db upgrade``).
"""

from __future__ import annotations

from functools import cache

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

NO_STORE = "no-store"


def includeme(config: Configurator) -> None:
    config.add_route("health", "/status/health")
    config.add_route("ready", "/status/ready")
    config.add_view(health, route_name="health", request_method=("GET", "HEAD"))
    config.add_view(ready, route_name="ready", request_method=("GET", "HEAD"))


def health(request: Request) -> Response:
    """Liveness: 200 while the process serves requests."""
    response = Response(json_body={"status": "ok"})
    response.cache_control = NO_STORE
    return response


@cache
def _pending(current: frozenset[str]) -> tuple[str, ...]:
    from ..migrate import pending_heads

    return tuple(pending_heads(current))


def readiness(site) -> dict[str, str]:
    """Each check's finding: "ok" or what is wrong, in words an operator can act on."""
    from ..search import state

    checks = {"database": "ok", "migrations": "ok", "search_index": "ok"}
    try:
        with Session(site.engine) as session:
            session.execute(text("SELECT 1"))
            try:
                # its own savepoint-free statement: a missing table must not abort the next check
                current = frozenset(session.execute(text("SELECT version_num FROM alembic_version")).scalars())
            except SQLAlchemyError:
                session.rollback()
                current = frozenset()
            pending = _pending(current) if current else ()
            if not current or pending:
                checks["migrations"] = ("not migrated: run kohaweb db upgrade" if not current else
                                        f"at {', '.join(sorted(current))}, not yet at "
                                        f"{', '.join(pending)}: run kohaweb db upgrade")
                checks["search_index"] = "unknown until migrated"
                return checks
            backend = site.search if getattr(site, "hooks", None) is not None else None
            if backend is not None and not backend.transactional:  # a backend outside the database
                try:
                    if not backend.is_ready(session):
                        checks["search_index"] = f"the {backend.name} search backend is not ready"
                except Exception as exc:  # noqa: BLE001  (an unreachable backend is "not ready", not a 500)
                    checks["search_index"] = f"the {backend.name} search backend is unreachable ({type(exc).__name__})"
            else:
                index = state.status(session)
                if index != state.READY:
                    checks["search_index"] = f"{index}: kohaweb index rebuild"
    except SQLAlchemyError as exc:
        checks["database"] = f"unreachable ({type(exc.orig or exc).__name__})"
        checks["migrations"] = checks["search_index"] = "unknown"
    return checks


def ready(request: Request) -> Response:
    """Readiness: 200 when every check passes, 503 with the findings otherwise."""
    checks = readiness(request.registry.kohaweb)
    ok = all(finding == "ok" for finding in checks.values())
    response = Response(status=200 if ok else 503, json_body={"status": "ready" if ok else "not ready",
                                                               "checks": checks})
    response.cache_control = NO_STORE
    return response
