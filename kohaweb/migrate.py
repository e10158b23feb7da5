"""Running the Alembic migrations from code (CLI, tests, `make run`).

The migrations live inside the installed packages, so an installed wheel migrates as a source
checkout does. The core's branch is :mod:`kohaweb.migrations`; a plugin that owns tables ships
its own branch as a package with a ``versions/`` directory and names it in ``setup.cfg``::

    [options.entry_points]
    kohaweb.migrations =
        harvester = kohaweb_harvester.migrations

Every branch found is one more Alembic version location; ``kohaweb db upgrade`` runs ``heads``,
so the core and every installed plugin's branch are brought up to date together. A plugin's
first revision sets ``branch_labels = ("<name>",)`` and ``depends_on`` the core revision that
created the tables it refers to.
"""

from __future__ import annotations

import importlib
import os

from alembic import command
from alembic.config import Config

from .plugins import entry_points

CORE_BRANCH = "kohaweb.migrations"
ENTRY_POINT_GROUP = "kohaweb.migrations"


def _package_dir(module_name: str) -> str:
    module = importlib.import_module(module_name)
    if module.__file__ is None:  # a namespace package has no single directory
        raise RuntimeError(f"migration branch {module_name!r} must be a regular package (with __init__.py)")
    return os.path.dirname(os.path.abspath(module.__file__))


def version_locations() -> list[str]:
    """The ``versions/`` directory of the core and of every installed plugin's branch."""
    names = [CORE_BRANCH] + sorted(ep.value for ep in entry_points(ENTRY_POINT_GROUP)
                                   if ep.value != CORE_BRANCH)
    locations = []
    for name in dict.fromkeys(names):
        versions = os.path.join(_package_dir(name), "versions")
        if not os.path.isdir(versions):
            raise RuntimeError(f"migration branch {name!r} has no versions/ directory ({versions})")
        locations.append(versions)
    return locations


def alembic_config(database_url: str) -> Config:
    """An Alembic configuration for ``database_url`` covering every installed branch."""
    config = Config()
    config.set_main_option("script_location", _package_dir(CORE_BRANCH))
    # os.pathsep-separated, the separator Alembic is told to use below
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(version_locations()))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def pending_heads(current: set[str] | frozenset[str], config: Config | None = None) -> list[str]:
    """The heads of the installed branches a database whose ``alembic_version`` holds
    ``current`` has not reached (empty: fully migrated). Alembic records only the newest revision
    of each line, and a revision that a plugin's branch depends on is not recorded beside it, so
    "migrated" means: every head is ``current`` or an ancestor of it."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(config or alembic_config("sqlite://"))
    applied: set[str] = set()
    stack = list(current)
    while stack:
        name = stack.pop()
        try:
            revisions = script.revision_map.get_revisions(name)
        except Exception:  # noqa: BLE001  (a revision this installation does not know: not ours to judge)
            continue
        for revision in revisions:
            if revision is None or revision.revision in applied:
                continue
            applied.add(revision.revision)
            for parent in (revision.down_revision, revision.dependencies):
                if parent:
                    stack.extend([parent] if isinstance(parent, str) else parent)
    return sorted(set(script.get_heads()) - applied)


def upgrade(database_url: str, revision: str = "heads") -> None:
    """Migrate the core and every plugin branch to ``revision`` (default: all heads)."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    """Migrate down to ``revision`` (``base``: an empty database)."""
    command.downgrade(alembic_config(database_url), revision)
