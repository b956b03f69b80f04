"""The one domain event every change of an appointment's time or status raises.

The reminder engine (and later analytics) consume it to (re)compute what is due. Publishing is
synchronous and in-process: consumers must be idempotent, since an appointment may change again
before or after they run. Pure domain: no AWS imports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

CREATED = "created"
MOVED = "moved"
STATUS_CHANGED = "status_changed"  # confirmed, cancelled, arrived, completed, no_show, booked (approved)


@dataclass(frozen=True)
class AppointmentChanged:
    practice_id: str
    appointment_id: str
    patient_id: str
    kind: str  # created | moved | status_changed
    status: str  # the status after the change
    start: datetime  # UTC, after the change
    previous_start: datetime | None  # for moves
    at: datetime  # when it changed
    by: str  # actor id (staff sub, patient/holder id, "import", "job:<name>")


Consumer = Callable[[AppointmentChanged], None]


class AppointmentEvents:
    """A small synchronous bus; consumers register once at import of their package."""

    def __init__(self) -> None:
        self._consumers: list[Consumer] = []

    def subscribe(self, consumer: Consumer) -> None:
        if consumer not in self._consumers:
            self._consumers.append(consumer)

    def publish(self, event: AppointmentChanged) -> None:
        for consumer in list(self._consumers):
            consumer(event)


class RecordingEvents(AppointmentEvents):
    """Test twin that also keeps what was published."""

    def __init__(self) -> None:
        super().__init__()
        self.published: list[AppointmentChanged] = []

    def publish(self, event: AppointmentChanged) -> None:
        self.published.append(event)
        super().publish(event)
