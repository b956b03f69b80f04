"""The patient's privacy routes against moto: the access log (who looked, in words, paged, read-audited once
per session), the data export (FHIR Bundle and CSV zip, audited), and the contact record's opt-out help.
Another family's patient and an unlinked minor answer 404 exactly like a missing id."""

from __future__ import annotations

import base64
import csv
import dataclasses
import io
import json
import zipfile
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.appointments.store import appointment_item
from chalicelib.audit.model import AuditEvent
from chalicelib.audit.store import AuditItem, AuditStore
from chalicelib.billing.model import LedgerLine
from chalicelib.billing.store import BillingStore
from chalicelib.identity.model import Session, new_session_token, token_digest
from chalicelib.identity.store import DynamoSessions
from chalicelib.patients.model import Patient, guardian_links_for
from chalicelib.patients.store import PatientStore, contact_link_item, guardian_item
from chalicelib.platform.deps import Deps
from chalicelib.platform.secrets import token_signing_key
from chalicelib.platform.table import practice_pk
from chalicelib.practices.store import PracticeStore, appointment_type_item, provider_item
from chalicelib.reminders.store import ReminderStore
from local.bootstrap import StaffUser, UserPool, add_staff_user, sign_in
from tests import factories
from tests.integration.conftest import STAFF_PASSWORD

NOW = datetime(2027, 3, 10, 15, 0, tzinfo=UTC)  # the integration clock fixture


def _person(pid: str, phone: str, email: str = "") -> Patient:
    return dataclasses.replace(factories.patient(pid, phone=phone, email=email), birth_date=date(1988, 1, 2))


def _session(holder: str, patient_ids: tuple[str, ...], relation: str) -> dict[str, str]:
    token = new_session_token("P1")
    DynamoSessions().create(
        Session(
            id=token_digest(token_signing_key(), token),
            practice_id="P1",
            holder_id=holder,
            patient_ids=patient_ids,
            relations=dict.fromkeys(patient_ids, relation),
            started_at=int(NOW.timestamp()),
            last_seen=int(NOW.timestamp()),
        )
    )
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def family(app_deps: Deps) -> dict[str, dict[str, str]]:
    """PAT-A (own session), K1 and K2, guardian G1 linked to K1 only, another patient OTHER."""
    PracticeStore().put(factories.maple())
    provider_item("P1", factories.provider()).save()
    appointment_type_item("P1", factories.cleaning()).save()
    patients = PatientStore()
    patients.put("P1", _person("PAT-A", "+15555550121"))
    patients.put("P1", _person("OTHER", "+15555550132"))
    patients.put("P1", dataclasses.replace(_person("K1", ""), birth_date=date(2018, 5, 6), email=""))
    patients.put("P1", dataclasses.replace(_person("K2", ""), birth_date=date(2020, 5, 6), email=""))
    g1 = factories.guardian("G1", ("K1",))
    guardian_item("P1", g1).save()
    for link in guardian_links_for(g1):
        contact_link_item("P1", link).save()
    appointment_item("P1", "America/New_York", factories.appointment("A-K1", "K1", NOW + timedelta(days=5))).save()
    appointment_item(
        "P1", "America/New_York", factories.appointment("A-PAST", "PAT-A", NOW - timedelta(days=90), status="completed")
    ).save()
    return {
        "own": _session("PAT-A", ("PAT-A",), "self"),
        "other": _session("OTHER", ("OTHER",), "self"),
        "guardian": _session("G1", ("K1",), "guardian"),
    }


def _named_staff(pool: UserPool, name: str, role: str = "front_desk") -> dict[str, str]:
    username = f"{role}.named@example.test"
    add_staff_user(pool, StaffUser(username, STAFF_PASSWORD, "P1", role, name))
    return {"Authorization": f"Bearer {sign_in(pool, username, STAFF_PASSWORD)}"}


def _log(api: Client, patient_id: str, headers: dict[str, str], query: str = "") -> Any:
    return api.http.get(f"/patient/patients/{patient_id}/access-log{query}", headers=headers)


