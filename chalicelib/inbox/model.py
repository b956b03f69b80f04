"""Staff inbox items and what staff do with them. Pure domain.

Any capability opens an item (``Inbox.add``); staff assign it, reply to it (SMS or email, through the
messaging adapter, never to an opted-out or suppressed address) and close it. An item's ``ref`` names it
in URLs: its creation instant and id, so the item is one GetItem away.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field, replace
from datetime import datetime

OPEN = "open"
CLOSED = "closed"
STATUSES = (OPEN, CLOSED)

# Kinds known today; producers may add others (the page shows unknown kinds by their name).
KINDS = (
    "sms_reply",  # free text that was not a keyword (reminders/inbound.py)
    "possible_opt_out",  # "stop texting me" style text, not an opt-out keyword
    "opt_out_follow_up",
    "delivery_failed",
    "sms_blocked",
    "low_feedback",  # feedback at or below the low-score threshold (feedback)
    "new_patient_request",  # (feedback/referrals)
    "waitlist_accepted",
    "booking_request",  # a patient request awaiting approval (listed from the pending requests)
)
MAX_REPLY = 1000
MAX_REPLIES = 50


class InboxError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Reply:
    at: datetime
    by: str  # staff user id
    channel: str  # sms | email
    to: str  # the address it went to (shown to staff only)
    text: str
    provider_message_id: str = ""


@dataclass(frozen=True)
class Item:
    id: str
    at: datetime
    kind: str
    address: str = ""
    patient_ids: tuple[str, ...] = ()
    text: str = ""
    status: str = OPEN
    assigned_to: str = ""
    closed_at: datetime | None = None
    closed_by: str = ""
    replies: tuple[Reply, ...] = field(default_factory=tuple)
    version: int = 0

    @property
    def ref(self) -> str:
        return encode_ref(self.at, self.id)


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def encode_ref(at: datetime, item_id: str) -> str:
    return base64.urlsafe_b64encode(f"{stamp(at)}|{item_id}".encode()).decode().rstrip("=")


def decode_ref(ref: str) -> tuple[str, str] | None:
    """(instant text, id) or None for anything that is not a ref we made."""
    if not ref or len(ref) > 200:
        return None
    try:
        raw = base64.urlsafe_b64decode(ref + "=" * (-len(ref) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    at, sep, item_id = raw.partition("|")
    if not sep or len(at) != 20 or not item_id or not item_id.replace("-", "").isalnum():
        return None
    return at, item_id


def assign(item: Item, staff_id: str) -> Item:
    if item.status != OPEN:
        raise InboxError("closed", "this item is closed")
    return replace(item, assigned_to=staff_id)


def close(item: Item, staff_id: str, at: datetime) -> Item:
    if item.status != OPEN:
        return item  # closing twice is harmless
    return replace(item, status=CLOSED, closed_at=at, closed_by=staff_id)


def reopen(item: Item) -> Item:
    return replace(item, status=OPEN, closed_at=None, closed_by="")


def valid_reply_text(text: object) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InboxError("text_required", "write the reply first")
    if len(text) > MAX_REPLY:
        raise InboxError("text_too_long", f"a reply has at most {MAX_REPLY} characters")
    return text.strip()


def add_reply(item: Item, reply: Reply) -> Item:
    if len(item.replies) >= MAX_REPLIES:
        raise InboxError("too_many_replies", "this item has too many replies; open a new conversation")
    return replace(item, replies=(*item.replies, reply))
