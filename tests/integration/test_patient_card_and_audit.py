from __future__ import annotations

from datetime import UTC, datetime

import pytest
from chalice.test import Client
from pynamodb.exceptions import PutError

from chalicelib.appointments.store import appointment_item
from chalicelib.audit.store import AuditItem
from chalicelib.patients.model import guardian_links_for
from chalicelib.patients.store import PatientStore, contact_link_item
from chalicelib.platform.deps import Deps
from chalicelib.platform.table import practice_pk
from chalicelib.practices.store import PracticeStore
from tests import factories
from tests.integration.conftest import StaffTokens


def _seed() -> None:
    PracticeStore().put(factories.maple())
    PracticeStore().put(factories.birch())
    patients = PatientStore()
    for pid in ("PAT-A", "K1", "K2"):
        patients.put("P1", factories.patient(pid, phone=f"+155555501{20 + len(pid)}"))
    for link in guardian_links_for(factories.guardian()):
        contact_link_item("P1", link).save()
    appointment_item(
        "P1", "America/New_York", factories.appointment("A1", "K1", datetime(2027, 3, 15, 13, 30, tzinfo=UTC))
    ).save()


def test_staff_read_of_a_patient_card_shows_guardians_and_visits_and_is_audited(
    api: Client, staff: StaffTokens, app_deps: Deps
) -> None:
    _seed()
    response = api.http.get("/practices/P1/patients/K1", headers=staff.headers("P1", "front_desk"))
    assert response.status_code == 200, response.body
    card = response.json_body
    assert [g["guardian_id"] for g in card["managed_by"]] == ["G1", "G1"]
    assert [a["id"] for a in card["appointments"]] == ["A1"]
    assert card["appointments"][0]["local_label"] == "Monday, March 15, 2027 at 9:30 AM EDT"

    log = api.http.get("/practices/P1/patients/K1/audit", headers=staff.headers("P1", "manager")).json_body
    assert [e["action"] for e in log["events"]] == ["patient.read"]
    assert log["events"][0]["actor_type"] == "staff"


def test_a_patient_of_another_practice_answers_404_like_a_missing_one(
    api: Client, staff: StaffTokens, app_deps: Deps
) -> None:
    _seed()
    foreign = api.http.get("/practices/P2/patients/K1", headers=staff.headers("P2"))
    missing = api.http.get("/practices/P2/patients/NOPE", headers=staff.headers("P2"))
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json_body == missing.json_body


def test_front_desk_cannot_read_the_audit_trail(api: Client, staff: StaffTokens, app_deps: Deps) -> None:
    _seed()
    response = api.http.get("/practices/P1/audit", headers=staff.headers("P1", "front_desk"))
    assert response.status_code == 403


def test_no_route_can_change_or_delete_an_audit_event() -> None:
    from app import app

    for path, methods in app.routes.items():
        if "audit" in path:
            assert set(methods) - {"OPTIONS"} == {"GET"}, path


def test_an_audit_event_is_never_overwritten(app_deps: Deps) -> None:
    from chalicelib.audit.model import AuditEvent
    from chalicelib.audit.store import AuditStore

    event = AuditEvent("e1", datetime(2027, 1, 1, tzinfo=UTC), "staff", "s1", "patient.read", "K1", "patient:K1", "api")
    store = AuditStore()
    store.append("P1", [event])
    with pytest.raises(PutError):
        store.append("P1", [event])
    assert len(list(AuditItem.query(practice_pk("P1"), AuditItem.sk.startswith("AUDIT#")))) == 1
