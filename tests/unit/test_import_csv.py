from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from chalicelib.imports.csv_rows import parse_appointments_csv, parse_patients_csv
from chalicelib.imports.model import ImportFileError, internal_id

TODAY = date(2027, 3, 10)
ZONE = "America/New_York"

PATIENTS = b"""PatNum,LName,FName,Preferred,Birthdate,WirelessPhone,HmPhone,WkPhone,Email,Language,PatStatus,Guarantor
1,Rivera,Jordan,,1985-03-02,(555) 555-0140,,,Guardian@Example.TEST,eng,Patient,1
2,Rivera,Samuel,Sam,2016-05-01,,555-555-0140,,,spa,Patient,1
3,Rivera,Riley,,05/09/2019,,,,,,,1
4,Stone,Ada,,1950-01-01,,555.555.0150,,ada@example.test,,Inactive,4
"""

APPOINTMENTS = b"""\
AptNum,PatNum,AptDateTime,Length,Pattern,ProvNum,ProvName,ProvKind,Op,OpName,AptType,IsHygiene,AptStatus,Confirmed
10,1,2027-03-15 09:00,60,,1,Dr. Maya Patel,,1,Op 1,Crown,,Scheduled,
11,2,2027-03-15 10:00,,XXXXXXXXX,2,Casey Nguyen,hygienist,3,Op 3,,1,1,yes
12,3,2026-11-02 14:00,30,,1,Dr. Maya Patel,,1,Op 1,Exam,,Complete,
13,1,2026-11-03 08:00,30,,1,,,1,,Exam,,Broken,
"""


def test_patient_rows_become_patients_with_e164_phones_and_lower_case_emails() -> None:
    parsed = parse_patients_csv(PATIENTS, source="csv", today=TODAY)
    by_patnum = {r.value.source_id: r.value for r in parsed.patients}
    assert parsed.errors == []
    jordan, sam = by_patnum["1"], by_patnum["2"]
    assert (jordan.phone, jordan.email, jordan.language) == ("+15555550140", "guardian@example.test", "en")
    assert (sam.given_name, sam.phone, sam.language, sam.birth_date) == ("Sam", "+15555550140", "es", date(2016, 5, 1))
    assert by_patnum["3"].birth_date == date(2019, 5, 9)
    assert by_patnum["4"].active is False
    assert jordan.id == internal_id("csv", "patient", "1")


def test_a_minor_gets_their_guarantor_as_guardian_and_an_adult_does_not() -> None:
    parsed = parse_patients_csv(PATIENTS, source="csv", today=TODAY)
    assert len(parsed.guardians) == 1
    guardian = parsed.guardians[0].value
    assert guardian.patient_ids == sorted([internal_id("csv", "patient", "2"), internal_id("csv", "patient", "3")])
    assert (guardian.phone, guardian.email, guardian.relationship) == (
        "+15555550140",
        "guardian@example.test",
        "guarantor",
    )


def test_a_non_patient_guarantor_is_a_guardian_but_not_a_patient() -> None:
    raw = (
        b"PatNum,LName,FName,Birthdate,WirelessPhone,PatStatus,Guarantor\n"
        b"7,Lee,Kim,1980-01-01,555-555-0170,NonPatient,7\n"
        b"8,Lee,Bo,2018-01-01,,Patient,7\n"
    )
    parsed = parse_patients_csv(raw, source="csv", today=TODAY)
    assert [r.value.source_id for r in parsed.patients] == ["8"]
    assert [g.value.source_id for g in parsed.guardians] == ["7"]


def test_bad_patient_rows_are_reported_by_row_and_reason_and_the_other_rows_still_parse() -> None:
    raw = b"""PatNum,LName,FName,Birthdate,WirelessPhone,Email,TimeZone
1,Good,Row,1990-01-01,555-555-0111,good@example.test,
2,Bad,Phone,1990-01-01,call me maybe,,
3,Bad,Zone,1990-01-01,,,Mars/Olympus
,No,Number,1990-01-01,,,
5,Bad,Email,1990-01-01,,not-an-email,
6,Bad,Birthday,31/31/1990,,,
7,Good,Zone,1990-01-01,,,America/Chicago
"""
    parsed = parse_patients_csv(raw, source="csv", today=TODAY)
    assert [p.value.source_id for p in parsed.patients] == ["1", "7"]
    assert parsed.patients[1].value.zone == "America/Chicago"
    reasons = {e.at: e.reason for e in parsed.errors}
    assert reasons == {
        "row 3": "WirelessPhone is not a phone number",
        "row 4": "TimeZone is not a known IANA time zone",
        "row 5": "PatNum is empty",
        "row 6": "Email is not a valid email address",
        "row 7": "Birthdate is not a date (use YYYY-MM-DD or MM/DD/YYYY)",
    }
    assert "call me" not in str(parsed.errors)


def test_every_bad_phone_column_of_a_row_is_named() -> None:
    raw = b"PatNum,LName,FName,WirelessPhone,HmPhone\n1,A,B,12,555-0123\n"
    parsed = parse_patients_csv(raw, source="csv", today=TODAY)
    assert parsed.errors[0].reason == "WirelessPhone has the wrong number of digits; HmPhone has no area code"


def test_a_repeated_patnum_is_rejected_pointing_at_the_first() -> None:
    raw = b"PatNum,LName,FName\n1,A,B\n1,C,D\n"
    parsed = parse_patients_csv(raw, source="csv", today=TODAY)
    assert [p.value.family_name for p in parsed.patients] == ["A"]
    assert parsed.errors[0].at == "row 3"
    assert "appears again (first at row 2)" in parsed.errors[0].reason


