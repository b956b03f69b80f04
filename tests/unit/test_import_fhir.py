from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.imports.fhir import parse_fhir_bundle
from chalicelib.imports.model import ImportFileError, internal_id


def _bundle(*resources: dict[str, Any]) -> bytes:
    return json.dumps(
        {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    ).encode()


def practitioner(pid: str = "d1", hygienist: bool = False) -> dict[str, Any]:
    code = ("124Q00000X", "Dental Hygienist") if hygienist else ("1223G0001X", "General Practice")
    return {
        "resourceType": "Practitioner",
        "id": pid,
        "name": [{"prefix": ["Dr."], "given": ["Maya"], "family": "Patel", "suffix": ["DDS"]}],
        "qualification": [{"code": {"coding": [{"system": "http://nucc.org/provider-taxonomy", "code": code[0]}]}}],
    }


def location(lid: str = "op1", kind: str = "ro") -> dict[str, Any]:
    return {"resourceType": "Location", "id": lid, "name": "Op 1", "physicalType": {"coding": [{"code": kind}]}}


def patient(pid: str = "p1", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"use": "official", "family": "Rivera", "given": ["Sam", "Alex"]}],
        "birthDate": "2016-05-01",
        "telecom": [
            {"system": "phone", "value": "(555) 555-0150", "use": "home"},
            {"system": "phone", "value": "555-555-0151", "use": "mobile"},
            {"system": "email", "value": "Sam@Example.TEST"},
        ],
        **extra,
    }


def related(rid: str, patient_id: str, person: str = "parent-1") -> dict[str, Any]:
    return {
        "resourceType": "RelatedPerson",
        "id": rid,
        "identifier": [{"system": "https://pms.example.test/person", "value": person}],
        "patient": {"reference": f"Patient/{patient_id}"},
        "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "MTH"}]}],
        "name": [{"family": "Rivera", "given": ["Jordan"]}],
        "telecom": [{"system": "phone", "value": "+1 555 555 0140"}, {"system": "email", "value": "g@example.test"}],
    }


def appointment(aid: str = "a1", patient_id: str = "p1", status: str = "booked", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "id": aid,
        "status": status,
        "appointmentType": {"coding": [{"system": "urn:t", "code": "clean", "display": "Adult cleaning"}]},
        "start": "2027-03-15T09:00:00-04:00",
        "end": "2027-03-15T10:00:00-04:00",
        "participant": [
            {"actor": {"reference": f"Patient/{patient_id}"}, "status": "needs-action"},
            {"actor": {"reference": "Practitioner/d1"}, "status": "accepted"},
            {"actor": {"reference": "Location/op1"}, "status": "accepted"},
        ],
        **extra,
    }


def test_a_bundle_maps_to_providers_rooms_patients_guardians_appointments_and_types() -> None:
    parsed = parse_fhir_bundle(
        _bundle(practitioner(), location(), patient(), related("r1", "p1"), appointment()), source="fhir"
    )
    assert parsed.errors == [] and parsed.items == 5
    assert [(p.value.name, p.value.kind) for p in parsed.providers] == [("Dr. Maya Patel, DDS", "dentist")]
    assert [o.value.name for o in parsed.operatories] == ["Op 1"]
    sam = parsed.patients[0].value
    assert (sam.given_name, sam.family_name, sam.phone, sam.email) == (
        "Sam",
        "Rivera",
        "+15555550151",
        "sam@example.test",
    )
    appt = parsed.appointments[0].value
    assert appt.start == datetime(2027, 3, 15, 13, 0, tzinfo=UTC)
    assert (appt.patient_id, appt.provider_id, appt.operatory_id) == (
        internal_id("fhir", "patient", "p1"),
        internal_id("fhir", "provider", "d1"),
        internal_id("fhir", "operatory", "op1"),
    )
    kinds = [(t.value.name, t.value.category, t.value.duration_min) for t in parsed.appointment_types]
    assert kinds == [("Adult cleaning", "hygiene", 60)]


def test_related_persons_sharing_an_identifier_become_one_guardian_of_several_children() -> None:
    parsed = parse_fhir_bundle(
        _bundle(patient("p1"), patient("p2"), related("r1", "p1"), related("r2", "p2"), related("r3", "p2", "other")),
        source="fhir",
    )
    guardians = [g.value for g in parsed.guardians]
    assert len(guardians) == 2
    assert guardians[0].patient_ids == sorted(
        [internal_id("fhir", "patient", "p1"), internal_id("fhir", "patient", "p2")]
    )
    assert (guardians[0].phone, guardians[0].relationship) == ("+15555550140", "parent")


