"""Real clients over real HTTP: requests-oauthlib's client-credentials flow against live_server."""

from __future__ import annotations

import pytest
from oauthlib.oauth2 import BackendApplicationClient, InvalidClientError
from requests_oauthlib import OAuth2Session


@pytest.fixture(autouse=True)
def _loopback_http(monkeypatch):
    # oauthlib clients insist on https; the test server is plain HTTP on 127.0.0.1 only
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def test_backend_application_client(live_server, staff_user, new_key, key_row):
    _, _, patron_id = staff_user("robot")
    client_id, secret = new_key(patron_id, "integration robot")
    with live_server(services=["apikeys"]) as base:
        token_url = f"{base}/api/v1/oauth/token"
        keys_url = f"{base}/api/v1/patrons/{patron_id}/api_keys"
        # credentials with HTTP Basic (requests-oauthlib's default)
        session = OAuth2Session(client=BackendApplicationClient(client_id=client_id))
        token = session.fetch_token(token_url=token_url, client_id=client_id, client_secret=secret)
        assert token["token_type"] == "Bearer" and token["expires_in"] == 3600
        listed = session.get(keys_url)
        assert listed.status_code == 200, listed.text
        assert [k["client_id"] for k in listed.json()] == [client_id]
        assert key_row(client_id).last_used_on is not None

        # credentials in the form body
        body_session = OAuth2Session(client=BackendApplicationClient(client_id=client_id))
        body_session.fetch_token(token_url=token_url, client_id=client_id, client_secret=secret,
                                 include_client_id=True)
        assert body_session.get(keys_url).status_code == 200

        with OAuth2Session(client=BackendApplicationClient(client_id=client_id)) as wrong, \
                pytest.raises(InvalidClientError):
            wrong.fetch_token(token_url=token_url, client_id=client_id, client_secret=secret[:-1])

        # the token revokes its own key; from then on both tokens are refused
        revoked = session.post(f"{keys_url}/{client_id}/revoke")
        assert revoked.status_code == 200 and revoked.json()["active"] is False
        refused = session.get(keys_url)
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert body_session.get(keys_url).status_code == 401
        # idle keep-alive connections would hold the server's threads at shutdown
        session.close()
        body_session.close()