# --- the access log ------------------------------------------------------------------------------------


def test_a_guardian_sees_a_staff_view_of_the_child_with_the_staff_members_role_and_name(
    api: Client, family: dict[str, dict[str, str]], pool: UserPool
) -> None:
    staff = _named_staff(pool, "Dana Lee")
    assert api.http.get("/practices/P1/patients/K1", headers=staff).status_code == 200
    response = _log(api, "K1", family["guardian"])
    assert response.status_code == 200, response.body
    body = response.json_body
    assert body["zone"] == "America/New_York"
    staff_view = next(e for e in body["entries"] if e["who"]["kind"] == "staff")
    assert staff_view["who"] == {"kind": "staff", "role": "front_desk", "name": "Dana Lee"}
    assert staff_view["what"] == "viewed_record"
    assert staff_view["at"] == "2027-03-10T15:00:00Z" and staff_view["local_at"] == "2027-03-10T10:00:00-05:00"
    assert "sub" not in json.dumps(staff_view) and "actor_id" not in staff_view
    # The staff audit browse keeps the role and name too (they are stored, not re-derived).
    events = api.http.get("/practices/P1/patients/K1/audit", headers=_named_staff(pool, "Kim Ortiz", "owner"))
    read = next(e for e in events.json_body["events"] if e["action"] == "patient.read")
    assert (read["actor_role"], read["actor_name"]) == ("front_desk", "Dana Lee")


def test_the_log_pages_newest_first_with_a_cursor_and_reading_it_is_audited_once_per_session(
    api: Client, family: dict[str, dict[str, str]]
) -> None:
    store = AuditStore()
    older = [
        AuditEvent(f"e{i:03d}", NOW - timedelta(hours=i + 1), "staff", "sub-1", "image.view", "PAT-A", "", "api")
        for i in range(40)
    ]
    store.append("P1", older)
    first = _log(api, "PAT-A", family["own"]).json_body
    assert [e["what"] for e in first["entries"][:2]] == ["viewed_access_log", "viewed_image"]
    assert first["entries"][0]["who"] == {"kind": "you"}
    assert len(first["entries"]) == 25 and first["cursor"]
    second = _log(api, "PAT-A", family["own"], f"?cursor={first['cursor']}").json_body
    assert [e["id"] for e in second["entries"]] == [e.id for e in older[24:]]
    assert second["cursor"] is None
    for _ in range(3):
        assert _log(api, "PAT-A", family["own"]).status_code == 200
    reads = store.page_for_patient("P1", "PAT-A", 100)[0]
    assert [e.action for e in reads].count("access_log.read") == 1
    _log(api, "PAT-A", _session("PAT-A", ("PAT-A",), "self"))  # a new sign-in is a new look
    assert [e.action for e in store.page_for_patient("P1", "PAT-A", 100)[0]].count("access_log.read") == 2


def test_only_others_leaves_out_your_own_activity(api: Client, family: dict[str, dict[str, str]]) -> None:
    AuditStore().append(
        "P1",
        [
            AuditEvent("mine", NOW - timedelta(hours=1), "patient", "PAT-A", "appointments.list", "PAT-A", "", "api"),
            AuditEvent("theirs", NOW - timedelta(hours=2), "job", "reminders", "paylink.create", "PAT-A", "", "api"),
        ],
    )
    entries = _log(api, "PAT-A", family["own"], "?only_others=true").json_body["entries"]
    assert [(e["who"], e["what"]) for e in entries] == [({"kind": "job", "job": "reminders"}, "sent_pay_link")]
    assert _log(api, "PAT-A", family["own"], "?only_others=maybe").status_code == 400


