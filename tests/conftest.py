"""Fixtures of the core's own tests (the shared ones come from kohaweb.testing)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# test modules share helpers by importing each other (pytest runs in importlib mode)
sys.path.insert(0, str(Path(__file__).parent))

from kohaweb.testing import TEST_SECRET, basic_auth


def write_ini(path: Path, database_url: str, services: str = "status") -> Path:
    path.write_text(f"""[app:main]
use = egg:kohaweb
kohaweb.services = {services}
kohaweb.database_url = {database_url}
kohaweb.secret = {TEST_SECRET}
""")
    return path


@pytest.fixture
def api(make_app):
    """The core app with HTTP Basic authentication on: the REST tests' usual client (a module that
    needs other settings defines its own ``api``, which overrides this one)."""
    return make_app(**{"kohaweb.auth.basic": "true"})


@pytest.fixture
def staff_people(staff_user, reference_data) -> Callable[..., dict[str, Any]]:
    """``staff_people(editor=("catalogue",), reader=())`` creates one user (a CPL patron) per keyword
    with those permissions and returns, for each name, ``made[name]`` (Basic headers),
    ``made[f"{name}_id"]`` (borrowernumber) and ``made[f"{name}_login"]`` ((userid, password))."""

    def create(**roles: tuple[str, ...]) -> dict[str, Any]:
        made: dict[str, Any] = {}
        for name, permissions in roles.items():
            userid, password, patron_id = staff_user(name, *permissions, password="Reader-pass-1")
            made[name] = basic_auth(userid, password)
            made[f"{name}_id"] = patron_id
            made[f"{name}_login"] = (userid, password)
        return made

    return create


@pytest.fixture
def ini_file(tmp_path, database_url, clean_db) -> Path:
    return write_ini(tmp_path / "test.ini", database_url)


@pytest.fixture
def run_cli(ini_file, capsys):
    """``run_cli("import", "file.mrc")`` -> (exit status, stdout, stderr), in-process."""
    from kohaweb.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        status = main(["-c", str(ini_file), *args])
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return run


@pytest.fixture(scope="session")
def installed_wheels(tmp_path_factory):
    """One fresh virtualenv with the wheels of the core and every plugin (and their dependencies),
    for the packaging tests (test_wheel_install, test_plugin_template): built once per session."""
    from kohaweb.testing_venv import install_core_and_plugins

    return install_core_and_plugins(Path(__file__).resolve().parents[1], tmp_path_factory.mktemp("wheels"))
