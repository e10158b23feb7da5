"""Authentication and named permissions, used by every service.

Credentials are tried in this order: OAuth2 bearer token (validated by whatever plugin
registered a bearer validator, e.g. kohaweb-apikeys), HTTP Basic (only when
``kohaweb.auth.basic`` is true), and the signed staff session cookie set by /login.
Views declare the permission they need (``permission="reports"``); the policy decides.
Unauthenticated requests get 401 with ``WWW-Authenticate``; authenticated ones lacking the
permission get 403.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import bcrypt
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.security import Allowed, Denied
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import Patron, PatronPermission

# Koha's top-level permission flags, by name.
PERMISSIONS = (
    "superlibrarian", "circulate", "catalogue", "parameters", "borrowers", "permissions",
    "reserveforothers", "editcatalogue", "updatecharges", "acquisition", "tools", "editauthorities",
    "serials", "reports", "staffaccess", "lists", "ill", "self_check",
)
SUPERLIBRARIAN = "superlibrarian"
SESSION_KEY = "kohaweb.patron_id"


class InvalidCredentials(Exception):
    """Credentials were presented but are wrong, expired or revoked (-> 401, never anonymous)."""


@dataclass(frozen=True)
class Identity:
    patron_id: int
    userid: str | None
    permissions: frozenset[str]
    method: str  # "session", "basic" or "bearer"
    scopes: frozenset[str] | None = field(default=None)  # a bearer token may narrow permissions

    def has(self, permission: str) -> bool:
        granted = self.permissions
        if self.scopes is not None:
            granted = granted & self.scopes if SUPERLIBRARIAN not in self.scopes else granted
        return SUPERLIBRARIAN in granted or permission in granted


BearerValidator = Callable[[Request, str], Identity]


# --- passwords -----------------------------------------------------------------------------------

def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode("utf-8")[:72], bcrypt.gensalt(rounds=10)).decode("ascii")


def verify_password(password: str, hashed: str | None) -> bool:
    if not hashed or not hashed.startswith("$2"):
        return False
    try:
        return bcrypt.checkpw(password.encode("utf-8")[:72], hashed.encode("ascii"))
    except ValueError:
        return False


def find_patron(session: Session, login: str) -> Patron | None:
    """A patron by userid or cardnumber, case-insensitively (Koha's collation)."""
    login = login.strip().lower()
    if not login:
        return None
    return session.scalar(select(Patron).where(
        (func.lower(Patron.userid) == login) | (func.lower(Patron.cardnumber) == login)).limit(1))


def authenticate_password(session: Session, login: str, password: str) -> Patron | None:
    patron = find_patron(session, login)
    if patron is None or not verify_password(password, patron.password):
        return None
    if patron.dateexpiry is not None and patron.dateexpiry < dt.date.today() and not patron.permissions:
        return None
    return patron


def identity_for(patron: Patron, method: str, scopes: frozenset[str] | None = None) -> Identity:
    return Identity(patron.borrowernumber, patron.userid, patron.permission_codes, method, scopes)


def grant(session: Session, patron: Patron, *permissions: str) -> None:
    unknown = set(permissions) - set(PERMISSIONS)
    if unknown:
        raise ValueError(f"unknown permission(s): {', '.join(sorted(unknown))}; known: {', '.join(PERMISSIONS)}")
    have = patron.permission_codes
    for code in permissions:
        if code not in have:
            patron.permissions.append(PatronPermission(code=code))


# --- the security policy -------------------------------------------------------------------------

class SecurityPolicy:
    def identity(self, request: Request) -> Identity | None:
        return request.kohaweb_identity

    def authenticated_userid(self, request: Request) -> int | None:
        identity = request.kohaweb_identity
        return identity.patron_id if identity else None

    def permits(self, request: Request, context, permission: str):
        identity = request.kohaweb_identity
        if identity is None:
            return Denied("authentication required")
        if identity.has(permission):
            return Allowed(f"has {permission}")
        return Denied(f"missing permission {permission}")

    def remember(self, request: Request, userid: int, **kw) -> list:
        request.session[SESSION_KEY] = int(userid)
        request.session["kohaweb.csrf_rotate"] = True
        return []

    def forget(self, request: Request, **kw) -> list:
        request.session.invalidate()
        return []


def _identity(request: Request) -> Identity | None:
    """Resolve credentials once per request (reified); raises InvalidCredentials for bad ones."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        validator: BearerValidator | None = request.registry.kohaweb.bearer_validator
        if validator is None or not value.strip():
            raise InvalidCredentials("bearer tokens are not accepted here")
        return validator(request, value.strip())
    if scheme == "basic" and header:
        if not request.registry.kohaweb.settings["kohaweb"]["auth.basic"]:
            raise InvalidCredentials("HTTP Basic authentication is disabled")
        try:
            userid, _, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidCredentials("malformed Basic credentials") from None
        patron = authenticate_password(request.dbsession, userid, password)
        if patron is None:
            raise InvalidCredentials("invalid username or password")
        return identity_for(patron, "basic")
    patron_id = request.session.get(SESSION_KEY)
    if patron_id:
        patron = request.dbsession.get(Patron, patron_id)
        if patron is not None:
            return identity_for(patron, "session")
    return None


def includeme(config: Configurator) -> None:
    config.add_request_method(_safe_identity, "kohaweb_identity", reify=True)
    config.set_security_policy(SecurityPolicy())


def _safe_identity(request: Request) -> Identity | None:
    try:
        return _identity(request)
    except InvalidCredentials as exc:
        request.kohaweb_auth_error = str(exc)
        return None


def auth_error(request: Request) -> str | None:
    """Why presented credentials were refused, or None when none were presented."""
    request.kohaweb_identity  # noqa: B018  (resolve first)
    return getattr(request, "kohaweb_auth_error", None)
