"""Discovery of plugins through setuptools entry points.

- ``kohaweb.services``: name -> a module with ``includeme(config)`` and optionally ``SETTINGS``
  (a list of ``kohaweb.settings.Setting`` under the prefix ``<name>.``). Only the services listed
  in ``kohaweb.services`` are imported.
- ``kohaweb.formats``: name -> a metadata format (see kohaweb.formats).
- ``kohaweb.commands``: name -> ``register(subparsers)`` adding a CLI sub-command.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from types import ModuleType

from .settings import ConfigError, Setting

SERVICES = "kohaweb.services"
FORMATS = "kohaweb.formats"
COMMANDS = "kohaweb.commands"


@dataclass(frozen=True)
class Installed:
    group: str
    name: str
    value: str
    distribution: str
    version: str


def installed(group: str) -> dict[str, Installed]:
    found = {}
    for ep in metadata.entry_points(group=group):
        dist = ep.dist.name if ep.dist else "?"
        version = ep.dist.version if ep.dist else "?"
        found[ep.name] = Installed(group, ep.name, ep.value, dist, version)
    return dict(sorted(found.items()))


def load(group: str, name: str):
    for ep in metadata.entry_points(group=group, name=name):
        return ep.load()
    raise LookupError(name)


def load_service(name: str) -> ModuleType:
    try:
        return load(SERVICES, name)
    except LookupError:
        raise ConfigError([f"kohaweb.services: service {name!r} is not installed; "
                           f"install the distribution kohaweb-{name} (pip install kohaweb-{name})"]) from None


def service_settings(module: ModuleType) -> list[Setting]:
    return list(getattr(module, "SETTINGS", []))


def load_all(group: str) -> dict[str, object]:
    loaded = {}
    for ep in sorted(metadata.entry_points(group=group), key=lambda e: e.name):
        loaded[ep.name] = ep.load()
    return loaded