def test_another_patient_and_an_unlinked_minor_get_a_404_like_a_missing_id(
    api: Client, family: dict[str, dict[str, str]]
) -> None:
    missing = _log(api, "NOPE", family["own"])
    for headers, patient_id in ((family["other"], "PAT-A"), (family["guardian"], "K2"), (family["guardian"], "PAT-A")):
        foreign = _log(api, patient_id, headers)
        assert (
            (foreign.status_code, foreign.json_body)
            == (missing.status_code, missing.json_body)
            == (
                404,
                missing.json_body,
            )
        )
    denied = [e for e in AuditStore().for_patient("P1", "K2") if e.action == "access_denied"]
    assert [e.actor_id for e in denied] == ["G1"]
    assert _log(api, "PAT-A", {}).status_code == 401


def test_a_made_up_cursor_is_a_400_json_error(api: Client, family: dict[str, dict[str, str]]) -> None:
    for cursor in ("x", "QVVESVQjbm9wZQ", base64.urlsafe_b64encode(b"AUDIT#2027#e1").decode(), "A" * 300):
        response = _log(api, "PAT-A", family["own"], f"?cursor={cursor}")
        assert response.status_code == 400 and response.json_body["error"]["code"] == "invalid_cursor", cursor


def test_audit_items_written_before_roles_and_names_still_load(app_deps: Deps) -> None:
    AuditItem(
        practice_pk("P1"),
        "AUDIT#2026-01-01T00:00:00.000000Z#old",
        event_id="old",
        at=datetime(2026, 1, 1, tzinfo=UTC),
        actor_type="staff",
        actor_id="sub-9",
        action="patient.read",
        patient_id="PAT-A",
        gsi2pk="PRACTICE#P1#PATIENT#PAT-A",
        gsi2sk="AUDIT#2026-01-01T00:00:00.000000Z#old",
    ).save()
    (event,) = AuditStore().for_patient("P1", "PAT-A")
    assert (event.actor_role, event.actor_name) == ("", "")


# --- the export ----------------------------------------------------------------------------------------


def _export(api: Client, patient_id: str, headers: dict[str, str], fmt: str = "fhir") -> Any:
    accept = "application/zip" if fmt == "csv" else "application/fhir+json"  # a binary answer needs its Accept
    return api.http.get(f"/patient/patients/{patient_id}/export?format={fmt}", headers={**headers, "Accept": accept})


def test_a_guardian_downloads_a_childs_data_as_a_fhir_bundle_that_validates(
    api: Client, family: dict[str, dict[str, str]]
) -> None:
    from fhir.resources.R4B.bundle import Bundle

    response = _export(api, "K1", family["guardian"])
    assert response.status_code == 200, response.body
    assert response.headers["Content-Type"] == "application/fhir+json"
    assert response.headers["Content-Disposition"] == 'attachment; filename="chairside-K1-2027-03-10.fhir.json"'
    bundle = Bundle.model_validate_json(response.body)
    kinds = [e.resource.get_resource_type() for e in bundle.entry]
    assert kinds[:3] == ["Organization", "Patient", "RelatedPerson"] and "Appointment" in kinds
    appointment = next(e.resource for e in bundle.entry if e.resource.get_resource_type() == "Appointment")
    assert appointment.start.isoformat() == "2027-03-15T11:00:00-04:00"  # the practice's offset (EDT that day)
    exports = [e for e in AuditStore().for_patient("P1", "K1") if e.action == "patient.export"]
    assert [(e.actor_id, e.record) for e in exports] == [("G1", "export:fhir")]


def test_the_csv_export_is_a_zip_of_one_file_per_kind_with_the_ledger_in_dollars_and_cents(
    api: Client, family: dict[str, dict[str, str]]
) -> None:
    BillingStore().add_line("P1", LedgerLine("L1", "PAT-A", "charge", 12550, date(2027, 3, 1), "Exam"))
    ReminderStore().set_sms_opt_out("P1", "+15555550121", True, "STOP", NOW)
    response = _export(api, "PAT-A", family["own"], "csv")
    assert response.status_code == 200, response.body
    assert response.headers["Content-Type"] == "application/zip"
    assert response.headers["Content-Disposition"] == 'attachment; filename="chairside-PAT-A-2027-03-10.csv.zip"'
    with zipfile.ZipFile(io.BytesIO(response.body)) as z:
        names = z.namelist()
        files = {
            n: list(csv.DictReader(io.StringIO(z.read(n).decode("utf-8-sig")))) for n in names if n != "README.txt"
        }
    assert names[0] == "README.txt"
    assert {"patient.csv", "appointments.csv", "ledger.csv", "messages.csv", "preferences.csv"} <= set(files)
    assert [(r["kind"], r["amount"], r["amount_cents"]) for r in files["ledger.csv"]] == [("charge", "125.50", "12550")]
    assert [(r["AptNum"], r["AptStatus"]) for r in files["appointments.csv"]] == [("A-PAST", "Complete")]
    assert {r["address"]: r["sms_opted_out"] for r in files["addresses.csv"]}["+15555550121"] == "yes"


