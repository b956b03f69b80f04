"""SES bounces and complaints through the SNS handler against moto (case C12)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.platform.deps import Deps
from tests.integration.conftest import StaffTokens
from tests.integration.test_inbound_sms import contact
from tests.integration.test_reminder_sweep import Book, Calls, calls, maple, sent_texts, tick, utc

__all__ = ["calls", "maple"]

ADDRESS = "pat.b@example.test"


def notice(kind: str, message_id: str, **detail: Any) -> dict[str, Any]:
    mail = {
        "timestamp": "2027-04-10T15:00:00.000Z",
        "source": "reminders@chairside.example.test",
        "messageId": message_id,
        "destination": [ADDRESS],
        "headersTruncated": False,
        "headers": [{"name": "X-Chairside-Practice", "value": "P1"}],
    }
    body: dict[str, Any] = {"notificationType": kind, "mail": mail}
    if kind == "Bounce":
        body["bounce"] = {
            "bounceType": detail["bounce_type"],
            "bounceSubType": detail.get("sub_type", "General"),
            "bouncedRecipients": [
                {"emailAddress": ADDRESS, "action": "failed", "status": detail["status"], "diagnosticCode": "smtp"}
            ],
            "timestamp": "2027-04-10T15:00:01.000Z",
            "feedbackId": f"fb-{message_id}",
        }
    elif kind == "Complaint":
        body["complaint"] = {
            "complainedRecipients": [{"emailAddress": ADDRESS}],
            "complaintFeedbackType": detail.get("feedback", "abuse"),
            "timestamp": "2027-04-10T15:00:01.000Z",
            "feedbackId": f"fb-{message_id}",
        }
    return body


def deliver(api: Client, body: dict[str, Any]) -> dict[str, Any]:
    response = api.lambda_.invoke("ses_feedback", api.events.generate_sns_event(message=json.dumps(body)))
    assert response.payload["status"] == 200  # every notice is acknowledged to SNS
    return dict(response.payload)


def state(api: Client, staff: StaffTokens) -> dict[str, Any]:
    return contact(api, staff, "PAT-B")[ADDRESS]


def test_c12_a_permanent_511_bounce_suppresses_and_the_next_reminder_goes_by_sms(
    api: Client, app_deps: Deps, maple: Book, staff: StaffTokens, calls: Calls
) -> None:
    deliver(api, notice("Bounce", "m-1", bounce_type="Permanent", status="5.1.1"))
    record = state(api, staff)
    assert record["email_suppressed"] is True and record["status"] == "suppressed"
    maple.book("E1", "PAT-B", utc("2027-04-20T14:00"))
    tick(api, app_deps, utc("2027-04-13T14:00"))  # the 7-day email touch
    assert calls.counts.get("SendEmail", 0) == 0
    assert [to for to, _ in sent_texts()] == ["+15555550123"]


def test_c12_a_complaint_suppresses_after_one_notice(api: Client, maple: Book, staff: StaffTokens) -> None:
    deliver(api, notice("Complaint", "m-2", feedback="abuse"))
    assert state(api, staff)["email_suppressed"] is True


def test_c12_a_mailbox_full_4_2_2_counts_one_and_email_continues(
    api: Client, app_deps: Deps, maple: Book, staff: StaffTokens, calls: Calls
) -> None:
    deliver(api, notice("Bounce", "m-3", bounce_type="Transient", sub_type="MailboxFull", status="4.2.2"))
    record = state(api, staff)
    assert record["email_suppressed"] is False and record["soft_bounces"] == 1
    maple.book("E3", "PAT-B", utc("2027-04-20T14:00"))
    tick(api, app_deps, utc("2027-04-13T14:00"))
    assert calls.counts.get("SendEmail", 0) == 1


def test_c12_a_transient_bounce_with_a_5_4_4_status_is_treated_as_permanent(
    api: Client, maple: Book, staff: StaffTokens
) -> None:
    deliver(api, notice("Bounce", "m-4", bounce_type="Transient", status="5.4.4"))
    assert state(api, staff)["email_suppressed"] is True


def test_c12_three_4_4_7_bounces_on_three_sends_suppress_after_the_third(
    api: Client, maple: Book, staff: StaffTokens
) -> None:
    for n, expected in ((1, False), (2, False), (3, True)):
        deliver(api, notice("Bounce", f"send-{n}", bounce_type="Transient", status="4.4.7"))
        record = state(api, staff)
        assert (record["soft_bounces"], record["email_suppressed"]) == (n, expected)


def test_the_same_soft_bounce_delivered_twice_counts_once(api: Client, maple: Book, staff: StaffTokens) -> None:
    for _ in range(2):
        deliver(api, notice("Bounce", "send-x", bounce_type="Transient", status="4.4.7"))
    assert state(api, staff)["soft_bounces"] == 1


@pytest.mark.parametrize("message", ["not json", "[]", json.dumps({"notificationType": "Bounce"})])
def test_a_notice_that_cannot_be_used_is_still_acknowledged(api: Client, app_deps: Deps, message: str) -> None:
    response = api.lambda_.invoke("ses_feedback", api.events.generate_sns_event(message=message))
    assert response.payload["status"] == 200
