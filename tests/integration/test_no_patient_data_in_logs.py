"""No patient's name, phone (in any format), email or birth date in any log line, on every main flow.

A small demo practice (made-up people, loaded through the importer) under moto; then, through the
chalice test Client with every log record captured at DEBUG: sign-in by a one-time code, reading and
booking and cancelling, a staff CSV import (with a rejected row), the staff card views and search, the
minute tick (reminders go out by SES and SNS), inbound texts (confirm, a free-text reply, STOP), SES
bounce and complaint notices, a Stripe payment webhook (receipt email), and bad input that carries
patient data. Every line is searched for each demo person's data.

What is captured: every record of the app's own loggers at DEBUG and up, formatted as powertools
writes it (message, extra keys, exception text), and every WARNING and up of any other library. The
AWS SDK's and moto's own DEBUG wire logs are left out: they print whole requests by design and are off
unless someone turns the root logger to DEBUG, which no stage does.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends

from chalicelib.adapters.stripe_gateway import sign_webhook
from chalicelib.platform.deps import Deps
from chalicelib.platform.observability import logger as app_logger
from local import demo
from tests.integration.conftest import StaffTokens
from tests.log_leaks import leaks, needles, phone_forms

ANCHOR = date(2027, 3, 10)  # the integration clock's day
SECRET = "whsec_test_fake"
THIRD_PARTY_DEBUG = ("botocore", "boto3", "moto", "urllib3", "s3transfer", "pynamodb", "werkzeug", "faker", "PIL")
NEW_PEOPLE_CSV = (
    "PatNum,LName,FName,Birthdate,WirelessPhone,Email\n"
    "LOG-1,Quillfeather,Marisol,1983-11-23,(555) 555-0177,marisol.quill@example.test\n"
    "LOG-2,Thistlewood,Bartholomew,07/04/1979,555.555.0178,bart.thistle@example.test\n"
    "LOG-3,Brackenridge,Philippa,1991-02-30,not a phone,philippa.bracken@example\n"  # rejected: bad date, phone, email
)


class Capture(logging.Handler):
    """Every record, rendered with all its fields (extras included) and its exception text."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.powertools = io.StringIO()

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < logging.WARNING and record.name.split(".")[0] in THIRD_PARTY_DEBUG:
            return
        fields = {k: v for k, v in vars(record).items() if k not in {"args", "msg"}}
        text = json.dumps(fields, default=str)
        exc = logging.Formatter().formatException(record.exc_info) if record.exc_info else ""
        self.lines.append(f"{record.name} {record.levelname} {record.getMessage()} {text} {exc}")


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[Capture]:
    capture = Capture()
    root = logging.getLogger()
    own = app_logger._logger  # the powertools logger's stdlib logger
    stream = logging.StreamHandler(capture.powertools)
    stream.setFormatter(app_logger.registered_formatter)  # exactly the JSON powertools would print
    old_root, old_own = root.level, own.level
    root.addHandler(capture)
    own.addHandler(stream)
    if not own.propagate:
        own.addHandler(capture)
    root.setLevel(logging.DEBUG)
    own.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        own.removeHandler(stream)
        own.removeHandler(capture)
        root.setLevel(old_root)
        own.setLevel(old_own)


def csv_people() -> list[dict[str, str]]:
    rows = [r.split(",") for r in NEW_PEOPLE_CSV.splitlines()[1:]]
    return [{"family": f, "given": g, "birth": b, "phone": p, "email": e} for _, f, g, b, p, e in rows]


def _staff_get(api: Client, headers: dict[str, str], path: str) -> Any:
    response = api.http.get(path, headers=headers)
    assert response.status_code == 200, (path, response.status_code, response.body[:300])
    return response.json_body


def _post(api: Client, path: str, body: Any, headers: dict[str, str] | None = None, ctype: str = "") -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return api.http.post(path, body=raw, headers={"Content-Type": ctype or "application/json", **(headers or {})})


def _latest_code(phone: str) -> str:
    for to, text in reversed(list(sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages.values())):
        found = re.search(r"\b(\d{6})\b", text)
        if to == phone and found:
            return found.group(1)
    raise LookupError("no code was texted")


def _tick(api: Client, app_deps: Deps, at: datetime) -> None:
    app_deps.clock.at = at  # type: ignore[attr-defined]
    response = api.lambda_.invoke("tick", api.events.generate_cw_event("aws.events", "Scheduled Event", {}, []))
    assert response.payload.get("reminders") == "ok", response.payload


def _sns(api: Client, handler: str, message: dict[str, Any]) -> None:
    response = api.lambda_.invoke(handler, api.events.generate_sns_event(message=json.dumps(message)))
    assert response.payload["status"] == 200, response.payload


