"""Recording audit events. Every read or write of patient data goes through ``Auditor.record``."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Protocol

from chalicelib.audit.model import AuditEvent
from chalicelib.platform.clock import Clock


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
    ) -> None:
        """One event per patient touched, so each patient's access log shows it."""
        now = self.clock.now()
        events = [
            AuditEvent(uuid.uuid4().hex, now, actor_type, actor_id, action, pid, record, source)
            for pid in dict.fromkeys(patient_ids)
        ]
        if events:
            self.log.append(practice_id, events)


class MemoryAuditLog:
    """In-memory twin for service tests."""

    def __init__(self) -> None:
        self.events: list[tuple[str, AuditEvent]] = []

    def append(self, practice_id: str, events: Iterable[AuditEvent]) -> None:
        self.events.extend((practice_id, e) for e in events)
