"""Patients, guardians and the contacts that sign them in. Pure domain."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

LANGUAGES = ("en", "es")


@dataclass
class Patient:
    id: str
    given_name: str
    family_name: str
    birth_date: date | None = None
    phone: str = ""  # E.164
    email: str = ""  # lower-cased
    language: str = "en"
    zone: str = ""  # the patient's IANA zone; empty means the practice's
    active: bool = True
    source_id: str = ""

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()

    def is_minor_on(self, day: date) -> bool:
        if self.birth_date is None:
            return False
        years = day.year - self.birth_date.year - ((day.month, day.day) < (self.birth_date.month, self.birth_date.day))
        return years < 18


@dataclass
class Guardian:
    """A person who manages one or more patients' care (parent, carer); may also be a patient."""

    id: str
    given_name: str
    family_name: str
    phone: str = ""
    email: str = ""
    relationship: str = "parent"
    patient_ids: list[str] = field(default_factory=list)
    source_id: str = ""


@dataclass(frozen=True)
class ContactLink:
    """A phone (E.164) or email address that may act for a patient: as the patient, or as a guardian."""

    address: str
    channel: str  # sms | email
    patient_id: str
    relation: str  # self | guardian
    holder_id: str  # the patient's or guardian's id


def contact_links_for(patient: Patient) -> list[ContactLink]:
    links = []
    if patient.phone:
        links.append(ContactLink(patient.phone, "sms", patient.id, "self", patient.id))
    if patient.email:
        links.append(ContactLink(patient.email, "email", patient.id, "self", patient.id))
    return links


def guardian_links_for(guardian: Guardian) -> list[ContactLink]:
    links = []
    for pid in guardian.patient_ids:
        if guardian.phone:
            links.append(ContactLink(guardian.phone, "sms", pid, "guardian", guardian.id))
        if guardian.email:
            links.append(ContactLink(guardian.email, "email", pid, "guardian", guardian.id))
    return links
