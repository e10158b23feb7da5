"""Discovery of plugins (setuptools entry points) and the site's hook manager (pluggy).

Entry-point groups:

- ``kohaweb.services``: name -> a module with ``includeme(config)`` (optional when it only uses
  hooks), optionally ``SETTINGS`` (a list of ``Setting`` under the prefix ``<name>.``) and hook
  implementations. Only the services listed in ``kohaweb.services`` are imported and registered.
- ``kohaweb.plugins``: name -> a module (or object) of hook implementations, registered whenever
  it is installed (an authentication method, a search backend, a listener; Datasette's model).
- ``kohaweb.formats``: name -> a metadata format; ``kohaweb.commands``: name -> ``register(subparsers)``;
  both are registered through the ``register_formats`` / ``register_commands`` hooks by the core.
- ``kohaweb.migrations``: a plugin's Alembic branch (kohaweb.migrate).

The hooks are specified in :mod:`kohaweb.hookspecs`. :func:`build_hooks` makes one manager per
site (``site.hooks``); nothing is registered at import time.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from . import hookspecs
from .hookspecs import hookimpl
from .settings import ConfigError, Setting

log = logging.getLogger(__name__)

SERVICES = "kohaweb.services"
FORMATS = "kohaweb.formats"
COMMANDS = "kohaweb.commands"
PLUGINS = "kohaweb.plugins"

# The core's own behaviour, registered first through the same hooks (so plugins come before it).
BUILTINS = ("kohaweb.settings", "kohaweb.auth", "kohaweb.sets", "kohaweb.search.backend")
REST_PREFIX = "/contrib/"  # a plugin's REST paths: /api/v1/contrib/<plugin>/...


@dataclass(frozen=True)
class Installed:
    group: str
    name: str
    value: str
    distribution: str
    version: str


_entry_points: dict[str, tuple[metadata.EntryPoint, ...]] = {}


def entry_points(group: str) -> tuple[metadata.EntryPoint, ...]:
    """The installed entry points of ``group``, read once per process: the read scans every
    installed distribution's metadata (milliseconds, and a site is built from ten of them), and
    what is installed does not change under a running process (a new plugin needs a restart)."""
    found = _entry_points.get(group)
    if found is None:
        found = _entry_points[group] = tuple(metadata.entry_points(group=group))
    return found


def installed(group: str) -> dict[str, Installed]:
    found = {}
    for ep in entry_points(group):
        dist = ep.dist.name if ep.dist else "?"
        version = ep.dist.version if ep.dist else "?"
        found[ep.name] = Installed(group, ep.name, ep.value, dist, version)
    return dict(sorted(found.items()))


def load(group: str, name: str) -> Any:
    for ep in entry_points(group):
        if ep.name == name:
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
    for ep in sorted(entry_points(group), key=lambda e: e.name):
        loaded[ep.name] = ep.load()
    return loaded


# --- the hook manager ----------------------------------------------------------------------------

class Hooks:
    """One site's plugins: the pluggy manager (``.manager``; call hooks as ``.hook.<name>(...)``)
    and the search backend chosen in the ini (``.search``, set once the settings are read)."""

    def __init__(self, manager: pluggy.PluginManager, search: Any = None):
        self.manager = manager
        self.search = search

    @property
    def hook(self) -> Any:
        return self.manager.hook

    def settings(self) -> dict[str, list[Setting]]:
        """Every declared setting, by prefix (the part of the name before the first dot)."""
        groups: dict[str, list[Setting]] = {}
        seen: set[str] = set()
        for declared in reversed(self.hook.register_settings()):  # built-ins (called last) first
            for setting in declared or ():
                if setting.name in seen:
                    continue
                seen.add(setting.name)
                groups.setdefault(setting.name.split(".", 1)[0], []).append(setting)
        return groups

    def formats(self) -> list[Any]:
        return [fmt for declared in reversed(self.hook.register_formats()) for fmt in declared or ()]

    def search_backends(self) -> dict[str, Any]:
        backends: dict[str, Any] = {}
        for declared in reversed(self.hook.register_search_backends()):
            backends.update(declared or {})
        return backends

    def rest_services(self, site: Any) -> list[tuple[str, Any]]:
        """(plugin name, ApiService) of every plugin, checked to lie under /contrib/<plugin>/."""
        from .api.service import API_PREFIX

        found, problems = [], []
        for impl in reversed(self.hook.register_rest_services.get_hookimpls()):
            name = impl.plugin_name
            prefix = REST_PREFIX + name
            for service in impl.function(site) or ():
                path = service.path.removeprefix(API_PREFIX)
                if path != prefix and not path.startswith(prefix + "/"):
                    problems.append(f"plugin {name!r}: REST path {service.path} is not under "
                                    f"{API_PREFIX}{prefix}/")
                found.append((name, service))
        if problems:
            raise ConfigError(problems)
        return found


def new_manager() -> pluggy.PluginManager:
    """A manager knowing the hook specifications and the core's built-in implementations."""
    import importlib

    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    for name in BUILTINS:
        manager.register(importlib.import_module(name), name=name)
    manager.register(EntryPointFormats(), name="kohaweb.formats")
    manager.register(EntryPointCommands(), name="kohaweb.commands")
    return manager


