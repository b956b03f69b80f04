"""Single-purpose signed tokens for links in messages (appointment actions, waitlist offers, calendar
feeds; text-to-pay can reuse it). Pure: stdlib only; the caller passes the key.

A token is ``<payload>.<mac>``, both base64url without padding, safe in a URL path. The payload is
compact JSON holding the purpose (``u``), an optional expiry (``x``, epoch seconds) and the
caller's claims. The MAC is HMAC-SHA256 over the payload under a key derived for this use, so a
token minted for one purpose never verifies for another, and nothing here is readable as a
session key. Verification compares in constant time. Tokens are bearer secrets: callers bind them
to one record and make the action they allow idempotent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Collection, Mapping

MAX_TOKEN_LENGTH = 1024
_DOMAIN = b"chairside.signed.v1"

MALFORMED = "malformed"
BAD_SIGNATURE = "bad_signature"
WRONG_PURPOSE = "wrong_purpose"
EXPIRED = "expired"


class BadToken(ValueError):
    """``reason`` is one of malformed, bad_signature, wrong_purpose, expired; ``claims`` are set only
    for an expired token whose signature was good (so a page can say which record it was about)."""

    def __init__(self, reason: str, claims: dict[str, object] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.claims = claims or {}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: str) -> bytes:
    derived = hmac.new(key, _DOMAIN, hashlib.sha256).digest()
    return hmac.new(derived, payload.encode("ascii"), hashlib.sha256).digest()


def sign(key: bytes, purpose: str, claims: Mapping[str, str | int], expires_at: int | None = None) -> str:
    """A token for ``purpose`` carrying ``claims`` (short keys, str or int values), valid until ``expires_at``."""
    if not key:
        raise ValueError("a signing key is required")
    if "u" in claims or "x" in claims:
        raise ValueError("claims may not use the reserved keys u and x")
    body: dict[str, str | int] = {"u": purpose, **claims}
    if expires_at is not None:
        body["x"] = int(expires_at)
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_b64(_mac(key, payload))}"


def verify(key: bytes, token: str, purposes: str | Collection[str], now: int) -> dict[str, object]:
    """The claims (with ``u`` and ``x``) of a good token for one of ``purposes``; else ``BadToken``."""
    allowed = {purposes} if isinstance(purposes, str) else set(purposes)
    if not token or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
        raise BadToken(MALFORMED)
    payload, mac = token.split(".")
    try:
        given = _unb64(mac)
        if not payload.isascii():
            raise ValueError("non-ascii payload")
        expected = _mac(key, payload)
    except (ValueError, binascii.Error) as exc:
        raise BadToken(MALFORMED) from exc
    if not hmac.compare_digest(given, expected):
        raise BadToken(BAD_SIGNATURE)
    try:
        body = json.loads(_unb64(payload))
    except (ValueError, binascii.Error) as exc:  # pragma: no cover - we signed it, so it parses
        raise BadToken(MALFORMED) from exc
    if not isinstance(body, dict) or body.get("u") not in allowed:
        raise BadToken(WRONG_PURPOSE)
    expires = body.get("x")
    if expires is not None and (not isinstance(expires, int) or expires <= now):
        raise BadToken(EXPIRED, dict(body))
    return dict(body)