def test_a_minor_whose_guarantor_row_was_rejected_is_imported_with_a_warning() -> None:
    raw = b"PatNum,LName,FName,Birthdate,HmPhone,Guarantor\n1,P,Parent,1980-01-01,nope,1\n2,P,Kid,2018-01-01,,1\n"
    parsed = parse_patients_csv(raw, source="csv", today=TODAY)
    assert [p.value.source_id for p in parsed.patients] == ["2"]
    assert parsed.guardians == []
    assert parsed.warnings[0].at == "row 3"
    assert "guarantor PatNum 1 was rejected (row 2)" in parsed.warnings[0].reason


def test_tab_separated_windows_exports_with_a_bom_are_read() -> None:
    raw = b"\xef\xbb\xbf" + "PatNum\tLName\tFName\r\n1\tMuñoz\tJosé\r\n".encode()
    parsed = parse_patients_csv(raw, source="csv", today=TODAY)
    assert (parsed.patients[0].value.given_name, parsed.patients[0].value.family_name) == ("José", "Muñoz")
    latin1 = "PatNum;LName;FName\r\n1;Muñoz;José\r\n".encode("cp1252")
    assert parse_patients_csv(latin1, source="csv", today=TODAY).patients[0].value.family_name == "Muñoz"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", "empty_file"),
        (b"   \n\n", "empty_file"),
        (b"PatNum,LName,FName\n", "no_rows"),
        (b'{"resourceType": "Bundle"}', "not_csv"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "not_csv"),
        (b"Name,Phone\nAda,555\n", "missing_columns"),
    ],
)
def test_a_file_that_is_not_a_patients_csv_is_one_clear_error(raw: bytes, code: str) -> None:
    with pytest.raises(ImportFileError) as caught:
        parse_patients_csv(raw, source="csv", today=TODAY)
    assert caught.value.code == code


def test_missing_columns_are_named_and_the_other_file_is_suggested() -> None:
    with pytest.raises(ImportFileError) as caught:
        parse_patients_csv(APPOINTMENTS, source="csv", today=TODAY)
    assert "missing LName, FName" in caught.value.message
    assert "appointments.csv" in caught.value.message


def test_appointment_rows_become_appointments_in_utc_with_their_providers_rooms_and_types() -> None:
    parsed = parse_appointments_csv(APPOINTMENTS, source="csv", zone=ZONE)
    assert parsed.errors == []
    by_aptnum = {r.value.source_id: r.value for r in parsed.appointments}
    crown = by_aptnum["10"]
    assert crown.start == datetime(2027, 3, 15, 13, 0, tzinfo=UTC)  # 09:00 EDT
    assert (crown.end - crown.start).total_seconds() == 3600
    assert crown.patient_id == internal_id("csv", "patient", "1")
    assert by_aptnum["11"].end - by_aptnum["11"].start == datetime(1, 1, 1, 0, 45) - datetime(1, 1, 1)  # 9 x 5 min
    assert [(p.value.name, p.value.kind) for p in parsed.providers] == [
        ("Dr. Maya Patel", "dentist"),
        ("Casey Nguyen", "hygienist"),
    ]
    assert [o.value.name for o in parsed.operatories] == ["Op 1", "Op 3"]
    types = {t.value.name: (t.value.category, t.value.duration_min) for t in parsed.appointment_types}
    assert types == {"Crown": ("restorative", 60), "Hygiene": ("hygiene", 45), "Exam": ("exam", 30)}


def test_open_dental_statuses_and_the_confirmed_flag_map_to_ours() -> None:
    parsed = parse_appointments_csv(APPOINTMENTS, source="csv", zone=ZONE)
    assert {r.value.source_id: r.value.status for r in parsed.appointments} == {
        "10": "booked",
        "11": "confirmed",
        "12": "completed",
        "13": "no_show",
    }


def test_planned_and_unscheduled_rows_are_skipped_with_a_warning_not_rejected() -> None:
    raw = (
        b"AptNum,PatNum,AptDateTime,Length,ProvNum,Op,AptStatus\n"
        b"1,1,0001-01-01 00:00,30,1,1,UnschedList\n"
        b"2,1,0001-01-01,30,1,1,6\n"
    )
    parsed = parse_appointments_csv(raw, source="csv", zone=ZONE)
    assert parsed.appointments == [] and parsed.errors == []
    assert [w.at for w in parsed.warnings] == ["row 2", "row 3"]


def test_bad_appointment_rows_are_reported_and_the_others_still_parse() -> None:
    raw = b"""AptNum,PatNum,AptDateTime,Length,ProvNum,Op,AptStatus,TimeZone
1,1,2027-03-15 09:00,30,1,1,Scheduled,
2,1,2027-03-15 09:00,30,1,1,Scheduled,Mars/Olympus
3,1,2027-03-14 02:30,30,1,1,Scheduled,
4,1,tomorrow,30,1,1,Scheduled,
5,1,2027-03-15 09:00,,1,1,Scheduled,
6,1,2027-03-15 09:00,30,1,1,Postponed,
7,1,2027-03-15 09:00,30,1,1,Scheduled,America/Denver
"""
    parsed = parse_appointments_csv(raw, source="csv", zone=ZONE)
    assert [a.value.source_id for a in parsed.appointments] == ["1", "7"]
    assert parsed.appointments[1].value.start == datetime(2027, 3, 15, 15, 0, tzinfo=UTC)  # 09:00 MDT
    reasons = {e.at: e.reason for e in parsed.errors}
    assert reasons["row 3"] == "TimeZone is not a known IANA time zone"
    assert "does not exist in America/New_York" in reasons["row 4"]
    assert "AptDateTime is not a date and time" in reasons["row 5"]
    assert reasons["row 6"] == "Length or Pattern is required"
    assert reasons["row 7"].startswith("AptStatus is not one of")