def build_hooks(services: Mapping[str, ModuleType] | None = None, *, installed_plugins: bool = True) -> Hooks:
    """The manager of a site: built-ins, then the enabled ``services`` (their ``SETTINGS`` and
    hook implementations), then every installed ``kohaweb.plugins`` plugin. Raises ConfigError
    for a plugin that cannot be loaded or implements a hook that does not exist."""
    manager = new_manager()
    problems: list[str] = []
    for name, module in (services or {}).items():
        declared = service_settings(module)
        if declared:
            manager.register(DeclaredSettings(declared), name=f"{name}.SETTINGS")
        _register(manager, module, name, problems)
    if installed_plugins:
        for ep in sorted(entry_points(PLUGINS), key=lambda e: e.name):
            try:
                plugin = ep.load()
            except Exception as exc:  # noqa: BLE001  (report it with the others)
                problems.append(f"{PLUGINS}: plugin {ep.name!r} cannot be loaded: {exc}")
                continue
            _register(manager, plugin, ep.name, problems)
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        problems.append(f"plugin {exc.plugin!r}: {exc}")
    if problems:
        raise ConfigError(problems)
    return Hooks(manager)


def _register(manager: pluggy.PluginManager, plugin: object, name: str, problems: list[str]) -> None:
    if manager.is_registered(plugin) or manager.get_plugin(name) is not None:
        return  # a service module also listed under kohaweb.plugins
    try:
        manager.register(plugin, name=name)
    except (ValueError, pluggy.PluginValidationError) as exc:
        problems.append(f"plugin {name!r}: {exc}")


_default: Hooks | None = None
_default_lock = threading.Lock()


def default_hooks() -> Hooks:
    """The built-ins alone, with the SQL index: for catalogue changes made outside any site
    (scripts, tests building sessions of their own). Built on first use."""
    global _default
    with _default_lock:
        if _default is None:
            from .search.backend import IndexFeeder, SqlSearchBackend

            hooks = Hooks(new_manager(), SqlSearchBackend())
            hooks.manager.register(IndexFeeder(hooks.search), name="kohaweb.index")
            _default = hooks
        return _default


HOOKS_KEY = "kohaweb.hooks"  # Session.info: the hooks of the site whose session factory made it


def hooks_for(session: Any) -> Hooks:
    """The hooks of the site whose session factory made ``session``, else :func:`default_hooks`."""
    return session.info.get(HOOKS_KEY) or default_hooks()


def attach(site: Any, hooks: Hooks, *, outbox: bool = False) -> None:
    """Give ``site`` its hooks: the index feeder of its search backend, and its session factory
    marks every session with them (so ``Catalog(session)`` anywhere fires the site's hooks)."""
    from .search.backend import IndexFeeder

    hooks.manager.register(IndexFeeder(hooks.search, outbox=outbox), name="kohaweb.index")
    site.hooks = hooks
    factory = site.session_factory
    info = dict(factory.kw.get("info") or {})
    info[HOOKS_KEY] = hooks
    factory.configure(info=info)


# --- built-in registrations of entry points and declared lists ----------------------------------

class DeclaredSettings:
    """A service's ``SETTINGS`` list, declared through ``register_settings``."""

    def __init__(self, settings: Iterable[Setting]):
        self.declared = list(settings)

    @hookimpl
    def register_settings(self) -> list[Setting]:
        return self.declared


class EntryPointFormats:
    """The ``kohaweb.formats`` entry points (the core's formats among them)."""

    @hookimpl
    def register_formats(self) -> list[Any]:
        from .formats import installed_formats

        return installed_formats()


class EntryPointCommands:
    """The ``kohaweb.commands`` entry points (the core's commands among them)."""

    @hookimpl
    def register_commands(self, subparsers: Any) -> None:
        for name, entry in installed(COMMANDS).items():
            try:
                register = load(COMMANDS, name)
            except Exception as exc:  # noqa: BLE001  (a broken plugin must not take the whole CLI down)
                sys.stderr.write(f"kohaweb: command {name!r} from {entry.distribution} is unavailable: {exc}\n")
                continue
            register(subparsers)


def register_commands(subparsers: Any) -> None:
    """Every sub-command of ``kohaweb``: the core's and the ``kohaweb.plugins`` plugins' (the CLI
    is built before the ini file names the enabled services)."""
    try:
        hooks = build_hooks()
    except ConfigError as exc:
        for problem in exc.problems:
            sys.stderr.write(f"kohaweb: {problem}\n")
        hooks = Hooks(new_manager())
    # built-ins first, so a plugin's command of the same name comes after and is refused by argparse
    for impl in reversed(hooks.hook.register_commands.get_hookimpls()):
        try:
            impl.function(subparsers)
        except Exception as exc:  # noqa: BLE001
            sys.stderr.write(f"kohaweb: commands of plugin {impl.plugin_name!r} are unavailable: {exc}\n")


def include_rest_services(config: Any) -> None:
    """Add every plugin's ``register_rest_services`` under /api/v1/contrib/<plugin>/ (called by
    kohaweb.api's includeme)."""
    site = config.registry.kohaweb
    for _name, service in site.hooks.rest_services(site):
        config.add_cornice_service(service)
