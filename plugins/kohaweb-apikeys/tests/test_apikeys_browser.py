"""The staff page driven by a real headless Chromium (Debian's, through Playwright's Python
package): log in, generate a key, copy the secret, get a token with it, call the API, revoke
the key, see the token refused, delete the key after confirming."""

from __future__ import annotations

import re

import requests


def test_manage_api_keys_in_a_browser(chromium, live_server, staff_user):
    from playwright.sync_api import expect

    userid, password, patron_id = staff_user("librarian")
    with live_server(services=["apikeys"]) as base:
        context = chromium.new_context(base_url=base)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
        page = context.new_page()

        # log in through the core's form; /api-keys sends a patron to their own keys
        page.goto("/api-keys")
        page.get_by_label("Username or card number").fill(userid)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(f"{base}/patrons/{patron_id}/api-keys")
        expect(page.get_by_role("heading", level=1)).to_have_text("Manage API keys")
        expect(page.get_by_text("This patron has no API keys.")).to_be_visible()

        page.get_by_label("Description", exact=True).fill("Browser-made key")
        page.get_by_role("button", name="Generate a new client id/secret pair").click()
        expect(page.get_by_role("heading", name="New API key: “Browser-made key”")).to_be_visible()
        client_id = page.get_by_label("Client ID", exact=True).input_value()
        shown = page.get_by_label("Secret", exact=True).input_value()
        page.get_by_role("button", name="Copy secret").click()
        expect(page.get_by_role("status").filter(has_text="Copied")).to_have_text(
            "Copied the secret to the clipboard.")
        secret = page.evaluate("navigator.clipboard.readText()")
        assert secret == shown and len(secret) >= 43

        # the copied credentials work for a third party
        token = requests.post(f"{base}/api/v1/oauth/token", data={"grant_type": "client_credentials"},
                              auth=(client_id, secret), timeout=30)
        assert token.status_code == 200, token.text
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        keys_url = f"{base}/api/v1/patrons/{patron_id}/api_keys"
        listed = requests.get(keys_url, headers=auth, timeout=30)
        assert listed.status_code == 200 and listed.json()[0]["client_id"] == client_id

        # the secret is never shown again: a reload re-posts the form but makes no second key
        page.reload()
        expect(page.get_by_text("This form was already sent")).to_be_visible()
        assert secret not in page.content()
        page.goto(f"/patrons/{patron_id}/api-keys")
        assert secret not in page.content()
        expect(page.get_by_role("row")).to_have_count(2)  # header and the one key
        row = page.get_by_role("row").filter(has_text="Browser-made key")
        expect(row.get_by_role("cell", name="Active", exact=True)).to_be_visible()

        row.get_by_role("button", name=re.compile("^Revoke")).click()
        expect(page.get_by_role("status").first).to_contain_text("revoked")
        expect(row.get_by_role("cell", name="Revoked", exact=True)).to_be_visible()
        refused = requests.get(keys_url, headers=auth, timeout=30)
        assert refused.status_code == 401 and "WWW-Authenticate" in refused.headers
        again = requests.post(f"{base}/api/v1/oauth/token", data={"grant_type": "client_credentials"},
                              auth=(client_id, secret), timeout=30)
        assert again.status_code == 400 and again.json()["error"] == "unauthorized_client"

        # delete asks first
        row.get_by_role("link", name=re.compile("^Delete")).click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Delete API key “Browser-made key”?")
        page.get_by_role("button", name="Yes, delete this key").click()
        expect(page.get_by_role("status").first).to_contain_text("deleted")
        expect(page.get_by_text("This patron has no API keys.")).to_be_visible()
        context.close()
