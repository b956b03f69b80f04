"""Appointments and their status machine. Pure domain.

requested -> booked -> confirmed -> arrived -> completed; cancelled and no_show end a visit.
Every change of time or status is kept in the history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

REQUESTED = "requested"
BOOKED = "booked"
CONFIRMED = "confirmed"
ARRIVED = "arrived"
COMPLETED = "completed"
CANCELLED = "cancelled"
NO_SHOW = "no_show"

STATUSES = (REQUESTED, BOOKED, CONFIRMED, ARRIVED, COMPLETED, CANCELLED, NO_SHOW)
ACTIVE = frozenset({REQUESTED, BOOKED, CONFIRMED, ARRIVED})

TRANSITIONS: dict[str, frozenset[str]] = {
    REQUESTED: frozenset({BOOKED, CANCELLED}),
    BOOKED: frozenset({CONFIRMED, ARRIVED, CANCELLED, NO_SHOW}),
    CONFIRMED: frozenset({ARRIVED, CANCELLED, NO_SHOW, BOOKED}),
    ARRIVED: frozenset({COMPLETED, NO_SHOW}),
    COMPLETED: frozenset(),
    CANCELLED: frozenset(),
    NO_SHOW: frozenset(),
}


class InvalidTransition(ValueError):
    pass


@dataclass
class HistoryEntry:
    at: datetime
    action: str  # status change ("booked->confirmed"), "moved", "imported"
    by: str  # actor id: staff sub, patient id, "import", "job:<name>"
    reason: str = ""
    previous_start: datetime | None = None


@dataclass
class Appointment:
    id: str
    patient_id: str
    provider_id: str
    operatory_id: str
    type_id: str
    start: datetime  # UTC
    end: datetime  # UTC
    status: str = BOOKED
    history: list[HistoryEntry] = field(default_factory=list)
    note: str = ""
    source_id: str = ""

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("appointment times must be UTC instants")
        if self.end <= self.start:
            raise ValueError("an appointment ends after it starts")
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    def transition(self, to: str, at: datetime, by: str, reason: str = "") -> None:
        if to not in TRANSITIONS.get(self.status, frozenset()):
            raise InvalidTransition(f"cannot go from {self.status} to {to}")
        self.history.append(HistoryEntry(at=at, action=f"{self.status}->{to}", by=by, reason=reason))
        self.status = to

    def move(self, start: datetime, end: datetime, at: datetime, by: str, reason: str = "") -> None:
        if not self.is_active:
            raise InvalidTransition(f"a {self.status} appointment cannot be moved")
        if end <= start:
            raise ValueError("an appointment ends after it starts")
        self.history.append(HistoryEntry(at=at, action="moved", by=by, reason=reason, previous_start=self.start))
        self.start, self.end = start, end
