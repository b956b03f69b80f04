"""The reminder API against moto: the staff policy (versioned), contact preferences for staff and
patients, and the public unsubscribe and short links."""

from __future__ import annotations

import json
import re
from typing import Any

from chalice.test import Client
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends

from chalicelib.patients.store import PatientStore
from chalicelib.platform.deps import Deps
from chalicelib.platform.permissions import roles_for
from chalicelib.reminders.store import ReminderStore
from tests import factories
from tests.integration.conftest import StaffTokens
from tests.integration.test_reminder_sweep import Book, maple, utc

__all__ = ["maple"]

JSON = {"Content-Type": "application/json"}


def _put(api: Client, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    return api.http.put(path, headers={**JSON, **headers}, body=json.dumps(body).encode())


def _sign_in(api: Client, phone: str) -> dict[str, str]:
    body = {"practice_id": "P1", "contact": phone}
    assert api.http.post("/patient/auth/code", headers=JSON, body=json.dumps(body).encode()).status_code == 202
    texts = [t for to, t in sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages.values() if to == phone]
    code = re.search(r"\b(\d{6})\b", texts[-1])
    assert code
    response = api.http.post(
        "/patient/auth/verify", headers=JSON, body=json.dumps({**body, "code": code.group(1)}).encode()
    )
    assert response.status_code == 200, response.body
    return {"Authorization": f"Bearer {response.json_body['token']}"}


# --- policy ---------------------------------------------------------------------------------------------


def test_the_default_policy_is_served_as_version_zero(api: Client, maple: Book, staff: StaffTokens) -> None:
    response = api.http.get("/practices/P1/reminders/policy", headers=staff.headers("P1", "front_desk"))
    assert response.status_code == 200
    policy = response.json_body
    assert policy["version"] == 0
    assert [(t["key"], t["channel"]) for t in policy["touches"]] == [("7d", "email"), ("2d", "sms"), ("2h", "sms")]
    assert policy["sending_hours"] == {"start": "08:00", "end": "21:00"}


def test_an_owner_changes_the_policy_version_by_version(api: Client, maple: Book, staff: StaffTokens) -> None:
    owner = staff.headers("P1", "owner")
    body = {"version": 0, "touches": [{"key": "3d", "offset": 3, "unit": "days", "channel": "email"}]}
    first = _put(api, "/practices/P1/reminders/policy", body, owner)
    assert first.status_code == 200 and first.json_body["version"] == 1
    stale = _put(api, "/practices/P1/reminders/policy", body, owner)
    assert stale.status_code == 409
    second = _put(api, "/practices/P1/reminders/policy", {**body, "version": 1, "max_per_day": 2}, owner)
    assert second.json_body["version"] == 2 and second.json_body["max_per_day"] == 2
    versions = api.http.get("/practices/P1/reminders/policy/versions", headers=owner).json_body["versions"]
    assert [v["version"] for v in versions] == [2, 1]


def test_a_policy_that_tells_patients_to_reply_cancel_is_refused(api: Client, maple: Book, staff: StaffTokens) -> None:
    body = {"version": 0, "templates": {"reminder.sms.en": "{practice_name}: reply CANCEL to cancel"}}
    response = _put(api, "/practices/P1/reminders/policy", body, staff.headers("P1"))
    assert response.status_code == 422
    assert "carrier keyword" in response.json_body["error"]["message"]


def test_front_desk_cannot_change_the_policy_and_another_practice_cannot_see_it(
    api: Client, maple: Book, staff: StaffTokens
) -> None:
    response = _put(api, "/practices/P1/reminders/policy", {"version": 0}, staff.headers("P1", "front_desk"))
    assert response.status_code == 403
    assert api.http.get("/practices/P1/reminders/policy", headers=staff.headers("P2")).status_code == 404


# --- preferences -------------------------------------------------------------------------------------------


def test_a_patient_sets_channels_and_language_and_the_body_cannot_name_another_patient(
    api: Client, app_deps: Deps, maple: Book
) -> None:
    session = _sign_in(api, "+15555550121")  # PAT-A
    body = {"patient_id": "PAT-B", "channels": {"appointment_reminders": {"sms": False}}, "language": "es"}
    response = _put(api, "/patient/patients/PAT-A/preferences", body, session)
    assert response.status_code == 200, response.body
    assert response.json_body["patient_id"] == "PAT-A"
    assert response.json_body["language"] == "es"
    assert response.json_body["preferences"]["channels"]["appointment_reminders"] == {"email": True, "sms": False}
    other = api.http.get("/practices/P1/patients/PAT-B/contact", headers={})
    assert other.status_code == 401
    assert api.http.get("/patient/patients/PAT-B/preferences", headers=session).status_code == 404
    assert _put(api, "/patient/patients/PAT-B/preferences", {"language": "es"}, session).status_code == 404


def test_a_patients_choices_steer_the_next_reminder(api: Client, app_deps: Deps, maple: Book) -> None:
    session = _sign_in(api, "+15555550121")
    _put(api, "/patient/patients/PAT-A/preferences", {"channels": {"appointment_reminders": {"sms": False}}}, session)
    maple.book("P-1", "PAT-A", utc("2027-04-20T14:00"))
    from tests.integration.test_reminder_sweep import sent_emails, tick

    before = len(sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages)
    tick(api, app_deps, utc("2027-04-18T14:00"))
    assert len(sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages) == before
    assert [m.destinations["ToAddresses"] for m in sent_emails()] == [["pat-a@example.test"]]


def test_bad_preferences_are_a_422(api: Client, maple: Book, staff: StaffTokens) -> None:
    for body in (
        {"channels": {"marketing": {"sms": True}}},
        {"sending_hours": {"start": "22:00", "end": "07:00"}},
        {"language": "fr"},
    ):
        response = _put(api, "/practices/P1/patients/PAT-A/preferences", body, staff.headers("P1"))
        assert response.status_code == 422, body


def test_staff_see_the_contact_record_with_quiet_hours_and_languages(
    api: Client, maple: Book, staff: StaffTokens
) -> None:
    PatientStore().put("P1", factories.patient("PAT-Q", phone="+15555550150"))
    _put(
        api,
        "/practices/P1/patients/PAT-Q/preferences",
        {"sending_hours": {"start": "09:00", "end": "18:00"}},
        staff.headers("P1"),
    )
    record = api.http.get("/practices/P1/patients/PAT-Q/contact", headers=staff.headers("P1")).json_body
    assert record["preferences"]["sending_hours"] == {"start": "09:00", "end": "18:00"}
    assert {a["address"]: a["status"] for a in record["addresses"]} == {
        "+15555550150": "active",
        "pat-q@example.test": "active",
    }


def test_every_role_holding_patients_contact_changes_one_choice_and_the_rest_and_an_unsubscribe_stay(
    api: Client, maple: Book, staff: StaffTokens
) -> None:
    """What the staff card sends: only the boxes that changed. Nothing else moves, and a type the patient
    unsubscribed from by link stays unsubscribed unless staff tick its Email box."""
    PatientStore().put("P1", factories.patient("PAT-U", phone="+15555550152"))
    ReminderStore().unsubscribe_email("P1", "pat-u@example.test", "recall")
    path = "/practices/P1/patients/PAT-U/preferences"
    for n, role in enumerate(roles_for("patients.contact")):
        response = _put(api, path, {"channels": {"billing": {"sms": n % 2 == 1}}}, staff.headers("P1", role))
        assert response.status_code == 200, (role, response.body)
        channels = response.json_body["preferences"]["channels"]
        assert channels["billing"] == {"email": True, "sms": n % 2 == 1}, role
        assert channels["appointment_reminders"] == {"email": True, "sms": True}, role
        email = next(a for a in response.json_body["addresses"] if a["channel"] == "email")
        assert email["unsubscribed"] == ["recall"], role
    ticked = _put(api, path, {"channels": {"recall": {"email": True}}}, staff.headers("P1", "front_desk"))
    assert next(a for a in ticked.json_body["addresses"] if a["channel"] == "email")["unsubscribed"] == []
    assert _put(api, path, {"language": "es"}, staff.headers("P2")).status_code == 404


# --- public links --------------------------------------------------------------------------------------------


def test_unsubscribe_and_short_links_that_we_did_not_make_are_404(api: Client, app_deps: Deps) -> None:
    for path in ("/public/unsubscribe/abc.def", "/l/abc.def", "/l/x"):
        response = api.http.get(path)
        assert response.status_code == 404 and response.json_body["error"]["code"] == "not_found"
    posted = api.http.post(
        "/public/unsubscribe/abc.def",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=b"List-Unsubscribe=One-Click",
    )
    assert posted.status_code == 404
