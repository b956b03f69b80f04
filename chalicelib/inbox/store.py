"""Inbox items: ``PK = PRACTICE#<p>``, ``SK = INBOX#<UTC instant>#<id>``; while open also in GSI1
``PRACTICE#<p>#INBOX#OPEN / <UTC instant>#<id>`` (sparse: closing removes it), so the open list never
reads closed history; with a patient, GSI2 ``PRACTICE#<p>#PATIENT#<first patient id> / INBOX#<UTC>#<id>``
(the patient card's "messages received"). Staff changes are conditional on ``version`` (two people
closing or assigning at once: one wins, the other gets 409 and reloads). Replies are kept on the item (at most 50).
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.attributes import ListAttribute, MapAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import PutError

from chalicelib.inbox.model import OPEN, Item, Reply, stamp
from chalicelib.platform.table import TableItem, practice_pk


class ReplyAttribute(MapAttribute[str, object]):
    at = UTCDateTimeAttribute()
    by = UnicodeAttribute()
    channel = UnicodeAttribute()
    to = UnicodeAttribute(default="")
    text = UnicodeAttribute()
    provider_message_id = UnicodeAttribute(default="")


class InboxItem(TableItem, discriminator="InboxItem"):
    entry_id = UnicodeAttribute()
    at = UTCDateTimeAttribute()
    kind = UnicodeAttribute()
    address = UnicodeAttribute(default="")
    patient_ids = ListAttribute(of=UnicodeAttribute, default=list)
    text = UnicodeAttribute(default="")
    status = UnicodeAttribute(default="open")
    assigned_to = UnicodeAttribute(default="")
    closed_at = UTCDateTimeAttribute(null=True)
    closed_by = UnicodeAttribute(default="")
    replies = ListAttribute(of=ReplyAttribute, default=list)
    rev = NumberAttribute(default=0)


class Conflict(Exception):
    """The item changed since it was read."""


def open_key(practice_id: str) -> str:
    return f"PRACTICE#{practice_id}#INBOX#OPEN"


def _sk(at_text: str, item_id: str) -> str:
    return f"INBOX#{at_text}#{item_id}"


def to_item(practice_id: str, e: Item) -> InboxItem:
    i = InboxItem(
        practice_pk(practice_id),
        _sk(stamp(e.at), e.id),
        entry_id=e.id,
        at=e.at,
        kind=e.kind,
        address=e.address,
        patient_ids=list(e.patient_ids),
        text=e.text,
        status=e.status,
        assigned_to=e.assigned_to,
        closed_at=e.closed_at,
        closed_by=e.closed_by,
        replies=[ReplyAttribute(**vars(r)) for r in e.replies],
        rev=e.version,
    )
    if e.patient_ids:  # a patient's card lists the messages received from them
        i.gsi2pk = f"PRACTICE#{practice_id}#PATIENT#{e.patient_ids[0]}"
        i.gsi2sk = _sk(stamp(e.at), e.id)
    if e.status == OPEN:
        i.gsi1pk = open_key(practice_id)
        i.gsi1sk = f"{stamp(e.at)}#{e.id}"
    return i


def from_item(i: InboxItem) -> Item:
    return Item(
        id=i.entry_id,
        at=i.at,
        kind=i.kind,
        address=i.address or "",
        patient_ids=tuple(str(p) for p in i.patient_ids or []),
        text=i.text or "",
        status=i.status or OPEN,
        assigned_to=i.assigned_to or "",
        closed_at=i.closed_at,
        closed_by=i.closed_by or "",
        replies=tuple(
            Reply(r.at, r.by, r.channel, r.to or "", r.text, r.provider_message_id or "") for r in i.replies or []
        ),
        version=int(i.rev or 0),
    )


class InboxStore:
    def add(self, practice_id: str, item: Item) -> None:
        """Open an item (producers call this; ids are fresh, so an item is written once)."""
        to_item(practice_id, item).save(condition=InboxItem.sk.does_not_exist())

    def get(self, practice_id: str, at_text: str, item_id: str) -> Item | None:
        try:
            return from_item(InboxItem.get(practice_pk(practice_id), _sk(at_text, item_id), consistent_read=True))
        except InboxItem.DoesNotExist:
            return None

    def save(self, practice_id: str, item: Item) -> Item:
        """Write a staff change; fails with Conflict unless the stored version is the one read."""
        nxt = to_item(practice_id, item)
        nxt.rev = item.version + 1
        condition = InboxItem.sk.exists() & (
            InboxItem.rev == item.version if item.version else InboxItem.rev.does_not_exist() | (InboxItem.rev == 0)
        )
        try:
            nxt.save(condition=condition)
        except PutError as exc:
            if "ConditionalCheckFailed" in str(exc):
                raise Conflict from exc
            raise
        return from_item(nxt)

    def open_items(self, practice_id: str) -> list[Item]:
        """Every open item, newest first (GSI1, paged to the end)."""
        return [
            from_item(i)
            for i in InboxItem.gsi1.query(open_key(practice_id), scan_index_forward=False)
            if isinstance(i, InboxItem)
        ]

    def recent(self, practice_id: str, since: datetime) -> list[Item]:
        """Open and closed items since an instant, newest first (PK query, paged to the end)."""
        return [
            from_item(i)
            for i in InboxItem.query(
                practice_pk(practice_id),
                InboxItem.sk.between(f"INBOX#{stamp(since)}", "INBOX#~"),
                scan_index_forward=False,
            )
        ]

    def for_patient(self, practice_id: str, patient_id: str) -> list[Item]:
        """Items opened about a patient (as the first patient named), newest first."""
        return [
            from_item(i)
            for i in InboxItem.gsi2.query(
                f"PRACTICE#{practice_id}#PATIENT#{patient_id}",
                InboxItem.gsi2sk.startswith("INBOX#"),
                scan_index_forward=False,
            )
            if isinstance(i, InboxItem)
        ]
