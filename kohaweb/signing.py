"""Signed, expiring tokens (URL-safe) instead of server-side state.

Used for OAI-PMH resumption tokens, signed barcode URLs and anything else that must come back
from a client unmodified. Each use passes its own ``purpose`` so a token minted for one thing
is refused by another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any


class BadSignature(ValueError):
    """The token was tampered with, minted for another purpose or site, or is malformed."""


class Expired(BadSignature):
    """The token's signature is good but its lifetime is over."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, purpose: str, payload: str) -> str:
    key = hashlib.sha256(f"kohaweb:{purpose}:{secret}".encode()).digest()
    return _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest()[:20])


def sign(secret: str, purpose: str, data: Any, max_age: int | None = None, now: float | None = None) -> str:
    """A token carrying ``data`` (JSON-serialisable), valid for ``max_age`` seconds (None: forever)."""
    expires = None if max_age is None else int((now or time.time()) + max_age)
    payload = _b64(json.dumps([data, expires], separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    return f"{payload}.{_mac(secret, purpose, payload)}"


def unsign(secret: str, purpose: str, token: str, now: float | None = None) -> Any:
    """The data of a good token; raises BadSignature or Expired."""
    payload, _, mac = (token or "").strip().rpartition(".")
    if not payload or not hmac.compare_digest(mac, _mac(secret, purpose, payload)):
        raise BadSignature("bad signature")
    try:
        data, expires = json.loads(_unb64(payload))
    except (ValueError, TypeError):
        raise BadSignature("malformed token") from None
    if expires is not None and (now or time.time()) > expires:
        raise Expired("token expired")
    return data


def sign_url_params(secret: str, purpose: str, params: dict[str, str], max_age: int,
                    now: float | None = None) -> dict[str, str]:
    """``params`` plus ``expires`` and ``signature`` covering every parameter (for signed URLs)."""
    expires = str(int((now or time.time()) + max_age))
    signed = dict(params, expires=expires)
    signed["signature"] = _mac(secret, purpose, _canonical(signed))
    return signed


def verify_url_params(secret: str, purpose: str, params: dict[str, str], now: float | None = None) -> None:
    """Raise BadSignature/Expired unless ``params`` were produced by ``sign_url_params``."""
    given = dict(params)
    signature = given.pop("signature", "")
    if not signature or not hmac.compare_digest(signature, _mac(secret, purpose, _canonical(given))):
        raise BadSignature("bad signature")
    try:
        expires = int(given.get("expires", ""))
    except ValueError:
        raise BadSignature("bad expiry") from None
    if (now or time.time()) > expires:
        raise Expired("signed URL expired")


def _canonical(params: dict[str, str]) -> str:
    return _b64(json.dumps(sorted(params.items()), separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
