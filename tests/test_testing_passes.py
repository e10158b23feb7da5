"""kohaweb.testing runs a test that cannot depend on the database on the SQLite pass only."""

from __future__ import annotations

import pytest

from kohaweb import testing

pytest_plugins = ["pytester"]

MODULE = """
import pytest

def test_parses():
    pass

def test_stores(dbsession):
    pass

@pytest.mark.every_database
def test_kept_everywhere():
    pass

@pytest.mark.database_independent
def test_drives_a_browser(dbsession):
    pass
"""


def skipped(items) -> list[str]:
    return [item.name for item in items if item.get_closest_marker("skip")]


@pytest.mark.every_database
@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_tests_without_a_database_are_skipped_on_the_server_passes(pytester, monkeypatch, backend):
    monkeypatch.setenv("KOHAWEB_TEST_DATABASE", backend)
    items = pytester.getitems(MODULE)
    testing.pytest_collection_modifyitems(items[0].config, items)
    assert skipped(items) == ["test_parses", "test_drives_a_browser"]


@pytest.mark.every_database
def test_a_module_naming_the_backend_keeps_its_tests(pytester, monkeypatch):
    monkeypatch.setenv("KOHAWEB_TEST_DATABASE", "postgresql")
    items = pytester.getitems(MODULE + "\n# picks its own: selected_backend()\n")
    testing.pytest_collection_modifyitems(items[0].config, items)
    assert skipped(items) == ["test_drives_a_browser"]  # marked so: skipped all the same


@pytest.mark.every_database
def test_every_test_runs_on_the_sqlite_pass(pytester, monkeypatch):
    monkeypatch.setenv("KOHAWEB_TEST_DATABASE", "sqlite")
    items = pytester.getitems(MODULE)
    testing.pytest_collection_modifyitems(items[0].config, items)
    assert skipped(items) == []
