"""Every route that can make an email or SMS go out is rate-limited: generated from the route table.

``SILENT`` below lists the routes that never send; every other route must declare ``sends=`` (its limit,
chalicelib/platform/limits.py), and a route that is in neither, or in both, fails
``test_every_route_is_either_silent_or_declares_its_send_limit``. The integration conftest also fails
any test in which a message goes out while a route without ``sends=`` runs, so a route listed here as
silent that starts sending is caught too.

Each declared limit is then driven past each of its caps (per caller, per practice) with the cap set to 2:
the third call is a JSON 429 with Retry-After, and no message goes out for it. Routes bounded another
way are driven past their own bound: the sign-in code request (per contact, here) and the Stripe webhook
(one receipt per payment however often an event is delivered: test_stripe_webhook.py, C06).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from chalice.test import Client
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends

import app as _app  # noqa: F401 - registers every route
from chalicelib.appointments import links
from chalicelib.identity.model import RateRule
from chalicelib.inbox.model import Item
from chalicelib.inbox.store import InboxStore
from chalicelib.platform.api import OPERATIONS, Operation
from chalicelib.platform.deps import Deps
from chalicelib.platform.limits import SendLimit
from chalicelib.platform.secrets import token_signing_key
from tests.integration.conftest import StaffTokens, UserPool
from tests.integration.test_isolation_matrix import NOW, World, _build_world

SILENT = {
    "GET /a/{token}",
    "GET /feeds/{token}/appointments.ics",
    "GET /health",
    "GET /l/{token}",
    "GET /openapi.json",
    "GET /patient/appointments",
    "POST /patient/appointments",
    "GET /patient/appointments/{appointment_id}",
    "GET /patient/appointments/{appointment_id}/calendar.ics",
    "POST /patient/appointments/{appointment_id}/confirm",
    "POST /patient/auth/sign-out",
    "POST /patient/auth/verify",
    "GET /patient/billing",
    "DELETE /patient/calendar-feed",
    "GET /patient/calendar-feed",
    "POST /patient/calendar-feed",
    "GET /patient/images",
    "POST /patient/images/download",
    "GET /patient/images/{image_id}/download",
    "GET /patient/images/{image_id}/url",
    "GET /patient/me",
    "GET /patient/patients/{patient_id}/access-log",
    "GET /patient/patients/{patient_id}/export",
    "GET /patient/patients/{patient_id}/preferences",
    "PUT /patient/patients/{patient_id}/preferences",
    "POST /patient/payments",
    "GET /patient/referral",
    "GET /patient/schedule",
    "GET /patient/shares",
    "POST /patient/shares",
    "DELETE /patient/shares/{share_id}",
    "GET /patient/statements/{month}",
    "GET /patient/statements/{month}/print",
    "GET /patient/waitlist",
    "POST /patient/waitlist",
    "DELETE /patient/waitlist/{entry_id}",
    "GET /patients/{patient_id}/ledger",
    "GET /pay/{token}",
    "POST /pay/{token}/balance",
    "POST /pay/{token}/payments",
    "POST /pay/{token}/verify",
    "POST /payments/{payment_intent_id}/confirm",
    "POST /practices/{practice_id}/analytics/backfill",
    "GET /practices/{practice_id}/analytics/roi",
    "GET /practices/{practice_id}/analytics/summary",
    "GET /practices/{practice_id}/appointment-requests",
    "POST /practices/{practice_id}/appointments",
    "GET /practices/{practice_id}/appointments/{appointment_id}",
    "POST /practices/{practice_id}/appointments/{appointment_id}/approve",
    "POST /practices/{practice_id}/appointments/{appointment_id}/arrive",
    "POST /practices/{practice_id}/appointments/{appointment_id}/complete",
    "POST /practices/{practice_id}/appointments/{appointment_id}/confirm",
    "GET /practices/{practice_id}/appointments/{appointment_id}/reminders",
    "GET /practices/{practice_id}/audit",
    "GET /practices/{practice_id}/audit/events",
    "GET /practices/{practice_id}/audit/export",
    "GET /practices/{practice_id}/availability",
    "GET /practices/{practice_id}/closures",
    "POST /practices/{practice_id}/closures",
    "DELETE /practices/{practice_id}/closures/{closure_id}",
    "GET /practices/{practice_id}/day",
    "GET /practices/{practice_id}/feedback/comments",
    "GET /practices/{practice_id}/feedback/referrals",
    "GET /practices/{practice_id}/feedback/settings",
    "PUT /practices/{practice_id}/feedback/settings",
    "GET /practices/{practice_id}/feedback/summary",
    "GET /practices/{practice_id}/guarantors/{guarantor_id}/statements/{month}",
    "GET /practices/{practice_id}/guarantors/{guarantor_id}/statements/{month}/print",
    "POST /practices/{practice_id}/images",
    "POST /practices/{practice_id}/images/{image_id}/uploaded",
    "GET /practices/{practice_id}/images/{image_id}/url",
    "POST /practices/{practice_id}/imports",
    "GET /practices/{practice_id}/inbox",
    "POST /practices/{practice_id}/inbox/{ref}/assign",
    "POST /practices/{practice_id}/inbox/{ref}/close",
    "POST /practices/{practice_id}/ledger/import",
    "GET /practices/{practice_id}/patients",
    "GET /practices/{practice_id}/patients/{patient_id}",
    "GET /practices/{practice_id}/patients/{patient_id}/audit",
    "GET /practices/{practice_id}/patients/{patient_id}/contact",
    "GET /practices/{practice_id}/patients/{patient_id}/family",
    "GET /practices/{practice_id}/patients/{patient_id}/images",
    "GET /practices/{practice_id}/patients/{patient_id}/ledger",
    "POST /practices/{practice_id}/patients/{patient_id}/ledger",
    "GET /practices/{practice_id}/patients/{patient_id}/messages",
    "GET /practices/{practice_id}/patients/{patient_id}/payment-plans",
    "POST /practices/{practice_id}/patients/{patient_id}/payment-plans",
    "PUT /practices/{practice_id}/patients/{patient_id}/preferences",
    "POST /practices/{practice_id}/payments/{payment_intent_id}/refunds",
    "GET /practices/{practice_id}/providers/{provider_id}/availability",
    "GET /practices/{practice_id}/reminders/inbox",
    "GET /practices/{practice_id}/reminders/policy",
    "PUT /practices/{practice_id}/reminders/policy",
    "GET /practices/{practice_id}/reminders/policy/versions",
    "POST /practices/{practice_id}/search-index/patients",
    "GET /practices/{practice_id}/settings",
    "PUT /practices/{practice_id}/settings",
    "GET /practices/{practice_id}/settings/template-previews",
    "GET /practices/{practice_id}/settings/versions",
    "GET /practices/{practice_id}/staff/permissions",
    "GET /practices/{practice_id}/worklists/balances",
    "GET /practices/{practice_id}/worklists/inbox",
    "GET /practices/{practice_id}/worklists/recall",
    "GET /practices/{practice_id}/worklists/unconfirmed",
    "GET /public/practices/{practice_id}",
    "GET /public/practices/{practice_id}/booking",
    "GET /public/practices/{practice_id}/links",
    "POST /public/practices/{practice_id}/new-patient-requests",
    "GET /public/practices/{practice_id}/referrals/{code}",
    "POST /public/shares/open",
    "GET /public/surveys/{token}",
    "POST /public/surveys/{token}",
    "GET /public/unsubscribe/{token}",
    "POST /public/unsubscribe/{token}",
    "GET /staff/me",
    "POST /staff/sign-in",
}

Driver = Callable[["Drive"], Any]


def _outbox() -> int:
    return len(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages) + len(
        sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages
    )


@dataclasses.dataclass
class Drive:
    api: Client
    world: World

    def post(self, path: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
        raw = json.dumps(body if body is not None else {}).encode()
        return self.api.http.post(path, headers={"Content-Type": "application/json", **(headers or {})}, body=raw)

    @property
    def patient(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.world.owner}"}


def _inbox_ref() -> str:
    item = Item(id="limit-1", at=NOW, kind="sms_reply", address="+15555550131", patient_ids=("OWN",), text="hi")
    InboxStore().add("P1", item)
    return item.ref


def _reply(d: Drive) -> Any:
    if "ref" not in d.world.own_ids:
        d.world.own_ids["ref"] = _inbox_ref()
    ref = d.world.own_ids["ref"]
    return d.post(
        f"/practices/P1/inbox/{ref}/reply", {"channel": "sms", "text": "We can see you at 3."}, d.world.staff_home
    )


def _pay_link(d: Drive) -> Any:
    if "charged" not in d.world.own_ids:
        charge = {"kind": "charge", "amount": "50.00", "posted_on": "2027-03-01"}
        assert d.post("/practices/P1/patients/OWN/ledger", charge, d.world.staff_home).status_code == 201
        d.world.own_ids["charged"] = "yes"
    return d.post("/practices/P1/patients/OWN/pay-links", {"channel": "sms"}, d.world.staff_home)


def _link(d: Drive) -> Any:
    token = links.action_token(token_signing_key(), "P1", "A-K1", links.CONFIRM, NOW + timedelta(days=6), NOW)
    return d.post(f"/a/{token}", {})


DRIVERS: dict[tuple[str, str], Driver] = {
    ("POST", "/practices/{practice_id}/appointments/{appointment_id}/cancel"): lambda d: d.post(
        "/practices/P1/appointments/A-OWN/cancel", {}, d.world.staff_home
    ),
    ("POST", "/practices/{practice_id}/appointments/{appointment_id}/decline"): lambda d: d.post(
        "/practices/P1/appointments/A-K1/decline", {}, d.world.staff_home
    ),
    ("POST", "/practices/{practice_id}/appointments/{appointment_id}/no-show"): lambda d: d.post(
        "/practices/P1/appointments/A-OTHER/no-show", {}, d.world.staff_home
    ),
    ("POST", "/practices/{practice_id}/appointments/{appointment_id}/reschedule"): lambda d: d.post(
        "/practices/P1/appointments/A-OWN/reschedule", {"start": "2027-03-22T15:00:00Z"}, d.world.staff_home
    ),
    ("POST", "/practices/{practice_id}/providers/{provider_id}/days/{date}/cancel"): lambda d: d.post(
        "/practices/P1/providers/DR1/days/2027-03-15/cancel", {"close_day": False}, d.world.staff_home
    ),
    ("POST", "/practices/{practice_id}/inbox/{ref}/reply"): _reply,
    ("POST", "/practices/{practice_id}/patients/{patient_id}/pay-links"): _pay_link,
    ("POST", "/patient/appointments/{appointment_id}/cancel"): lambda d: d.post(
        "/patient/appointments/A-OWN/cancel", {}, d.patient
    ),
    ("POST", "/patient/appointments/{appointment_id}/reschedule"): lambda d: d.post(
        "/patient/appointments/A-OWN/reschedule", {"start": "2027-03-22T15:00:00Z"}, d.patient
    ),
    ("POST", "/a/{token}"): _link,
}


def _key(op: Operation) -> str:
    return f"{op.method} {op.path}"


LIMITED = sorted(k for k, op in OPERATIONS.items() if op.sends is not None and op.sends.rules)


def test_every_route_is_either_silent_or_declares_its_send_limit() -> None:
    unclassified = sorted(_key(op) for op in OPERATIONS.values() if op.sends is None and _key(op) not in SILENT)
    both = sorted(_key(op) for op in OPERATIONS.values() if op.sends is not None and _key(op) in SILENT)
    stale = sorted(SILENT - {_key(op) for op in OPERATIONS.values()})
    assert not unclassified, (
        "these routes are neither in SILENT (tests/integration/test_send_limits.py) nor declare a send limit; "
        f"a route that can make a message go out needs route(..., sends=limit(...)): {unclassified}"
    )
    assert not both and not stale, (both, stale)
    for op in OPERATIONS.values():
        if op.sends is not None and not op.sends.rules:
            assert op.sends.note, f"{_key(op)}: a send bound other than a rate limit must say what it is"


def test_every_rate_limited_sending_route_has_a_driver_here() -> None:
    assert sorted(DRIVERS) == LIMITED, "add a driver for each route that declares sends=limit(...)"


@pytest.fixture
def drive(api: Client, staff: StaffTokens, pool: UserPool, app_deps: Deps) -> Drive:
    return Drive(api, _build_world(staff, pool))


def _with_only(op: Operation, per: str) -> Operation:
    assert op.sends is not None
    rule = op.sends.per_caller if per == "caller" else op.sends.per_practice
    assert rule is not None, f"{_key(op)} has no per-{per} limit"
    two = RateRule(f"{rule.scope}.test", 2, rule.window)
    sends = SendLimit(per_caller=two) if per == "caller" else SendLimit(per_practice=two)
    return dataclasses.replace(op, sends=sends)


@pytest.mark.parametrize("per", ["caller", "practice"])
@pytest.mark.parametrize("key", LIMITED, ids=lambda k: f"{k[0]} {k[1]}")
def test_a_sending_route_past_its_cap_is_a_json_429_and_sends_nothing(
    key: tuple[str, str], per: str, drive: Drive, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(OPERATIONS, key, _with_only(OPERATIONS[key], per))
    for n in (1, 2):
        answer = DRIVERS[key](drive)
        assert answer.status_code != 429 and answer.status_code < 500, f"call {n}: {answer.status_code} {answer.body!r}"
    before = _outbox()
    refused = DRIVERS[key](drive)
    assert refused.status_code == 429, refused.body
    assert refused.json_body["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0
    assert _outbox() == before, "a call past the cap made a message go out"


def test_the_staff_cancel_that_is_limited_really_sends_until_the_cap(
    drive: Drive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The drivers reach real sends: a cancel tells the patient; past the cap, nothing more."""
    key = ("POST", "/practices/{practice_id}/appointments/{appointment_id}/cancel")
    monkeypatch.setitem(OPERATIONS, key, _with_only(OPERATIONS[key], "caller"))
    before = _outbox()
    assert DRIVERS[key](drive).status_code == 200
    assert _outbox() == before + 1
    assert drive.post("/practices/P1/appointments/A-K1/cancel", {}, drive.world.staff_home).status_code == 200
    assert drive.post("/practices/P1/appointments/A-OTHER/cancel", {}, drive.world.staff_home).status_code == 429
    assert _outbox() == before + 2


