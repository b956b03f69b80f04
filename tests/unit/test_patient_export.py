"""The patient's data export, built from domain objects: a FHIR R4 Bundle that fhir.resources parses back
(references resolving inside it, money exact, only what the patient should get), CSV files whose ledger reads
back through the ledger importer, and the use case's ownership check and audit."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import zipfile
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from chalicelib.appointments.model import Appointment, HistoryEntry
from chalicelib.audit.service import Auditor, MemoryAuditLog
from chalicelib.billing.csv_lines import parse_ledger_csv
from chalicelib.billing.model import LedgerLine
from chalicelib.identity.service import SignedInContact
from chalicelib.images.model import Image
from chalicelib.inbox.model import Item, Reply
from chalicelib.patients import export
from chalicelib.patients.export import ExportData, csv_files, csv_zip, fhir_bundle, fhir_json
from chalicelib.patients.model import ContactLink, Guardian, Patient
from chalicelib.patients.service import export_patient
from chalicelib.platform.clock import FixedClock
from chalicelib.platform.errors import NotFound
from chalicelib.practices.model import Practice
from chalicelib.reminders.model import AddressState, ContactPrefs, Touch
from tests import factories

NOW = datetime(2027, 3, 10, 15, 0, tzinfo=UTC)
APPOINTMENT_STATUSES = {"proposed", "pending", "booked", "arrived", "fulfilled", "cancelled", "noshow"}


def appointment(aid: str, days: int, status: str, reason: str = "") -> Appointment:
    a = factories.appointment(aid, "K1", NOW + timedelta(days=days), status=status)
    a.history = [HistoryEntry(NOW - timedelta(days=30), "booked", "staff-1")]
    if reason:
        a.history.append(HistoryEntry(NOW - timedelta(days=1), f"booked->{status}", "patient:G1", reason))
    return a


def touch(tid: str, status: str, sent_at: datetime | None, kind: str = "reminder", subject: str = "A1") -> Touch:
    return Touch("P1", tid, kind, "2d", subject, "K1", NOW, "sms", status=status, sent_at=sent_at, sent_channel="sms")


def data(**changes: Any) -> ExportData:
    kid = dataclasses.replace(
        factories.patient("K1", phone="", email=""),
        given_name="Sam",
        birth_date=date(2018, 5, 6),
        zone="America/Chicago",
    )
    base = ExportData(
        practice=factories.maple(),
        patient=kid,
        generated_at=NOW,
        guardians=[factories.guardian("G1", ("K1",))],
        links=[
            ContactLink("+15555550140", "sms", "K1", "guardian", "G1"),
            ContactLink("g1@example.test", "email", "K1", "guardian", "G1"),
            ContactLink("+15555550141", "sms", "K1", "guardian", "G2"),  # a holder without a guardian record
        ],
        appointments=[
            appointment("A1", 5, "confirmed"),
            appointment("A0", -60, "completed"),
            appointment("A2", -20, "cancelled", reason="Sick"),
            appointment("A3", -10, "no_show"),
        ],
        type_names={"CLEAN": "Child cleaning"},
        provider_names={"DR1": "Dr. Maya Patel"},
        ledger=[
            LedgerLine("L1", "K1", "charge", 12550, date(2027, 1, 10), "Child cleaning"),
            LedgerLine("L2", "K1", "insurance_estimate", 8000, date(2027, 1, 10), claim_id="C1"),
            LedgerLine("L3", "K1", "payment", 4550, date(2027, 1, 20), payment_intent_id="pi_test_1"),
            LedgerLine("L4", "K1", "adjustment", -1000, date(2027, 1, 21), "=HYPERLINK(evil)"),
        ],
        images=[
            Image(
                "IMG-1", "K1", "bitewing", date(2027, 1, 10), "image/jpeg", "ready", NOW - timedelta(days=59), size=2048
            ),
            Image("IMG-2", "K1", "panoramic", date(2027, 1, 10), "application/dicom", "awaiting_upload", NOW),
        ],
        sent=[
            touch("T1", "sent", NOW - timedelta(days=2)),
            touch("T2", "skipped", None),
            touch("T3", "sent", NOW - timedelta(days=40), kind="recall", subject="K1"),
        ],
        received=[
            Item(
                "I1",
                NOW - timedelta(days=1),
                "sms_reply",
                "+15555550140",
                ("K1",),
                "Can we come at 4?",
                replies=(Reply(NOW - timedelta(hours=20), "staff-1", "sms", "+15555550140", "Yes, see you at 4."),),
            ),
            Item("I2", NOW - timedelta(days=1), "delivery_failed", "", ("K1",), "internal"),
        ],
        prefs=ContactPrefs(channels={"billing": {"sms": False}}, language="es"),
        sending_hours={"start": "09:00", "end": "20:00"},
        addresses=[AddressState("+15555550140", "sms", sms_opt_out=True), AddressState("g1@example.test", "email")],
    )
    return dataclasses.replace(base, **changes)


def by_type(bundle: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


# --- FHIR ---------------------------------------------------------------------------------------------


def test_the_bundle_validates_and_parses_back_with_fhir_resources() -> None:
    from fhir.resources.R4B.bundle import Bundle

    served = fhir_json(data())
    bundle = Bundle.model_validate_json(served)
    assert bundle.type == "collection"
    kinds = sorted({e.resource.get_resource_type() for e in bundle.entry})
    assert kinds == [
        "Account",
        "Appointment",
        "ChargeItem",
        "Communication",
        "DocumentReference",
        "Organization",
        "Patient",
        "PaymentReconciliation",
        "RelatedPerson",
    ]


def test_every_reference_resolves_to_an_entry_of_the_bundle_and_ids_are_stable() -> None:
    bundle = fhir_bundle(data())
    urls = {e["fullUrl"] for e in bundle["entry"]}
    refs = re.findall(r'"reference": "([^"]+)"', json.dumps(bundle, default=str))
    assert refs and set(refs) <= urls
    assert all(re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", u) for u in urls)
    assert json.dumps(fhir_bundle(data()), default=str) == json.dumps(bundle, default=str)


def test_the_patient_carries_language_zone_contact_preferences_and_telecom_state() -> None:
    (patient,) = by_type(fhir_bundle(data()), "Patient")
    assert patient["identifier"] == [{"system": f"{export.ID}patient", "value": "K1"}]
    assert patient["communication"][0]["language"]["coding"] == [{"system": "urn:ietf:bcp:47", "code": "es"}]
    zone, prefs = patient["extension"]
    assert zone == {"url": export.TIMEZONE_EXTENSION, "valueCode": "America/Chicago"}
    channels = {
        p["extension"][0]["valueCode"]: {x["url"]: x["valueBoolean"] for x in p["extension"][1:]}
        for p in prefs["extension"]
        if p["url"] == "channel"
    }
    assert channels["billing"] == {"email": True, "sms": False}
    assert channels["appointment_reminders"] == {"email": True, "sms": True}
    hours = {p["url"]: p["valueTime"] for p in prefs["extension"] if p["url"].startswith("sendingHours")}
    assert hours == {"sendingHoursStart": "09:00:00", "sendingHoursEnd": "20:00:00"}


def test_guardians_are_related_persons_with_their_opt_out_state() -> None:
    related = by_type(fhir_bundle(data()), "RelatedPerson")
    assert [r["identifier"][0]["value"] for r in related] == ["G1", "G2"]
    g1, g2 = related
    assert g1["relationship"][0]["coding"] == [{"system": export.ROLE_CODES, "code": "PRN"}]
    phone = g1["telecom"][0]
    assert phone["value"] == "+15555550140" and phone["extension"][0]["valueBoolean"] is True
    assert g2["telecom"] == [{"system": "phone", "value": "+15555550141", "use": "mobile"}]


def test_appointments_keep_their_status_type_provider_and_practice_offset() -> None:
    appointments = {a["identifier"][0]["value"]: a for a in by_type(fhir_bundle(data()), "Appointment")}
    assert list(appointments) == ["A0", "A2", "A3", "A1"]  # by start
    assert {a["status"] for a in appointments.values()} <= APPOINTMENT_STATUSES
    confirmed = appointments["A1"]
    assert confirmed["status"] == "booked" and confirmed["participant"][0]["status"] == "accepted"
    assert confirmed["participant"][1] == {
        "actor": {"display": "Dr. Maya Patel"},
        "required": "required",
        "status": "accepted",
    }
    assert confirmed["start"] == "2027-03-15T11:00:00-04:00" and confirmed["minutesDuration"] == 60
    assert confirmed["appointmentType"] == {"text": "Child cleaning"}
    assert appointments["A2"]["status"] == "cancelled" and appointments["A2"]["cancelationReason"] == {"text": "Sick"}
    assert appointments["A3"]["status"] == "noshow"
    assert appointments["A0"]["status"] == "fulfilled"


def test_ledger_money_is_exact_and_each_kind_lands_in_a_resource_that_fits() -> None:
    bundle = fhir_bundle(data())
    charges = {c["identifier"][0]["value"]: c for c in by_type(bundle, "ChargeItem")}
    assert charges["L1"]["priceOverride"] == {"value": Decimal("125.50"), "currency": "USD"}
    assert charges["L4"]["priceOverride"]["value"] == Decimal("-10.00")
    payments = {p["identifier"][0]["value"]: p for p in by_type(bundle, "PaymentReconciliation")}
    assert payments["L2"]["status"] == "draft"  # an insurance estimate: not paid yet
    assert payments["L3"]["paymentAmount"] == {"value": Decimal("45.50"), "currency": "USD"}
    assert payments["L3"]["paymentIdentifier"]["value"] == "pi_test_1"
    (account,) = by_type(bundle, "Account")
    balance = {x["url"]: x["valueMoney"]["value"] for x in account["extension"][0]["extension"]}
    # Charged 125.50, adjusted 10.00 off, insurance expected to pay 80.00: the patient's part was 35.50 and
    # they paid 45.50, so 10.00 is theirs as a credit (the other side of owed now), not hidden in the estimate.
    assert balance == {
        "total": Decimal("70.00"),
        "pendingInsurance": Decimal("80.00"),
        "owedNow": Decimal("0.00"),
        "credit": Decimal("10.00"),
    }
    assert [str(x["valueMoney"]["value"]) for x in account["extension"][0]["extension"]] == [
        "70.00",
        "80.00",
        "0.00",
        "10.00",
    ]
    served = json.loads(fhir_json(data()))
    values = [e["resource"].get("priceOverride", {}).get("value") for e in served["entry"]]
    assert 125.5 in values  # JSON numbers; never rounded on the way


def test_images_are_metadata_only_and_only_ready_ones_are_listed() -> None:
    (doc,) = by_type(fhir_bundle(data()), "DocumentReference")
    assert doc["identifier"][0]["value"] == "IMG-1"
    assert doc["content"] == [
        {
            "attachment": {
                "contentType": "image/jpeg",
                "title": "Bitewing x-ray, 2027-01-10",
                "creation": "2027-01-10",
                "size": 2048,
            }
        }
    ]
    assert "url" not in json.dumps(doc) and "data" not in doc["content"][0]["attachment"]


def test_messages_are_what_was_sent_and_what_the_patient_wrote_with_the_practices_replies() -> None:
    comms = by_type(fhir_bundle(data()), "Communication")
    assert [c["identifier"][0]["value"] for c in comms] == ["T3", "T1", "I1", "I1/0"]
    reminder = comms[1]
    assert reminder["medium"][0]["coding"][0]["code"] == "SMSWRIT" and "about" in reminder
    assert "about" not in comms[0]  # a recall is about no appointment
    assert comms[2]["payload"] == [{"contentString": "Can we come at 4?"}]
    assert comms[3]["payload"] == [{"contentString": "Yes, see you at 4."}]
    assert "internal" not in json.dumps(comms)


def test_an_export_with_nothing_but_the_patient_still_validates() -> None:
    from fhir.resources.R4B.bundle import Bundle

    bare = data(guardians=[], links=[], appointments=[], ledger=[], images=[], sent=[], received=[], addresses=[])
    bundle = Bundle.model_validate_json(fhir_json(bare))
    assert [e.resource.get_resource_type() for e in bundle.entry] == ["Organization", "Patient"]


# --- CSV ----------------------------------------------------------------------------------------------


def rows(files: dict[str, bytes], name: str) -> list[dict[str, str]]:
    body = files[name]
    assert body.startswith("\ufeff".encode())
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def test_the_ledger_csv_reads_back_through_the_ledger_importer() -> None:
    files = csv_files(data())
    parsed = parse_ledger_csv(files["ledger.csv"].replace(b"'=HYPERLINK", b"=HYPERLINK"))
    assert not parsed.errors
    assert [(x.kind, x.amount_cents, x.posted_on.isoformat()) for x in parsed.lines] == [
        ("charge", 12550, "2027-01-10"),
        ("insurance_estimate", 8000, "2027-01-10"),
        ("payment", 4550, "2027-01-20"),
        ("adjustment", -1000, "2027-01-21"),
    ]


def test_text_that_a_spreadsheet_would_run_is_quoted_but_amounts_and_phones_are_not() -> None:
    files = csv_files(data())
    ledger = rows(files, "ledger.csv")
    assert ledger[3]["description"] == "'=HYPERLINK(evil)" and ledger[3]["amount"] == "-10.00"
    assert rows(files, "addresses.csv")[0]["address"] == "+15555550140"


def test_appointments_csv_uses_the_import_columns_in_the_practices_local_time() -> None:
    appointments = rows(csv_files(data()), "appointments.csv")
    assert [(r["AptNum"], r["AptDateTime"], r["AptStatus"], r["Confirmed"]) for r in appointments] == [
        ("A0", "2027-01-09 10:00", "Complete", ""),
        ("A2", "2027-02-18 10:00", "Cancelled", ""),
        ("A3", "2027-02-28 10:00", "Broken", ""),
        ("A1", "2027-03-15 11:00", "Scheduled", "1"),
    ]


def test_the_zip_holds_a_readme_and_one_csv_per_kind_and_the_same_data_gives_the_same_bytes() -> None:
    raw = csv_zip(data())
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        assert z.namelist() == [
            "README.txt",
            "patient.csv",
            "guardians.csv",
            "appointments.csv",
            "ledger.csv",
            "images.csv",
            "messages.csv",
            "preferences.csv",
            "addresses.csv",
        ]
        assert "Maple Dental" in z.read("README.txt").decode()
        messages = list(csv.DictReader(io.StringIO(z.read("messages.csv").decode("utf-8-sig"))))
    assert [(m["direction"], m["text"]) for m in messages][-2:] == [
        ("received", "Can we come at 4?"),
        ("sent", "Yes, see you at 4."),
    ]
    assert csv_zip(data()) == raw


def test_file_names_carry_the_patient_and_the_practices_day() -> None:
    late = data(generated_at=datetime(2027, 3, 11, 3, 0, tzinfo=UTC))  # still March 10 in New York
    assert export.filename(late, "fhir") == "chairside-K1-2027-03-10.fhir.json"
    assert export.filename(late, "csv") == "chairside-K1-2027-03-10.csv.zip"


# --- the use case ---------------------------------------------------------------------------------------


class Practices:
    def get(self, practice_id: str) -> Practice | None:
        return factories.maple() if practice_id == "P1" else None


class Patients:
    def __init__(self) -> None:
        self.people = {"K1": data().patient, "K2": factories.patient("K2")}

    def get(self, practice_id: str, patient_id: str) -> Patient | None:
        return self.people.get(patient_id)

    def links_for_patient(self, practice_id: str, patient_id: str) -> list[ContactLink]:
        return list(data().links) if patient_id == "K1" else []


class Reader:
    """The ExportReader port over the fixture data; records what it was asked, in order."""

    def __init__(self, log: MemoryAuditLog) -> None:
        self.log = log
        self.audited_first = False

    def guardians(self, practice_id: str, guardian_ids: list[str]) -> list[Guardian]:
        return [g for g in data().guardians if g.id in guardian_ids]

    def appointments(self, practice_id: str, patient_id: str) -> list[Appointment]:
        self.audited_first = any(e.action == "patient.export" for _, e in self.log.events)
        return list(data().appointments)

    def names(self, practice_id: str) -> tuple[dict[str, str], dict[str, str]]:
        return data().type_names, data().provider_names

    def ledger(self, practice_id: str, patient_id: str) -> list[LedgerLine]:
        return list(data().ledger)

    def images(self, practice_id: str, patient_id: str) -> list[Image]:
        return list(data().images)

    def messages(self, practice_id: str, patient_id: str) -> tuple[list[Touch], list[Item]]:
        return list(data().sent), list(data().received)

    def contact(self, practice: Practice, patient: Patient) -> tuple[ContactPrefs, dict[str, str], list[AddressState]]:
        d = data()
        return d.prefs, d.sending_hours, list(d.addresses)


def guardian() -> SignedInContact:
    return SignedInContact("P1", "s" * 43, "G1", ("K1",), (("K1", "guardian"),))


def test_a_guardian_exports_a_childs_data_and_the_export_is_audited_before_anything_is_read() -> None:
    log = MemoryAuditLog()
    reader = Reader(log)
    done = export_patient(Practices(), Patients(), reader, Auditor(log, FixedClock(NOW)), NOW, guardian(), "K1", "fhir")
    assert done.content_type == "application/fhir+json" and done.filename == "chairside-K1-2027-03-10.fhir.json"
    assert reader.audited_first
    (event,) = [e for _, e in log.events]
    assert (event.action, event.actor_id, event.patient_id, event.record) == (
        "patient.export",
        "G1",
        "K1",
        "export:fhir",
    )
    zipped = export_patient(
        Practices(), Patients(), reader, Auditor(log, FixedClock(NOW)), NOW, guardian(), "K1", "csv"
    )
    assert (
        zipped.content_type == "application/zip" and zipfile.ZipFile(io.BytesIO(bytes(zipped.body))).testzip() is None
    )


@pytest.mark.parametrize("patient_id", ["K2", "NOPE"])
def test_an_unlinked_or_missing_patient_is_a_404_and_nothing_is_read(patient_id: str) -> None:
    log = MemoryAuditLog()
    reader = Reader(log)
    with pytest.raises(NotFound):
        export_patient(
            Practices(), Patients(), reader, Auditor(log, FixedClock(NOW)), NOW, guardian(), patient_id, "fhir"
        )
    assert [e.action for _, e in log.events] == ["access_denied"]
    assert not reader.audited_first
