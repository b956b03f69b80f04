"""Two-way SMS through the SNS handler against moto (case C11)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any

from chalice.test import Client

from chalicelib.patients.model import guardian_links_for
from chalicelib.patients.store import PatientStore, contact_link_item
from chalicelib.platform.deps import Deps
from tests import factories
from tests.integration.conftest import StaffTokens
from tests.integration.test_reminder_sweep import Book, Calls, calls, maple, seed, sent_emails, sent_texts, tick, utc

__all__ = ["calls", "maple"]  # fixtures shared with the sweep tests

P1_NUMBER = "+15555550100"
PAT_B = "+15555550123"


def text_in(api: Client, body: str, sender: str = PAT_B, to: str = P1_NUMBER, message_id: str = "") -> Any:
    message = {
        "originationNumber": sender,
        "destinationNumber": to,
        "messageKeyword": "KEYWORD_123456789012",
        "messageBody": body,
        "inboundMessageId": message_id or str(uuid.uuid4()),
        "previousPublishedMessageId": "",
    }
    response = api.lambda_.invoke("inbound_sms", api.events.generate_sns_event(message=json.dumps(message)))
    assert response.payload["status"] == 200
    return response.payload


def contact(api: Client, staff: StaffTokens, patient_id: str, practice_id: str = "P1") -> dict[str, Any]:
    response = api.http.get(
        f"/practices/{practice_id}/patients/{patient_id}/contact", headers=staff.headers(practice_id)
    )
    assert response.status_code == 200, response.body
    return {a["address"]: a for a in response.json_body["addresses"]}


def inbox(api: Client, staff: StaffTokens, practice_id: str = "P1") -> list[dict[str, Any]]:
    response = api.http.get(f"/practices/{practice_id}/reminders/inbox", headers=staff.headers(practice_id))
    assert response.status_code == 200
    return list(response.json_body["items"])


def test_c11_stop_with_odd_case_and_space_opts_out_the_e164_number(
    api: Client, app_deps: Deps, maple: Book, staff: StaffTokens, calls: Calls
) -> None:
    maple.book("A1", "PAT-B", utc("2027-04-20T14:00"))
    assert text_in(api, "Stop ")["outcome"] == "opt_out"
    record = contact(api, staff, "PAT-B")
    assert record[PAT_B]["sms_opt_out"] is True and record[PAT_B]["status"] == "opted_out"
    assert "text START" in record[PAT_B]["opt_in_help"]
    tick(api, app_deps, utc("2027-04-18T14:00"))
    assert [to for to, _ in sent_texts()] == []
    assert [m.destinations["ToAddresses"] for m in sent_emails()] == [["pat.b@example.test"]]


def test_c11_cancel_opts_out_and_never_cancels_the_appointment(
    api: Client, app_deps: Deps, maple: Book, staff: StaffTokens, calls: Calls
) -> None:
    PatientStore().put("P1", factories.patient("PAT-C", phone="+15555550124"))
    maple.book("C1", "PAT-C", utc("2027-04-20T14:00"))
    text_in(api, "cancel", sender="+15555550124")
    assert app_deps.appointments.get("P1", "C1").status == "booked"  # type: ignore[union-attr]
    assert contact(api, staff, "PAT-C")["+15555550124"]["sms_opt_out"] is True
    items = inbox(api, staff)
    assert [(i["kind"], i["patient_ids"]) for i in items] == [("opt_out_follow_up", ["PAT-C"])]
    assert "No appointment was cancelled" in items[0]["text"]
    assert calls.counts.get("Publish", 0) == 0


def test_c11_free_text_that_reads_like_stop_goes_to_staff_and_opts_nothing_out(
    api: Client, maple: Book, staff: StaffTokens
) -> None:
    text_in(api, "please stop texting me thanks")
    assert contact(api, staff, "PAT-B")[PAT_B]["sms_opt_out"] is False
    assert [i["kind"] for i in inbox(api, staff)] == ["possible_opt_out"]


def test_c11_a_guardians_stop_opts_out_every_dependant(
    api: Client, app_deps: Deps, maple: Book, staff: StaffTokens, calls: Calls
) -> None:
    store = PatientStore()
    for kid in ("K1", "K2"):
        store.put("P1", dataclasses.replace(factories.patient(kid), phone="", email=""))
    for link in guardian_links_for(factories.guardian("G1", ("K1", "K2"))):
        contact_link_item("P1", link).save()
    maple.book("K1-1", "K1", utc("2027-04-20T14:00"))
    maple.book("K2-1", "K2", utc("2027-04-20T16:00"))
    text_in(api, "STOP", sender="+15555550140")
    for kid in ("K1", "K2"):
        guardian = contact(api, staff, kid)["+15555550140"]
        assert guardian["relation"] == "guardian" and guardian["sms_opt_out"] is True
    tick(api, app_deps, utc("2027-04-18T14:00"))
    assert calls.counts.get("Publish", 0) == 0
    assert [m.destinations["ToAddresses"] for m in sent_emails()] == [["g1@example.test"]]


def test_c11_another_practice_with_the_same_number_keeps_its_own_opt_out_state(
    api: Client, app_deps: Deps, maple: Book, staff: StaffTokens, calls: Calls
) -> None:
    seed(factories.birch(), factories.patient("PAT-B2", phone=PAT_B, email="pat.b2@example.test"))
    text_in(api, "STOP")  # to P1's number
    assert contact(api, staff, "PAT-B2", "P2")[PAT_B]["status"] == "active"
    Book(app_deps, factories.birch()).book("B2-1", "PAT-B2", utc("2027-04-20T16:00"))
    tick(api, app_deps, utc("2027-04-18T16:00"))
    ((to, text),) = sent_texts()
    assert to == PAT_B and text.startswith("Birch Dental:")


def test_c11_a_number_the_carrier_opted_out_is_blocked_recorded_and_emailed(
    api: Client, app_deps: Deps, maple: Book, staff: StaffTokens, calls: Calls
) -> None:
    PatientStore().put("P1", factories.patient("PAT-N", phone="+15555550199", email="pat.n@example.test"))
    maple.book("N1", "PAT-N", utc("2027-04-20T14:00"))
    tick(api, app_deps, utc("2027-04-18T14:00"))
    assert calls.counts.get("Publish", 0) == 0
    assert [m.destinations["ToAddresses"] for m in sent_emails()] == [["pat.n@example.test"]]
    record = contact(api, staff, "PAT-N")["+15555550199"]
    assert record["sms_blocked_opted_out"] is True and record["label"] == "SMS blocked (opted out)"
    history = api.http.get("/practices/P1/appointments/N1/reminders", headers=staff.headers("P1")).json_body
    two_day = next(t for t in history["touches"] if t["rule"] == "2d")
    assert two_day["status"] == "sent" and two_day["channel"] == "email"
    assert two_day["blocked"] == "SMS blocked (opted out)"


def test_c_confirms_the_next_appointment_and_thanks_the_patient(
    api: Client, app_deps: Deps, maple: Book, calls: Calls
) -> None:
    maple.book("Y1", "PAT-B", utc("2027-04-20T14:00"))
    maple.book("Y2", "PAT-B", utc("2027-05-20T14:00"))
    payload = text_in(api, "c")
    assert payload["outcome"] == "confirm"
    assert app_deps.appointments.get("P1", "Y1").status == "confirmed"  # type: ignore[union-attr]
    assert app_deps.appointments.get("P1", "Y2").status == "booked"  # type: ignore[union-attr]
    ((to, text),) = sent_texts()
    assert to == PAT_B and "You're confirmed for Tuesday, April 20, 10:00 AM EDT" in text


def test_help_answers_with_the_practice_name_and_phone(api: Client, maple: Book) -> None:
    text_in(api, "HELP")
    ((_, text),) = sent_texts()
    assert "Maple Dental" in text and "(555) 555-0100" in text


def test_a_redelivered_inbound_text_is_handled_once(api: Client, maple: Book, staff: StaffTokens) -> None:
    text_in(api, "running late", message_id="in-1")
    assert text_in(api, "running late", message_id="in-1")["outcome"] == "duplicate"
    assert len(inbox(api, staff)) == 1


def test_start_opts_back_in(api: Client, maple: Book, staff: StaffTokens) -> None:
    text_in(api, "STOP")
    text_in(api, "start")
    assert contact(api, staff, "PAT-B")[PAT_B]["status"] == "active"


def test_a_malformed_inbound_message_is_acknowledged(api: Client, app_deps: Deps) -> None:
    response = api.lambda_.invoke("inbound_sms", api.events.generate_sns_event(message="not json"))
    assert response.payload == {"status": 200, "outcome": "unreadable"}
