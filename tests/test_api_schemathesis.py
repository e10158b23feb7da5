"""Schemathesis, a real third-party OpenAPI fuzzer, against the served document: a bounded
number of generated requests per operation (valid and invalid), with zero server errors and
every response conforming to the document (status, content type, headers, body schema)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_headers_conformance,response_schema_conformance")


def schemathesis_command() -> list[str]:
    local = Path(sys.executable).with_name("schemathesis")
    if local.exists():
        return [str(local)]
    found = shutil.which("schemathesis")
    if found is None:
        pytest.skip("schemathesis is not installed (requirements-dev.txt)")
    return [found]


def login(base: str, userid: str, password: str) -> tuple[str, str]:
    """A staff session (cookie + CSRF token): cheaper per request than bcrypt-checked Basic auth."""
    import re

    import requests

    session = requests.Session()
    form = session.get(f"{base}/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    session.post(f"{base}/login", data={"userid": userid, "password": password, "csrf_token": token},
                 allow_redirects=False).raise_for_status()
    page = session.get(f"{base}/api/v1/.html").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return session.cookies["kohaweb_session"], token


def installed_services() -> list[str]:
    from importlib.metadata import entry_points

    return sorted(e.name for e in entry_points(group="kohaweb.services"))


def test_schemathesis_finds_no_server_error_or_schema_violation(live_server, staff_user, sample_records, tmp_path):
    """The core's resources aggregated with every installed plugin's API services (reports, OAI
    sets, API keys and OAuth token...), 15 examples per operation. One run: a run on the core's
    resources alone fuzzed the same operations again, and the core alone is what most of the
    other API tests serve."""
    sample_records(5)
    userid, password, _ = staff_user("fuzzer", "superlibrarian")
    with live_server(services=installed_services()) as base:
        cookie, token = login(base, userid, password)
        result = subprocess.run(
            [*schemathesis_command(), "run", f"{base}/api/v1/", "--url", f"{base}/api/v1",
             "-H", f"Cookie: kohaweb_session={cookie}", "-H", f"X-CSRF-Token: {token}",
             "--checks", CHECKS, "--max-examples", "15", "--seed", "1",
             "--phases", "examples,fuzzing", "--generation-database", "none", "--workers", "1",
             "--no-color", "--request-timeout", "30", "--report", "junit",
             "--report-junit-path", str(tmp_path / "junit.xml")],
            capture_output=True, text=True, timeout=600, cwd=tmp_path,
            env={**os.environ, "SCHEMATHESIS_HOOKS": ""})
    summary = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, summary
    assert "No issues found" in result.stdout or "passed" in result.stdout, summary
