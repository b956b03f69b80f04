"""Short signed links for SMS, where every character counts. Pure: stdlib only.

An SMS carries ``<api>/l/<token>``; the token names the action (confirm, cancel, reschedule), the
practice, the appointment and the start the message showed, with a 96-bit HMAC under a key derived
for this use. The route verifies it and redirects to the patient page with the appointments
capability's full single-purpose action link, minted at click time. It expires when the visit starts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

_DOMAIN = b"chairside.shortlink.v1"
_ACTIONS = {"c": "confirm", "x": "cancel", "r": "reschedule"}
_CODES = {v: k for k, v in _ACTIONS.items()}
MAC_BYTES = 12
MAX_LENGTH = 200


class BadShortLink(ValueError):
    pass


@dataclass(frozen=True)
class ShortLink:
    action: str
    practice_id: str
    appointment_id: str
    start: datetime


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _mac(key: bytes, payload: bytes) -> bytes:
    derived = hmac.new(key, _DOMAIN, hashlib.sha256).digest()
    return hmac.new(derived, payload, hashlib.sha256).digest()[:MAC_BYTES]


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


def make(key: bytes, action: str, practice_id: str, appointment_id: str, start: datetime) -> str:
    if action not in _CODES:
        raise ValueError(f"unknown action {action!r}")
    for part in (practice_id, appointment_id):
        if not part or "." in part:
            raise ValueError("ids in a short link may not be empty or contain '.'")
    payload = ".".join((_CODES[action], practice_id, appointment_id, _base36(int(start.timestamp())))).encode()
    return f"{_b64(payload)}.{_b64(_mac(key, payload))}"


def read(key: bytes, token: str, now: datetime) -> ShortLink:
    """The link's claims; ``BadShortLink`` if it is malformed, forged or its visit has started."""
    if not token or len(token) > MAX_LENGTH or token.count(".") != 1:
        raise BadShortLink("malformed")
    encoded, mac = token.split(".")
    try:
        payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        given = base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4))
    except (binascii.Error, ValueError) as exc:
        raise BadShortLink("malformed") from exc
    if not hmac.compare_digest(given, _mac(key, payload)):
        raise BadShortLink("bad signature")
    try:
        code, practice_id, appointment_id, start36 = payload.decode("ascii").split(".")
        start = datetime.fromtimestamp(int(start36, 36), tz=UTC)
    except (ValueError, UnicodeDecodeError) as exc:  # pragma: no cover - we signed it
        raise BadShortLink("malformed") from exc
    if code not in _ACTIONS:
        raise BadShortLink("unknown action")
    if now >= start:
        raise BadShortLink("expired")
    return ShortLink(_ACTIONS[code], practice_id, appointment_id, start)
