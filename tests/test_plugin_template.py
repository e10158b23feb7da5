"""The plugin template (docs/plugin-template) makes a plugin that works: rendered into a temporary
directory, installed (built as a wheel) into a fresh virtualenv, it migrates its own Alembic
branch, serves its REST path under /api/v1/contrib/<plugin>/, its hook notes the record changes
made by the CLI and by the served REST API, and its own tests pass.

The plugin's wheel is built with the backend its pyproject.toml declares and installed, alone,
into a virtualenv of its own layered over the ``installed_wheels`` one (the core and the plugins
as installed wheels, shared with test_wheel_install) and then over this one (pytest, for the
plugin's own tests) through a .pth file: the suite's own environment never sees the plugin.
Slow (wheels, a virtualenv, a server): run once, on the SQLite pass of the suite.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import jinja2
import pytest

from kohaweb.testing import basic_auth, free_port
from kohaweb.testing_venv import (
    fetch,
    new_virtualenv,
    pip_install,
    run,
    serving,
    site_packages,
    this_site_packages,
)

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "docs" / "plugin-template"
NAME = "shelfnotes"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("KOHAWEB_TEST_DATABASE", "sqlite") != "sqlite",
                       reason="packaging does not depend on the database: run on the SQLite pass only"),
]


def render(template: Path, out: Path, **answers: str) -> Path:
    """What `cookiecutter template --no-input` does: the defaults of cookiecutter.json (each may use
    the ones before it) rendered with Jinja2, then every directory and file under the
    ``{{cookiecutter...}}`` directory, names and contents. Returns the rendered project."""
    env = jinja2.Environment(keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    values: dict[str, str] = {}
    for key, default in json.loads((template / "cookiecutter.json").read_text()).items():
        values[key] = answers.get(key, env.from_string(default).render(cookiecutter=values))
    [project] = [p for p in template.iterdir() if p.name.startswith("{{")]
    for source in sorted(project.rglob("*")):
        if "__pycache__" in source.parts or not source.is_file():
            continue
        relative = source.relative_to(template)
        target = out.joinpath(*(env.from_string(part).render(cookiecutter=values) for part in relative.parts))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(env.from_string(source.read_text()).render(cookiecutter=values))
    return out / env.from_string(project.name).render(cookiecutter=values)


def test_a_plugin_from_the_template_installs_migrates_serves_and_sees_changes(installed_wheels, tmp_path):
    project = render(TEMPLATE, tmp_path / "src", plugin_name=NAME)
    assert (project / f"kohaweb_{NAME}" / "migrations" / "versions" / f"{NAME}_0001_record_changes.py").is_file()
    # linted as its own repository would be: kohaweb is a third-party package there
    run(Path(sys.executable).parent / "ruff", "check", "--config", ROOT / "pyproject.toml", "--config",
        'lint.isort.known-third-party = ["kohaweb"]', project, cwd=tmp_path)

    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    [wheel] = installed_wheels.backend.build_wheels([project], wheelhouse)
    python = new_virtualenv(tmp_path / "venv", site_packages(installed_wheels.python), this_site_packages())
    pip_install(python, wheel, deps=False)
    location = run(python, "-c", f"import kohaweb_{NAME}; print(kohaweb_{NAME}.__file__)", cwd=tmp_path)
    assert str(tmp_path / "venv") in location, location  # the installed wheel, not the source

    site = tmp_path / "site"
    site.mkdir()
    port = free_port()
    ini = site / "site.ini"
    ini.write_text(f"""[app:main]
use = egg:kohaweb
kohaweb.services = {NAME}
kohaweb.database_url = sqlite:///%(here)s/catalogue.sqlite
kohaweb.secret = plugin-template-test-secret-0123456789abcdef
kohaweb.auth.basic = true
{NAME}.max_listed = 50

[server:main]
use = egg:waitress#main
listen = 127.0.0.1:{port}
""")
    kohaweb = (python, "-m", "kohaweb.cli", "-c", ini)
    run(*kohaweb, "db", "upgrade", cwd=site)
    assert f"{NAME}_0001" in run(*kohaweb, "db", "current", cwd=site)
    run(*kohaweb, "sample-data", "--records", "3", "--demo-user", cwd=site)  # the hook notes them

    base = f"http://127.0.0.1:{port}"
    staff = basic_auth("koha", "koha")
    with serving((*kohaweb, "serve"), site, base):
        assert fetch(f"{base}/status/ready")[0] == 200  # every branch migrated, the plugin's included
        status, body = fetch(f"{base}/api/v1/contrib/{NAME}/changes", staff)
        assert status == 200, body
        assert sorted((c["biblio_id"], c["action"]) for c in json.loads(body)) == [(1, "added"), (2, "added"),
                                                                                (3, "added")]
        assert fetch(f"{base}/api/v1/contrib/{NAME}/changes")[0] == 401
        # a change through the served REST API fires the hook in the request's transaction
        marcxml = {**staff, "Accept": "application/marcxml+xml"}
        status, body = fetch(f"{base}/api/v1/biblios/2", marcxml)
        assert status == 200, body
        status, body = fetch(f"{base}/api/v1/biblios/2", {**staff, "Content-Type": "application/marcxml+xml"},
                             method="PUT", data=body.encode())
        assert status == 200, body
        status, body = fetch(f"{base}/api/v1/contrib/{NAME}/changes?biblio_id=2", staff)
        assert [c["action"] for c in json.loads(body)] == ["updated", "added"], body
        status, body = fetch(f"{base}/api/v1/", staff)
        assert f"/contrib/{NAME}/changes" in json.loads(body)["paths"]

    # the plugin's own tests, with the core's fixtures, in its virtualenv
    output = run(python, "-m", "pytest", project / "tests", "-p", "no:cacheprovider", "-q", cwd=project,
                 env={"KOHAWEB_TEST_DATABASE": "sqlite"})
    assert "2 passed" in output, output
