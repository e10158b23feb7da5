"""The home page's directory of services: ``config.add_home_link(...)`` in a plugin's includeme.

The core knows no service, so each service says itself what a visitor can reach, once:

    config.add_home_link("OAI-PMH", "Identify", "/cgi-bin/koha/oai.pl?verb=Identify",
                         "Harvesters pull the catalogue from this address.")

Links are listed under their service, in the order the services are enabled.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyramid.config import Configurator
from pyramid.registry import Registry

HOME_LINKS = "kohaweb.home_links"


@dataclass(frozen=True)
class HomeLink:
    """One entry of the home page: ``path`` is an address of this site (None: described only);
    ``staff`` marks pages that need a staff sign-in."""

    service: str
    title: str
    path: str | None
    description: str
    staff: bool = False


def add_home_link(config: Configurator, service: str, title: str, path: str | None, description: str,
                  staff: bool = False) -> None:
    """Configurator directive: list ``title`` under ``service`` on the home page."""
    config.registry.setdefault(HOME_LINKS, []).append(HomeLink(service, title, path, description, staff))


def home_links(registry: Registry) -> dict[str, list[HomeLink]]:
    """The links of every service, grouped by service, in the order they were added."""
    grouped: dict[str, list[HomeLink]] = {}
    for link in registry.get(HOME_LINKS, []):
        grouped.setdefault(link.service, []).append(link)
    return grouped


def includeme(config: Configurator) -> None:
    config.add_directive("add_home_link", add_home_link)
