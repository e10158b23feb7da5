"""Failed sign-in throttling with backoff, shared by every worker process through the database.

Each failed password or client-secret check adds a ``login_failures`` row for each *subject* it
concerns: ``("account", ...)`` the patron (or, for a name that is nobody's, the name, so unknown
and existing names behave alike), ``("client", client_id)`` an API key, and ``("address", ip)``
the caller's address (``X-Forwarded-For`` only from ``kohaweb.trusted_proxies``). Within
``kohaweb.login.window`` seconds, once a subject has its threshold of failures
(``kohaweb.login.max_failures``, for addresses ``kohaweb.login.address_max_failures``), the next
attempt must wait ``kohaweb.login.backoff * 2 ** (failures - threshold)`` seconds after the latest
failure, at most the window. A waiting attempt is refused without looking at the password and is
not counted (it tested nothing). A success clears the account's or client's failures, never the
address's.

The request's own transaction is rolled back with its 401, so failures are written after it, in
a transaction of their own (:func:`after_request`). Concurrent attempts that all pass the check
before any failure is written are each counted, so a burst only lengthens the next wait.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from pyramid.request import Request
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from . import db
from .models import LoginFailure, utcnow

log = logging.getLogger(__name__)

Subject = tuple[str, str]  # (scope, subject)
ACCOUNT, CLIENT, ADDRESS = "account", "client", "address"
SUBJECT_MAX = 191  # the login_failures.subject column


def current_time() -> dt.datetime:
    """The throttle's clock (naive UTC); tests replace it to move time without sleeping."""
    return utcnow()


@dataclass(frozen=True)
class Policy:
    """The thresholds and waits of ``kohaweb.login.*``."""

    max_failures: int
    address_max_failures: int
    window: int
    backoff: int

    @classmethod
    def of(cls, request: Request) -> Policy:
        core = request.registry.kohaweb.core
        return cls(core["login.max_failures"], core["login.address_max_failures"], core["login.window"],
                   core["login.backoff"])

    def delay(self, scope: str, failures: int) -> int:
        """Seconds the next attempt waits after the latest of ``failures`` recent failures."""
        threshold = self.address_max_failures if scope == ADDRESS else self.max_failures
        if failures < threshold:
            return 0
        exponent = min(failures - threshold, 32)  # 2**32 backoffs exceed any window
        return min(self.window, self.backoff * 2 ** exponent)


# --- subjects ------------------------------------------------------------------------------------

def name_subject(login: str) -> Subject:
    """The account subject of a sign-in name that belongs to nobody (hashed: names are not
    stored, and any text fits the column)."""
    digest = hashlib.sha256(login.strip().lower().encode("utf-8", "surrogatepass")).hexdigest()
    return ACCOUNT, f"name:{digest}"


def patron_subject(borrowernumber: int) -> Subject:
    return ACCOUNT, f"patron:{borrowernumber}"


def client_subject(client_id: str) -> Subject:
    if len(client_id) <= 100 and client_id.isascii() and client_id.isprintable():
        return CLIENT, client_id
    return CLIENT, "sha256:" + hashlib.sha256(client_id.encode("utf-8", "surrogatepass")).hexdigest()


def address_subject(request: Request) -> Subject:
    return ADDRESS, client_address(request)


def client_address(request: Request) -> str:
    """The caller's address: the connection's, or when that is a trusted proxy the first
    address of ``X-Forwarded-For`` from the right that is not one ("unknown" when unreadable)."""
    address = _parse_address(request.remote_addr)
    if address is None:
        return "unknown"
    trusted = _networks(tuple(request.registry.kohaweb.core["trusted_proxies"]))
    forwarded = request.headers.get("X-Forwarded-For", "")
    if not forwarded or not _within(trusted, address):
        return str(address)
    for hop in reversed([part for part in forwarded.split(",") if part.strip()]):
        hop_address = _parse_address(hop)
        if hop_address is None:
            return str(address)  # a garbled chain: the last address we could trust
        address = hop_address
        if not _within(trusted, address):
            break
    return str(address)


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            log.warning("kohaweb.trusted_proxies: %r is not an address or network; ignored", entry)
    return tuple(networks)


def _parse_address(text: str | None):
    if not text:
        return None
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1:text.index("]")]
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _within(networks: Iterable, address) -> bool:
    return any(address.version == net.version and address in net for net in networks)


