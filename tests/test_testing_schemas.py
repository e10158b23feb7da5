"""The suite is whole in any clone: the official XSDs ship with it (kohaweb/testing_schemas) and
compile offline; tests that need ../shared/data say so and fail under CI when it is missing."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from lxml import etree

from kohaweb.testing import SCHEMAS, assert_valid, selected_backend

database_independent = pytest.mark.skipif(selected_backend() != "sqlite",
                                          reason="no database involved: runs once, under SQLite")
NEEDED = ("OAI-PMH", "oai_dc", "oai-identifier", "MARC21slim", "mods-3-7", "srw-types")


@database_independent
def test_every_shipped_schema_compiles_with_no_network(xml_schema):
    for name in NEEDED:
        assert isinstance(xml_schema(name), etree.XMLSchema)
    assert isinstance(xml_schema(*NEEDED), etree.XMLSchema)


@database_independent
def test_imports_resolve_to_shipped_files():
    """Every schemaLocation is a local file of the folder, or a remote one the fixture maps to one."""
    for path in SCHEMAS.glob("*.xsd"):
        tree = etree.parse(str(path))
        for node in tree.iter("{http://www.w3.org/2001/XMLSchema}import",
                              "{http://www.w3.org/2001/XMLSchema}include"):
            location = node.get("schemaLocation")
            assert location and (SCHEMAS / location.rsplit("/", 1)[-1]).is_file(), (path.name, location)


@database_independent
def test_a_schema_rejects_what_it_should(xml_schema):
    """The validation is real: a MARCXML record with a bad leader fails, a good one passes."""
    schema = xml_schema("MARC21slim")
    good = (b'<record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000nam a2200000 a 4500</leader>'
            b'<controlfield tag="001">1</controlfield></record>')
    assert_valid(schema, good)
    with pytest.raises(AssertionError, match="not valid"):
        assert_valid(schema, good.replace(b"<leader>00000nam a2200000 a 4500</leader>", b"<leader>x</leader>"))


@database_independent
def test_an_unknown_schema_is_a_clear_error(xml_schema):
    with pytest.raises(LookupError, match="no schema nonesuch.xsd"):
        xml_schema("nonesuch")


def _run_with_missing_shared(tmp_path, ci: bool) -> subprocess.CompletedProcess:
    test = tmp_path / "test_needs_shared.py"
    test.write_text("def test_it(shared_data):\n    assert shared_data.is_dir()\n")
    env = {"PATH": "/usr/bin:/bin", "KOHAWEB_SHARED": str(tmp_path / "nowhere"),
           "KOHAWEB_TEST_DATABASE": "sqlite"}
    if ci:
        env["CI"] = "true"
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", "-q", str(test)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


@database_independent
def test_missing_shared_data_is_a_named_skip_outside_ci(tmp_path):
    result = _run_with_missing_shared(tmp_path, ci=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"SKIPPED .*needs the real records of \.\./shared/data", result.stdout), result.stdout


@database_independent
def test_missing_shared_data_fails_under_ci(tmp_path):
    result = _run_with_missing_shared(tmp_path, ci=True)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "needs the real records of ../shared/data" in result.stdout
    assert "required under CI" in result.stdout
