"""POST /practices/{practice_id}/imports through the Chalice test client, against moto."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.imports.routes import MAX_IMPORT_BYTES
from chalicelib.platform.deps import Deps
from chalicelib.practices.store import PracticeStore
from tests import factories
from tests.integration.conftest import StaffTokens

PATIENTS = b"""PatNum,LName,FName,Birthdate,WirelessPhone,Email
1,Stone,Ada,1950-01-01,555-555-0150,ada@example.test
2,Bad,Phone,1950-01-01,not a phone,
"""
BUNDLE = json.dumps(
    {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": {"resourceType": "Patient", "id": "p1", "name": [{"family": "Stone", "given": ["Ada"]}]}}
        ],
    }
).encode()


@pytest.fixture(autouse=True)
def practices(app_deps: Deps) -> None:
    PracticeStore().put(factories.maple())
    PracticeStore().put(factories.birch())


def post(
    api: Client, headers: dict[str, str], kind: str, body: bytes, ctype: str = "text/csv", practice: str = "P1"
) -> Any:
    return api.http.post(
        f"/practices/{practice}/imports?kind={kind}", headers={**headers, "Content-Type": ctype}, body=body
    )


def test_an_owner_imports_a_csv_and_gets_the_report(api: Client, staff: StaffTokens) -> None:
    response = post(api, staff.headers("P1", "owner"), "patients_csv", PATIENTS)
    assert response.status_code == 200, response.body
    report = response.json_body
    assert (report["created"], report["updated"], report["unchanged"], report["rejected"]) == (1, 0, 0, 1)
    assert report["errors"] == [{"at": "row 3", "reason": "WirelessPhone is not a phone number", "ref": "PatNum 2"}]
    again = post(api, staff.headers("P1", "owner"), "patients_csv", PATIENTS).json_body
    assert (again["created"], again["unchanged"]) == (0, 1)


def test_a_manager_imports_a_fhir_bundle(api: Client, staff: StaffTokens) -> None:
    response = post(api, staff.headers("P1", "manager"), "fhir", BUNDLE, "application/fhir+json")
    assert response.status_code == 200, response.body
    assert response.json_body["by_entity"]["patient"]["created"] == 1


@pytest.mark.parametrize("role", ["front_desk", "clinical"])
def test_front_desk_and_clinical_staff_may_not_import(api: Client, staff: StaffTokens, role: str) -> None:
    response = post(api, staff.headers("P1", role), "patients_csv", PATIENTS)
    assert response.status_code == 403
    assert response.json_body["error"]["code"] == "forbidden"


def test_staff_of_another_practice_get_the_same_404_as_for_a_missing_practice(api: Client, staff: StaffTokens) -> None:
    foreign = post(api, staff.headers("P2", "owner"), "patients_csv", PATIENTS, practice="P1")
    missing = post(api, staff.headers("P2", "owner"), "patients_csv", PATIENTS, practice="P404")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json_body == missing.json_body


def test_no_token_is_401(api: Client) -> None:
    assert post(api, {}, "patients_csv", PATIENTS).status_code == 401


def test_a_file_over_the_cap_is_a_clear_413(api: Client, staff: StaffTokens) -> None:
    big = PATIENTS + b"3,Pad,Ding,1950-01-01,,\n" * (MAX_IMPORT_BYTES // 20)
    response = post(api, staff.headers("P1", "owner"), "patients_csv", big)
    assert response.status_code == 413
    assert "import command" in response.json_body["error"]["message"]


@pytest.mark.parametrize(
    ("kind", "body", "ctype", "code"),
    [
        ("fhir", b"PatNum,LName,FName\n1,A,B\n", "application/json", "not_json"),
        ("fhir", b'{"resourceType": "Patient"}', "application/fhir+json", "not_a_bundle"),
        ("patients_csv", b"", "text/csv", "empty_file"),
        ("patients_csv", BUNDLE, "text/csv", "not_csv"),
        ("appointments_csv", PATIENTS, "text/csv", "missing_columns"),
    ],
)
def test_wrong_content_is_a_422_json_error_that_says_what_is_wrong(
    api: Client, staff: StaffTokens, kind: str, body: bytes, ctype: str, code: str
) -> None:
    response = post(api, staff.headers("P1", "owner"), kind, body, ctype)
    assert response.status_code == 422, response.body
    assert response.json_body["error"]["code"] == code


def test_a_missing_or_unknown_kind_is_400(api: Client, staff: StaffTokens) -> None:
    for kind in ("", "xlsx"):
        response = post(api, staff.headers("P1", "owner"), kind, PATIENTS)
        assert response.status_code == 400
        assert response.json_body["error"]["code"] == "invalid_kind"


def test_an_unsupported_content_type_is_415(api: Client, staff: StaffTokens) -> None:
    response = post(api, staff.headers("P1", "owner"), "patients_csv", PATIENTS, "image/png")
    assert response.status_code == 415
    assert "error" in response.json_body


def test_a_dry_run_reports_without_writing(api: Client, staff: StaffTokens) -> None:
    response = api.http.post(
        "/practices/P1/imports?kind=patients_csv&dry_run=true",
        headers={**staff.headers("P1", "owner"), "Content-Type": "text/csv"},
        body=PATIENTS,
    )
    assert response.json_body["dry_run"] is True and response.json_body["created"] == 1
    real = post(api, staff.headers("P1", "owner"), "patients_csv", PATIENTS).json_body
    assert real["created"] == 1