def test_no_patient_data_reaches_any_log_line_on_the_main_flows(
    api: Client, app_deps: Deps, staff: StaffTokens, captured: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", SECRET)
    bundle, _ = demo.demo_bundle(ANCHOR, patients=30)
    info = demo.load_demo(ANCHOR, patients=30)  # the importer, as practices use it
    pid = info.practice_id
    owner = staff.headers(pid, "owner")
    person = info.patient
    phone = person.phone

    # Sign-in with the phone as people type it, then the patient's own reads, a booking and a cancel.
    assert _post(api, "/patient/auth/code", {"practice_id": pid, "contact": phone_forms(phone)[3]}).status_code == 202
    verified = _post(api, "/patient/auth/verify", {"practice_id": pid, "contact": phone, "code": _latest_code(phone)})
    assert verified.status_code == 200, verified.body
    me = {"Authorization": f"Bearer {verified.json_body['token']}"}
    for path in ("/patient/me", "/patient/appointments", "/patient/schedule", "/patient/billing"):
        assert api.http.get(path, headers=me).status_code == 200, path
    patient_id = person.patient_ids[0]
    assert api.http.get(f"/patient/patients/{patient_id}/preferences", headers=me).status_code == 200
    booking = _staff_get(api, {}, f"/public/practices/{pid}/booking")
    type_id = next(t["id"] for t in booking["types"] if t["category"] != "hygiene")
    days = _staff_get(
        api, {}, f"/practices/{pid}/availability?date={ANCHOR + timedelta(days=14)}&days=7&type_id={type_id}"
    )
    slot = next(s for d in days["days"] for s in d["slots"])
    booked = _post(
        api,
        "/patient/appointments",
        {"patient_id": patient_id, "type_id": type_id, "provider_id": slot["provider"]["id"], "start": slot["start"]},
        me,
    )
    assert booked.status_code == 201, booked.body
    assert (
        _post(api, f"/patient/appointments/{booked.json_body['id']}/cancel", {"reason": "sick"}, me).status_code == 200
    )

    # A staff import with a rejected row, then the card views and search.
    imported = _post(api, f"/practices/{pid}/imports?kind=patients_csv", NEW_PEOPLE_CSV.encode(), owner, "text/csv")
    assert imported.status_code in {200, 201}, imported.body
    found = _staff_get(api, owner, f"/practices/{pid}/patients?q={person.name.split()[-1][:4]}")
    assert found
    for suffix in ("", "/contact", "/messages", "/family", "/audit", "/ledger", "/images"):
        _staff_get(api, owner, f"/practices/{pid}/patients/{patient_id}{suffix}")
    _staff_get(api, owner, f"/practices/{pid}/day?date={ANCHOR.isoformat()}")
    _staff_get(api, owner, f"/practices/{pid}/inbox")

    # The minute tick over two days: plans the practice, sends what is due by SES and SNS.
    start = datetime.combine(ANCHOR, datetime.min.time(), UTC) + timedelta(hours=15)
    for hours in (0, 24, 48):
        _tick(api, app_deps, start + timedelta(hours=hours))
    assert sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages, "nothing was texted: the flows did not run"

    # Inbound texts: a confirmation, a free-text message for staff, an opt-out; SES notices.
    for body in ("C", "Can I bring my son along? He is 7.", "STOP"):
        _sns(
            api,
            "inbound_sms",
            {
                "originationNumber": phone,
                "destinationNumber": "+15555550100",
                "messageBody": body,
                "inboundMessageId": f"in-{len(body)}",
                "messageKeyword": "KEYWORD",
                "previousPublishedMessageId": "",
            },
        )
    mail = {
        "timestamp": "2027-03-10T15:00:00.000Z",
        "source": "reminders@chairside.example.test",
        "messageId": "ses-log-1",
        "destination": [person.email],
        "headers": [{"name": "X-Chairside-Practice", "value": pid}],
    }
    _sns(
        api,
        "ses_feedback",
        {
            "notificationType": "Bounce",
            "mail": mail,
            "bounce": {
                "bounceType": "Transient",
                "bounceSubType": "MailboxFull",
                "feedbackId": "fb-1",
                "bouncedRecipients": [
                    {"emailAddress": person.email, "status": "4.2.2", "diagnosticCode": "smtp; 452 full"}
                ],
            },
        },
    )
    _sns(
        api,
        "ses_feedback",
        {
            "notificationType": "Complaint",
            "mail": mail,
            "complaint": {
                "complainedRecipients": [{"emailAddress": person.email}],
                "complaintFeedbackType": "abuse",
                "feedbackId": "fb-2",
            },
        },
    )

    # A Stripe payment for the patient's balance (the webhook credits the ledger and emails a receipt).
    charge = {"kind": "charge", "amount": "80.00", "posted_on": ANCHOR.isoformat()}
    assert _post(api, f"/practices/{pid}/patients/{patient_id}/ledger", charge, owner).status_code == 201
    event = {
        "id": "evt_log_1",
        "object": "event",
        "type": "payment_intent.succeeded",
        "data": {
            "object": {
                "id": "pi_log_1",
                "object": "payment_intent",
                "amount": 8000,
                "currency": "usd",
                "metadata": {"practice_id": pid, "alloc": json.dumps({patient_id: 8000})},
            }
        },
    }
    raw = json.dumps(event).encode()
    paid = api.http.post(
        "/stripe/webhook",
        body=raw,
        headers={"Content-Type": "application/json", "Stripe-Signature": sign_webhook(raw, SECRET)},
    )
    assert paid.status_code == 200, paid.body

    # Bad input that carries patient data.
    assert _post(api, "/patient/auth/code", {"practice_id": pid, "contact": person.name}).status_code in {400, 422}
    assert _post(
        api,
        f"/public/practices/{pid}/new-patient-requests",
        {"name": person.name, "phone": "555-555-01", "email": person.email, "birth_date": "1980-13-45"},
    ).status_code in {400, 422}
    assert api.http.get(f"/practices/{pid}/patients?q={person.email}", headers=owner).status_code in {200, 400, 422}

    lines = [*captured.lines, *captured.powertools.getvalue().splitlines()]
    # The capture sees the flows' own records, in both renderings (so an empty capture cannot pass).
    for message in ("sign-in code sent", "patient signed in", "import finished", "reminder sweep", "inbound SMS"):
        assert any(message in line for line in captured.lines), f"no {message!r} record: the capture is not working"
        assert message in captured.powertools.getvalue(), f"no {message!r} in the powertools JSON"
    found = leaks(lines, needles(bundle, csv_people()))
    assert not found, "patient data in the logs:\n" + "\n".join(found[:20])
