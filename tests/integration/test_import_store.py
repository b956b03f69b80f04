"""The import against DynamoDB (moto): writes counted with the botocore hook, items as other capabilities read them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from chalicelib.appointments.store import AppointmentItem, AppointmentStore
from chalicelib.audit.service import Auditor
from chalicelib.audit.store import AuditStore
from chalicelib.imports.metering import DynamoRequests
from chalicelib.imports.model import ImportReport, internal_id
from chalicelib.imports.service import import_file
from chalicelib.imports.store import DynamoImportStore
from chalicelib.patients.store import PatientStore
from chalicelib.platform.clock import FixedClock
from chalicelib.platform.table import practice_pk
from chalicelib.practices.model import Provider
from chalicelib.practices.store import PracticeStore, ProviderItem, provider_item
from tests import factories

PATIENTS = b"""PatNum,LName,FName,Birthdate,WirelessPhone,Email,Guarantor
1,Rivera,Jordan,1985-03-02,555-555-0140,jordan@example.test,1
2,Rivera,Sam,2016-05-01,,,1
3,Stone,Ada,1950-01-01,555-555-0150,ada@example.test,3
4,Bad,Phone,1950-01-01,nope,,4
"""
APPOINTMENTS = b"""AptNum,PatNum,AptDateTime,Length,ProvNum,ProvName,Op,AptType,AptStatus
10,1,2027-03-15 20:30,60,1,Dr. Maya Patel,1,Cleaning,Scheduled
11,2,2027-03-16 09:00,30,1,Dr. Maya Patel,2,Exam,Scheduled
12,3,2027-03-16 10:00,30,1,Dr. Maya Patel,2,Exam,Scheduled
"""


@pytest.fixture
def run(aws: None, clock: FixedClock) -> Any:
    PracticeStore().put(factories.maple())

    def go(kind: str, raw: bytes, **extra: Any) -> ImportReport:
        return import_file(
            practices=PracticeStore(),
            port=DynamoImportStore(),
            auditor=Auditor(AuditStore(), clock),
            clock=clock,
            practice_id="P1",
            kind=kind,
            raw=raw,
            **extra,
        )

    return go


def pid(patnum: str) -> str:
    return internal_id("csv", "patient", patnum)


def test_an_import_stores_patients_guardians_contacts_and_appointments_others_can_read(run: Any) -> None:
    report = run("patients_csv", PATIENTS)
    run("appointments_csv", APPOINTMENTS)
    assert report.rejected == 1
    patients = PatientStore()
    assert patients.get("P1", pid("1")).email == "jordan@example.test"  # type: ignore[union-attr]
    sam = {link.patient_id for link in patients.links_for_address("P1", "+15555550140")}
    assert sam == {pid("1"), pid("2")}
    # 20:30 EDT on the 15th is the 16th in UTC; the day index keys by the practice's local date.
    day = AppointmentStore().on_day("P1", date(2027, 3, 15))
    assert [a.source_id for a in day] == ["10"]
    assert day[0].start == datetime(2027, 3, 16, 0, 30, tzinfo=UTC)
    assert [h.action for h in day[0].history] == ["imported"]


def test_reimporting_the_same_files_makes_no_dynamodb_writes(run: Any) -> None:
    run("patients_csv", PATIENTS)
    run("appointments_csv", APPOINTMENTS)
    with DynamoRequests() as counted:
        again = run("patients_csv", PATIENTS)
        again_appointments = run("appointments_csv", APPOINTMENTS)
    assert counted.total > 0
    assert counted.writes == 0, counted.by_operation
    assert again.created == again.updated == again_appointments.created == again_appointments.updated == 0


def test_a_changed_row_updates_its_item_and_keeps_what_others_set(run: Any, clock: FixedClock) -> None:
    run("patients_csv", PATIENTS)
    run("appointments_csv", APPOINTMENTS)
    provider_id = internal_id("csv", "provider", "1")
    stored = ProviderItem.get(practice_pk("P1"), f"PROVIDER#{provider_id}")
    stored.hours = {"mon": [["09:00", "12:00"]]}  # set in the dashboard
    stored.save()
    appointment_id = internal_id("csv", "appointment", "11")
    item = AppointmentItem.get(practice_pk("P1"), f"APPT#{appointment_id}")
    item.status = "confirmed"  # the patient confirmed
    item.save()
    version = item.version
    with DynamoRequests() as counted:
        report = run(
            "appointments_csv",
            APPOINTMENTS.replace(b"Dr. Maya Patel", b"Dr. Maya Patel-Ortiz").replace(
                b"11,2,2027-03-16 09:00", b"11,2,2027-03-16 11:00"
            ),
        )
    assert report.by_entity["provider"].updated == 1
    assert report.by_entity["appointment"].updated == 1
    # one transaction per updated item, then the run record and two audit events (the run, the patient)
    assert (counted.by_operation["TransactWriteItems"], counted.by_operation["PutItem"]) == (2, 3)
    assert counted.writes == 5, counted.by_operation
    provider = ProviderItem.get(practice_pk("P1"), f"PROVIDER#{provider_id}")
    assert (provider.name, provider.hours) == ("Dr. Maya Patel-Ortiz", {"mon": [["09:00", "12:00"]]})
    moved = AppointmentItem.get(practice_pk("P1"), f"APPT#{appointment_id}")
    assert moved.version == version + 1
    assert moved.status == "booked"  # a move voids the confirmation of the old time
    assert moved.gsi1sk.startswith("2027-03-16T15:00:00Z")
    assert [h["action"] for h in moved.history] == ["imported", "moved", "confirmed->booked"]


def test_a_new_phone_moves_the_contact_link_and_revokes_the_old_one(run: Any) -> None:
    run("patients_csv", PATIENTS)
    run("patients_csv", PATIENTS.replace(b"555-555-0150", b"555-555-0151"))
    patients = PatientStore()
    assert patients.links_for_address("P1", "+15555550150") == []
    assert [link.patient_id for link in patients.links_for_address("P1", "+15555550151")] == [pid("3")]


def test_a_run_that_changes_something_leaves_a_run_record_and_audit_events(run: Any) -> None:
    report = run("patients_csv", PATIENTS, actor_type="staff", actor_id="sub-9")
    runs = DynamoImportStore().runs("P1")
    assert [(r["run_id"], r["created"], r["rejected"]) for r in runs] == [(report.run_id, 4, 1)]
    events = AuditStore().for_practice("P1", limit=50)
    assert {e.action for e in events} == {"import.run", "import.write"}
    assert {e.patient_id for e in events if e.action == "import.write"} == {pid("1"), pid("2"), pid("3")}
    assert AuditStore().for_patient("P1", pid("2"))[0].source == "import:patients_csv"


def test_a_provider_created_by_hand_with_the_same_name_is_not_touched(run: Any) -> None:
    provider_item("P1", Provider(id="DR1", name="Dr. Maya Patel")).save()  # entered by hand, not imported
    run("patients_csv", PATIENTS)
    run("appointments_csv", APPOINTMENTS)
    assert {p.id for p in PracticeStore().providers("P1")} == {"DR1", internal_id("csv", "provider", "1")}
