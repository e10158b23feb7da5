"""Signed, expiring tokens (URL-safe) instead of server-side state, signed with itsdangerous.

Used for OAI-PMH resumption tokens, signed barcode URLs, the session cookie and anything else
that must come back from a client unmodified. Each use passes its own ``purpose`` (itsdangerous's
salt) so a token minted for one thing is refused by another.

Key rotation: every function takes the site's secrets, newest first (:func:`site_secrets`:
``kohaweb.secret`` then ``kohaweb.previous_secrets``). The newest signs; any of them verifies, so
a secret can be replaced without breaking what is in flight: move the old one to
``kohaweb.previous_secrets`` and remove it once the longest lifetime (``kohaweb.session.max_age``)
has passed.

Tokens signed by kohaweb 0.2 (before itsdangerous: a truncated HMAC-SHA256 under a key derived
from purpose and secret) are still accepted, by any of the secrets, until they expire; nothing is
signed that way any more. That fallback can go in the release after next (0.4), when no such
token can still be alive.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import itsdangerous

Secrets = str | Sequence[str]  # one secret, or several, newest first


class BadSignature(ValueError):
    """The token was tampered with, minted for another purpose or site, or is malformed."""


class Expired(BadSignature):
    """The token's signature is good but its lifetime is over."""


def site_secrets(core: Mapping[str, Any]) -> list[str]:
    """The site's secrets, newest first: ``kohaweb.secret`` then ``kohaweb.previous_secrets``."""
    return [s for s in [core["secret"], *core.get("previous_secrets", ())] if s]


def _secrets(secret: Secrets) -> list[str]:
    found = [secret] if isinstance(secret, str) else [s for s in secret if s]
    if not found or not found[0]:
        raise ValueError("signing needs a secret (kohaweb.secret)")
    return found


def _serializer(secrets: list[str], purpose: str) -> itsdangerous.URLSafeSerializer:
    # itsdangerous signs with the last key of its list and accepts any: ours are newest first
    return itsdangerous.URLSafeSerializer(
        list(reversed(secrets)), salt=f"kohaweb:{purpose}",
        signer_kwargs={"digest_method": hashlib.sha256, "key_derivation": "hmac"})


def _signer(secrets: list[str], purpose: str) -> itsdangerous.Signer:
    return itsdangerous.Signer(list(reversed(secrets)), salt=f"kohaweb:{purpose}",
                               digest_method=hashlib.sha256, key_derivation="hmac")


def sign(secret: Secrets, purpose: str, data: Any, max_age: int | None = None, now: float | None = None) -> str:
    """A token carrying ``data`` (JSON-serialisable), valid for ``max_age`` seconds (None: forever)."""
    expires = None if max_age is None else int((now or time.time()) + max_age)
    return _serializer(_secrets(secret), purpose).dumps([data, expires])


def unsign(secret: Secrets, purpose: str, token: str, now: float | None = None) -> Any:
    """The data of a good token; raises BadSignature or Expired."""
    secrets = _secrets(secret)
    token = (token or "").strip()
    if not token.isascii():  # itsdangerous would skip non-ASCII characters of the signature
        raise BadSignature("malformed token")
    try:
        data, expires = _serializer(secrets, purpose).loads(token)
    except itsdangerous.BadPayload:
        raise BadSignature("malformed token") from None
    except itsdangerous.BadSignature:
        data, expires = _legacy_unsign(secrets, purpose, token)
    except (ValueError, TypeError):  # a good signature over something other than [data, expires]
        raise BadSignature("malformed token") from None
    if expires is not None and (not isinstance(expires, int) or (now or time.time()) > expires):
        raise Expired("token expired")
    return data


def sign_url_params(secret: Secrets, purpose: str, params: dict[str, str], max_age: int,
                    now: float | None = None) -> dict[str, str]:
    """``params`` plus ``expires`` and ``signature`` covering every parameter (for signed URLs)."""
    expires = str(int((now or time.time()) + max_age))
    signed = dict(params, expires=expires)
    signed["signature"] = _signer(_secrets(secret), purpose).get_signature(_canonical(signed)).decode("ascii")
    return signed


def verify_url_params(secret: Secrets, purpose: str, params: dict[str, str], now: float | None = None) -> None:
    """Raise BadSignature/Expired unless ``params`` were produced by ``sign_url_params``."""
    secrets = _secrets(secret)
    given = dict(params)
    signature = given.pop("signature", "")
    canonical = _canonical(given)
    if not signature or not signature.isascii() or not (_signer(secrets, purpose).verify_signature(canonical, signature)
                             or any(_same(signature, _legacy_mac(s, purpose, canonical)) for s in secrets)):
        raise BadSignature("bad signature")
    try:
        expires = int(given.get("expires", ""))
    except ValueError:
        raise BadSignature("bad expiry") from None
    if (now or time.time()) > expires:
        raise Expired("signed URL expired")


class CookieSerializer:
    """The session cookie's serializer for Pyramid's ``BaseCookieSessionFactory``: JSON signed
    with the site's secrets (newest signs, any verifies). Cookies signed by kohaweb 0.2 (Pyramid's
    ``SignedCookieSessionFactory``: webob's SignedSerializer, SHA-512, salt ``pyramid.session.``)
    are still read until they expire (``kohaweb.session.max_age``); the next response reissues
    them in the new form."""

    PURPOSE = "session"

    def __init__(self, secrets: Secrets):
        from pyramid.session import JSONSerializer
        from webob.cookies import SignedSerializer

        self.secrets = _secrets(secrets)
        self._serializer = _serializer(self.secrets, self.PURPOSE)
        self._legacy = [SignedSerializer(s, "pyramid.session.", "sha512", serializer=JSONSerializer())
                        for s in self.secrets]

    def dumps(self, appstruct: Any) -> bytes:
        return self._serializer.dumps(appstruct).encode("ascii")

    def loads(self, bstruct: bytes) -> Any:
        """The session state; ValueError (what Pyramid expects) for a cookie none of the secrets signed."""
        try:
            return self._serializer.loads(bstruct)
        except itsdangerous.BadData:
            pass
        for legacy in self._legacy:
            try:
                return legacy.loads(bstruct)
            except ValueError:
                continue
        raise BadSignature("bad session cookie")


# --- kohaweb 0.2's own format, read only (see the module's description) -----------------------

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _legacy_mac(secret: str, purpose: str, payload: str) -> str:
    key = hashlib.sha256(f"kohaweb:{purpose}:{secret}".encode()).digest()
    return _b64(hmac.new(key, payload.encode("ascii", "replace"), hashlib.sha256).digest()[:20])


def _legacy_unsign(secrets: list[str], purpose: str, token: str) -> tuple[Any, int | None]:
    payload, _, mac = token.rpartition(".")
    if not payload or not any(_same(mac, _legacy_mac(s, purpose, payload)) for s in secrets):
        raise BadSignature("bad signature")
    try:
        data, expires = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, TypeError):
        raise BadSignature("malformed token") from None
    if expires is None:
        # nothing sent to clients was signed forever, and an old token must not outlive the fallback
        raise BadSignature("token of the old form without an expiry")
    return data, expires


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("ascii"))


def _canonical(params: dict[str, str]) -> str:
    return _b64(json.dumps(sorted(params.items()), separators=(",", ":"), ensure_ascii=False)
                .encode("utf-8", "surrogatepass"))
