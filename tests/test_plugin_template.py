"""The plugin template (docs/plugin-template) makes a plugin that works: rendered into a temporary
directory, installed (built as a wheel) into a fresh virtualenv, it migrates its own Alembic
branch, serves its REST path under /api/v1/contrib/<plugin>/, its hook notes the record changes
made by the CLI and by the served REST API, and its own tests pass.

The virtualenv reuses this one's packages through a .pth file (only the build backend is fetched,
as pip builds the wheel in isolation); the plugin is installed into it alone, so the suite's own
environment never sees the plugin.
Slow (a virtualenv, a wheel build, a server): run once, on the SQLite pass of the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from pathlib import Path

import jinja2
import pytest

from kohaweb.testing import basic_auth, free_port

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


def run(*args: str | os.PathLike, cwd: Path, timeout: float = 600, env: dict | None = None) -> str:
    result = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONPATH": "",
                                 **(env or {})})
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def fetch(url: str, headers: dict[str, str] | None = None, method: str = "GET",
          data: bytes | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def fresh_virtualenv(path: Path) -> Path:
    """A virtualenv of its own that sees this one's packages (kohaweb, its dependencies, pytest)."""
    run(sys.executable, "-m", "venv", "--without-pip", path, cwd=path.parent)
    python = path / "bin" / "python"
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=path).strip()
    ours = sysconfig.get_paths()["purelib"]
    Path(purelib, "kohaweb_dev_packages.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    return python


def test_a_plugin_from_the_template_installs_migrates_serves_and_sees_changes(tmp_path):
    project = render(TEMPLATE, tmp_path / "src", plugin_name=NAME)
    assert (project / f"kohaweb_{NAME}" / "migrations" / "versions" / f"{NAME}_0001_record_changes.py").is_file()
    # linted as its own repository would be: kohaweb is a third-party package there
    run(Path(sys.executable).parent / "ruff", "check", "--config", ROOT / "pyproject.toml", "--config",
        'lint.isort.known-third-party = ["kohaweb"]', project, cwd=tmp_path)

    python = fresh_virtualenv(tmp_path / "venv")
    run(python, "-m", "pip", "install", "-q", "--no-deps", project, cwd=tmp_path)
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

    server = subprocess.Popen([str(a) for a in (*kohaweb, "serve")], cwd=site, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONPATH": ""})
    base = f"http://127.0.0.1:{port}"
    staff = basic_auth("koha", "koha")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if fetch(f"{base}/status/health")[0] == 200:
                    break
            except OSError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
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
    finally:
        server.terminate()
        try:
            server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()

    # the plugin's own tests, with the core's fixtures, in its virtualenv
    output = run(python, "-m", "pytest", project / "tests", "-p", "no:cacheprovider", "-q", cwd=project,
                 env={"KOHAWEB_TEST_DATABASE": "sqlite"})
    assert "2 passed" in output, output
