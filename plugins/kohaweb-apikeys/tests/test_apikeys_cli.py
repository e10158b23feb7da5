"""``kohaweb apikeys ...`` in-process, against the test database; keys made there get tokens."""

from __future__ import annotations

import pytest

from kohaweb.cli import main
from kohaweb.testing import TEST_SECRET


@pytest.fixture
def run(tmp_path, database_url, clean_db, capsys):
    ini = tmp_path / "test.ini"
    ini.write_text(f"[app:main]\nuse = egg:kohaweb\nkohaweb.services = apikeys\n"
                   f"kohaweb.database_url = {database_url}\nkohaweb.secret = {TEST_SECRET}\n")

    def call(*args: str) -> tuple[int, str, str]:
        status = main(["-c", str(ini), "apikeys", *args])
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return call


def test_create_list_revoke_activate_delete(run, staff_user, make_app):
    _, _, patron_id = staff_user("scripted")
    status, out, err = run("create", "scripted", "--description", "Nightly export")
    assert status == 0 and "shown only once" in err
    fields = dict(line.split(": ", 1) for line in out.splitlines())
    client_id, secret = fields["client_id"], fields["secret"]
    app = make_app(services=["apikeys"])
    token = app.post("/api/v1/oauth/token", {"grant_type": "client_credentials", "client_id": client_id,
                                             "client_secret": secret}).json["access_token"]
    app.get(f"/api/v1/patrons/{patron_id}/api_keys", headers={"Authorization": f"Bearer {token}"})

    status, out, _ = run("list", str(patron_id))
    assert status == 0 and out.split("\t")[0] == client_id and "active" in out and "Nightly export" in out
    assert run("revoke", client_id)[:2] == (0, f"revoked {client_id}\n")
    app.get(f"/api/v1/patrons/{patron_id}/api_keys", headers={"Authorization": f"Bearer {token}"}, status=401)
    status, _, err = run("revoke", client_id)
    assert status == 1 and "already revoked" in err
    assert run("activate", client_id)[0] == 0
    assert run("delete", client_id)[0] == 0
    status, out, err = run("list", "c-scripted")
    assert status == 0 and out == "" and "no API keys" in err


def test_errors_are_one_line(run, staff_user):
    staff_user("someone")
    status, out, err = run("create", "nobody", "--description", "x")
    assert status == 1 and err == "kohaweb: no patron with userid, card number or number 'nobody'\n"
    status, _, err = run("create", "someone", "--description", "   ")
    assert status == 1 and "description is required" in err
    status, _, err = run("delete", "no-such-client")
    assert status == 1 and "no API key" in err
    assert run("list", "someone")[0] == 0
