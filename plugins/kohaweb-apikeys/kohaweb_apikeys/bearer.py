"""The bearer-token validator the core's security policy calls for ``Authorization: Bearer``.

A token acts as the patron who owns its API key, with that patron's current permissions,
narrowed by the scopes it was issued for. Every request re-checks the key and the patron, so
revoking or deleting the key, removing a permission, or the patron's card being lost, expired
or restricted (``kohaweb.auth.access_refusal``) takes effect at once; in the last cases the
patron's tokens are deleted too.
"""

from __future__ import annotations

import time

from pyramid.request import Request

from kohaweb.plugin_api import (
    ApiKey,
    Identity,
    InvalidCredentials,
    OAuthAccessToken,
    Patron,
    access_refusal,
    end_sessions_after_request,
    utcnow,
)

from .keys import touch
from .oauth import hash_token

TOKEN_MAX = 512  # ours are 43 characters; anything far longer is not one of ours


def validate_bearer_token(request: Request, token: str) -> Identity:
    settings = request.registry.kohaweb.settings["apikeys"]
    if not settings["client_credentials"]:
        raise InvalidCredentials("OAuth2 client credentials are disabled on this server")
    if len(token) > TOKEN_MAX:
        raise InvalidCredentials("invalid access token")
    session = request.dbsession
    stored = session.get(OAuthAccessToken, hash_token(token))
    if stored is None:
        raise InvalidCredentials("invalid access token")
    # expired rows are purged when the next token is issued; a write here would be rolled
    # back with the 401 anyway
    if stored.expires <= time.time():
        raise InvalidCredentials("access token expired")
    key = session.get(ApiKey, stored.client_id)
    if key is None or not key.active:
        raise InvalidCredentials("the API key of this access token was revoked")
    patron = session.get(Patron, key.patron_id)
    if patron is None:
        raise InvalidCredentials("invalid access token")
    refusal = access_refusal(session, patron)
    if refusal:
        end_sessions_after_request(request, patron.borrowernumber)
        raise InvalidCredentials(f"access token refused: {refusal}")
    touch(key, utcnow(), settings["last_used_interval"])
    scopes = frozenset(stored.scope.split()) if stored.scope else None
    return Identity(patron.borrowernumber, patron.userid, patron.permission_codes, "bearer", scopes)
