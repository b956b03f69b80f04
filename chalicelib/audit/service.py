"""Recording audit events. Every read or write of patient data goes through ``Auditor.record``."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Protocol

from chalicelib.audit.model import ACTOR_STAFF, AuditEvent
from chalicelib.platform.clock import Clock
from chalicelib.platform.observability import logger, metrics

# The verified staff caller of the current request: (sub, role, display name). Set where the token is
# verified (chalicelib/platform/request.py), read when a staff event is recorded, so every call site
# that passes actor_id=<sub> also stores the role and name the token carried at that moment.
_staff_seen: ContextVar[tuple[str, str, str] | None] = ContextVar("audit_staff_seen", default=None)


def remember_staff(user_id: str, role: str, name: str) -> None:
    _staff_seen.set((user_id, role, name))


def _staff_label(actor_id: str) -> tuple[str, str]:
    seen = _staff_seen.get()
    if seen is None or seen[0] != actor_id:  # another request's caller never names this one
        return "", ""
    return seen[1], seen[2]


class AuditLog(Protocol):
    def append(self, practice_id: str, events: Iterable[AuditEvent]) -> None: ...


class Auditor:
    def __init__(self, log: AuditLog, clock: Clock) -> None:
        self.log = log
        self.clock = clock

    def record(
        self,
        practice_id: str,
        *,
        actor_type: str,
        actor_id: str,
        action: str,
        patient_ids: Iterable[str] = ("",),
        record: str = "",
        source: str = "api",
        actor_role: str = "",
        actor_name: str = "",
    ) -> None:
        """One event per patient touched, so each patient's access log shows it."""
        now = self.clock.now()
        if actor_type == ACTOR_STAFF and not (actor_role or actor_name):
            actor_role, actor_name = _staff_label(actor_id)
        events = [
            AuditEvent(uuid.uuid4().hex, now, actor_type, actor_id, action, pid, record, source, actor_role, actor_name)
            for pid in dict.fromkeys(patient_ids)
        ]
        if not events:
            return
        try:
            self.log.append(practice_id, events)
        except Exception:
            # The change or read it describes has happened; failing the request now would not undo it.
            # So the event is not lost: it goes to the log whole (ids only, as the table would hold it).
            for e in events:
                logger.error(
                    "audit event not stored",
                    extra={
                        "practice_id": practice_id,
                        "audit_id": e.id,
                        "audit_at": e.at.isoformat(),
                        "actor_type": e.actor_type,
                        "actor_id": e.actor_id,
                        "action": e.action,
                        "patient_id": e.patient_id,
                        "record": e.record,
                        "source": e.source,
                    },
                )
            metrics.add_metric(name="AuditWriteFailed", unit="Count", value=len(events))


class MemoryAuditLog:
    """In-memory twin for service tests."""

    def __init__(self) -> None:
        self.events: list[tuple[str, AuditEvent]] = []

    def append(self, practice_id: str, events: Iterable[AuditEvent]) -> None:
        self.events.extend((practice_id, e) for e in events)
