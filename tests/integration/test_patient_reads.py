"""The signed-in patient's own reads: profile and upcoming appointments, scoped and audited."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from chalice.test import Client
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends

from chalicelib.appointments.store import appointment_item
from chalicelib.audit.store import AuditStore
from chalicelib.patients.model import Patient, guardian_links_for
from chalicelib.patients.store import PatientStore, contact_link_item
from chalicelib.platform.deps import Deps
from chalicelib.practices.store import PracticeStore, appointment_type_item, provider_item
from tests import factories

FAMILY_PHONE = "+15555550140"
NOW = datetime(2027, 3, 10, 15, 0, tzinfo=UTC)  # the integration clock fixture


def _kid(pid: str, born: date) -> Patient:
    return dataclasses.replace(factories.patient(pid, phone="", email=f"{pid.lower()}@example.test"), birth_date=born)


def _seed_practice(practice_id: str, zone: str) -> None:
    provider_item(practice_id, factories.provider()).save()
    appointment_type_item(practice_id, factories.cleaning()).save()
    patients = PatientStore()
    patients.put(practice_id, _kid("K1", date(2016, 5, 1)))
    patients.put(practice_id, _kid("K2", date(2000, 1, 1)))
    patients.put(practice_id, factories.patient("OTHER", phone="+15555550160"))
    for link in guardian_links_for(factories.guardian("G1", ("K1", "K2"))):
        contact_link_item(practice_id, link).save()
    day = timedelta(days=1)
    for appt in (
        factories.appointment(f"{practice_id}-late", "K1", NOW + 40 * day),
        factories.appointment(f"{practice_id}-soon", "K2", NOW + 5 * day),
        factories.appointment(f"{practice_id}-past", "K1", NOW - 5 * day, status="completed"),
        factories.appointment(f"{practice_id}-cancelled", "K2", NOW + 6 * day, status="cancelled"),
        factories.appointment(f"{practice_id}-far", "K1", NOW + 500 * day),
        factories.appointment(f"{practice_id}-other", "OTHER", NOW + 2 * day),
    ):
        appointment_item(practice_id, zone, appt).save()


def _seed() -> None:
    PracticeStore().put(factories.maple())
    PracticeStore().put(factories.birch())
    _seed_practice("P1", "America/New_York")
    _seed_practice("P2", "America/Denver")  # same people and phone, another practice


def _sign_in(api: Client, practice_id: str = "P1") -> str:
    headers = {"Content-Type": "application/json"}
    body = {"practice_id": practice_id, "contact": FAMILY_PHONE}
    assert api.http.post("/patient/auth/code", headers=headers, body=json.dumps(body).encode()).status_code == 202
    texts = [t for to, t in sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages.values() if to == FAMILY_PHONE]
    found = re.search(r"\b(\d{6})\b", texts[-1])
    assert found
    response = api.http.post(
        "/patient/auth/verify", headers=headers, body=json.dumps({**body, "code": found.group(1)}).encode()
    )
    assert response.status_code == 200, response.body
    return str(response.json_body["token"])


def _get(api: Client, path: str, token: str) -> Any:
    return api.http.get(path, headers={"Authorization": f"Bearer {token}"})


def test_me_shows_the_practice_and_each_patient_with_relation_and_minor_flag(api: Client, app_deps: Deps) -> None:
    _seed()
    me = _get(api, "/patient/me", _sign_in(api))
    assert me.status_code == 200, me.body
    assert me.json_body == {
        "practice": {"id": "P1", "name": "Maple Dental", "phone": "+15555550100", "zone": "America/New_York"},
        "patients": [
            {"id": "K1", "name": "Ava Test1", "relation": "guardian", "is_minor": True, "language": "en"},
            {"id": "K2", "name": "Ava Test2", "relation": "guardian", "is_minor": False, "language": "en"},
        ],
        "language": "en",
    }


def test_upcoming_appointments_of_every_linked_patient_come_sorted_by_start(api: Client, app_deps: Deps) -> None:
    _seed()
    response = _get(api, "/patient/appointments", _sign_in(api))
    assert response.status_code == 200, response.body
    rows = response.json_body["appointments"]
    assert [r["id"] for r in rows] == ["P1-soon", "P1-late"]
    soon = rows[0]
    assert soon["patient"] == {"id": "K2", "name": "Ava Test2"}
    assert soon["type"] == {"id": "CLEAN", "name": "Cleaning"}
    assert soon["provider"] == {"id": "DR1", "name": "Dr. DR1"}
    assert soon["zone"] == "America/New_York"
    assert soon["start"] == "2027-03-15T15:00:00Z"
    assert soon["local_label"] == "Monday, March 15, 2027 at 11:00 AM EDT"


def test_every_read_is_audited_once_per_patient_as_the_guardian(api: Client, app_deps: Deps) -> None:
    _seed()
    token = _sign_in(api)
    _get(api, "/patient/me", token)
    _get(api, "/patient/appointments", token)
    for pid in ("K1", "K2"):
        events = AuditStore().for_patient("P1", pid)
        assert sorted(e.action for e in events) == ["appointments.list", "patient.read", "session.start"]
        assert {(e.actor_type, e.actor_id) for e in events} == {("patient", "G1")}
    assert AuditStore().for_patient("P1", "OTHER") == []
    assert AuditStore().for_patient("P2", "K1") == []


def test_a_session_of_practice_p1_cannot_read_anything_of_p2(api: Client, app_deps: Deps) -> None:
    _seed()
    token = _sign_in(api, "P1")
    me = _get(api, "/patient/me", token).json_body
    assert me["practice"]["id"] == "P1"
    rows = _get(api, "/patient/appointments", token).json_body["appointments"]
    assert rows and all(r["id"].startswith("P1-") for r in rows)
    # The same secret presented as a P2 session is no session at all.
    relabelled = "P2." + token.split(".", 1)[1]
    for path in ("/patient/me", "/patient/appointments"):
        assert _get(api, path, relabelled).status_code == 401
    # Nor does a P1 code open P2.
    headers = {"Content-Type": "application/json"}
    body = {"practice_id": "P1", "contact": FAMILY_PHONE}
    api.http.post("/patient/auth/code", headers=headers, body=json.dumps(body).encode())
    texts = [t for to, t in sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages.values() if to == FAMILY_PHONE]
    found = re.search(r"\b(\d{6})\b", texts[-1])
    assert found
    cross = api.http.post(
        "/patient/auth/verify",
        headers=headers,
        body=json.dumps({"practice_id": "P2", "contact": FAMILY_PHONE, "code": found.group(1)}).encode(),
    )
    assert cross.status_code == 401
    assert AuditStore().for_patient("P2", "K1") == []
