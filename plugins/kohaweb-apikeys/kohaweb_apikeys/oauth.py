"""``POST /api/v1/oauth/token``: the OAuth2 client-credentials grant (RFC 6749 §4.4) with oauthlib.

oauthlib does the protocol (parameter checks, error codes, the token response); the
:class:`ApiKeyValidator` below answers its questions from the ``api_keys`` table and stores
issued tokens in ``oauth_access_tokens`` as SHA-256 hashes. Wrong client secrets are throttled
per client id and per address (``kohaweb.throttle``: invalid_client with Retry-After while the
caller must wait), and a key whose patron may not sign in (card lost or expired, restricted)
gets no token (unauthorized_client). A secret verified recently against the key's current hash
is not run through bcrypt again (``kohaweb.auth.credential_cache_seconds``); the key's state and
its patron are still checked on every request, so revoking it takes effect at once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import time
from typing import Any
from urllib.parse import unquote_plus

from oauthlib.oauth2 import BackendApplicationServer, RequestValidator
from oauthlib.oauth2.rfc6749 import errors
from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import delete
from sqlalchemy.orm import Session

from kohaweb import throttle
from kohaweb.credential_cache import site_cache
from kohaweb.plugin_api import (
    ApiKey,
    OAuthAccessToken,
    Patron,
    access_refusal,
    scope_allowed,
    utcnow,
)

from .keys import check_secret, plausible_client_id, touch

TOKEN_BYTES = 32


def hash_token(token: str) -> str:
    """What ``oauth_access_tokens.access_token`` holds: tokens are long random strings, so a
    fast unsalted hash is enough and lets a token be found by equality."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token(_request: Any = None) -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


class ApiKeyValidator(RequestValidator):
    """oauthlib's questions about clients, answered from the ``api_keys`` table."""

    def __init__(self, request: Request, last_used_interval: int):
        super().__init__()
        self.web_request = request
        self.session: Session = request.dbsession
        self.last_used_interval = last_used_interval
        self.retry_after = 0  # set when the caller must wait before trying again

    def client_authentication_required(self, request, *args, **kwargs) -> bool:
        return True

    def authenticate_client(self, request, *args, **kwargs) -> bool:
        for param in ("client_id", "client_secret"):
            if param in request.duplicate_params:
                raise errors.InvalidRequestError(description=f"Duplicate {param} parameter.", request=request)
        basic = basic_credentials(request.headers.get("Authorization", ""))
        in_body = request.client_id or request.client_secret
        if basic is not None and in_body:
            # RFC 6749 §2.3: a client MUST NOT use more than one authentication method
            raise errors.InvalidRequestError(
                description="Send the client credentials either with HTTP Basic or in the body, not both.",
                request=request)
        client_id, secret = basic if basic is not None else (request.client_id, request.client_secret)
        if not client_id or not secret:
            return False
        subjects = [throttle.client_subject(client_id), throttle.address_subject(self.web_request)]
        self.retry_after = throttle.check(self.web_request, subjects)
        if self.retry_after:
            raise errors.InvalidClientError(description=(
                f"Too many failed attempts; try again in {self.retry_after} seconds."), request=request)
        key = self.session.get(ApiKey, client_id) if plausible_client_id(client_id) else None
        if not check_secret(key, secret, site_cache(self.web_request.registry.kohaweb)):
            throttle.failed(self.web_request, subjects)
            return False
        throttle.succeeded(self.web_request, subjects)
        request.client = key
        request.client_id = key.client_id
        return True

    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs) -> bool:
        # a revoked key authenticates (its secret is right) but may not obtain tokens
        if grant_type != "client_credentials" or not client.active:
            return False
        patron = self.session.get(Patron, client.patron_id)
        refusal = access_refusal(self.session, patron) if patron is not None else "no such patron"
        if refusal:
            raise errors.UnauthorizedClientError(
                description=f"This API key's patron may not sign in: {refusal}.", request=request)
        return True

    def get_default_scopes(self, client_id, request, *args, **kwargs) -> list[str]:
        return []  # no scope: the token carries all of the patron's permissions

    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs) -> bool:
        """Scopes are permission names, a module or one of its sub-permissions (``module:code``),
        and may only narrow what the key's patron holds."""
        if not scopes:
            return True
        patron = self.session.get(Patron, client.patron_id)
        held = patron.permission_codes if patron is not None else frozenset()
        return all(scope_allowed(held, scope) for scope in scopes)

    def save_bearer_token(self, token, request, *args, **kwargs) -> None:
        now = int(time.time())
        # this client's expired tokens are useless; dropping them here keeps the table small.
        # (Only this client's: found by the client_id index, they do not lock other clients' rows.)
        self.session.execute(delete(OAuthAccessToken).where(OAuthAccessToken.client_id == request.client_id,
                                                            OAuthAccessToken.expires <= now))
        scopes = " ".join(sorted(set(request.scopes or ()))) or None
        self.session.add(OAuthAccessToken(access_token=hash_token(token["access_token"]),
                                          client_id=request.client_id, scope=scopes,
                                          expires=now + int(token["expires_in"])))
        touch(request.client, utcnow(), self.last_used_interval)


