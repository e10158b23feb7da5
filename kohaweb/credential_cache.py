"""Credentials verified recently, remembered in memory so a client sending the same password or
client secret on every request pays for bcrypt once per ``kohaweb.auth.credential_cache_seconds``.

An entry is keyed by an HMAC-SHA256, under a random key made when the process starts, of
(kind, login, secret): neither the secret nor a plain hash of it is kept, and the key never
leaves the process, so the keys cannot be tested against guesses offline. The entry holds what
the credentials belonged to (a patron or client id) and a *stamp* of the stored hash they were
checked against. Callers still load that row on every request and use the entry only while the
row's stamp is unchanged, then apply every other check (revocation, ``access_refusal``): so a
password change, a revoked key or a lost card takes effect at once, in every process, without
any invalidation message between processes. Only successes are remembered; a failure is
re-checked with bcrypt (and counted by the throttle) every time.

Bounded (least recently used entries go first) and safe to share between waitress's threads.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

MAX_ENTRIES = 10_000
EXTRAS_KEY = "credential_cache"  # where the site keeps its cache (Site.extras)


@dataclass(frozen=True)
class Entry:
    """What a verified credential belonged to, and the stamp of the hash it was verified with."""

    subject: int | str  # a patron's borrowernumber or an API key's client_id
    stamp: str
    expires: float  # time.monotonic() after which the entry is not used


def stamp_of(stored_hash: str | None) -> str:
    """A short stand-in for a stored password hash: equal while the hash is unchanged."""
    return hashlib.sha256((stored_hash or "").encode("utf-8", "surrogatepass")).hexdigest()


class CredentialCache:
    """Recently verified credentials of one process (see the module docstring)."""

    def __init__(self, ttl: float, max_entries: int = MAX_ENTRIES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._hmac_key = secrets.token_bytes(32)  # per process: entries are useless anywhere else
        self._entries: OrderedDict[bytes, Entry] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.ttl > 0 and self.max_entries > 0

    def key(self, kind: str, login: str, secret: str) -> bytes:
        """The entry key of these credentials. Each part is length-prefixed, so ("ab", "c") and
        ("a", "bc") cannot collide."""
        mac = hmac.new(self._hmac_key, digestmod=hashlib.sha256)
        for part in (kind, login, secret):
            data = part.encode("utf-8", "surrogatepass")
            mac.update(len(data).to_bytes(8, "big"))
            mac.update(data)
        return mac.digest()

    def get(self, kind: str, login: str, secret: str) -> Entry | None:
        """The live entry of these credentials, or None (never cached, expired or disabled)."""
        if not self.enabled:
            return None
        key = self.key(kind, login, secret)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.expires <= self._clock():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry

    def put(self, kind: str, login: str, secret: str, subject: int | str, stored_hash: str | None) -> None:
        """Remember that these credentials were verified against ``stored_hash`` of ``subject``.
        Call only after a successful check."""
        if not self.enabled:
            return
        key = self.key(kind, login, secret)
        entry = Entry(subject, stamp_of(stored_hash), self._clock() + self.ttl)
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def discard(self, kind: str, login: str, secret: str) -> None:
        """Forget these credentials (they were found no longer to match)."""
        with self._lock:
            self._entries.pop(self.key(kind, login, secret), None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def matches(self, kind: str, login: str, secret: str, subject: int | str, stored_hash: str | None) -> bool:
        """Whether these credentials were verified for ``subject`` while its stored hash was
        ``stored_hash`` (the caller has just loaded it) and the entry is still live. An entry
        whose row changed since is dropped."""
        entry = self.get(kind, login, secret)
        if entry is None:
            return False
        if entry.subject == subject and hmac.compare_digest(entry.stamp, stamp_of(stored_hash)):
            return True
        self.discard(kind, login, secret)
        return False


def verify_cached(cache: CredentialCache | None, kind: str, login: str, secret: str,
                  subject: int | str | None, stored_hash: str | None,
                  verify: Callable[[str, str | None], bool]) -> bool:
    """Whether ``secret`` is right for ``subject`` (None: no such subject) whose stored hash is
    ``stored_hash``: from the cache when it was verified recently against the same hash, else
    by ``verify(secret, stored_hash)`` (which must cost the same for a missing subject). Only
    successes are remembered."""
    if cache is not None and subject is not None and stored_hash \
            and cache.matches(kind, login, secret, subject, stored_hash):
        return True
    matches = verify(secret, stored_hash)
    if matches and subject is not None and cache is not None:
        cache.put(kind, login, secret, subject, stored_hash)
    return matches and subject is not None


def site_cache(site: object) -> CredentialCache | None:
    """The cache of a running site (``request.registry.kohaweb``), made by ``kohaweb.auth``."""
    extras = getattr(site, "extras", None)
    return extras.get(EXTRAS_KEY) if isinstance(extras, dict) else None

