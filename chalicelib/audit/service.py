"""Recording audit events. Every read or write of patient data goes through ``Auditor.record``."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from chalicelib.audit.access import ACCESS_LOG_READ, AccessEntry, entry_of
from chalicelib.audit.model import ACTOR_PATIENT, ACTOR_STAFF, AuditEvent
from chalicelib.patients.model import ContactLink
from chalicelib.platform.auth import PatientCaller
from chalicelib.platform.clock import Clock
from chalicelib.platform.errors import BadRequest, NotFound
from chalicelib.platform.observability import logger, metrics

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")

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
        self.once: set[tuple[str, str]] = set()

    def append(self, practice_id: str, events: Iterable[AuditEvent]) -> None:
        self.events.extend((practice_id, e) for e in events)

    def page_for_patient(
        self, practice_id: str, patient_id: str, size: int, cursor: str = "", hide_actor: str = ""
    ) -> tuple[list[AuditEvent], str]:
        """The store's paging over this twin's events (cursor: the index of the next event)."""
        mine = sorted(
            (e for p, e in self.events if p == practice_id and e.patient_id == patient_id),
            key=lambda e: (e.at, e.id),
            reverse=True,
        )
        mine = [e for e in mine if not (hide_actor and e.actor_type == ACTOR_PATIENT and e.actor_id == hide_actor)]
        if cursor and not cursor.isdigit():
            raise ValueError("not a cursor")
        start = int(cursor or 0)
        page = mine[start : start + size]
        return page, str(start + size) if start + size < len(mine) else ""

    def append_once(self, practice_id: str, key: str, events: Iterable[AuditEvent], expires_at: datetime) -> bool:
        if (practice_id, key) in self.once:
            return False
        self.once.add((practice_id, key))
        self.append(practice_id, events)
        return True


# --- a patient's own access log -----------------------------------------------------------------

ACCESS_PAGE_SIZE = 25
# A session lives at most 12 hours (chalicelib/identity/model.py); its "looked at the log" mark lives as long.
ACCESS_READ_MARK = timedelta(hours=12)


class AccessLog(Protocol):
    def append(self, practice_id: str, events: Iterable[AuditEvent]) -> None: ...

    def append_once(self, practice_id: str, key: str, events: Iterable[AuditEvent], expires_at: datetime) -> bool: ...

    def page_for_patient(
        self, practice_id: str, patient_id: str, size: int, cursor: str = "", hide_actor: str = ""
    ) -> tuple[list[AuditEvent], str]: ...


class LinkReader(Protocol):
    def links_for_patient(self, practice_id: str, patient_id: str) -> list[ContactLink]: ...


@dataclass(frozen=True)
class AccessPage:
    patient_id: str
    entries: list[AccessEntry]
    cursor: str  # "" on the last page


def access_log(
    log: AccessLog,
    links: LinkReader,
    clock: Clock,
    caller: PatientCaller,
    patient_id: str,
    cursor: str = "",
    only_others: bool = False,
) -> AccessPage:
    """One page of who read or changed ``patient_id``'s data, newest first, for its owner or guardian.

    Another family's or an unlinked patient's id answers 404 like a missing one (the attempt is audited).
    Reading the log is itself audited, but once per session and patient ("access_log.read" on the first
    look), so looking again, reloading or paging with "show more" never floods the log it shows.
    A bad cursor is a 400.
    """
    if not caller.owns(patient_id):
        deny(log, clock, caller, patient_id, "access-log")
        raise NotFound("no such patient")
    now = clock.now()
    if not cursor:
        event = AuditEvent(
            uuid.uuid4().hex, now, ACTOR_PATIENT, caller.holder_id, ACCESS_LOG_READ, patient_id, "access-log", "api"
        )
        key = f"ACCESSLOG#{patient_id}#{caller.session_id[:32]}"
        log.append_once(caller.practice_id, key, [event], now + ACCESS_READ_MARK)
    try:
        events, after = log.page_for_patient(
            caller.practice_id,
            patient_id,
            ACCESS_PAGE_SIZE,
            cursor,
            hide_actor=caller.holder_id if only_others else "",
        )
    except ValueError as exc:  # BadCursor, or the twin's
        raise BadRequest("that is not a cursor this list gave out", code="invalid_cursor") from exc
    linked = {link.holder_id for link in links.links_for_patient(caller.practice_id, patient_id)}
    return AccessPage(patient_id, [entry_of(e, caller.holder_id, patient_id, linked) for e in events], after)


def deny(log: AuditLog, clock: Clock, caller: PatientCaller, patient_id: str, record: str) -> None:
    """Audit a patient session asking for a patient that is not theirs (recorded against that id)."""
    target = patient_id if _ID.fullmatch(patient_id or "") else ""
    event = AuditEvent(
        uuid.uuid4().hex, clock.now(), ACTOR_PATIENT, caller.holder_id, "access_denied", target, record, "api"
    )
    log.append(caller.practice_id, [event])
