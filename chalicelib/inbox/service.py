"""Inbox use cases: list, assign, close, reply. Ports are passed in; replies honour opt-outs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from chalicelib.adapters.messaging import Email, EmailSender, Sms, SmsSender
from chalicelib.audit.model import ACTOR_STAFF
from chalicelib.audit.service import Auditor
from chalicelib.inbox import model
from chalicelib.inbox.model import InboxError, Item, Reply
from chalicelib.patients.model import Patient
from chalicelib.platform.errors import Conflict, NotFound, Unprocessable
from chalicelib.practices.model import Practice


class Store(Protocol):
    def get(self, practice_id: str, at_text: str, item_id: str) -> Item | None: ...
    def save(self, practice_id: str, item: Item) -> Item: ...
    def add(self, practice_id: str, item: Item) -> None: ...


class Patients(Protocol):
    def get(self, practice_id: str, patient_id: str) -> Patient | None: ...


class Blocked(Protocol):
    def __call__(self, practice_id: str, address: str) -> str: ...  # "" when the address may be written to


@dataclass
class InboxPorts:
    store: Store
    patients: Patients
    sms: SmsSender
    email: EmailSender
    blocked: Blocked
    auditor: Auditor
    conflict: type[Exception]


def new_item(kind: str, at: datetime, text: str, patient_ids: tuple[str, ...] = (), address: str = "") -> Item:
    """What a producer adds (``InboxStore.add``)."""
    return Item(uuid.uuid4().hex[:16], at, kind, address, patient_ids, text)


def load(ports: InboxPorts, practice_id: str, ref: str) -> Item:
    key = model.decode_ref(ref)
    item = ports.store.get(practice_id, *key) if key else None
    if item is None:
        raise NotFound("no such inbox item")
    return item


def _check_version(item: Item, version: int | None) -> None:
    if version is not None and version != item.version:
        raise Conflict("someone changed this item; reload it", code="version_conflict")


def _save(ports: InboxPorts, practice_id: str, item: Item) -> Item:
    try:
        return ports.store.save(practice_id, item)
    except ports.conflict as exc:
        raise Conflict("someone changed this item; reload it", code="version_conflict") from exc


def _audit(ports: InboxPorts, practice_id: str, staff_id: str, action: str, item: Item) -> None:
    ports.auditor.record(
        practice_id,
        actor_type=ACTOR_STAFF,
        actor_id=staff_id,
        action=action,
        patient_ids=item.patient_ids or ("",),
        record=f"inbox:{item.id}",
    )


def assign(ports: InboxPorts, practice_id: str, ref: str, staff_id: str, to: str, version: int | None) -> Item:
    item = load(ports, practice_id, ref)
    _check_version(item, version)
    try:
        changed = model.assign(item, to)
    except InboxError as exc:
        raise Conflict(str(exc), code=exc.code) from exc
    saved = _save(ports, practice_id, changed)
    _audit(ports, practice_id, staff_id, "inbox.assign", saved)
    return saved


def close(ports: InboxPorts, practice_id: str, ref: str, staff_id: str, at: datetime, version: int | None) -> Item:
    item = load(ports, practice_id, ref)
    _check_version(item, version)
    if item.status == model.CLOSED:
        return item
    saved = _save(ports, practice_id, model.close(item, staff_id, at))
    _audit(ports, practice_id, staff_id, "inbox.close", saved)
    return saved


def reply_address(item: Item, patient: Patient | None, channel: str) -> str:
    if channel == "sms":
        if item.address.startswith("+"):
            return item.address
        return patient.phone if patient else ""
    if "@" in item.address:
        return item.address
    return patient.email if patient else ""


def reply(
    ports: InboxPorts,
    practice: Practice,
    ref: str,
    staff_id: str,
    channel: str,
    text: object,
    at: datetime,
    version: int | None,
) -> Item:
    """Send a reply by SMS or email to the item's address (or its patient's), then record it on the item."""
    if channel not in ("sms", "email"):
        raise Unprocessable("channel must be sms or email", code="invalid_channel")
    try:
        body = model.valid_reply_text(text)
    except InboxError as exc:
        raise Unprocessable(str(exc), code=exc.code) from exc
    item = load(ports, practice.id, ref)
    _check_version(item, version)
    patient = ports.patients.get(practice.id, item.patient_ids[0]) if item.patient_ids else None
    to = reply_address(item, patient, channel)
    if not to:
        raise Unprocessable(f"there is no {channel} address to reply to", code="no_address")
    reason = ports.blocked(practice.id, to)
    if reason:
        raise Conflict(f"not sent: the address is {reason.replace('_', ' ')}", code=reason)
    if channel == "sms":
        origination = str(practice.settings.get("sms_number") or "")
        message_id = ports.sms.send(Sms(to, body, origination=origination))
    else:
        message_id = ports.email.send(Email(to, f"A message from {practice.name}", body))
    try:
        updated = model.add_reply(item, Reply(at, staff_id, channel, to, body, message_id))
    except InboxError as exc:
        raise Conflict(str(exc), code=exc.code) from exc
    saved = _save(ports, practice.id, updated)
    _audit(ports, practice.id, staff_id, f"inbox.reply.{channel}", saved)
    return saved
