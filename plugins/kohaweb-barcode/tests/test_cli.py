"""``kohaweb barcode-url`` prints a signed URL the service accepts without a login."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlsplit

import pytest

from kohaweb.cli import main
from kohaweb.testing import TEST_SECRET


@pytest.fixture
def ini(tmp_path, database_url):
    def write(**settings):
        lines = ["[app:main]", "use = egg:kohaweb", f"kohaweb.database_url = {database_url}",
                 f"kohaweb.secret = {TEST_SECRET}", "kohaweb.services = barcode"]
        lines += [f"{key} = {value}" for key, value in settings.items()]
        path = tmp_path / "test.ini"
        path.write_text("\n".join(lines) + "\n")
        return str(path)

    return write


def run(capsys, *argv) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_signed_url_is_served_without_login(app, ini, capsys):
    status, out, _ = run(capsys, "-c", ini(), "barcode-url", "978020137962", "--type", "ean13", "--notext",
                         "--height", "80", "--base-url", "https://library.example.org/")
    assert status == 0
    parts = urlsplit(out.strip())
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "library.example.org", "/svc/barcode")
    params = dict(parse_qsl(parts.query))
    assert params["type"] == "EAN13" and params["notext"] == "1" and params["height"] == "80"
    response = app.get(parts.path, params)
    assert response.content_type == "image/png"


def test_lifetime_from_setting_and_option(ini, capsys):
    _, out, _ = run(capsys, "-c", ini(**{"barcode.signed_url_lifetime": "120"}), "barcode-url", "1234")
    assert out.startswith("/svc/barcode?")  # no base URL configured: a path
    assert int(dict(parse_qsl(urlsplit(out.strip()).query))["expires"]) == pytest.approx(time.time() + 120, abs=5)
    _, out, _ = run(capsys, "-c", ini(), "barcode-url", "1234", "--lifetime", "30", "--koha-path", "--format", "svg")
    assert out.startswith("/cgi-bin/koha/svc/barcode?")
    params = dict(parse_qsl(urlsplit(out.strip()).query))
    assert int(params["expires"]) == pytest.approx(time.time() + 30, abs=5) and params["format"] == "svg"


def test_base_url_setting(ini, capsys):
    _, out, _ = run(capsys, "-c", ini(**{"kohaweb.base_url": "http://opac.example.org"}), "barcode-url", "X1")
    assert out.startswith("http://opac.example.org/svc/barcode?")


@pytest.mark.parametrize("argv, message", [
    (["12A", "--type", "ITF"], "Invalid barcode for type ITF"),
    (["1", "--type", "Code128"], "Unknown barcode type 'Code128'"),
    (["1", "--lifetime", "0"], "--lifetime must be at least 1 second"),
])
def test_invalid_input_is_refused(ini, capsys, argv, message):
    status, out, err = run(capsys, "-c", ini(), "barcode-url", *argv)
    assert status == 1 and out == ""
    assert message in err