def basic_credentials(header: str) -> tuple[str, str] | None:
    """(client_id, secret) from an HTTP Basic header; RFC 6749 §2.3.1 form-encodes both
    before base64. Another scheme or no header gives None; a malformed one gives empty strings
    (-> invalid_client)."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return "", ""
    return unquote_plus(client_id), unquote_plus(secret)


def _scope_only_when_given(token: dict) -> dict:
    # oauthlib puts "scope": "" in the response when no scope was asked for; clients then
    # believe the scope changed. RFC 6749 §5.1 lets us leave it out.
    if not token.get("scope"):
        token.pop("scope", None)
    return token


def token_response(request: Request) -> Response:
    settings = request.registry.kohaweb.settings["apikeys"]
    if not settings["client_credentials"]:
        return _oauth_error(errors.UnsupportedGrantTypeError(
            description="The client credentials grant is disabled on this server."))
    try:
        body = request.body.decode("utf-8")
    except UnicodeDecodeError:
        return _oauth_error(errors.InvalidRequestError(description="The request body is not UTF-8."))
    validator = ApiKeyValidator(request, settings["last_used_interval"])
    server = BackendApplicationServer(validator, token_generator=new_token,
                                      token_expires_in=settings["token_lifetime"])
    server.credentials_grant.register_token_modifier(_scope_only_when_given)
    try:
        headers, payload, status = server.create_token_response(
            request.url, request.method, body, dict(request.headers))
    except errors.OAuth2Error as exc:  # raised by the endpoint's own checks (method, query string)
        return _oauth_error(exc)
    except ValueError:  # oauthlib refuses a query string that is not form-encoded
        return _oauth_error(errors.InvalidRequestError(description="Malformed query string."))
    response = _response(status, json.loads(payload), headers)
    if validator.retry_after:
        response.headers["Retry-After"] = str(validator.retry_after)
    return response


def _oauth_error(exc: errors.OAuth2Error) -> Response:
    return _response(exc.status_code, json.loads(exc.json), {})


def _response(status: int, payload: dict, headers: dict) -> Response:
    if "error" in payload:
        payload["error_code"] = payload["error"]  # the project's usual error pair, next to RFC 6749's
    response = Response(status=status, json_body=payload)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    if status == 401:
        # RFC 6749 §5.2: the challenge names the scheme the client can authenticate with here
        # (oauthlib would send a resource server's Bearer challenge)
        response.headers["WWW-Authenticate"] = (
            f'Basic realm="kohaweb", error="{payload.get("error", "invalid_client")}"')
    for name, value in headers.items():
        if name.lower() not in ("content-type", "www-authenticate", "cache-control", "pragma"):
            response.headers[name] = value
    return response
