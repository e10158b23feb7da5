"""The staff page "Manage API keys": server-rendered, CSRF-protected, no JavaScript needed."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from kohaweb.auth import verify_password
from kohaweb.models import ApiKey

HTML = {"Accept": "text/html"}
SERVICES = ["apikeys"]


@pytest.fixture
def app(make_app):
    return make_app(services=SERVICES)


@pytest.fixture
def patron(staff_user):
    return staff_user("patron1")


@pytest.fixture
def own_page(app, patron, login):
    userid, password, patron_id = patron
    login(app, userid, password)
    return f"/patrons/{patron_id}/api-keys"


def generate(app, page: str, description: str, status: int = 201):
    form = app.get(page).forms["generate"]
    form["description"] = description
    return form.submit(status=status)


def test_anonymous_browser_goes_to_login(app, patron):
    response = app.get(f"/patrons/{patron[2]}/api-keys", headers=HTML, status=302)
    assert "/login?came_from=" in response.location
    app.get(f"/patrons/{patron[2]}/api-keys", status=401)
    app.get("/api-keys", headers=HTML, status=302)


def test_generate_shows_the_secret_once(app, own_page, patron, dbsession):
    page = app.get(own_page)
    assert "This patron has no API keys." in page.text
    assert page.html.find("label", attrs={"for": "description"}).text == "Description"
    assert page.headers["Cache-Control"] == "no-store"
    created = generate(app, own_page, "  Discovery   layer ")
    client_id = created.html.find(id="fresh-client-id")["value"]
    secret = created.html.find(id="fresh-secret")["value"]
    assert len(secret) >= 43 and "shown only this once" in created.text
    assert created.html.find("button", attrs={"data-copy": "fresh-secret"}) is not None
    assert created.headers["Cache-Control"] == "no-store"
    key = dbsession.scalars(select(ApiKey)).one()
    assert key.client_id == client_id and key.patron_id == patron[2]
    assert key.description == "Discovery layer" and key.active
    assert key.secret != secret and verify_password(secret, key.secret)
    again = app.get(own_page)
    assert secret not in again.text and client_id in again.text
    row = again.html.find("code", string=client_id).find_parent("tr")
    assert row.find(class_="status").text == "Active"


def test_resubmitted_form_makes_no_second_key(app, own_page, dbsession):
    form = app.get(own_page).forms["generate"]
    form["description"] = "Once"
    first = form.submit(status=201)
    again = form.submit(status=409)
    assert "already sent" in again.text
    assert first.html.find(id="fresh-secret")["value"] not in again.text
    assert len(dbsession.scalars(select(ApiKey)).all()) == 1
    # a fresh form (new page) generates again
    generate(app, own_page, "Twice")


def test_description_is_required(app, own_page, dbsession):
    response = generate(app, own_page, "   ", status=400)
    assert response.html.find(id="description-error").text == "A description is required."
    assert dbsession.scalars(select(ApiKey)).all() == []


def test_every_form_needs_the_csrf_token(app, own_page, new_key, patron, dbsession):
    app.post(own_page, {"description": "x"}, status=400)
    client_id, _ = new_key(patron[2])
    app.post(f"{own_page}/{client_id}/revoke", status=400)
    app.post(f"{own_page}/{client_id}/delete", {"csrf_token": "forged"}, status=400)
    assert dbsession.scalars(select(ApiKey)).one().active
    page = app.get(own_page)
    for form in page.forms.values():
        if form.method.lower() == "post":
            assert form["csrf_token"].value


def test_revoke_activate_delete(app, own_page, new_key, patron, key_row):
    client_id, _ = new_key(patron[2], "Self-check machine")
    page = app.get(own_page)
    revoked = page.forms[f"state-{client_id}"].submit(status=303).follow()
    assert "revoked" in revoked.html.find(class_="message").text
    assert revoked.html.find("code", string=client_id).find_parent("tr").find(class_="status").text == "Revoked"
    assert not key_row(client_id).active
    activated = revoked.forms[f"state-{client_id}"].submit(status=303).follow()
    assert "activated" in activated.text and key_row(client_id).active
    confirm = activated.click(href=f"/{client_id}/delete")
    assert "Delete API key “Self-check machine”?" in confirm.text
    assert key_row(client_id) is not None  # asking is not deleting
    done = confirm.forms["delete"].submit(status=303).follow()
    assert "deleted" in done.text and key_row(client_id) is None


def test_double_submit_is_harmless(app, own_page, new_key, patron, key_row):
    client_id, _ = new_key(patron[2])
    form = app.get(own_page).forms[f"state-{client_id}"]
    form.submit(status=303)
    again = form.submit(status=303).follow()
    assert "already revoked" in again.text and not key_row(client_id).active


def test_others_keys_are_forbidden(app, staff_user, new_key, patron, key_row, login):
    _, _, other_id = staff_user("other")
    client_id, _ = new_key(other_id)
    userid, password, _ = patron
    login(app, userid, password)
    token = app.get(f"/patrons/{patron[2]}/api-keys").forms["generate"]["csrf_token"].value
    app.get(f"/patrons/{other_id}/api-keys", status=403)
    app.post(f"/patrons/{other_id}/api-keys", {"csrf_token": token, "description": "x"}, status=403)
    app.post(f"/patrons/{other_id}/api-keys/{client_id}/revoke", {"csrf_token": token}, status=403)
    app.post(f"/patrons/{other_id}/api-keys/{client_id}/delete", {"csrf_token": token}, status=403)
    assert key_row(client_id).active
    # the key exists, but under another patron: not found from this patron's page
    app.post(f"/patrons/{patron[2]}/api-keys/{client_id}/revoke", {"csrf_token": token}, status=404)
    app.get(f"/patrons/{patron[2]}/api-keys/{client_id}/delete", status=404)
    # /api-keys sends a patron without staff rights to their own page
    assert app.get("/api-keys", status=303).location.endswith(f"/patrons/{patron[2]}/api-keys")


def test_superlibrarian_manages_anyone(app, staff_user, patron, login):
    userid, password, _ = staff_user("boss", "superlibrarian")
    login(app, userid, password)
    found = app.get("/api-keys", {"patron": "c-patron1"}, status=303)
    assert found.location.endswith(f"/patrons/{patron[2]}/api-keys")
    assert app.get("/api-keys", {"patron": "nobody-here"}, status=404).html.find(id="patron-error")
    created = generate(app, f"/patrons/{patron[2]}/api-keys", "Made by staff")
    assert created.html.find(id="fresh-secret")["value"]
    app.get("/patrons/999999/api-keys", status=404)
    app.get("/patrons/99999999999999999999/api-keys", status=404)


def test_borrowers_permission_by_setting(make_app, staff_user, patron, login):
    userid, password, _ = staff_user("clerk", "borrowers")
    strict = make_app(services=SERVICES)
    login(strict, userid, password)
    strict.get(f"/patrons/{patron[2]}/api-keys", status=403)
    lenient = make_app(services=SERVICES, **{"apikeys.borrowers_manage_keys": "true"})
    login(lenient, userid, password)
    lenient.get(f"/patrons/{patron[2]}/api-keys", status=200)


def test_page_markup_is_accessible(app, own_page, new_key, patron):
    new_key(patron[2], "Campus system")
    page = app.get(own_page)
    assert [h.text for h in page.html.find_all("h1")] == ["Manage API keys"]
    assert page.html.find("table").find("caption") is not None
    assert all(th.get("scope") == "col" for th in page.html.find("thead").find_all("th"))
    for field in page.html.find_all("input"):
        if field.get("type") != "hidden":
            assert page.html.find("label", attrs={"for": field["id"]}) is not None
    for button in page.html.select("td.actions button"):
        assert "Campus system" in button["aria-label"]
    assert re.search(r'<script src="[^"]+apikeys\.js" defer>', page.text)


def test_bad_form_input_is_a_4xx(app, own_page, dbsession):
    csrf = app.get(own_page).forms["generate"]["csrf_token"].value
    for description in ["nul\x00byte", "bell\x07", "x" * 300]:
        response = app.post(own_page, {"csrf_token": csrf, "description": description}, status=400)
        assert response.html.find(id="description-error") is not None
    broken = app.post(own_page, b"csrf_token=" + csrf.encode() + b"&description=%ff%fe",
                      content_type="application/x-www-form-urlencoded", expect_errors=True)
    # WebOb decodes broken UTF-8 with replacement characters, which every database stores
    assert broken.status_int in (201, 400)
    assert all("\x00" not in k.description for k in dbsession.scalars(select(ApiKey)))


def test_start_page_for_staff_and_disabled_grant_notice(make_app, staff_user, patron, login):
    boss = staff_user("boss3", "superlibrarian")
    app = make_app(services=SERVICES, **{"apikeys.client_credentials": "false"})
    login(app, boss[0], boss[1])
    start = app.get("/api-keys")
    assert start.html.find("label", attrs={"for": "patron"}).text.startswith("Card number")
    assert app.get("/api-keys", {"patron": str(patron[2])}, status=303).location.endswith(
        f"/patrons/{patron[2]}/api-keys")
    page = app.get(f"/patrons/{patron[2]}/api-keys")
    assert "switched off" in page.text


def test_odd_client_ids_in_page_urls_are_404(app, own_page):
    # (invalid UTF-8 in a path is left out: the core's URL decoding refuses it before any view)
    for client_id in ["%00", "%07", "x" * 300, "%F0%9F%94%91"]:
        app.get(f"{own_page}/{client_id}/delete", status=404)


def test_kohas_address_of_the_page(app):
    assert app.get("/cgi-bin/koha/members/apikeys.pl", {"patron_id": "42"}, status=303).location.endswith(
        "/patrons/42/api-keys")
    assert app.get("/cgi-bin/koha/members/apikeys.pl", {"patron_id": "x"}, status=303).location.endswith(
        "/api-keys")