# --- reading and writing failures ------------------------------------------------------------------

def recent_failures(session: Session, policy: Policy, subjects: Iterable[Subject],
                    now: dt.datetime) -> dict[Subject, tuple[int, int]]:
    """For each subject, its failures within the window and the seconds before it may try
    again (0: now)."""
    since = now - dt.timedelta(seconds=policy.window)
    found: dict[Subject, tuple[int, int]] = {}
    for scope, subject in subjects:
        count, latest = session.execute(
            select(func.count(), func.max(LoginFailure.failed_at))
            .where(LoginFailure.scope == scope, LoginFailure.subject == subject, LoginFailure.failed_at > since)
        ).one()
        delay = policy.delay(scope, count)
        remaining = (latest - now).total_seconds() + delay if delay and latest is not None else 0
        found[(scope, subject)] = (count, max(0, math.ceil(remaining)))
    return found


def wait_seconds(session: Session, policy: Policy, subjects: Iterable[Subject], now: dt.datetime) -> int:
    """Seconds before all of ``subjects`` may try again (0: now)."""
    return max((wait for _, wait in recent_failures(session, policy, subjects, now).values()), default=0)


def record_failure(session: Session, policy: Policy, subjects: Iterable[Subject], now: dt.datetime) -> None:
    """Count one failure for each subject, and forget failures older than the window."""
    session.execute(delete(LoginFailure).where(LoginFailure.failed_at <= now - dt.timedelta(seconds=policy.window)))
    session.add_all(LoginFailure(scope=scope, subject=subject, failed_at=now) for scope, subject in subjects)


def clear(session: Session, subjects: Iterable[Subject]) -> None:
    for scope, subject in subjects:
        session.execute(delete(LoginFailure).where(LoginFailure.scope == scope, LoginFailure.subject == subject))


# --- per request -----------------------------------------------------------------------------------

def check(request: Request, subjects: Iterable[Subject]) -> int:
    """Seconds the caller must wait before these subjects may sign in again (0: go ahead)."""
    found = recent_failures(request.dbsession, Policy.of(request), subjects, current_time())
    seen = request.__dict__.setdefault("kohaweb_throttle_seen", set())
    seen.update(subject for subject, (count, _) in found.items() if count)
    return max((wait for _, wait in found.values()), default=0)


def failed(request: Request, subjects: Iterable[Subject]) -> None:
    """Count a failed check of these subjects once the request's transaction is over."""
    policy, now, subjects = Policy.of(request), current_time(), list(subjects)
    after_request(request, ("throttle-failed", *subjects),
                  lambda session: record_failure(session, policy, subjects, now))


def succeeded(request: Request, subjects: Iterable[Subject]) -> None:
    """Forget the failures of these subjects (addresses excepted) after a successful check
    (of those :func:`check` found failures for)."""
    seen = request.__dict__.get("kohaweb_throttle_seen", set())
    to_clear = [s for s in subjects if s[0] != ADDRESS and s in seen]  # no write when nothing failed
    if to_clear:
        after_request(request, ("throttle-cleared", *to_clear), lambda session: clear(session, to_clear))


def after_request(request: Request, key: tuple, work: Callable[[Session], None]) -> None:
    """Run ``work(session)`` when the request is over, in a write transaction of its own (its
    outcome stands whatever the request's transaction did). ``key`` makes it happen once per
    request even if the view runs again after a retried transaction."""
    pending: dict[tuple, Callable[[Session], None]] | None = request.__dict__.get("kohaweb_after_request")
    if pending is None:
        pending = request.__dict__["kohaweb_after_request"] = {}
        request.add_finished_callback(_run_pending)
    pending[key] = work


def _run_pending(request: Request) -> None:
    from .transactions import will_retry

    if will_retry(request):  # pyramid_retry runs the view again, which asks for its work again
        return
    site = request.registry.kohaweb
    work_items = list(request.__dict__.get("kohaweb_after_request", {}).values())
    for attempt in range(1, site.core["db.attempts"] + 1):
        try:
            with db.transaction(site.session_factory, write=True) as session:
                for work in work_items:
                    work(session)
            return
        except Exception as exc:  # noqa: BLE001  (the answer is made; a failure here must not replace it)
            if attempt < site.core["db.attempts"] and db.is_retryable(exc):
                continue
            log.exception("sign-in bookkeeping after %s %s failed", request.method, request.path)
            return
