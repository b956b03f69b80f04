"""Audit items. Written once with a condition, never updated or deleted through the API."""

from __future__ import annotations

from collections.abc import Iterable

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute

from chalicelib.audit.model import AuditEvent
from chalicelib.platform.table import TableItem, practice_pk


class AuditItem(TableItem, discriminator="Audit"):
    event_id = UnicodeAttribute()
    at = UTCDateTimeAttribute()
    actor_type = UnicodeAttribute()
    actor_id = UnicodeAttribute()
    action = UnicodeAttribute()
    patient_id = UnicodeAttribute(default="")
    record = UnicodeAttribute(default="")
    source = UnicodeAttribute(default="api")


def _sk(e: AuditEvent) -> str:
    return f"AUDIT#{e.at.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#{e.id}"


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
    )
    if e.patient_id:
        item.gsi2pk = f"PRACTICE#{practice_id}#PATIENT#{e.patient_id}"
        item.gsi2sk = _sk(e)
    return item


def _event(i: AuditItem) -> AuditEvent:
    return AuditEvent(i.event_id, i.at, i.actor_type, i.actor_id, i.action, i.patient_id, i.record, i.source)


class AuditStore:
    def append(self, practice_id: str, events: Iterable[AuditEvent]) -> None:
        batch = list(events)
        if len(batch) == 1:
            _item(practice_id, batch[0]).save(condition=AuditItem.pk.does_not_exist())
            return
        with AuditItem.batch_write() as writer:  # ids are fresh, so a batch never overwrites
            for e in batch:
                writer.save(_item(practice_id, e))

    def for_patient(self, practice_id: str, patient_id: str, limit: int = 200) -> list[AuditEvent]:
        """Newest first."""
        items = AuditItem.gsi2.query(
            f"PRACTICE#{practice_id}#PATIENT#{patient_id}",
            AuditItem.gsi2sk.startswith("AUDIT#"),
            scan_index_forward=False,
            limit=limit,
        )
        return [_event(i) for i in items]

    def for_practice(self, practice_id: str, limit: int = 200) -> list[AuditEvent]:
        items = AuditItem.query(
            practice_pk(practice_id),
            AuditItem.sk.startswith("AUDIT#"),
            scan_index_forward=False,
            limit=limit,
        )
        return [_event(i) for i in items]
