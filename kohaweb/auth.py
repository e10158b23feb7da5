"""Authentication and named permissions, used by every service.

Credentials are resolved by the ``authenticate`` hook (kohaweb.hookspecs): plugins' methods
first (kohaweb-apikeys: OAuth2 bearer tokens), then the built-in one below: HTTP Basic (only
when ``kohaweb.auth.basic`` is true) and the signed staff session cookie set by /login.
Views declare the permission they need (``permission="reports"``); the ``permission_allowed``
hook decides (built in: the patron's Koha permissions, narrowed by a token's scopes).
Unauthenticated requests get 401 with ``WWW-Authenticate``; authenticated ones lacking the
permission get 403.

Passwords are checked by :func:`sign_in`, throttled per account and per address
(:mod:`kohaweb.throttle`); an unknown name is checked against a dummy hash, so it takes as long.
A password verified once is remembered for ``kohaweb.auth.credential_cache_seconds``
(:mod:`kohaweb.credential_cache`), so HTTP Basic clients pay for bcrypt once, not per request;
the patron row is still read every time and the entry used only while its password hash is
unchanged, so a password change or a refusal takes effect at once.
A session cookie counts only while its ``login_sessions`` row exists and still matches the
patron's password; logout deletes the row, :func:`set_password` ends every session and bearer
token of the patron. A patron who may not sign in (:func:`access_refusal`: card lost,
restricted, or card expired for non-staff) is refused on every request, and their sessions and
tokens are ended.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import bcrypt
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.security import Allowed, Denied
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from . import throttle
from .credential_cache import EXTRAS_KEY, CredentialCache, site_cache, verify_cached
from .hookspecs import hookimpl
from .models import ApiKey, LoginSession, OAuthAccessToken, Patron, PatronPermission, utcnow
from .models.patrons import MODULE_BITS

# Koha's top-level permission flags, by name.
PERMISSIONS = (
    "superlibrarian", "circulate", "catalogue", "parameters", "borrowers", "permissions",
    "reserveforothers", "editcatalogue", "updatecharges", "acquisition", "tools", "editauthorities",
    "serials", "reports", "staffaccess", "lists", "ill", "self_check",
)
SUPERLIBRARIAN = "superlibrarian"
# Koha's sub-permissions (its permissions table) of the modules whose operations kohaweb answers
# with one; a view asks for ``module:code`` and the whole module (or superlibrarian) implies it.
SUB_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "circulate": ("circulate_remaining_permissions", "override_renewals", "force_checkout",
                  "manage_restrictions", "overdues_report", "manage_checkout_notes", "manage_bookings",
                  "manage_curbside_pickups"),
    "parameters": ("manage_libraries", "manage_itemtypes", "manage_auth_values", "manage_circ_rules",
                   "manage_patron_categories", "manage_cities", "manage_sysprefs", "manage_patron_attributes",
                   "manage_transfers", "manage_oai_sets", "manage_smtp_servers", "manage_background_jobs",
                   "manage_identity_providers", "manage_record_sources", "manage_additional_fields",
                   "parameters_remaining_permissions"),
    "borrowers": ("edit_borrowers", "list_borrowers", "delete_borrowers", "view_borrower_infos_from_any_libraries",
                  "send_messages_to_borrowers", "api_validate_password"),
    "reserveforothers": ("place_holds", "modify_holds_priority"),
    "editcatalogue": ("edit_catalogue", "edit_items", "edit_items_restricted", "fast_cataloging",
                      "delete_all_items", "advanced_editor", "manage_item_groups", "manage_item_editor_templates"),
    "updatecharges": ("remaining_permissions", "manual_credit", "manual_invoice", "discount", "payout", "refund",
                      "writeoff"),
    "reports": ("execute_reports", "create_reports", "delete_reports"),
    "tools": ("edit_notices", "export_catalog", "import_patrons", "stage_marc_import", "manage_staged_marc",
              "items_batchmod", "items_batchdel", "records_batchmod", "records_batchdel", "upload_general_files",
              "upload_manage"),
    "self_check": ("self_checkin_module", "self_checkout_module"),
}
SESSION_KEY = "kohaweb.patron_id"
SESSION_TOKEN_KEY = "kohaweb.session_token"  # the cookie's half of its login_sessions row
PATRON_CREDENTIALS = "patron"  # the credential cache's kind for (login, password)


class InvalidCredentials(Exception):
    """Credentials were presented but are wrong, expired or revoked (-> 401, never anonymous)."""


class WrongPassword(InvalidCredentials):
    """No patron has this login and password. Koha's REST API answers HTTP Basic with these
    403 "Invalid password" (not 401); other places answer 401 as for any refused credentials."""


class AccessRefused(InvalidCredentials):
    """The credentials are right but the patron may not sign in (see :func:`access_refusal`)."""


class LoginThrottled(InvalidCredentials):
    """Too many recent failures: the caller must wait ``retry_after`` seconds."""

    def __init__(self, retry_after: int):
        super().__init__(f"too many failed sign-ins; try again in {retry_after} seconds")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Identity:
    patron_id: int
    userid: str | None
    permissions: frozenset[str]
    method: str  # "session", "basic" or "bearer"
    scopes: frozenset[str] | None = field(default=None)  # a bearer token may narrow permissions

    def has(self, permission: str) -> bool:
        """Whether the identity holds ``permission``: a module name (``circulate``) or one of Koha's
        sub-permissions (``circulate:override_renewals``), implied by its whole module and by
        superlibrarian. A bearer token's scopes narrow what the patron holds: a scope names a
        module or a ``module:code`` sub-permission, and the token holds a permission only when
        both the patron and its scopes do."""
        if not holds_permission(self.permissions, permission):
            return False
        return self.scopes is None or holds_permission(self.scopes, permission)


def holds_permission(names: frozenset[str] | set[str], permission: str) -> bool:
    """Whether permission names (a patron's, or a token's scopes) give ``permission``: itself,
    its whole module, or superlibrarian."""
    module = permission.partition(":")[0]
    return SUPERLIBRARIAN in names or module in names or permission in names


def scope_allowed(held: frozenset[str], scope: str) -> bool:
    """Whether a patron holding ``held`` may ask for a token narrowed to ``scope`` (a module or
    ``module:code``): they hold it, or, for a module, any of its sub-permissions (the token then
    holds only those, as :meth:`Identity.has` intersects scopes with what the patron holds)."""
    if not known_permission(scope):
        return False
    if holds_permission(held, scope):
        return True
    return ":" not in scope and any(name.partition(":")[0] == scope for name in held)


BearerValidator = Callable[[Request, str], Identity]


# --- passwords -----------------------------------------------------------------------------------

def hash_password(password: str) -> str:
    return bcrypt.hashpw(_secret_bytes(password), bcrypt.gensalt(rounds=10)).decode("ascii")


def verify_password(password: str, hashed: str | None) -> bool:
    """Whether ``password`` matches the bcrypt ``hashed``. Without a usable hash (no such user,
    no password set) a dummy hash is checked instead, so the answer takes as long and tells
    nothing about which accounts exist."""
    if not hashed or not hashed.startswith("$2"):
        _checkpw(password, dummy_hash())
        return False
    return _checkpw(password, hashed)


def _checkpw(password: str, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(_secret_bytes(password), hashed.encode("ascii"))
    except ValueError:
        return False


def _secret_bytes(password: str) -> bytes:
    return password.encode("utf-8", "surrogatepass")[:72]  # bcrypt reads 72 bytes


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """A hash of a random password, made once, for checks that must cost what a real one does."""
    return hash_password(secrets.token_urlsafe(32))


def find_patron(session: Session, login: str) -> Patron | None:
    """A patron by userid or cardnumber, case-insensitively (Koha's collation)."""
    login = login.strip().lower()
    if not login or "\x00" in login or len(login) > 255 or not _encodable(login):
        return None  # no such name can exist, and some databases refuse to compare with it
    return session.scalar(select(Patron).where(
        (func.lower(Patron.userid) == login) | (func.lower(Patron.cardnumber) == login)).limit(1))


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return False
    return True


def access_refusal(session: Session, patron: Patron) -> str | None:
    """Why this patron may not sign in or use a session or token now, or None. A card reported
    lost or a restriction (debarment) refuses everyone; an expired card refuses patrons without
    staff permissions (staff cards often carry no real expiry date, as in Koha)."""
    from .circulation import is_expired, is_restricted

    if patron.lost:
        return "the patron's card is reported lost"
    if is_restricted(patron):
        return "the patron is restricted"
    if is_expired(patron) and not patron.permissions:
        return "the patron's card has expired"
    return None


def authenticate_password(session: Session, login: str, password: str) -> Patron | None:
    """The patron whose login and password these are and who may sign in, else None (no
    throttling: requests use :func:`sign_in`)."""
    patron = find_patron(session, login)
    if not verify_password(password, patron.password if patron is not None else None) or patron is None:
        return None
    return None if access_refusal(session, patron) else patron


def sign_in(request: Request, login: str, password: str) -> Patron:
    """The patron whose login (userid or cardnumber) and password these are, throttled per
    account and per address. Raises :class:`LoginThrottled` (wait; the password is not even
    checked), :class:`InvalidCredentials` (wrong) or :class:`AccessRefused` (right, but the
    patron may not sign in). A recently verified password skips bcrypt (only while the
    patron's stored hash is unchanged); the throttle and :func:`access_refusal` apply as ever."""
    session = request.dbsession
    patron = find_patron(session, login)
    subjects = [throttle.patron_subject(patron.borrowernumber) if patron is not None
                else throttle.name_subject(login), throttle.address_subject(request)]
    wait = throttle.check(request, subjects)
    if wait:
        raise LoginThrottled(wait)
    if not verify_cached(site_cache(request.registry.kohaweb), PATRON_CREDENTIALS, login, password,
                         patron.borrowernumber if patron is not None else None,
                         patron.password if patron is not None else None, verify_password) or patron is None:
        throttle.failed(request, subjects)
        raise WrongPassword("invalid username or password")
    throttle.succeeded(request, subjects)
    refusal = access_refusal(session, patron)
    if refusal:
        raise AccessRefused(refusal)
    return patron


def set_password(session: Session, patron: Patron, password: str) -> None:
    """Change a patron's password and end every session and bearer token they have."""
    patron.password = hash_password(password)
    end_sessions(session, patron.borrowernumber)


# --- server-side sessions ------------------------------------------------------------------------

def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def password_stamp(patron: Patron) -> str:
    """What a session remembers of the password it was opened with (changes with the password)."""
    return hashlib.sha256((patron.password or "").encode("utf-8")).hexdigest()


def start_session(session: Session, patron: Patron, max_age: int) -> str:
    """Record a new signed-in session; returns the token for the cookie."""
    now = utcnow()
    session.execute(delete(LoginSession).where(LoginSession.expires <= now))  # keep the table small
    token = secrets.token_urlsafe(32)
    session.add(LoginSession(token_hash=_token_hash(token), borrowernumber=patron.borrowernumber,
                             password_stamp=password_stamp(patron), created=now,
                             expires=now + dt.timedelta(seconds=max_age)))
    return token


def end_session(session: Session, token: str) -> None:
    session.execute(delete(LoginSession).where(LoginSession.token_hash == _token_hash(token)))


def end_sessions(session: Session, patron_id: int, tokens: bool = True) -> None:
    """End every signed-in session of the patron and (``tokens``) every bearer token of their
    API keys. The keys themselves stay; new tokens need the patron to be allowed again."""
    session.execute(delete(LoginSession).where(LoginSession.borrowernumber == patron_id))
    if tokens:
        session.execute(delete(OAuthAccessToken).where(OAuthAccessToken.client_id.in_(
            select(ApiKey.client_id).where(ApiKey.patron_id == patron_id))))


def end_sessions_after_request(request: Request, patron_id: int) -> None:
    """:func:`end_sessions` once the request is over, whatever its own transaction does (for
    credentials found refused: the 401 rolls the request back)."""
    throttle.after_request(request, ("end-sessions", patron_id),
                           lambda session: end_sessions(session, patron_id))


def _session_identity(request: Request, patron_id: object) -> Identity | None:
    token = request.session.get(SESSION_TOKEN_KEY)
    if not isinstance(token, str) or not isinstance(patron_id, int):
        return None  # a cookie from before server-side sessions, or not ours
    session = request.dbsession
    row = session.get(LoginSession, _token_hash(token))
    if row is None or row.borrowernumber != patron_id:
        return None
    patron = session.get(Patron, patron_id)
    if row.expires <= utcnow():
        throttle.after_request(request, ("end-session", row.token_hash),
                               lambda s, token=token: end_session(s, token))
        return None
    if patron is None or row.password_stamp != password_stamp(patron) or access_refusal(session, patron):
        end_sessions_after_request(request, patron_id)
        return None
    return identity_for(patron, "session")


def identity_for(patron: Patron, method: str, scopes: frozenset[str] | None = None) -> Identity:
    return Identity(patron.borrowernumber, patron.userid, patron.permission_codes, method, scopes)


def known_permission(permission: str) -> bool:
    """A module of :data:`PERMISSIONS` or ``module:code`` with one of its :data:`SUB_PERMISSIONS`."""
    module, sep, code = permission.partition(":")
    if not sep:
        return module in PERMISSIONS
    return code in SUB_PERMISSIONS.get(module, ())


def koha_permission(permission: str) -> dict[str, str]:
    """Koha's form of a permission (x-koha-authorization, required_permissions):
    ``{"circulate": "1"}`` for a module, ``{"reserveforothers": "place_holds"}`` for a sub-permission."""
    module, sep, code = permission.partition(":")
    return {module: code if sep else "1"}


def grant(session: Session, patron: Patron, *permissions: str) -> None:
    """Give the patron whole modules (``circulate``) or Koha's sub-permissions
    (``reserveforothers:place_holds``, stored as Koha does: the module's bit and the code)."""
    unknown = sorted(p for p in permissions if not known_permission(p))
    if unknown:
        raise ValueError(f"unknown permission(s): {', '.join(unknown)}; known: {', '.join(PERMISSIONS)} "
                         "and module:code for Koha's sub-permissions")
    have = patron.permission_codes
    for permission in permissions:
        if permission in have:
            continue
        module, sep, code = permission.partition(":")
        if sep:
            patron.permissions.append(PatronPermission(code=code, module_bit=MODULE_BITS[module]))
        else:
            patron.permissions.append(PatronPermission(code=permission))


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
        if request.registry.kohaweb.hooks.hook.permission_allowed(
                request=request, identity=identity, permission=permission):
            return Allowed(f"has {permission}")
        return Denied(f"missing permission {permission}")

    def remember(self, request: Request, userid: int, **kw) -> list:
        patron = request.dbsession.get(Patron, int(userid))
        request.session[SESSION_KEY] = patron.borrowernumber
        request.session[SESSION_TOKEN_KEY] = start_session(
            request.dbsession, patron, request.registry.kohaweb.core["session.max_age"])
        request.session["kohaweb.csrf_rotate"] = True
        return []

    def forget(self, request: Request, **kw) -> list:
        token = request.session.get(SESSION_TOKEN_KEY)
        if isinstance(token, str):
            end_session(request.dbsession, token)
        request.session.invalidate()
        return []


def _identity(request: Request) -> Identity | None:
    """Resolve credentials once per request (reified); raises InvalidCredentials for bad ones."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    identity = request.registry.kohaweb.hooks.hook.authenticate(
        request=request, scheme=scheme, credentials=value.strip())
    if identity is None and scheme == "bearer":
        raise InvalidCredentials("bearer tokens are not accepted here")
    return identity


@hookimpl(trylast=True)
def authenticate(request: Request, scheme: str, credentials: str) -> Identity | None:
    """The built-in methods: HTTP Basic, then the staff session cookie."""
    header = request.headers.get("Authorization", "")
    value = credentials
    if scheme == "bearer":
        return None  # a plugin's (kohaweb-apikeys)
    if scheme == "basic" and header:
        if not request.registry.kohaweb.settings["kohaweb"]["auth.basic"]:
            raise InvalidCredentials("HTTP Basic authentication is disabled")
        try:
            userid, _, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidCredentials("malformed Basic credentials") from None
        try:
            patron = sign_in(request, userid, password)
        except LoginThrottled as exc:
            request.add_response_callback(_retry_after(exc.retry_after))
            raise
        return identity_for(patron, "basic")
    patron_id = request.session.get(SESSION_KEY)
    if patron_id:
        return _session_identity(request, patron_id)
    return None


@hookimpl(trylast=True)
def permission_allowed(request: Request, identity: Identity, permission: str) -> bool:
    """The built-in rule: the patron's Koha permissions (narrowed by a bearer token's scopes)."""
    return identity.has(permission)


def _retry_after(seconds: int) -> Callable:
    def add_header(_request: Request, response) -> None:
        if response.status_code in (401, 429, 503):
            response.headers["Retry-After"] = str(seconds)

    return add_header


def includeme(config: Configurator) -> None:
    site = getattr(config.registry, "kohaweb", None)
    if site is not None:
        # one cache per site and process, shared by its threads (kohaweb.credential_cache)
        site.extras[EXTRAS_KEY] = CredentialCache(site.core["auth.credential_cache_seconds"])
    config.add_request_method(_safe_identity, "kohaweb_identity", reify=True)
    config.set_security_policy(SecurityPolicy())


def _safe_identity(request: Request) -> Identity | None:
    try:
        return _identity(request)
    except InvalidCredentials as exc:
        request.kohaweb_auth_error = str(exc)
        request.kohaweb_auth_refusal = exc
        return None


def refused_basic_password(request: Request) -> bool:
    """Whether the request's HTTP Basic credentials named no patron with that password (the case
    Koha's REST API answers with 403 "Invalid password")."""
    request.kohaweb_identity  # noqa: B018  (resolve first)
    return isinstance(getattr(request, "kohaweb_auth_refusal", None), WrongPassword) and \
        request.headers.get("Authorization", "")[:6].lower() == "basic "


def auth_error(request: Request) -> str | None:
    """Why presented credentials were refused, or None when none were presented."""
    request.kohaweb_identity  # noqa: B018  (resolve first)
    return getattr(request, "kohaweb_auth_error", None)
