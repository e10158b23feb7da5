"""Patron API keys: creation, lookup, revocation and who may manage them.

A key is an OAuth2 client: ``client_id`` is a random UUID, the secret is 32 random bytes
(URL-safe base64) that exist in plain text only in the return value of :func:`create_key`;
the table keeps a bcrypt hash, so a leaked database grants nothing. Revoking or deleting a
key also deletes its access tokens, so they stop working at once and a re-activated key
does not bring old tokens back.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kohaweb.credential_cache import CredentialCache, verify_cached
from kohaweb.plugin_api import (
    SUPERLIBRARIAN,
    ApiKey,
    Identity,
    OAuthAccessToken,
    hash_password,
    verify_password,
)

DESCRIPTION_MAX = 255
CLIENT_ID_MAX = 191  # the api_keys.client_id column
SECRET_BYTES = 32
CLIENT_CREDENTIALS = "client"  # the credential cache's kind for (client_id, secret)


class ApiKeyError(Exception):
    """A refused key operation; ``code`` is the API error_code, ``status`` the HTTP status."""

    def __init__(self, message: str, code: str, status: int = 400):
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class NewKey:
    """A freshly created key with its secret: the only moment the secret is known."""

    key: ApiKey
    secret: str


def clean_description(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ApiKeyError("A description is required.", "description_required")
    text = " ".join(raw.split())  # one line: it is shown in tables
    if any(ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in text):
        # control characters and lone surrogates: no database stores them all alike
        raise ApiKeyError("The description contains characters that are not allowed.", "invalid_description")
    if len(text) > DESCRIPTION_MAX:
        raise ApiKeyError(f"The description is longer than {DESCRIPTION_MAX} characters.", "description_too_long")
    return text


def create_key(session: Session, patron_id: int, description: Any) -> NewKey:
    description = clean_description(description)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    key = ApiKey(client_id=str(uuid.uuid4()), secret=hash_password(secret), description=description,
                 patron_id=patron_id, active=True)
    session.add(key)
    session.flush()
    return NewKey(key, secret)


def list_keys(session: Session, patron_id: int) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).where(ApiKey.patron_id == patron_id)
                                .order_by(ApiKey.created_on, ApiKey.client_id)))


def plausible_client_id(client_id: str) -> bool:
    """Worth a database lookup: PostgreSQL refuses NUL and no database stores lone surrogates,
    so such strings (which are never client ids) must not reach a query."""
    return 0 < len(client_id) <= CLIENT_ID_MAX and client_id.isprintable()


def get_key(session: Session, patron_id: int, client_id: str) -> ApiKey | None:
    if not plausible_client_id(client_id):
        return None
    key = session.get(ApiKey, client_id)
    return key if key is not None and key.patron_id == patron_id else None


def revoke(session: Session, key: ApiKey) -> None:
    if not key.active:
        raise ApiKeyError("This API key is already revoked.", "already_revoked", 409)
    key.active = False
    drop_tokens(session, key.client_id)


def activate(session: Session, key: ApiKey) -> None:
    if key.active:
        raise ApiKeyError("This API key is already active.", "already_active", 409)
    key.active = True


def delete_key(session: Session, key: ApiKey) -> None:
    drop_tokens(session, key.client_id)
    session.delete(key)
    session.flush()


def drop_tokens(session: Session, client_id: str) -> None:
    session.execute(delete(OAuthAccessToken).where(OAuthAccessToken.client_id == client_id))


def check_secret(key: ApiKey | None, secret: str, cache: CredentialCache | None = None) -> bool:
    """Constant work whether or not the client exists (``verify_password`` checks a dummy hash
    when there is none), so response times do not reveal which client ids are real. With a
    ``cache`` (:mod:`kohaweb.credential_cache`) a secret verified recently against the key's
    current hash skips bcrypt; whether the key is active is the caller's check, every time."""
    return verify_cached(cache, CLIENT_CREDENTIALS, key.client_id if key is not None else "", secret,
                         key.client_id if key is not None else None, key.secret if key is not None else None,
                         verify_password)


def can_manage(identity: Identity | None, patron_id: int, borrowers_may_manage: bool,
               creating: bool = False) -> bool:
    """Koha's rule: the patron themself or a superlibrarian (optionally anyone with
    ``borrowers``). A token narrowed by scopes acts for its owner only through those scopes,
    so it may not create or change keys as "the patron themself". ``creating`` (a new key, or
    re-activating a revoked one: lasting credentials) also needs the patron themself to have
    signed in with their password (session or HTTP Basic): a bearer token, which expires,
    cannot turn itself into a key that does not, unless its patron may manage others' keys."""
    if identity is None:
        return False
    if identity.patron_id == patron_id and identity.scopes is None \
            and not (creating and identity.method == "bearer"):
        return True
    return may_manage_others(identity, borrowers_may_manage)


def may_manage_others(identity: Identity, borrowers_may_manage: bool) -> bool:
    return identity.has(SUPERLIBRARIAN) or (borrowers_may_manage and identity.has("borrowers"))


def required_permission(borrowers_may_manage: bool) -> str:
    return "borrowers" if borrowers_may_manage else SUPERLIBRARIAN


def touch(key: ApiKey, now: dt.datetime, interval: int) -> None:
    """Record use, at most once per ``interval`` seconds (a write per API call would
    serialise busy clients on one row)."""
    if key.last_used_on is None or (now - key.last_used_on).total_seconds() >= interval:
        key.last_used_on = now
