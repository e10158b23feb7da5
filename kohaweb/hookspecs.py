"""The hooks a plugin may implement (pluggy, as Datasette does).

A plugin is a module (or any object) whose functions carry ``@hookimpl`` and are named after the
specifications below; it need implement only the hooks it wants. It is found through one of
two entry-point groups:

- ``kohaweb.services``: a web service, registered when the site enables it (``kohaweb.services =
  oai sru ...``); its module may hold hook implementations beside its ``includeme``;
- ``kohaweb.plugins``: a plugin without a service of its own (an authentication method, a search
  backend, a listener), registered whenever it is installed.

The core registers its own behaviour through the same hooks first (``kohaweb.plugins.BUILTINS``),
so a plugin's implementation is called before the built-in one and, for the ``firstresult``
hooks, can take its place. Example, a whole plugin::

    # kohaweb_audit/__init__.py
    from kohaweb.plugin_api import Setting, hookimpl

    @hookimpl
    def register_settings():
        return [Setting("audit.log_items", "bool", False, "Also log item changes.")]

    @hookimpl
    def record_changed(session, change):
        session.add(AuditRow(biblionumber=change.biblionumber, action=change.action))

    # setup.cfg
    [options.entry_points]
    kohaweb.plugins =
        audit = kohaweb_audit

Nothing here runs at import time: the manager is built when a site is (``kohaweb.app.build_site``)
or when the CLI starts, and ``kohaweb.plugins.default_hooks()`` builds the built-ins' manager on
first use for code that has no site (tests, scripts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import argparse

    from pyramid.request import Request
    from sqlalchemy.orm import Session

    from .auth import Identity
    from .changes import ItemChange, RecordChange

PROJECT = "kohaweb"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --- start-up ------------------------------------------------------------------------------------

@hookspec
def register_settings() -> list[Any]:
    """Settings this plugin reads: a list of ``kohaweb.plugin_api.Setting`` whose names start with
    the plugin's own prefix (``audit.log_items``). They are parsed and checked at start-up with the
    core's (an unknown or bad key under the prefix stops start-up) and reach the plugin as
    ``site.settings["audit"]["log_items"]``; ``kohaweb settings`` lists them.

    A service may still declare ``SETTINGS = [...]`` beside its ``includeme``: the core registers
    that list through this hook."""


@hookspec
def register_search_backends() -> dict[str, Any]:
    """Search backends this plugin offers: ``{name: factory}``, ``factory(site) -> SearchBackend``
    (see :mod:`kohaweb.search.backend`). The site uses the one named by ``kohaweb.search.backend``
    (default ``sql``, the core's own index)::

        @hookimpl
        def register_search_backends():
            return {"opensearch": OpenSearchBackend.from_site}
    """


@hookspec
def register_formats() -> list[Any]:
    """Metadata formats (``kohaweb.plugin_api.MetadataFormat`` instances) for OAI-PMH, SRU and the
    REST API. The ``kohaweb.formats`` entry points are registered through this hook by the core."""


@hookspec
def register_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add sub-commands to ``kohaweb``: ``parser = subparsers.add_parser("audit", help=...)``,
    ``parser.set_defaults(func=run)`` with ``run(args, cli) -> int``. The ``kohaweb.commands`` entry
    points are registered through this hook by the core. Only ``kohaweb.plugins`` plugins and the
    core take part (the CLI is built before the ini file says which services are enabled)."""


@hookspec
def register_rest_services(site: Any) -> list[Any]:
    """REST services (``kohaweb.plugin_api.ApiService``) of this plugin, all under
    ``/api/v1/contrib/<plugin>/`` where ``<plugin>`` is the plugin's entry-point name (start-up
    fails on any other path); they join the OpenAPI document, its validation and the core's
    authentication like the core's own::

        changes = ApiService("audit.changes", "/contrib/audit/changes", tag="audit")

        @hookimpl
        def register_rest_services(site):
            return [changes]
    """


# --- requests ------------------------------------------------------------------------------------

@hookspec(firstresult=True)
def authenticate(request: Request, scheme: str, credentials: str) -> Identity | None:
    """An authentication method. ``scheme`` is the lower-cased scheme of the Authorization header
    (``"bearer"``, ``"basic"``, ``""`` when there is none) and ``credentials`` the rest. Return a
    ``kohaweb.plugin_api.Identity`` to authenticate the request, ``None`` to leave it to the other
    methods, or raise ``InvalidCredentials`` to refuse it (401). The first identity returned wins.
    Built in: HTTP Basic (when ``kohaweb.auth.basic``) and the staff session cookie; kohaweb-apikeys
    adds bearer tokens. A patron refused by ``access_refusal(session, patron)`` must be refused."""


@hookspec(firstresult=True)
def permission_allowed(request: Request, identity: Identity, permission: str) -> bool | None:
    """Whether the signed-in ``identity`` may do what needs ``permission`` (a Koha permission name
    such as ``"reports"``, or a plugin's own). Return True or False to decide, None to leave it to
    the others; the first answer wins. Built in (called last): the patron's Koha permissions,
    narrowed by a bearer token's scopes."""


# --- the catalogue -------------------------------------------------------------------------------

@hookspec
def record_changed(session: Session, change: RecordChange) -> None:
    """A bibliographic record was added or changed (its MARC, its suppression, or one of its items):
    called by the data layer after the change is made, in the same transaction (``session``), so
    rows written here commit or roll back with the change. ``change.action`` is ``"added"``,
    ``"updated"``, ``"suppressed"`` or ``"items"``; ``change.record()`` is the MARC record (parsed on
    first use), ``change.record_with_items()`` with its items in 952/995. The core's search index
    and OAI set membership are fed by this hook. Must not commit."""


@hookspec
def record_deleted(session: Session, change: RecordChange) -> None:
    """A record was deleted (moved to the deleted tables with its items), in the same transaction.
    ``change.action`` is ``"deleted"``; ``change.biblio`` is the ``DeletedBiblio`` row."""


@hookspec
def item_changed(session: Session, change: ItemChange) -> None:
    """An item was added or changed (``change.action`` ``"added"`` or ``"updated"``), in the same
    transaction; ``record_changed`` follows for its record."""


@hookspec
def item_deleted(session: Session, change: ItemChange) -> None:
    """An item was deleted (``change.item`` is the ``DeletedItem`` row), in the same transaction;
    ``record_changed`` follows for its record."""


@hookspec
def changes_committed(changes: list[RecordChange | ItemChange], bind: Any) -> None:
    """After the transaction holding ``changes`` committed (in order; a record may appear more than
    once): the place for work outside the database (mail, caches, another index). The session is
    closed for writing by then: open one of your own on ``bind`` (the engine) if you need it. An
    exception is logged and does not undo anything. Not called when the transaction rolls back."""