def test_references_resolve_through_full_urls_and_urn_uuids() -> None:
    raw = json.dumps(
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {"fullUrl": "urn:uuid:6f1c", "resource": {k: v for k, v in patient().items() if k != "id"}},
                {
                    "resource": appointment(
                        participant=[{"actor": {"reference": "urn:uuid:6f1c"}, "status": "accepted"}]
                    )
                },
            ],
        }
    ).encode()
    parsed = parse_fhir_bundle(raw, source="fhir")
    assert parsed.errors == []
    assert parsed.appointments[0].value.patient_id == internal_id("fhir", "patient", "urn:uuid:6f1c")
    assert parsed.appointments[0].value.status == "confirmed"  # booked, and the patient accepted


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", "empty_file"),
        (b"PatNum,LName\n1,A\n", "not_json"),
        (b'{"resourceType": "Bundle", ', "not_json"),
        (b"[1, 2]", "not_a_bundle"),
        (b'{"resourceType": "Patient", "id": "p1"}', "not_a_bundle"),
        (b'{"hello": "world"}', "not_a_bundle"),
        (b'{"resourceType": "Bundle", "type": "collection"}', "empty_bundle"),
        (b'{"resourceType": "Bundle", "type": "collection", "entry": {"a": 1}}', "invalid_bundle"),
        (b'{"resourceType": "Bundle", "type": 7, "entry": [{"resource": {}}]}', "invalid_bundle"),
    ],
)
def test_a_file_that_is_not_a_fhir_bundle_is_one_clear_error(raw: bytes, code: str) -> None:
    with pytest.raises(ImportFileError) as caught:
        parse_fhir_bundle(raw, source="fhir")
    assert caught.value.code == code


def test_csv_sent_as_fhir_says_which_kind_to_use() -> None:
    with pytest.raises(ImportFileError, match="kind=patients_csv"):
        parse_fhir_bundle(b"PatNum,LName,FName\n1,A,B\n", source="fhir")


def test_invalid_resources_are_reported_by_entry_index_and_the_others_still_import() -> None:
    parsed = parse_fhir_bundle(
        _bundle(
            patient("p1"),
            patient("p2", birthDate="1990-13-45"),
            {"resourceType": "Appointment", "id": "a0", "participant": []},
            "not an object",  # type: ignore[arg-type]
            patient("p3", telecom=[{"system": "phone", "value": "call me"}]),
            patient(
                "p4", extension=[{"url": "http://hl7.org/fhir/StructureDefinition/timezone", "valueCode": "Mars/X"}]
            ),
            appointment("a1", patient_id="p1", status="weird"),
            appointment("a2", patient_id="p1", end="2027-03-15T08:00:00-04:00"),
            patient("p1"),
            patient("p5", bogus=True),
        ),
        source="fhir",
    )
    assert [p.value.source_id for p in parsed.patients] == ["p1"]
    reasons = {e.at: e.reason for e in parsed.errors}
    assert set(reasons) == {f"entry[{i}]" for i in (1, 2, 3, 4, 5, 6, 7, 8, 9)}
    assert reasons["entry[1]"].startswith("invalid Patient: birthDate:")
    assert reasons["entry[2]"] == "invalid Appointment: status: Value for the field 'status' is required."
    assert reasons["entry[3]"] == "the entry has no resource"
    assert reasons["entry[4]"] == "telecom[0] phone is not a phone number"
    assert reasons["entry[5]"] == "timezone extension is not a known IANA time zone"
    assert reasons["entry[6]"] == "status is not an Appointment status"
    assert reasons["entry[7]"] == "end is not after start"
    assert reasons["entry[8]"] == "Patient/p1 appears again (first at entry[0])"
    assert reasons["entry[9]"].startswith("invalid Patient: bogus: Extra inputs")
    assert "1990-13-45" not in str(parsed.errors) and "call me" not in str(parsed.errors)


def test_a_known_timezone_extension_is_kept_on_the_patient() -> None:
    ext = [{"url": "http://hl7.org/fhir/StructureDefinition/timezone", "valueCode": "America/Phoenix"}]
    parsed = parse_fhir_bundle(_bundle(patient("p1", extension=ext)), source="fhir")
    assert parsed.patients[0].value.zone == "America/Phoenix"


def test_unsupported_resources_and_buildings_are_skipped_with_a_warning() -> None:
    parsed = parse_fhir_bundle(
        _bundle(
            {"resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "x"}}, location("b", "bu")
        ),
        source="fhir",
    )
    assert parsed.errors == [] and parsed.operatories == []
    assert [w.at for w in parsed.warnings] == ["entry[0]", "entry[1]"]


def test_fhir_statuses_map_to_ours_and_entered_in_error_is_skipped() -> None:
    statuses = ["proposed", "booked", "arrived", "fulfilled", "cancelled", "noshow", "checked-in", "entered-in-error"]
    parsed = parse_fhir_bundle(
        _bundle(*[appointment(f"a{i}", status=s) for i, s in enumerate(statuses)]), source="fhir"
    )
    assert [a.value.status for a in parsed.appointments] == [
        "requested",
        "booked",
        "arrived",
        "completed",
        "cancelled",
        "no_show",
        "arrived",
    ]
    assert parsed.warnings[0].at == "entry[7]"


def test_a_hygienist_is_recognised_by_qualification() -> None:
    parsed = parse_fhir_bundle(_bundle(practitioner("h1", hygienist=True)), source="fhir")
    assert parsed.providers[0].value.kind == "hygienist"
