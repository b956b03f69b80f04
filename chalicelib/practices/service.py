"""Practice-level use cases: public profile, the day sheet."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from chalicelib.appointments.model import Appointment
from chalicelib.audit.model import ACTOR_STAFF
from chalicelib.audit.service import Auditor
from chalicelib.patients.model import Patient
from chalicelib.platform.errors import NotFound
from chalicelib.practices.model import Practice


class PracticeReader(Protocol):
    def get(self, practice_id: str) -> Practice | None: ...


class DayReader(Protocol):
    def on_day(self, practice_id: str, day: date) -> list[Appointment]: ...


class PatientReader(Protocol):
    def get_many(self, practice_id: str, patient_ids: list[str]) -> list[Patient]: ...


def public_profile(practices: PracticeReader, practice_id: str) -> dict[str, Any]:
    practice = practices.get(practice_id)
    if practice is None:
        raise NotFound("no such practice")
    return {
        "id": practice.id,
        "name": practice.name,
        "zone": practice.zone,
        "phone": practice.phone,
        "address": practice.address,
        "hours": practice.hours,
    }


@dataclass(frozen=True)
class DaySheetRow:
    appointment: Appointment
    patient: Patient | None


def day_sheet(
    practices: PracticeReader,
    appointments: DayReader,
    patients: PatientReader,
    auditor: Auditor,
    practice_id: str,
    day: date | None,
    now: datetime,
    staff_id: str,
) -> tuple[Practice, date, list[DaySheetRow]]:
    """A local day's appointments; no day means today in the practice's zone."""
    practice = practices.get(practice_id)
    if practice is None:
        raise NotFound("no such practice")
    day = day or now.astimezone(practice.tz).date()
    appts = appointments.on_day(practice_id, day)
    by_id = {p.id: p for p in patients.get_many(practice_id, [a.patient_id for a in appts])}
    auditor.record(
        practice_id,
        actor_type=ACTOR_STAFF,
        actor_id=staff_id,
        action="day_sheet.read",
        patient_ids=list(by_id) or [""],
        record=f"day:{day.isoformat()}",
    )
    return practice, day, [DaySheetRow(a, by_id.get(a.patient_id)) for a in appts]
