"""Reads of the audit trail by time window (Query PK, SK between AUDIT#<from> and AUDIT#<to>, newest
first, paged to the end) or by patient (GSI2), for browsing and CSV export."""

from __future__ import annotations

from collections.abc import Iterator

from chalicelib.audit.model import AuditEvent
from chalicelib.audit.store import AuditItem
from chalicelib.dashboard.model import AuditFilter
from chalicelib.platform.table import practice_pk

_FMT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _event(i: AuditItem) -> AuditEvent:
    return AuditEvent(i.event_id, i.at, i.actor_type, i.actor_id, i.action, i.patient_id, i.record, i.source)


def audit_events(practice_id: str, f: AuditFilter) -> Iterator[AuditEvent]:
    low, high = f"AUDIT#{f.start.strftime(_FMT)}", f"AUDIT#{f.end.strftime(_FMT)}"
    if f.patient_id:
        items = AuditItem.gsi2.query(
            f"PRACTICE#{practice_id}#PATIENT#{f.patient_id}",
            AuditItem.gsi2sk.between(low, high),
            scan_index_forward=False,
        )
    else:
        items = AuditItem.query(practice_pk(practice_id), AuditItem.sk.between(low, high), scan_index_forward=False)
    for i in items:
        if isinstance(i, AuditItem):
            e = _event(i)
            if f.matches(e):
                yield e
