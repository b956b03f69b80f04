"""What a patient's export reads, from each capability's store (the ``ExportReader`` port of
chalicelib/patients/service.py). Every read is a Query or BatchGetItem paged to the end; nothing scans."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.appointments.model import Appointment
from chalicelib.billing.model import LedgerLine
from chalicelib.images.model import Image
from chalicelib.inbox.model import Item
from chalicelib.patients.model import Guardian, Patient
from chalicelib.platform.deps import Deps
from chalicelib.practices.model import Practice
from chalicelib.reminders.model import AddressState, ContactPrefs, Touch

# The whole history: a patient's appointments are indexed by start (GSI2 APPT#<start>), so one range covers all.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
ALL_MESSAGES = 1_000_000  # messages_for_patient stops at a count; the export wants them all


class StoreExportReader:
    def __init__(self, d: Deps) -> None:
        self.d = d

    def guardians(self, practice_id: str, guardian_ids: list[str]) -> list[Guardian]:
        return self.d.patients.guardians(practice_id, guardian_ids)

    def appointments(self, practice_id: str, patient_id: str) -> list[Appointment]:
        return self.d.appointments.for_patient(practice_id, patient_id, EARLIEST, LATEST)

    def names(self, practice_id: str) -> tuple[dict[str, str], dict[str, str]]:
        types = {t.id: t.name for t in self.d.practices.appointment_types(practice_id)}
        providers = {p.id: p.name for p in self.d.practices.providers(practice_id)}
        return types, providers

    def ledger(self, practice_id: str, patient_id: str) -> list[LedgerLine]:
        from chalicelib.billing.store import BillingStore

        return BillingStore().lines_for(practice_id, patient_id)

    def images(self, practice_id: str, patient_id: str) -> list[Image]:
        from chalicelib.images.store import ImageStore

        return ImageStore().for_patient(practice_id, patient_id)

    def messages(self, practice_id: str, patient_id: str) -> tuple[list[Touch], list[Item]]:
        from chalicelib.inbox.store import InboxStore
        from chalicelib.reminders.handlers import ports_for

        sent = ports_for(self.d).store.messages_for_patient(practice_id, patient_id, ALL_MESSAGES)
        return sent, InboxStore().for_patient(practice_id, patient_id)

    def contact(self, practice: Practice, patient: Patient) -> tuple[ContactPrefs, dict[str, str], list[AddressState]]:
        from chalicelib.reminders.handlers import ports_for
        from chalicelib.reminders.service import contact_addresses

        ports = ports_for(self.d)
        prefs = ports.store.prefs(practice.id, patient.id)
        hours = prefs.sending_hours or ports.store.policy(practice.id).sending_hours
        return prefs, hours.as_dict(), contact_addresses(ports, practice.id, patient)
