from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.appointments.events import RecordingEvents
from chalicelib.audit.service import Auditor, MemoryAuditLog
from chalicelib.imports.memory import MemoryImportStore
from chalicelib.imports.model import ImportFileError, ImportReport, internal_id
from chalicelib.imports.service import import_file
from chalicelib.platform.clock import FixedClock
from chalicelib.platform.errors import NotFound
from chalicelib.practices.model import Practice
from tests import factories

PATIENTS = b"""PatNum,LName,FName,Birthdate,WirelessPhone,Email,Guarantor
1,Rivera,Jordan,1985-03-02,555-555-0140,jordan@example.test,1
2,Rivera,Sam,2016-05-01,,,1
3,Rivera,Riley,2019-09-09,555-555-0140,,1
4,Stone,Ada,1950-01-01,555-555-0150,ada@example.test,4
"""
APPOINTMENTS = b"""AptNum,PatNum,AptDateTime,Length,ProvNum,Op,AptType,AptStatus
10,1,2027-03-15 09:00,60,1,1,Cleaning,Scheduled
11,2,2027-03-15 10:00,30,1,2,Exam,Scheduled
12,4,2027-03-16 10:00,30,1,2,Exam,Scheduled
"""


class Practices:
    def __init__(self, *practices: Practice) -> None:
        self.by_id = {p.id: p for p in practices}

    def get(self, practice_id: str) -> Practice | None:
        return self.by_id.get(practice_id)


class World:
    def __init__(self) -> None:
        self.store = MemoryImportStore()
        self.log = MemoryAuditLog()
        self.clock = FixedClock(datetime(2027, 3, 10, 15, 0, tzinfo=UTC))
        self.events = RecordingEvents()

    def run(self, kind: str, raw: bytes, **extra: Any) -> ImportReport:
        args: dict[str, Any] = {
            "practices": Practices(factories.maple()),
            "port": self.store,
            "auditor": Auditor(self.log, self.clock),
            "clock": self.clock,
            "practice_id": "P1",
            "kind": kind,
            "raw": raw,
            "events": self.events,
            **extra,
        }
        return import_file(**args)


@pytest.fixture
def world() -> World:
    return World()


def pid(patnum: str) -> str:
    return internal_id("csv", "patient", patnum)


def test_a_first_import_creates_everything_and_counts_it(world: World) -> None:
    report = world.run("patients_csv", PATIENTS)
    assert (report.created, report.updated, report.unchanged, report.rejected) == (5, 0, 0, 0)
    assert report.by_entity["patient"].created == 4 and report.by_entity["guardian"].created == 1
    assert world.store.addresses_for("P1", pid("2")) == {"+15555550140", "jordan@example.test"}


def test_reimporting_the_same_file_writes_nothing_at_all(world: World) -> None:
    world.run("patients_csv", PATIENTS)
    world.run("appointments_csv", APPOINTMENTS)
    writes, audit_events, published = world.store.writes, len(world.log.events), len(world.events.published)
    again = world.run("patients_csv", PATIENTS)
    again_appointments = world.run("appointments_csv", APPOINTMENTS)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 5)
    assert (again_appointments.created, again_appointments.updated, again_appointments.unchanged) == (0, 0, 8)
    assert world.store.writes == writes
    assert len(world.log.events) == audit_events
    assert len(world.events.published) == published
    assert len(world.store.runs) == 2


def test_a_changed_row_updates_only_that_record(world: World) -> None:
    world.run("patients_csv", PATIENTS)
    changed = PATIENTS.replace(b"Stone,Ada,1950-01-01", b"Stone,Adaline,1950-01-01")
    report = world.run("patients_csv", changed)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 4)
    assert world.store.value("P1", "patient", pid("4")).given_name == "Adaline"


def test_a_failing_row_does_not_stop_the_valid_rows(world: World) -> None:
    raw = PATIENTS.replace(b"4,Stone,Ada,1950-01-01,555-555-0150", b"4,Stone,Ada,1950-01-01,not a phone")
    report = world.run("patients_csv", raw)
    assert report.rejected == 1 and report.errors[0].at == "row 5"
    assert report.by_entity["patient"].created == 3


def test_a_rejected_row_leaves_what_an_earlier_import_stored(world: World) -> None:
    world.run("patients_csv", PATIENTS)
    raw = PATIENTS.replace(b"4,Stone,Ada,1950-01-01,555-555-0150", b"4,Stone,Ada,1950-01-01,not a phone")
    world.run("patients_csv", raw)
    assert world.store.value("P1", "patient", pid("4")).phone == "+15555550150"


def test_an_appointment_for_a_patient_never_imported_is_rejected_with_the_reason(world: World) -> None:
    world.run("patients_csv", PATIENTS.replace(b"4,Stone", b"5,Stone"))
    report = world.run("appointments_csv", APPOINTMENTS)
    assert report.by_entity["appointment"].created == 2
    assert [(e.at, e.reason) for e in report.errors] == [
        ("row 4", "its patient (PatNum 4) is not in this file and was not imported before")
    ]


def test_appointments_may_refer_to_patients_imported_by_an_earlier_file(world: World) -> None:
    world.run("patients_csv", PATIENTS)
    report = world.run("appointments_csv", APPOINTMENTS)
    assert report.errors == [] and report.by_entity["appointment"].created == 3


