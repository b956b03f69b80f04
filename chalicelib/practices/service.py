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
from chalicelib.practices.model import AppointmentType, Operatory, Practice, Provider


class PracticeReader(Protocol):
    def get(self, practice_id: str) -> Practice | None: ...

    def providers(self, practice_id: str) -> list[Provider]: ...

    def operatories(self, practice_id: str) -> list[Operatory]: ...

    def appointment_types(self, practice_id: str) -> list[AppointmentType]: ...


@dataclass(frozen=True)
class ResourceNames:
    """Display names of a practice's providers, operatories and appointment types, by id."""

    providers: dict[str, str]
    operatories: dict[str, str]
    types: dict[str, str]

    def of(self, a: Appointment) -> dict[str, dict[str, str]]:
        return {
            "provider": {"id": a.provider_id, "name": self.providers.get(a.provider_id, a.provider_id)},
            "operatory": {"id": a.operatory_id, "name": self.operatories.get(a.operatory_id, a.operatory_id)},
            "type": {"id": a.type_id, "name": self.types.get(a.type_id, a.type_id)},
        }


def resource_names(practices: PracticeReader, practice_id: str) -> ResourceNames:
    return ResourceNames(
        providers={p.id: p.name for p in practices.providers(practice_id)},
        operatories={o.id: o.name for o in practices.operatories(practice_id)},
        types={t.id: t.name for t in practices.appointment_types(practice_id)},
    )


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
class DaySheet:
    practice: Practice
    day: date
    rows: list[DaySheetRow]
    names: ResourceNames


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
) -> DaySheet:
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
    rows = [DaySheetRow(a, by_id.get(a.patient_id)) for a in appts]
    return DaySheet(practice, day, rows, resource_names(practices, practice_id))
