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
from importlib.metadata import entry_points

from alembic import command
from alembic.config import Config

CORE_BRANCH = "kohaweb.migrations"
ENTRY_POINT_GROUP = "kohaweb.migrations"


def _package_dir(module_name: str) -> str:
    module = importlib.import_module(module_name)
    if module.__file__ is None:  # a namespace package has no single directory
        raise RuntimeError(f"migration branch {module_name!r} must be a regular package (with __init__.py)")
    return os.path.dirname(os.path.abspath(module.__file__))


def version_locations() -> list[str]:
    """The ``versions/`` directory of the core and of every installed plugin's branch."""
    names = [CORE_BRANCH] + sorted(ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)
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


def upgrade(database_url: str, revision: str = "heads") -> None:
    """Migrate the core and every plugin branch to ``revision`` (default: all heads)."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    """Migrate down to ``revision`` (``base``: an empty database)."""
    command.downgrade(alembic_config(database_url), revision)
