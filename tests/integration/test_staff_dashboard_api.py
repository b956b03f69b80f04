"""The staff dashboard API against moto: patient search, family and messages, inbox, settings, audit browse."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

from chalice.test import Client
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends

from chalicelib.inbox.service import new_item
from chalicelib.inbox.store import InboxStore
from chalicelib.patients.model import guardian_links_for
from chalicelib.patients.search_store import PatientSearchIndex, SearchTokenItem
from chalicelib.patients.store import PatientStore, contact_link_item, patient_item
from chalicelib.platform.deps import Deps
from chalicelib.platform.table import practice_pk
from chalicelib.practices.store import PracticeStore
from chalicelib.reminders.model import InboxEntry
from chalicelib.reminders.store import ReminderStore
from tests import factories
from tests.integration.conftest import StaffTokens

AT = datetime(2027, 3, 10, 14, 0, tzinfo=UTC)


def _texts(to: str) -> list[str]:
    return [t for n, t in sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages.values() if n == to]


def _seed() -> None:
    PracticeStore().put(factories.maple())
    PracticeStore().put(factories.birch())
    patients = PatientStore()
    patients.put(
        "P1",
        dataclasses.replace(factories.patient("PAT-A", phone="+15555550121"), given_name="José", family_name="García"),
    )
    patients.put("P1", factories.patient("K1", phone="+15555550122"))
    patients.put("P1", factories.patient("K2", phone="+15555550123"))
    for link in guardian_links_for(factories.guardian()):
        contact_link_item("P1", link).save()


def _search(api: Client, staff: StaffTokens, q: str, practice: str = "P1", role: str = "front_desk") -> list[str]:
    response = api.http.get(f"/practices/{practice}/patients?q={q}", headers=staff.headers(practice, role))
    assert response.status_code == 200, response.body
    return [p["id"] for p in response.json_body["patients"]]


# --- search -----------------------------------------------------------------------------------------------


def test_staff_find_a_patient_by_name_start_without_accents_by_phone_or_by_email(
    api: Client, staff: StaffTokens, app_deps: Deps
) -> None:
    _seed()
    assert _search(api, staff, "garc") == ["PAT-A"]
    assert _search(api, staff, "jose%20gar") == ["PAT-A"]
    assert _search(api, staff, "(555)%20555-0121") == ["PAT-A"]
    assert _search(api, staff, "pat-a@example") == ["PAT-A"]
    assert sorted(_search(api, staff, "ava")) == ["K1", "K2"]
    assert _search(api, staff, "x") == []


def test_a_renamed_patient_is_no_longer_found_by_the_old_name(api: Client, staff: StaffTokens, app_deps: Deps) -> None:
    _seed()
    renamed = dataclasses.replace(factories.patient("K1", phone="+15555550122"), family_name="Rivera")
    PatientStore().put("P1", renamed)
    assert _search(api, staff, "rivera") == ["K1"]
    assert _search(api, staff, "testk1") == []


def test_the_back_fill_indexes_patients_written_before_the_index_existed(
    api: Client, staff: StaffTokens, app_deps: Deps
) -> None:
    PracticeStore().put(factories.maple())
    patient_item("P1", factories.patient("OLD-1", phone="+15555550131")).save()  # no index items
    assert _search(api, staff, "+15555550131") == []
    response = api.http.post("/practices/P1/search-index/patients", headers=staff.headers("P1", "manager"))
    assert response.status_code == 200 and response.json_body == {"indexed": 1}
    assert _search(api, staff, "555-0131") == ["OLD-1"]


def test_search_results_are_audited_and_staff_of_another_practice_find_nothing(
    api: Client, staff: StaffTokens, app_deps: Deps
) -> None:
    _seed()
    response = api.http.get("/practices/P1/patients?q=garcia", headers=staff.headers("P2", "owner"))
    assert response.status_code == 404
    assert _search(api, staff, "garcia", practice="P2", role="owner") == []
    _search(api, staff, "garcia")
    log = api.http.get("/practices/P1/patients/PAT-A/audit", headers=staff.headers("P1", "owner")).json_body
    assert "patient.search" in [e["action"] for e in log["events"]]


def test_index_items_live_under_the_practice_key(app_deps: Deps) -> None:
    PatientSearchIndex().index("P1", [factories.patient("K9", phone="+15555550129")])
    items = list(SearchTokenItem.query(practice_pk("P1"), SearchTokenItem.sk.startswith("FIND#")))
    assert {i.patient_id for i in items} == {"K9"}
    assert "FIND#p:15555550129#K9" in {i.sk for i in items}


# --- card parts ---------------------------------------------------------------------------------------------


def test_a_childs_family_and_messages_are_listed_for_staff(api: Client, staff: StaffTokens, app_deps: Deps) -> None:
    _seed()
    InboxStore().add("P1", new_item("sms_reply", AT, "Can we come later?", ("K1",), "+15555550140"))
    family = api.http.get("/practices/P1/patients/K1/family", headers=staff.headers("P1", "clinical"))
    assert family.status_code == 200, family.body
    assert [p["id"] for p in family.json_body["family"]] == ["K2"]
    messages = api.http.get("/practices/P1/patients/K1/messages", headers=staff.headers("P1", "clinical")).json_body
    assert [m["text"] for m in messages["received"]] == ["Can we come later?"]
    assert api.http.get("/practices/P2/patients/K1/family", headers=staff.headers("P2")).status_code == 404
    assert api.http.get("/practices/P2/patients/K1/messages", headers=staff.headers("P2")).status_code == 404


# --- inbox --------------------------------------------------------------------------------------------------


def _open(api: Client, staff: StaffTokens, role: str = "front_desk") -> list[dict[str, object]]:
    response = api.http.get("/practices/P1/inbox", headers=staff.headers("P1", role))
    assert response.status_code == 200, response.body
    items: list[dict[str, object]] = response.json_body["items"]
    return items


def test_items_from_existing_producers_show_and_can_be_assigned_replied_to_and_closed(
    api: Client, staff: StaffTokens, app_deps: Deps
) -> None:
    _seed()
    ReminderStore().add_inbox("P1", InboxEntry("r1", AT, "sms_reply", "+15555550121", ("PAT-A",), "Running late"))
    [item] = _open(api, staff)
    assert item["kind"] == "sms_reply" and item["status"] == "open" and item["version"] == 0
    ref = str(item["ref"])
    headers = staff.headers("P1", "front_desk")

    assigned = api.http.post(f"/practices/P1/inbox/{ref}/assign", headers=headers, body=b"")
    assert assigned.status_code == 200, assigned.body
    assert assigned.json_body["assigned_to"] and assigned.json_body["version"] == 1

    stale = api.http.post(
        f"/practices/P1/inbox/{ref}/close",
        headers={**headers, "Content-Type": "application/json"},
        body=b'{"version": 0}',
    )
    assert stale.status_code == 409

    reply = api.http.post(
        f"/practices/P1/inbox/{ref}/reply",
        headers={**headers, "Content-Type": "application/json"},
        body=b'{"channel": "sms", "text": "No problem, see you soon."}',
    )
    assert reply.status_code == 200, reply.body
    assert _texts("+15555550121") == ["No problem, see you soon."]
    assert [r["channel"] for r in reply.json_body["replies"]] == ["sms"]

    closed = api.http.post(f"/practices/P1/inbox/{ref}/close", headers=headers, body=b"")
    assert closed.status_code == 200 and closed.json_body["status"] == "closed"
    assert _open(api, staff) == []


def _reply(api: Client, staff: StaffTokens, ref: str, channel: str, text: str) -> Any:
    return api.http.post(
        f"/practices/P1/inbox/{ref}/reply",
        headers={**staff.headers("P1", "front_desk"), "Content-Type": "application/json"},
        body=json.dumps({"channel": channel, "text": text}).encode(),
    )


def test_a_reply_to_an_opted_out_number_is_refused_and_nothing_is_sent(
    api: Client, staff: StaffTokens, app_deps: Deps
) -> None:
    _seed()
    ReminderStore().set_sms_opt_out("P1", "+15555550121", True, "STOP", AT)
    item = new_item("possible_opt_out", AT, "please stop texting", ("PAT-A",), "+15555550121")
    InboxStore().add("P1", item)
    response = _reply(api, staff, item.ref, "sms", "Sorry!")
    assert response.status_code == 409 and response.json_body["error"]["code"] == "sms_opted_out"
    assert _texts("+15555550121") == []
    email = _reply(api, staff, item.ref, "email", "We will only email you from now on.")
    assert email.status_code == 200, email.body
    assert email.json_body["replies"][0]["to"] == "pat-a@example.test"


def test_a_text_reply_to_a_patient_whose_number_texted_stop_is_refused_whatever_format_the_record_keeps(
    api: Client, staff: StaffTokens, app_deps: Deps
) -> None:
    _seed()
    PatientStore().put("P1", factories.patient("PAT-B", phone="(555) 555-0124", email="pat.b@example.test"))
    ReminderStore().set_sms_opt_out("P1", "+15555550124", True, "STOP", AT)
    item = new_item("email_reply", AT, "Can I move my visit?", ("PAT-B",), "pat.b@example.test")
    InboxStore().add("P1", item)
    response = _reply(api, staff, item.ref, "sms", "Yes, call us.")
    assert response.status_code == 409, response.body
    assert response.json_body["error"]["code"] == "sms_opted_out"
    assert _texts("+15555550124") == []


def test_inbox_items_of_one_practice_are_not_found_by_anothers_staff_and_clinical_staff_cannot_work_it(
    api: Client, staff: StaffTokens, app_deps: Deps
) -> None:
    _seed()
    item = new_item("sms_reply", AT, "hello", ("PAT-A",), "+15555550121")
    InboxStore().add("P1", item)
    away = api.http.post(f"/practices/P2/inbox/{item.ref}/close", headers=staff.headers("P2", "owner"), body=b"")
    missing = api.http.post("/practices/P2/inbox/bm9wZQ/close", headers=staff.headers("P2", "owner"), body=b"")
    assert away.status_code == missing.status_code == 404
    assert away.json_body == missing.json_body
    assert api.http.get("/practices/P2/inbox", headers=staff.headers("P2", "owner")).json_body["items"] == []
    assert api.http.get("/practices/P1/inbox", headers=staff.headers("P1", "clinical")).status_code == 403


# --- settings -----------------------------------------------------------------------------------------------


def _put(api: Client, staff: StaffTokens, body: bytes, role: str = "owner", practice: str = "P1") -> object:
    return api.http.put(
        f"/practices/{practice}/settings",
        headers={**staff.headers(practice, role), "Content-Type": "application/json"},
        body=body,
    )


def test_a_settings_change_is_versioned_applied_to_the_practice_and_audited(
    api: Client, staff: StaffTokens, app_deps: Deps
) -> None:
    _seed()
    first = api.http.get("/practices/P1/settings", headers=staff.headers("P1", "manager")).json_body
    assert first["version"] == 0 and first["quiet_hours"] == {"start": "08:00", "end": "21:00"}
    body = b'{"version": 0, "hours": {"mon": [["09:00", "13:00"]]}, "review_links": [{"label": "Google", "url": "https://g.example.test/r"}]}'
    changed = _put(api, staff, body)
    assert changed.status_code == 200, changed.body  # type: ignore[attr-defined]
    assert changed.json_body["version"] == 1  # type: ignore[attr-defined]
    practice = PracticeStore().get("P1")
    assert practice is not None and practice.hours == {"mon": [("09:00", "13:00")]}
    assert practice.settings["review_links"] == [{"label": "Google", "url": "https://g.example.test/r"}]

    again = _put(api, staff, b'{"version": 0, "quiet_hours": {"start": "09:00", "end": "20:00"}}')
    assert again.status_code == 409  # type: ignore[attr-defined]
    versions = api.http.get("/practices/P1/settings/versions", headers=staff.headers("P1")).json_body["versions"]
    assert [(v["version"], v["sections"]) for v in versions] == [(1, ["hours", "review_links"])]
    log = api.http.get("/practices/P1/audit/events?action=settings.", headers=staff.headers("P1")).json_body
    assert [e["record"] for e in log["events"]] == ["settings:1:hours,review_links"]


def test_invalid_settings_answer_422_and_change_nothing(api: Client, staff: StaffTokens, app_deps: Deps) -> None:
    _seed()
    for body in (
        b'{"version": 0, "quiet_hours": {"start": "22:00", "end": "08:00"}}',
        b'{"version": 0, "review_links": [{"label": "x", "url": "javascript:alert(1)"}]}',
        b'{"version": 0, "payments": {"pay_link_days": 0}}',
        b'{"version": 0, "hours": {"funday": [["09:00", "10:00"]]}}',
        b'{"version": 0, "colour": "red"}',
    ):
        response = _put(api, staff, body)
        assert response.status_code == 422, body  # type: ignore[attr-defined]
    assert api.http.get("/practices/P1/settings", headers=staff.headers("P1")).json_body["version"] == 0


def test_only_owners_and_managers_change_settings_and_other_practices_get_404(
    api: Client, staff: StaffTokens, app_deps: Deps
) -> None:
    _seed()
    assert _put(api, staff, b'{"version": 0}', role="front_desk").status_code == 403  # type: ignore[attr-defined]
    assert api.http.get("/practices/P1/settings", headers=staff.headers("P2")).status_code == 404


def test_every_reminder_template_is_previewed_for_a_demo_patient_in_both_languages(
    api: Client, staff: StaffTokens, app_deps: Deps
) -> None:
    _seed()
    previews = api.http.get("/practices/P1/settings/template-previews", headers=staff.headers("P1")).json_body
    kinds = {(p["kind"], p["language"]) for p in previews["previews"]}
    assert ("reminder", "en") in kinds and ("reminder", "es") in kinds
    assert all("Maple Dental" in p["sms"] or "Maple Dental" in p["email"] for p in previews["previews"])


# --- audit --------------------------------------------------------------------------------------------------


def test_owners_filter_and_export_the_audit_trail_as_csv(api: Client, staff: StaffTokens, app_deps: Deps) -> None:
    _seed()
    api.http.get("/practices/P1/patients/K1", headers=staff.headers("P1", "front_desk"))
    api.http.get("/practices/P1/patients/K2", headers=staff.headers("P1", "front_desk"))
    only_k1 = api.http.get("/practices/P1/audit/events?patient_id=K1", headers=staff.headers("P1")).json_body
    assert [(e["action"], e["patient_id"]) for e in only_k1["events"]] == [("patient.read", "K1")]
    csv = api.http.get("/practices/P1/audit/export?action=patient.read", headers=staff.headers("P1", "manager"))
    assert csv.status_code == 200 and csv.headers["Content-Type"].startswith("text/csv")
    lines = csv.body.decode().strip().split("\r\n")
    assert lines[0] == "at,actor_type,actor_id,action,patient_id,record,source,id"
    assert len(lines) == 3
    assert api.http.get("/practices/P1/audit/export", headers=staff.headers("P1", "front_desk")).status_code == 403
    assert api.http.get("/practices/P1/audit/events", headers=staff.headers("P2")).status_code == 404
    bad = api.http.get("/practices/P1/audit/events?from=2027-03-10&to=2027-01-01", headers=staff.headers("P1"))
    assert bad.status_code == 422
