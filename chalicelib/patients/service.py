"""Staff-facing patient use cases. Every read is audited before the data leaves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from chalicelib.appointments.model import Appointment
from chalicelib.audit.model import ACTOR_STAFF
from chalicelib.audit.service import Auditor
from chalicelib.patients.model import ContactLink, Patient
from chalicelib.platform.errors import NotFound


class PatientReader(Protocol):
    def get(self, practice_id: str, patient_id: str) -> Patient | None: ...

    def links_for_patient(self, practice_id: str, patient_id: str) -> list[ContactLink]: ...


class AppointmentReader(Protocol):
    def for_patient(self, practice_id: str, patient_id: str, start: datetime, end: datetime) -> list[Appointment]: ...


@dataclass(frozen=True)
class PatientCard:
    patient: Patient
    managed_by: list[ContactLink]  # guardians' contacts that may act for this patient
    appointments: list[Appointment]


def patient_card(
    patients: PatientReader,
    appointments: AppointmentReader,
    auditor: Auditor,
    practice_id: str,
    patient_id: str,
    staff_id: str,
    now: datetime,
) -> PatientCard:
    patient = patients.get(practice_id, patient_id)
    if patient is None:
        raise NotFound("no such patient")
    auditor.record(
        practice_id,
        actor_type=ACTOR_STAFF,
        actor_id=staff_id,
        action="patient.read",
        patient_ids=[patient_id],
        record=f"patient:{patient_id}",
    )
    guardians = [link for link in patients.links_for_patient(practice_id, patient_id) if link.relation == "guardian"]
    history = appointments.for_patient(
        practice_id, patient_id, now - timedelta(days=3 * 365), now + timedelta(days=366)
    )
    return PatientCard(patient, guardians, history)
