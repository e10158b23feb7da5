"""REST management of harvest sources (permission: parameters)."""

from __future__ import annotations

from pyramid.config import Configurator


def includeme(config: Configurator) -> None:
    """Registered with the REST API core (see docs/DEVELOPING.md, "REST API")."""
