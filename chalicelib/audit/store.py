"""Audit items. Written once with a condition, never updated or deleted through the API.

A patient's events are also indexed on GSI2 (``PRACTICE#<p>#PATIENT#<id>`` / ``AUDIT#<UTC>#<id>``), which
``page_for_patient`` reads newest first one page at a time: its cursor is the sort key of the last event
it returned, turned back into DynamoDB's ExclusiveStartKey for the next page (so a cursor can only move
along the partition the caller was allowed to read; it never names another one).

``append_once`` writes events together with an ``AUDITONCE#<key>`` marker in one transaction conditioned
on the marker being absent: the events are written at most once per key while the marker lives (its TTL).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from datetime import datetime

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.audit.model import ACTOR_PATIENT, AuditEvent
from chalicelib.platform.table import TableItem, practice_pk

_STAMP = "%Y-%m-%dT%H:%M:%S.%fZ"
_SK = re.compile(r"AUDIT#\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z#[A-Za-z0-9_.:-]{1,64}")


class AuditItem(TableItem, discriminator="Audit"):
    event_id = UnicodeAttribute()
    at = UTCDateTimeAttribute()
    actor_type = UnicodeAttribute()
    actor_id = UnicodeAttribute()
    action = UnicodeAttribute()
    patient_id = UnicodeAttribute(default="")
    record = UnicodeAttribute(default="")
    source = UnicodeAttribute(default="api")
    # Staff only, optional: items written before these existed load with them empty.
    actor_role = UnicodeAttribute(null=True)
    actor_name = UnicodeAttribute(null=True)


class AuditOnceItem(TableItem, discriminator="AuditOnce"):
    """Marks that the events of one key were written (``append_once``); expires with ``expires_at``."""


class BadCursor(ValueError):
    """A cursor we did not hand out."""


def _sk(e: AuditEvent) -> str:
    return f"AUDIT#{e.at.strftime(_STAMP)}#{e.id}"


def patient_partition(practice_id: str, patient_id: str) -> str:
    return f"PRACTICE#{practice_id}#PATIENT#{patient_id}"


def _item(practice_id: str, e: AuditEvent) -> AuditItem:
    item = AuditItem(
        practice_pk(practice_id),
        _sk(e),
        event_id=e.id,
        at=e.at,
        actor_type=e.actor_type,
        actor_id=e.actor_id,
        action=e.action,
        patient_id=e.patient_id,
        record=e.record,
        source=e.source,
        actor_role=e.actor_role or None,
        actor_name=e.actor_name or None,
    )
    if e.patient_id:
        item.gsi2pk = patient_partition(practice_id, e.patient_id)
        item.gsi2sk = _sk(e)
    return item


def event_from(i: AuditItem) -> AuditEvent:
    return AuditEvent(
        i.event_id,
        i.at,
        i.actor_type,
        i.actor_id,
        i.action,
        i.patient_id,
        i.record,
        i.source,
        i.actor_role or "",
        i.actor_name or "",
    )


def encode_cursor(e: AuditEvent) -> str:
    return base64.urlsafe_b64encode(_sk(e).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The sort key a cursor stands for; BadCursor for anything ``encode_cursor`` did not make."""
    if not cursor or len(cursor) > 200:
        raise BadCursor("not a cursor")
    try:
        sk = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadCursor("not a cursor") from exc
    if not _SK.fullmatch(sk):
        raise BadCursor("not a cursor")
    return sk


class AuditStore:
    def __init__(self) -> None:
        self._connection: Connection | None = None

    def _tx(self) -> Connection:
        if self._connection is None:
            self._connection = Connection(region=TableItem.Meta.region)
        return self._connection

    def append(self, practice_id: str, events: Iterable[AuditEvent]) -> None:
        batch = list(events)
        if len(batch) == 1:
            _item(practice_id, batch[0]).save(condition=AuditItem.pk.does_not_exist())
            return
        with AuditItem.batch_write() as writer:  # ids are fresh, so a batch never overwrites
            for e in batch:
                writer.save(_item(practice_id, e))

    def append_once(self, practice_id: str, key: str, events: Iterable[AuditEvent], expires_at: datetime) -> bool:
        """Write ``events`` unless events under ``key`` were written before (and their marker lives).

        One transaction: the marker (condition: absent) and each event (condition: absent). False when the
        marker was already there, and then nothing is written. At most 99 events (the transaction limit).
        """
        batch = list(events)
        marker = AuditOnceItem(practice_pk(practice_id), f"AUDITONCE#{key}", expires_at=int(expires_at.timestamp()))
        try:
            with TransactWrite(connection=self._tx()) as tx:
                tx.save(marker, condition=AuditOnceItem.pk.does_not_exist())
                for e in batch:
                    tx.save(_item(practice_id, e), condition=AuditItem.pk.does_not_exist())
        except TransactWriteError as exc:
            if exc.cause_response_code == "TransactionCanceledException":
                return False
            raise
        return True

    def for_patient(self, practice_id: str, patient_id: str, limit: int = 200) -> list[AuditEvent]:
        """Newest first, at most ``limit`` (the staff view; ``page_for_patient`` pages the whole log)."""
        items = AuditItem.gsi2.query(
            patient_partition(practice_id, patient_id),
            AuditItem.gsi2sk.startswith("AUDIT#"),
            scan_index_forward=False,
            limit=limit,
        )
        return [event_from(i) for i in items]

    def page_for_patient(
        self, practice_id: str, patient_id: str, size: int, cursor: str = "", hide_actor: str = ""
    ) -> tuple[list[AuditEvent], str]:
        """One page of a patient's events, newest first, and the cursor of the next page ("" at the end).

        Reads one event more than it returns, so a last page is known to be the last (no empty "more").
        The iterator follows DynamoDB's pages (1 MB, or ``Limit`` evaluated items) until the page is full
        or the partition ends. ``hide_actor``: leave out that patient-session holder's own events (a
        filter expression, so DynamoDB pages may come back short; the iterator reads on).
        """
        partition = patient_partition(practice_id, patient_id)
        start = None
        if cursor:
            sk = decode_cursor(cursor)
            start = {
                "PK": {"S": practice_pk(practice_id)},
                "SK": {"S": sk},
                "GSI2PK": {"S": partition},
                "GSI2SK": {"S": sk},
            }
        hidden = None
        if hide_actor:
            hidden = (AuditItem.actor_type != ACTOR_PATIENT) | (AuditItem.actor_id != hide_actor)
        items = AuditItem.gsi2.query(
            partition,
            AuditItem.gsi2sk.startswith("AUDIT#"),
            filter_condition=hidden,
            scan_index_forward=False,
            limit=size + 1,
            page_size=max(size + 1, 100) if hidden is not None else size + 1,
            last_evaluated_key=start,
        )
        events = [event_from(i) for i in items if isinstance(i, AuditItem)]
        if len(events) <= size:
            return events, ""
        return events[:size], encode_cursor(events[size - 1])

    def for_practice(self, practice_id: str, limit: int = 200) -> list[AuditEvent]:
        items = AuditItem.query(
            practice_pk(practice_id),
            AuditItem.sk.startswith("AUDIT#"),
            scan_index_forward=False,
            limit=limit,
        )
        return [event_from(i) for i in items]
