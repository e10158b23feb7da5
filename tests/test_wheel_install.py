"""The distributions as an administrator installs them: wheels built from this tree, installed in
a fresh virtualenv away from the source checkout, migrate, serve and answer one request per
service. (An editable install hides packaging mistakes: files missing from the wheels, paths
that point back into the checkout.)

Slow (a virtualenv and a dependency install, built once per session by the ``installed_wheels``
fixture and shared with test_plugin_template): run once, on the SQLite pass of the suite.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kohaweb.testing import basic_auth, free_port
from kohaweb.testing_venv import fetch, run, serving

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("KOHAWEB_TEST_DATABASE", "sqlite") != "sqlite",
                       reason="packaging does not depend on the database: run on the SQLite pass only"),
]


def test_installed_wheels_migrate_and_serve_every_service(installed_wheels, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    installed = installed_wheels.venv
    python, kohaweb = installed_wheels.python, installed / "bin" / "kohaweb"
    assert len(installed_wheels.wheels) == 1 + len(list(ROOT.glob("plugins/*/setup.cfg")))
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

    base = f"http://127.0.0.1:{port}"
    with serving((kohaweb, "-c", ini, "serve"), site, base) as server:
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
    assert "Traceback" not in server.output, server.output