def test_an_import_audits_the_run_and_each_patient_it_wrote(world: World) -> None:
    report = world.run("patients_csv", PATIENTS, actor_type="staff", actor_id="sub-1")
    events = [e for _, e in world.log.events]
    run_events = [e for e in events if e.action == "import.run"]
    assert len(run_events) == 1 and run_events[0].patient_id == ""
    written = {e.patient_id for e in events if e.action == "import.write"}
    assert written == {pid(n) for n in "1234"}
    assert {(e.actor_type, e.actor_id, e.source, e.record) for e in events} == {
        ("staff", "sub-1", "import:patients_csv", f"import:{report.run_id}")
    }


def test_a_changed_phone_revokes_the_old_contact_unless_a_guardian_still_holds_it(world: World) -> None:
    world.run("patients_csv", PATIENTS)
    # Riley had the family number too; now she has her own. Jordan (guardian) still holds it for her.
    world.run("patients_csv", PATIENTS.replace(b"2019-09-09,555-555-0140", b"2019-09-09,555-555-0177"))
    assert world.store.addresses_for("P1", pid("3")) == {"+15555550140", "+15555550177", "jordan@example.test"}
    # Ada changes number: nobody else holds her old one.
    world.run("patients_csv", PATIENTS.replace(b"555-555-0150", b"555-555-0151"))
    assert world.store.addresses_for("P1", pid("4")) == {"+15555550151", "ada@example.test"}


def test_a_guardian_who_loses_a_child_loses_the_childs_contact_links(world: World) -> None:
    world.run("patients_csv", PATIENTS)
    world.run("patients_csv", PATIENTS.replace(b"2,Rivera,Sam,2016-05-01,,,1", b"2,Rivera,Sam,2016-05-01,,,2"))
    assert world.store.addresses_for("P1", pid("2")) == set()


def test_a_confirmation_made_here_survives_a_reimport_that_still_says_booked(world: World) -> None:
    world.run("patients_csv", PATIENTS)
    world.run("appointments_csv", APPOINTMENTS)
    appointment_id = internal_id("csv", "appointment", "10")
    key = ("P1", "appointment", appointment_id)
    value, source_hash, version = world.store.items[key]
    value.status = "confirmed"  # the patient confirmed through a reminder
    world.store.items[key] = (value, source_hash, version + 1)
    world.run("appointments_csv", APPOINTMENTS.replace(b"60,1,1,Cleaning", b"60,1,2,Cleaning"))  # room changed
    assert world.store.value("P1", "appointment", appointment_id).status == "confirmed"


def test_a_move_from_the_source_is_kept_in_history_and_published(world: World) -> None:
    world.run("patients_csv", PATIENTS)
    world.run("appointments_csv", APPOINTMENTS)
    world.events.published.clear()
    moved = APPOINTMENTS.replace(b"10,1,2027-03-15 09:00", b"10,1,2027-03-17 11:00")
    report = world.run("appointments_csv", moved)
    assert report.by_entity["appointment"].updated == 1
    appt = world.store.value("P1", "appointment", internal_id("csv", "appointment", "10"))
    assert appt.start == datetime(2027, 3, 17, 15, 0, tzinfo=UTC)
    assert [h.action for h in appt.history] == ["imported", "moved"]
    assert appt.history[-1].previous_start == datetime(2027, 3, 15, 13, 0, tzinfo=UTC)
    assert [(e.kind, e.by, e.previous_start) for e in world.events.published] == [
        ("moved", "import", datetime(2027, 3, 15, 13, 0, tzinfo=UTC))
    ]


def test_created_appointments_are_published_for_the_reminder_engine(world: World) -> None:
    world.run("patients_csv", PATIENTS)
    world.run("appointments_csv", APPOINTMENTS)
    assert sorted(e.kind for e in world.events.published) == ["created"] * 3


def test_a_dry_run_reports_what_would_change_and_writes_nothing(world: World) -> None:
    report = world.run("patients_csv", PATIENTS, dry_run=True)
    assert report.dry_run and report.created == 5
    assert world.store.writes == 0 and world.log.events == [] and world.store.items == {}


def test_an_update_that_loses_a_race_is_reported_not_forced(world: World) -> None:
    world.run("patients_csv", PATIENTS)
    world.store.fail_updates_of.add(pid("4"))
    report = world.run("patients_csv", PATIENTS.replace(b"Stone,Ada", b"Stone,Adaline"))
    assert report.updated == 0
    assert report.errors[0].at == "row 5" and "import the file again" in report.errors[0].reason


def test_an_unknown_practice_is_not_found_and_an_unknown_kind_is_a_file_error(world: World) -> None:
    with pytest.raises(NotFound):
        world.run("patients_csv", PATIENTS, practice_id="P9")
    with pytest.raises(ImportFileError):
        world.run("xlsx", PATIENTS)


def test_the_source_system_name_keeps_two_systems_ids_apart(world: World) -> None:
    world.run("patients_csv", PATIENTS)
    report = world.run("patients_csv", PATIENTS, source="dentrix")
    assert report.created == 5
    assert len(world.store.of("P1", "patient")) == 8


def test_importing_past_visits_raises_no_appointment_events(world: World) -> None:
    world.run("patients_csv", PATIENTS)
    past = APPOINTMENTS.replace(b"2027-03-15", b"2026-03-15").replace(b"2027-03-16", b"2026-03-16")
    report = world.run("appointments_csv", past)
    assert report.by_entity["appointment"].created == 3
    assert world.events.published == []
