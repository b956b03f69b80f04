"""Signed links for messages: appointment actions, waitlist offers, calendar feeds. Pure domain.

Each token names its practice and one record, and verifies for one purpose only:
- an action link (confirm, cancel, reschedule) is bound to one appointment and to the start it was
  sent for, and expires when the appointment starts (and at most ``ACTION_LIFETIME`` after issue);
- an offer link is bound to one offer and one waitlist entry and expires when the offered time starts;
- a feed token never expires; it names the contact's feed and the feed id, so rotating or deleting
  the feed revokes every URL made before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chalicelib.platform import signed

CONFIRM = "confirm"
CANCEL = "cancel"
RESCHEDULE = "reschedule"
OFFER = "offer"
ACTIONS = (CONFIRM, CANCEL, RESCHEDULE)

ACTION_LIFETIME = timedelta(days=45)

_PURPOSE = {CONFIRM: "appt.confirm", CANCEL: "appt.cancel", RESCHEDULE: "appt.reschedule", OFFER: "waitlist.offer"}
_ACTION_OF = {v: k for k, v in _PURPOSE.items()}
FEED_PURPOSE = "calendar.feed"


class LinkInvalid(Exception):
    """Not a link we made (or not for this use): answer as for a missing record."""


class LinkExpired(Exception):
    def __init__(self, practice_id: str) -> None:
        super().__init__("expired")
        self.practice_id = practice_id


@dataclass(frozen=True)
class LinkClaims:
    action: str  # confirm | cancel | reschedule | offer
    practice_id: str
    appointment_id: str = ""  # action links
    start: datetime | None = None  # action links: the start the message showed
    offer_id: str = ""  # offer links
    entry_id: str = ""  # offer links


def _epoch(at: datetime) -> int:
    return int(at.timestamp())


def action_token(key: bytes, practice_id: str, appointment_id: str, action: str, start: datetime, now: datetime) -> str:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    expires = min(start, now + ACTION_LIFETIME)
    claims: dict[str, str | int] = {"p": practice_id, "a": appointment_id, "s": _epoch(start)}
    return signed.sign(key, _PURPOSE[action], claims, _epoch(expires))


def offer_token(key: bytes, practice_id: str, offer_id: str, entry_id: str, expires: datetime) -> str:
    return signed.sign(key, _PURPOSE[OFFER], {"p": practice_id, "o": offer_id, "e": entry_id}, _epoch(expires))


def read_link(key: bytes, token: str, now: datetime) -> LinkClaims:
    """The claims of a good action or offer link; ``LinkInvalid`` or ``LinkExpired`` otherwise."""
    try:
        body = signed.verify(key, token, _ACTION_OF.keys(), _epoch(now))
    except signed.BadToken as exc:
        if exc.reason == signed.EXPIRED and isinstance(exc.claims.get("p"), str):
            raise LinkExpired(str(exc.claims["p"])) from exc
        raise LinkInvalid(exc.reason) from exc
    action = _ACTION_OF[str(body["u"])]
    try:
        if action == OFFER:
            return LinkClaims(action, _text(body, "p"), offer_id=_text(body, "o"), entry_id=_text(body, "e"))
        start = body.get("s")
        if not isinstance(start, int):
            raise LinkInvalid("no start")
        return LinkClaims(
            action, _text(body, "p"), appointment_id=_text(body, "a"), start=datetime.fromtimestamp(start, tz=UTC)
        )
    except KeyError as exc:
        raise LinkInvalid("missing claim") from exc


def feed_token(key: bytes, practice_id: str, holder_id: str, feed_id: str) -> str:
    return signed.sign(key, FEED_PURPOSE, {"p": practice_id, "h": holder_id, "f": feed_id})


def read_feed_token(key: bytes, token: str, now: datetime) -> tuple[str, str, str]:
    """(practice id, holder id, feed id) of a good feed token; ``LinkInvalid`` otherwise."""
    try:
        body = signed.verify(key, token, FEED_PURPOSE, _epoch(now))
        return _text(body, "p"), _text(body, "h"), _text(body, "f")
    except (signed.BadToken, KeyError) as exc:
        raise LinkInvalid("bad feed token") from exc


def _text(body: dict[str, object], name: str) -> str:
    value = body[name]
    if not isinstance(value, str) or not value:
        raise KeyError(name)
    return value
