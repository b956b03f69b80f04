"""Patient, guardian and contact-link items and their repository."""

from __future__ import annotations

from datetime import date

from pynamodb.attributes import BooleanAttribute, ListAttribute, UnicodeAttribute

from chalicelib.patients.model import ContactLink, Guardian, Patient, contact_links_for
from chalicelib.platform.table import TableItem, practice_pk


class PatientItem(TableItem, discriminator="Patient"):
    patient_id = UnicodeAttribute()
    given_name = UnicodeAttribute()
    family_name = UnicodeAttribute()
    birth_date = UnicodeAttribute(null=True)  # ISO date
    phone = UnicodeAttribute(default="")
    email = UnicodeAttribute(default="")
    language = UnicodeAttribute(default="en")
    zone = UnicodeAttribute(default="")
    active = BooleanAttribute(default=True)
    source_id = UnicodeAttribute(default="")
    source_hash = UnicodeAttribute(default="")


class GuardianItem(TableItem, discriminator="Guardian"):
    guardian_id = UnicodeAttribute()
    given_name = UnicodeAttribute()
    family_name = UnicodeAttribute()
    phone = UnicodeAttribute(default="")
    email = UnicodeAttribute(default="")
    relationship = UnicodeAttribute(default="parent")
    patient_ids = ListAttribute(of=UnicodeAttribute, default=list)
    source_id = UnicodeAttribute(default="")
    source_hash = UnicodeAttribute(default="")


class ContactLinkItem(TableItem, discriminator="ContactLink"):
    address = UnicodeAttribute()
    channel = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    relation = UnicodeAttribute()
    holder_id = UnicodeAttribute()


def patient_item(practice_id: str, p: Patient, source_hash: str = "") -> PatientItem:
    return PatientItem(
        practice_pk(practice_id),
        f"PATIENT#{p.id}",
        patient_id=p.id,
        given_name=p.given_name,
        family_name=p.family_name,
        birth_date=p.birth_date.isoformat() if p.birth_date else None,
        phone=p.phone,
        email=p.email,
        language=p.language,
        zone=p.zone,
        active=p.active,
        source_id=p.source_id,
        source_hash=source_hash,
    )


def patient_from(i: PatientItem) -> Patient:
    return Patient(
        id=i.patient_id,
        given_name=i.given_name,
        family_name=i.family_name,
        birth_date=date.fromisoformat(i.birth_date) if i.birth_date else None,
        phone=i.phone,
        email=i.email,
        language=i.language,
        zone=i.zone,
        active=bool(i.active),
        source_id=i.source_id,
    )


def guardian_item(practice_id: str, g: Guardian, source_hash: str = "") -> GuardianItem:
    return GuardianItem(
        practice_pk(practice_id),
        f"GUARDIAN#{g.id}",
        guardian_id=g.id,
        given_name=g.given_name,
        family_name=g.family_name,
        phone=g.phone,
        email=g.email,
        relationship=g.relationship,
        patient_ids=list(g.patient_ids),
        source_id=g.source_id,
        source_hash=source_hash,
    )


def guardian_from(i: GuardianItem) -> Guardian:
    return Guardian(
        id=i.guardian_id,
        given_name=i.given_name,
        family_name=i.family_name,
        phone=i.phone,
        email=i.email,
        relationship=i.relationship,
        patient_ids=[str(x) for x in i.patient_ids or []],
        source_id=i.source_id,
    )


def contact_sk(address: str, patient_id: str) -> str:
    return f"CONTACT#{address}#PATIENT#{patient_id}"


def contact_link_item(practice_id: str, link: ContactLink) -> ContactLinkItem:
    return ContactLinkItem(
        practice_pk(practice_id),
        contact_sk(link.address, link.patient_id),
        gsi1pk=f"CONTACT#{link.address}",
        gsi1sk=f"PRACTICE#{practice_id}#PATIENT#{link.patient_id}",
        gsi2pk=f"PRACTICE#{practice_id}#PATIENT#{link.patient_id}",
        gsi2sk=f"LINK#{link.address}",
        address=link.address,
        channel=link.channel,
        patient_id=link.patient_id,
        relation=link.relation,
        holder_id=link.holder_id,
    )


class PatientStore:
    """Repository for patients, guardians and contact links (one practice per call)."""

    def get(self, practice_id: str, patient_id: str) -> Patient | None:
        try:
            return patient_from(PatientItem.get(practice_pk(practice_id), f"PATIENT#{patient_id}"))
        except PatientItem.DoesNotExist:
            return None

    def get_many(self, practice_id: str, patient_ids: list[str]) -> list[Patient]:
        keys = [(practice_pk(practice_id), f"PATIENT#{pid}") for pid in dict.fromkeys(patient_ids)]
        found = {i.patient_id: patient_from(i) for i in PatientItem.batch_get(keys)}
        return [found[pid] for pid in dict.fromkeys(patient_ids) if pid in found]

    def guardians(self, practice_id: str, guardian_ids: list[str]) -> list[Guardian]:
        """Guardian records by id (missing ids are left out); batch_get pages 100 keys at a time."""
        keys = [(practice_pk(practice_id), f"GUARDIAN#{gid}") for gid in dict.fromkeys(guardian_ids)]
        return sorted((guardian_from(i) for i in GuardianItem.batch_get(keys)), key=lambda g: g.id) if keys else []

    def put(self, practice_id: str, patient: Patient) -> None:
        patient_item(practice_id, patient).save()
        for link in contact_links_for(patient):
            contact_link_item(practice_id, link).save()
        from chalicelib.patients.search_store import PatientSearchIndex  # the index imports this module

        PatientSearchIndex().index(practice_id, [patient])

    def links_for_address(self, practice_id: str, address: str) -> list[ContactLink]:
        """Every patient the phone (E.164) or email may act for, in this practice."""
        return [
            ContactLink(i.address, i.channel, i.patient_id, i.relation, i.holder_id)
            for i in ContactLinkItem.query(
                practice_pk(practice_id), ContactLinkItem.sk.startswith(f"CONTACT#{address}#")
            )
        ]

    def links_for_patient(self, practice_id: str, patient_id: str) -> list[ContactLink]:
        """Every phone and email that may act for a patient: their own and their guardians'."""
        return [
            ContactLink(i.address, i.channel, i.patient_id, i.relation, i.holder_id)
            for i in ContactLinkItem.gsi2.query(
                f"PRACTICE#{practice_id}#PATIENT#{patient_id}", ContactLinkItem.gsi2sk.startswith("LINK#")
            )
        ]

    def practices_for_address(self, address: str) -> list[tuple[str, str]]:
        """(practice id, patient id) pairs holding this address, across practices (inbound messages)."""
        out = []
        for i in ContactLinkItem.gsi1.query(f"CONTACT#{address}"):
            practice_id, _, patient_id = str(i.gsi1sk).removeprefix("PRACTICE#").partition("#PATIENT#")
            out.append((practice_id, patient_id))
        return out
