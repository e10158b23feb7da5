"""The distributions as an administrator installs them: wheels built from this tree, installed in
a fresh virtualenv away from the source checkout, migrate, serve and answer one request per
service. (An editable install hides packaging mistakes: files missing from the wheels, paths
that point back into the checkout.)

Slow (a virtualenv and a dependency install): run once, on the SQLite pass of the suite.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from kohaweb.testing import basic_auth, free_port

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("KOHAWEB_TEST_DATABASE", "sqlite") != "sqlite",
                       reason="packaging does not depend on the database: run on the SQLite pass only"),
]


def run(*args: str | os.PathLike, cwd: Path, timeout: float = 600) -> str:
    result = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONPATH": ""})
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtualenv holding the wheels of the core and every plugin (and their dependencies)."""
    work = tmp_path_factory.mktemp("wheels")
    wheels = work / "wheelhouse"
    # build from clean copies: a build writes build/ and *.egg-info next to its sources, and a stale
    # build/lib of the checkout could slip deleted modules into the wheels
    ignore = shutil.ignore_patterns(".venv", ".git", "build", "var", "*.egg-info", "__pycache__", "plugins",
                                    "tests", "bench", "docs")
    sources = [work / "src" / "kohaweb"]
    shutil.copytree(ROOT, sources[0], ignore=ignore)
    for plugin in sorted(p.parent for p in ROOT.glob("plugins/*/setup.cfg")):
        sources.append(work / "src" / plugin.name)
        shutil.copytree(plugin, sources[-1], ignore=ignore)
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheels,
        *sources, cwd=work)
    built = sorted(os.path.basename(p) for p in glob.glob(str(wheels / "*.whl")))
    assert len(built) == len(sources), built
    venv = work / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=work)
    run(venv / "bin" / "pip", "install", "-q", *sorted(wheels.glob("*.whl")), cwd=work)
    return venv


def test_installed_wheels_migrate_and_serve_every_service(installed, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    python, kohaweb = installed / "bin" / "python", installed / "bin" / "kohaweb"
    # the code really comes from the virtualenv, not from this checkout
    location = run(python, "-c", "import kohaweb, kohaweb_oai; print(kohaweb.__file__, kohaweb_oai.__file__)",
                   cwd=site)
    assert str(ROOT) not in location and str(installed) in location, location

    port = free_port()
    ini = site / "site.ini"
    ini.write_text(f"""[app:main]
use = egg:kohaweb
kohaweb.services = status oai sru ilsdi reports barcode apikeys harvester
kohaweb.database_url = sqlite:///%(here)s/catalogue.sqlite
kohaweb.secret = wheel-install-test-secret-0123456789abcdef
kohaweb.auth.basic = true
ilsdi.authorized_ips = 127.0.0.1
oai.repository_identifier = wheels.example.org

[server:main]
use = egg:waitress#main
listen = 127.0.0.1:{port}
""")
    run(kohaweb, "-c", ini, "db", "upgrade", cwd=site)
    current = run(kohaweb, "-c", ini, "db", "current", cwd=site)
    assert "h0001" in current, current  # the harvester's branch, which depends on the core's head
    # down to nothing and up again, from the installed migrations
    run(kohaweb, "-c", ini, "db", "downgrade", "base", cwd=site)
    assert run(kohaweb, "-c", ini, "db", "current", cwd=site).strip() == "(empty)"
    run(kohaweb, "-c", ini, "db", "upgrade", cwd=site)
    assert "h0001" in run(kohaweb, "-c", ini, "db", "current", cwd=site)
    run(kohaweb, "-c", ini, "sample-data", "--records", "20", "--demo-user", cwd=site)
    run(kohaweb, "-c", ini, "report", "add", "items per library", "--public",
        "--sql", "SELECT homebranch, COUNT(*) AS n FROM items GROUP BY homebranch", cwd=site)

    server = subprocess.Popen([str(kohaweb), "-c", str(ini), "serve"], cwd=site, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONPATH": ""})
    base = f"http://127.0.0.1:{port}"
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

        expectations = {
            "/status/ready": (200, '"ready"'),
            "/status": (200, '"harvester"'),
            "/cgi-bin/koha/oai.pl?verb=Identify": (200, "<repositoryName>"),
            "/cgi-bin/koha/oai.pl?verb=ListRecords&metadataPrefix=mods": (200, "mods"),
            "/biblios?version=1.1&operation=searchRetrieve&query=rec.id%3D1&maximumRecords=1":
                (200, "<zs:numberOfRecords>1</zs:numberOfRecords>"),
            "/cgi-bin/koha/ilsdi.pl?service=GetAvailability&id=1&id_type=bib": (200, "dlf:availabilitystatus"),
            "/cgi-bin/koha/opac/svc/report?id=1": (200, "["),
            "/opac/svc/report?id=1": (200, "["),
            "/svc/barcode?barcode=12345&type=Code39": (200, "PNG"),
            "/api/v1/public/biblios/1": (200, "4500"),  # ISO 2709 unless asked otherwise
            "/": (200, "OAI-PMH"),
        }
        for path, (status, text) in expectations.items():
            # the demo user (koha / koha) signs the staff-only ones in
            got, body = fetch(base + path, basic_auth("koha", "koha"))
            assert got == status and text in body, f"{path}: {got}\n{body[:800]}"
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert "Traceback" not in output, output