def test_an_export_of_another_familys_patient_or_an_unlinked_minor_is_a_404_and_a_bad_format_a_422(
    api: Client, family: dict[str, dict[str, str]]
) -> None:
    missing = _export(api, "NOPE", family["own"])
    assert missing.status_code == 404
    for headers, patient_id in ((family["other"], "PAT-A"), (family["guardian"], "K2")):
        foreign = _export(api, patient_id, headers)
        assert (foreign.status_code, foreign.json_body) == (404, missing.json_body)
    bad = _export(api, "PAT-A", family["own"], "pdf")
    assert bad.status_code == 422 and bad.json_body["error"]["code"] == "invalid_format"
    assert not [e for e in AuditStore().for_patient("P1", "K2") if e.action == "patient.export"]


# --- the contact record --------------------------------------------------------------------------------


def test_a_preferences_change_with_only_a_sending_hours_start_keeps_the_stored_end_or_is_refused(
    api: Client, family: dict[str, dict[str, str]]
) -> None:
    headers = {**family["own"], "Content-Type": "application/json"}
    path = "/patient/patients/PAT-A/preferences"

    def put(body: object) -> Any:
        return api.http.put(path, headers=headers, body=json.dumps(body).encode())

    lone = put({"sending_hours": {"start": "10:00"}})  # nothing of the patient's own is stored yet
    assert (lone.status_code, lone.json_body["error"]["code"]) == (422, "invalid_preferences")
    assert api.http.get(path, headers=family["own"]).json_body["sending_hours_source"] == "practice"
    assert put({"sending_hours": {"start": "07:00", "end": "12:00"}}).status_code == 200
    kept = put({"sending_hours": {"start": "09:00"}})
    assert kept.status_code == 200
    assert kept.json_body["sending_hours"] == {"start": "09:00", "end": "12:00"}
    again = api.http.get(path, headers=family["own"]).json_body
    assert again["sending_hours"] == {"start": "09:00", "end": "12:00"}


def test_the_contact_record_says_how_to_opt_back_in_and_which_sending_hours_apply(
    api: Client, family: dict[str, dict[str, str]]
) -> None:
    store = ReminderStore()
    store.set_sms_opt_out("P1", "+15555550121", True, "STOP", NOW)
    store.suppress_email("P1", "pat-a@example.test", "bounce", NOW)
    record = api.http.get("/patient/patients/PAT-A/preferences", headers=family["own"]).json_body
    by_address = {a["address"]: a for a in record["addresses"]}
    assert by_address["+15555550121"]["status"] == "opted_out"
    assert by_address["+15555550121"]["opt_in_help"] == "To get texts again, text START to (555) 555-0100."
    assert by_address["pat-a@example.test"]["status"] == "suppressed"
    assert record["sms_number"] == "(555) 555-0100"
    assert (record["sending_hours"], record["sending_hours_source"]) == ({"start": "08:00", "end": "21:00"}, "practice")
    body = json.dumps({"sending_hours": {"start": "09:00", "end": "19:30"}}).encode()
    headers = {**family["own"], "Content-Type": "application/json"}
    changed = api.http.put("/patient/patients/PAT-A/preferences", headers=headers, body=body).json_body
    assert (changed["sending_hours"], changed["sending_hours_source"]) == (
        {"start": "09:00", "end": "19:30"},
        "patient",
    )
