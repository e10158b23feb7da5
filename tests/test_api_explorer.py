"""The API explorer (/api/v1/explorer): Swagger UI served from the installed swagger-ui-py assets
over the site's own OpenAPI document, nothing remote, and try-it-out with the session (CSRF
token for writes), HTTP Basic or a bearer token, checked in a real headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from openapi_spec_validator import validate

from kohaweb.testing import basic_auth


def local_references(page_text: str) -> list[str]:
    """Every src/href of the page; the test fails on any that leaves the site."""
    refs = re.findall(r'(?:src|href)="([^"]*)"', page_text)
    remote = [r for r in refs if urlsplit(r).scheme or r.startswith("//")]
    assert not remote, f"remote references: {remote}"
    return refs


def test_page_and_assets_are_served_locally(api):
    page = api.get("/api/v1/explorer")
    assert page.status_int == 200 and page.content_type == "text/html"
    refs = local_references(page.text)
    scripts = re.findall(r'<script src="([^"]+)"', page.text)
    styles = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page.text)
    assert any(s.endswith("/swagger-ui-bundle.js") for s in scripts)
    assert any(s.endswith("/swagger-ui.css") for s in styles)
    expected = {".js": ("application/javascript", "text/javascript"), ".css": ("text/css",)}
    for ref in scripts + styles:
        asset = api.get(ref)
        assert asset.status_int == 200, ref
        assert asset.content_type in expected[Path(ref).suffix], (ref, asset.content_type)
        assert len(asset.body) > 100
    # the Swagger UI bundled is one that renders OpenAPI 3.1 (version 5 and later; the browser test
    # below sees the operations rendered)
    bundle = api.get(next(s for s in scripts if s.endswith("/swagger-ui-bundle.js"))).body
    version = re.search(rb'PACKAGE_VERSION:"(\d+)\.\d+\.\d+"', bundle)
    assert version and int(version.group(1)) >= 5
    # the document the page explores is the API's own, still valid OpenAPI 3.1
    holder = re.search(r'<div id="swagger-ui" data-url="([^"]+)"', page.text).group(1)
    doc = api.get(holder).json
    validate(doc)
    assert doc["openapi"].startswith("3.1")
    assert set(doc["components"]["securitySchemes"]) == {"bearer", "basic", "cookie"}
    assert doc["components"]["securitySchemes"]["bearer"] == {**doc["components"]["securitySchemes"]["bearer"],
                                                             "type": "http", "scheme": "bearer"}
    assert doc["components"]["securitySchemes"]["basic"]["scheme"] == "basic"
    assert doc["components"]["securitySchemes"]["cookie"]["in"] == "cookie"
    assert "/api/v1/.html" in refs and "/api/v1/" in refs  # the reference page and the document
    # the browser may load only this site's resources
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and "unsafe-eval" not in policy


def test_koha_html_page_still_answers_and_links_the_explorer(api):
    page = api.get("/api/v1/.html")
    assert page.status_int == 200 and 'href="/api/v1/explorer"' in page.text
    assert api.head("/api/v1/explorer").status_int == 200


def test_no_session_is_started_for_visitors_and_signed_in_staff_get_a_csrf_token(api, staff_user):
    page = api.get("/api/v1/explorer")
    assert "data-csrf-token" not in page.text and "Set-Cookie" not in page.headers
    assert "Sign in" in page.text
    userid, password, _ = staff_user("cat", "catalogue")
    token = re.search(r'name="csrf_token" value="([^"]+)"', api.get("/login").text).group(1)
    api.post("/login", {"userid": userid, "password": password, "csrf_token": token}, status=303)
    page = api.get("/api/v1/explorer")
    csrf = re.search(r'data-csrf-token="([^"]+)"', page.text).group(1)
    assert f"Signed in as {userid}" in page.text
    # the token the page hands to Swagger UI is the one the API checks on cookie-authenticated writes
    api.post_json("/api/v1/libraries", {"library_id": "X"}, status=403)  # no token: refused as CSRF
    refused = api.post_json("/api/v1/libraries", {"library_id": "X"}, headers={"X-CSRF-Token": csrf},
                            expect_errors=True)
    assert refused.status_int != 403 or refused.json.get("error_code") != "csrf_token_invalid"




# What this adds is Swagger UI's behaviour in Chromium (the dialog, what try-it-out sends, the
# kept authorization); the answers to Basic, bearer and session requests are checked on every
# database by the API tests, so the 20 s of browser work run on the SQLite pass only.
@pytest.mark.database_independent
def test_try_it_out_in_a_browser_with_basic_bearer_and_session(chromium, live_server, staff_user, sample_records,
                                                               dbsession, tmp_path):
    from playwright.sync_api import expect

    create_key = pytest.importorskip("kohaweb_apikeys.keys").create_key
    sample_records(2)
    userid, password, patron_id = staff_user("explorer", "catalogue")
    fresh = create_key(dbsession, patron_id, "API explorer test")
    dbsession.commit()
    client_id, secret = fresh.key.client_id, fresh.secret
    with live_server(services=["apikeys"], **{"kohaweb.auth.basic": "true"}) as base:
        context = chromium.new_context(base_url=base, viewport={"width": 1280, "height": 800})
        page = context.new_page()
        errors: list[str] = []
        remote: list[str] = []
        calls: list = []  # the API requests try-it-out sent, with their responses
        # the refused write below is logged by Chromium as a failed load: the one error expected
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" and
                not m.location.get("url", "").endswith("/api/v1/libraries") else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: remote.append(r.url) if not r.url.startswith((base, "data:")) else None)
        page.on("response", lambda r: calls.append(r) if re.search(r"/api/v1/(biblios|libraries)", r.url) else None)

        def loaded() -> None:
            expect(page.locator("#operations-biblios-list_biblios")).to_be_visible(timeout=30000)

        def execute(operation_id: str, status: str) -> dict:
            """Open an operation, try it out, execute; the request's headers."""
            operation = page.locator(f"#operations-{operation_id}")
            if operation.locator(".opblock-body").count() == 0:
                operation.locator(".opblock-summary-control").click()
            try_it = operation.locator("button.try-out__btn")
            if "cancel" not in (try_it.get_attribute("class") or ""):
                try_it.click()
            before = len(calls)
            operation.locator("button.execute").click()
            expect(operation.locator(".live-responses-table .response .response-col_status").first).to_have_text(
                re.compile(status), timeout=30000)
            assert len(calls) > before
            return calls[-1].request.all_headers()  # with the cookie the browser added

        def authorize(scheme: str, **fields: str) -> None:
            page.locator(".auth-wrapper button.authorize").click()
            form = page.locator(".modal-ux .auth-container form").filter(has=page.locator(f"code:text-is('{scheme}')"))
            for field, value in fields.items():
                form.locator(f"#auth-{scheme}-{field}").fill(value)
            form.locator("button.authorize").click()
            form.locator("button.btn-done").click()

        # the page renders the OpenAPI 3.1 document: operations and the three security schemes
        page.goto("/api/v1/explorer")
        loaded()
        assert page.locator(".opblock").count() > 20
        page.screenshot(path=str(tmp_path / "api-explorer-top-1280x800.png"))

        # HTTP Basic, given in the Authorize dialog
        authorize("basic", username=userid, password=password)
        headers = execute("biblios-list_biblios", "200")
        assert headers["authorization"] == basic_auth(userid, password)["Authorization"]
        # persistAuthorization: still there after a reload
        page.reload()
        loaded()
        assert execute("biblios-list_biblios", "200")["authorization"].startswith("Basic ")

        # an OAuth2 bearer token (client credentials of the user's API key)
        token = requests.post(f"{base}/api/v1/oauth/token", timeout=60, data={
            "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}).json()
        page.evaluate("window.localStorage.clear()")
        page.reload()
        loaded()
        authorize("bearer", value=token["access_token"])
        assert execute("biblios-list_biblios", "200")["authorization"] == f"Bearer {token['access_token']}"

        # the staff session: no credentials given, the browser's cookie authenticates
        page.evaluate("window.localStorage.clear()")
        page.goto("/login?came_from=/api/v1/explorer")
        page.get_by_label("Username or card number").fill(userid)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(f"{base}/api/v1/explorer")
        loaded()
        headers = execute("biblios-list_biblios", "200")
        assert "authorization" not in headers and "kohaweb_session=" in headers.get("cookie", "")
        # a write carries the session's CSRF token: the API judges the permission, not the token
        headers = execute("libraries-add_library", "40[03]")
        assert headers.get("x-csrf-token")
        assert "csrf_token_invalid" not in calls[-1].text()
        page.screenshot(path=str(tmp_path / "api-explorer-1280x800.png"))  # for a look by eye
        context.close()
    assert not remote, f"requests that left the site: {remote}"
    assert not errors, f"console errors: {errors}"
