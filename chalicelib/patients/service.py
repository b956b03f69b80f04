"""Patient use cases: the staff patient card, and the patient's own data export. Every read is audited
before the data leaves."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from chalicelib.appointments.model import Appointment
from chalicelib.audit.model import ACTOR_PATIENT, ACTOR_STAFF
from chalicelib.audit.service import Auditor
from chalicelib.billing.model import LedgerLine
from chalicelib.images.model import Image
from chalicelib.inbox.model import Item
from chalicelib.patients.model import ContactLink, Guardian, Patient
from chalicelib.platform.auth import PatientCaller
from chalicelib.platform.errors import NotFound
from chalicelib.practices.model import Practice
from chalicelib.reminders.model import AddressState, ContactPrefs, Touch

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")


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


# --- the patient's own data export ---------------------------------------------------------------


class ExportReader(Protocol):
    """Reads one patient's data across capabilities for an export (chalicelib/patients/export_store.py)."""

    def guardians(self, practice_id: str, guardian_ids: list[str]) -> list[Guardian]: ...

    def appointments(self, practice_id: str, patient_id: str) -> list[Appointment]: ...

    def names(self, practice_id: str) -> tuple[dict[str, str], dict[str, str]]: ...  # types, providers

    def ledger(self, practice_id: str, patient_id: str) -> list[LedgerLine]: ...

    def images(self, practice_id: str, patient_id: str) -> list[Image]: ...

    def messages(self, practice_id: str, patient_id: str) -> tuple[list[Touch], list[Item]]: ...  # sent, received

    def contact(
        self, practice: Practice, patient: Patient
    ) -> tuple[ContactPrefs, dict[str, str], list[AddressState]]: ...  # prefs, sending hours in force, addresses


class PracticeReader(Protocol):
    def get(self, practice_id: str) -> Practice | None: ...


@dataclass(frozen=True)
class Export:
    body: str | bytes
    content_type: str
    filename: str


def export_patient(
    practices: PracticeReader,
    patients: PatientReader,
    reader: ExportReader,
    auditor: Auditor,
    now: datetime,
    caller: PatientCaller,
    patient_id: str,
    fmt: str,
) -> Export:
    """The patient's (or a guardian's dependant's) data as a FHIR Bundle or a zip of CSV files.

    Another family's or an unlinked patient's id is a 404 like a missing one, and the attempt is audited;
    the export itself is audited ("patient.export") before anything is read for it.
    """
    from chalicelib.patients import export

    if not caller.owns(patient_id):
        auditor.record(
            caller.practice_id,
            actor_type=ACTOR_PATIENT,
            actor_id=caller.holder_id,
            action="access_denied",
            patient_ids=[patient_id if _ID.fullmatch(patient_id) else ""],
            record=f"export:{fmt}",
        )
        raise NotFound("no such patient")
    practice = practices.get(caller.practice_id)
    patient = patients.get(caller.practice_id, patient_id)
    if practice is None or patient is None:
        raise NotFound("no such patient")
    auditor.record(
        practice.id,
        actor_type=ACTOR_PATIENT,
        actor_id=caller.holder_id,
        action="patient.export",
        patient_ids=[patient_id],
        record=f"export:{fmt}",
    )
    links = patients.links_for_patient(practice.id, patient_id)
    guardian_ids = sorted({x.holder_id for x in links if x.relation == "guardian"})
    types, providers = reader.names(practice.id)
    sent, received = reader.messages(practice.id, patient_id)
    prefs, hours, addresses = reader.contact(practice, patient)
    data = export.ExportData(
        practice=practice,
        patient=patient,
        generated_at=now,
        guardians=reader.guardians(practice.id, guardian_ids),
        links=links,
        appointments=reader.appointments(practice.id, patient_id),
        type_names=types,
        provider_names=providers,
        ledger=reader.ledger(practice.id, patient_id),
        images=reader.images(practice.id, patient_id),
        sent=sent,
        received=received,
        prefs=prefs,
        sending_hours=hours,
        addresses=addresses,
    )
    if fmt == export.FHIR:
        return Export(export.fhir_json(data), "application/fhir+json", export.filename(data, fmt))
    return Export(export.csv_zip(data), "application/zip", export.filename(data, fmt))