def test_another_staff_member_has_an_allowance_of_their_own(
    drive: Drive, staff: StaffTokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = ("POST", "/practices/{practice_id}/inbox/{ref}/reply")
    monkeypatch.setitem(OPERATIONS, key, _with_only(OPERATIONS[key], "caller"))
    for _ in range(2):
        assert _reply(drive).status_code == 200
    assert _reply(drive).status_code == 429
    drive.world.staff_home = staff.headers("P1", "front_desk")
    assert _reply(drive).status_code == 200


def test_the_sign_in_code_request_stops_sending_past_its_per_contact_limit(drive: Drive) -> None:
    body = {"practice_id": "P1", "contact": "+15555550131"}
    answers = [drive.post("/patient/auth/code", body).status_code for _ in range(5)]
    assert answers == [202] * 5
    before = _outbox()
    refused = drive.post("/patient/auth/code", body)
    assert refused.status_code == 429 and refused.json_body["error"]["code"] == "rate_limited"
    assert _outbox() == before


def test_new_patient_requests_past_the_per_contact_cap_are_a_json_429_and_reach_no_inbox(drive: Drive) -> None:
    path = "/public/practices/P1/new-patient-requests"
    body = {"name": "Nia Newman", "phone": "555-555-0123", "reason": "A cleaning"}
    assert [drive.post(path, body).status_code for _ in range(2)] == [202, 202]
    refused = drive.post(path, body)
    assert refused.status_code == 429 and refused.json_body["error"]["code"] == "rate_limited"
    items = drive.api.http.get("/practices/P1/reminders/inbox", headers=drive.world.staff_home).json_body["items"]
    assert [i["kind"] for i in items] == ["new_patient_request"] * 2
