"""The billing API under moto, with Stripe's HTTP answered by ``responses`` (never the real API)."""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
import responses
from chalice.test import Client

from chalicelib.audit.store import AuditStore
from chalicelib.billing.model import PAYMENT, REFUND
from chalicelib.billing.service import instalments_due_between
from chalicelib.platform.clock import FixedClock
from chalicelib.platform.deps import Deps
from tests import factories
from tests.integration.billing_world import STRIPE_BASE, BillingWorld, make_world
from tests.integration.conftest import StaffTokens
from tests.integration.test_hardening_races import at_once


@pytest.fixture
def world(api: Client, app_deps: Deps, staff: StaffTokens, monkeypatch: pytest.MonkeyPatch) -> BillingWorld:
    return make_world(api, app_deps, staff.headers("P1", "front_desk"), monkeypatch)


class StripeHttp:
    """Stripe's REST API as ``responses`` callbacks; keeps what each request sent."""

    def __init__(self, mock: responses.RequestsMock) -> None:
        self.requests: list[tuple[str, dict[str, list[str]], dict[str, str]]] = []
        self.intents = 0
        mock.add_callback(responses.POST, f"{STRIPE_BASE}/v1/payment_intents", callback=self._intent)
        mock.add_callback(responses.POST, f"{STRIPE_BASE}/v1/refunds", callback=self._refund)

    def _keep(self, request: Any) -> dict[str, list[str]]:
        form = parse_qs(request.body if isinstance(request.body, str) else request.body.decode())
        self.requests.append((request.url, form, dict(request.headers)))
        return form

    def _intent(self, request: Any) -> tuple[int, dict[str, str], str]:
        form = self._keep(request)
        self.intents += 1
        pi = f"pi_mock_{self.intents}"
        body = {
            "id": pi,
            "object": "payment_intent",
            "amount": int(form["amount"][0]),
            "currency": form["currency"][0],
            "client_secret": f"{pi}_secret_abc",
            "status": "requires_payment_method",
        }
        return 200, {}, json.dumps(body)

    def _refund(self, request: Any) -> tuple[int, dict[str, str], str]:
        form = self._keep(request)
        body = {
            "id": f"re_mock_{len(self.requests)}",
            "object": "refund",
            "amount": int(form["amount"][0]),
            "payment_intent": form["payment_intent"][0],
            "status": "succeeded",
        }
        return 200, {}, json.dumps(body)


@pytest.fixture
def stripe_http() -> Iterator[StripeHttp]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield StripeHttp(mock)


# --- the ledger -----------------------------------------------------------------------------------


def test_front_desk_posts_charges_and_reads_the_ledger_with_the_balance(world: BillingWorld) -> None:
    world.charge("PAT-A", "200.00")
    estimate = {"kind": "insurance_estimate", "amount": "120.00", "claim_id": "CL-1"}
    assert world.post("/practices/P1/patients/PAT-A/ledger", estimate, world.staff_headers).status_code == 201
    response = world.api.http.get("/practices/P1/patients/PAT-A/ledger", headers=world.staff_headers)
    assert response.status_code == 200
    body = response.json_body
    assert body["balance"]["owed_now_cents"] == 8000
    assert body["balance"]["pending_insurance_cents"] == 12000
    assert [x["kind"] for x in body["lines"]] == ["insurance_estimate", "charge"]
    actions = [e.action for e in AuditStore().for_patient("P1", "PAT-A")]
    assert {"ledger.write", "ledger.read"} <= set(actions)


def test_clinical_staff_cannot_post_and_another_practices_staff_sees_404(
    world: BillingWorld, staff: StaffTokens
) -> None:
    body = {"kind": "charge", "amount": "10.00"}
    clinical = world.post("/practices/P1/patients/PAT-A/ledger", body, staff.headers("P1", "clinical"))
    assert clinical.status_code == 403
    other = world.api.http.get("/practices/P1/patients/PAT-A/ledger", headers=staff.headers("P2", "owner"))
    assert other.status_code == 404


@pytest.mark.parametrize("amount", ['"10.005"', "10.005", '"-5"', "0", '"ten"', "true", "1e999999999", "1E-999999999"])
def test_amounts_that_are_not_whole_positive_cents_are_422(world: BillingWorld, amount: str) -> None:
    raw = f'{{"kind": "charge", "amount": {amount}}}'.encode()
    response = world.post("/practices/P1/patients/PAT-A/ledger", raw, world.staff_headers)
    assert response.status_code == 422, response.body
    assert world.lines("PAT-A") == []


def test_an_exact_json_number_is_read_as_a_decimal_not_a_float(world: BillingWorld) -> None:
    raw = b'{"kind": "charge", "amount": 19.99}'
    assert world.post("/practices/P1/patients/PAT-A/ledger", raw, world.staff_headers).status_code == 201
    assert world.balance("PAT-A") == 1999


def test_a_csv_import_posts_every_line_or_none(world: BillingWorld, staff: StaffTokens) -> None:
    good = (
        b"patient_id,date,kind,amount,invoice_id\nPAT-A,2027-03-01,charge,19.99,INV-9\nPAT-B,03/02/2027,charge,8.20,\n"
    )
    headers = {**staff.headers("P1", "manager"), "Content-Type": "text/csv"}
    response = world.api.http.post("/practices/P1/ledger/import", body=good, headers=headers)
    assert response.status_code == 200, response.body
    assert response.json_body == {"lines": 2, "patients": 2}
    assert (world.balance("PAT-A"), world.balance("PAT-B")) == (1999, 820)
    bad = b"patient_id,date,kind,amount\nPAT-C,2027-03-01,charge,1.00\nPAT-C,2027-03-01,charge,10.005\n"
    refused = world.api.http.post("/practices/P1/ledger/import", body=bad, headers=headers)
    assert refused.status_code == 422
    assert [r["row"] for r in refused.json_body["error"]["rows"]] == [3]
    assert world.lines("PAT-C") == []


# --- C14 case 2 -----------------------------------------------------------------------------------


def test_c14_a_patient_asking_for_another_patients_ledger_gets_the_same_404_as_for_a_missing_one(
    world: BillingWorld,
) -> None:
    world.charge("PAT-B", "50.00")
    headers = world.patient_headers("PAT-A")
    foreign = world.api.http.get("/patients/PAT-B/ledger", headers=headers)
    missing = world.api.http.get("/patients/PAT-NOPE/ledger", headers=headers)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json_body == missing.json_body
    assert "access_denied" in [e.action for e in AuditStore().for_patient("P1", "PAT-B")]
    own = world.api.http.get("/patients/PAT-A/ledger", headers=headers)
    assert own.status_code == 200


def test_a_patient_route_without_a_session_is_401(world: BillingWorld) -> None:
    assert world.api.http.get("/patient/billing").status_code == 401


# --- C10 and paying ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("patient_id", "balance", "cents"),
    [("PAT-A", "19.99", 1999), ("PAT-B", "8.20", 820), ("PAT-C", "8.29", 829), ("PAT-D", "0.57", 57)],
)
def test_c10_each_balance_becomes_a_card_payment_intent_for_its_exact_cents(
    world: BillingWorld, stripe_http: StripeHttp, patient_id: str, balance: str, cents: int
) -> None:
    world.charge(patient_id, balance)
    response = world.post("/patient/payments", {}, world.patient_headers(patient_id))
    assert response.status_code == 201, response.body
    body = response.json_body
    assert (body["amount_cents"], body["publishable_key"]) == (cents, "pk_test_fake")
    assert body["client_secret"].startswith(body["payment_intent_id"])
    url, form, headers = stripe_http.requests[-1]
    assert url == f"{STRIPE_BASE}/v1/payment_intents"
    assert form["amount"] == [str(cents)]
    assert form["payment_method_types[0]"] == ["card"]
    assert not any(k.startswith("automatic_payment_methods") for k in form)
    assert headers["Idempotency-Key"].startswith("chairside-pi-")
    assert form["metadata[practice_id]"] == ["P1"]


@pytest.mark.parametrize(
    "amount", ['"10.005"', '"0"', '"-1.00"', '"0.99"', '"20.00"', "10.005", "1e999999999", "1E-999999999"]
)
def test_a_chosen_amount_that_is_sub_cent_zero_negative_under_a_dollar_or_over_the_balance_is_422(
    world: BillingWorld, stripe_http: StripeHttp, amount: str
) -> None:
    world.charge("PAT-A", "19.99")
    response = world.post("/patient/payments", f'{{"amount": {amount}}}'.encode(), world.patient_headers("PAT-A"))
    assert response.status_code == 422, response.body
    assert stripe_http.requests == []


def test_a_stripe_network_failure_is_a_clear_409_and_the_ledger_is_untouched(world: BillingWorld) -> None:
    world.charge("PAT-A", "19.99")
    before = world.lines("PAT-A")
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{STRIPE_BASE}/v1/payment_intents", body=requests.ConnectionError("reset"))
        response = world.post("/patient/payments", {}, world.patient_headers("PAT-A"))
    assert response.status_code == 409
    assert response.json_body["error"]["code"] == "payments_unavailable"
    assert world.lines("PAT-A") == before


def test_a_card_decline_from_stripe_is_a_402_with_stripes_words(world: BillingWorld) -> None:
    world.charge("PAT-A", "19.99")
    declined = {"error": {"type": "card_error", "code": "card_declined", "message": "Your card was declined."}}
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{STRIPE_BASE}/v1/payment_intents", json=declined, status=402)
        response = world.post("/patient/payments", {}, world.patient_headers("PAT-A"))
    assert response.status_code == 402
    assert response.json_body["error"]["code"] == "card_declined"
    assert response.json_body["error"]["message"] == "Your card was declined. Nothing was charged."


def test_the_overview_separates_what_is_owed_now_from_insurance_and_lists_statement_months(
    world: BillingWorld,
) -> None:
    world.charge("K1", "50.00")
    world.charge("K2", "30.00")
    estimate = {"kind": "insurance_estimate", "amount": "20.00", "claim_id": "CL-2"}
    world.post("/practices/P1/patients/K2/ledger", estimate, world.staff_headers)
    response = world.api.http.get("/patient/billing", headers=world.patient_headers("K1", "K2", holder="G1"))
    assert response.status_code == 200
    body = response.json_body
    assert [p["balance"]["owed_now_cents"] for p in body["patients"]] == [5000, 1000]
    assert body["family"]["pending_insurance_cents"] == 2000
    assert "waiting on your insurance" in body["family"]["summary"]
    assert body["statements"] == ["2027-03"]
    assert body["publishable_key"] == "pk_test_fake"


# --- statements ---------------------------------------------------------------------------------------


def test_a_guarantors_statement_has_opening_balance_lines_payments_and_amount_due(world: BillingWorld) -> None:
    world.charge("K1", "40.00", on="2027-02-10")
    world.charge("K2", "60.00", on="2027-03-02")
    world.post(
        "/practices/P1/patients/K1/ledger",
        {"kind": "payment", "amount": "15.00", "posted_on": "2027-03-05"},
        world.staff_headers,
    )
    response = world.api.http.get("/practices/P1/guarantors/G1/statements/2027-03", headers=world.staff_headers)
    assert response.status_code == 200, response.body
    s = response.json_body
    assert (s["opening_balance_cents"], s["charges_cents"], s["payments_cents"]) == (4000, 6000, 1500)
    assert (s["closing_balance_cents"], s["amount_due_cents"]) == (8500, 8500)
    assert [x["posted_on"] for x in s["lines"]] == ["2027-03-02", "2027-03-05"]
    mine = world.api.http.get("/patient/statements/2027-03", headers=world.patient_headers("K1", "K2", holder="G1"))
    assert (mine.json_body["amount_due_cents"], mine.json_body["currency"]) == (8500, "usd")


def test_a_statement_prints_as_a_clean_html_page(world: BillingWorld) -> None:
    world.charge("PAT-A", "19.99")
    response = world.api.http.get("/patient/statements/2027-03/print", headers=world.patient_headers("PAT-A"))
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    html = response.body.decode() if isinstance(response.body, bytes) else response.body
    assert "@media print" in html and "Amount due" in html and "$19.99" in html
    assert "<script" not in html


def test_a_month_that_is_not_a_month_is_422(world: BillingWorld) -> None:
    response = world.api.http.get("/patient/statements/March", headers=world.patient_headers("PAT-A"))
    assert response.status_code == 422


# --- pay links, plans, refunds ---------------------------------------------------------------------


def test_a_texted_pay_link_checks_the_birth_date_then_starts_a_payment(
    world: BillingWorld, stripe_http: StripeHttp
) -> None:
    world.charge("PAT-A", "80.00")
    sent = world.post("/practices/P1/patients/PAT-A/pay-links", {"channel": "sms"}, world.staff_headers)
    assert sent.status_code == 201, sent.body
    url = sent.json_body["url"]
    assert url.startswith("https://web.example.test/patient/pay/#")
    assert url in world.sms.sent[-1].text
    token = url.split("#", 1)[1]
    opened = world.api.http.get(f"/pay/{token}")
    assert opened.json_body["status"] == "open"
    assert "balance" not in opened.json_body
    wrong = world.post(f"/pay/{token}/verify", {"birth_date": "1990-01-01"})
    assert (wrong.status_code, wrong.json_body["error"]["code"]) == (401, "identity_mismatch")
    ok = world.post(f"/pay/{token}/verify", {"birth_date": "1990-04-02"})
    assert ok.status_code == 200
    assert ok.json_body["amount_cents"] == 8000
    pay = world.post(f"/pay/{token}/payments", {"session": ok.json_body["session"]})
    assert pay.status_code == 201
    form = stripe_http.requests[-1][1]
    assert form["metadata[paylink_id]"] == [sent.json_body["link_id"]]
    assert world.api.http.get("/pay/not-a-token").status_code == 404


def _block(kind: str) -> None:
    from chalicelib.reminders.model import ContactPrefs
    from chalicelib.reminders.store import ReminderStore

    at = datetime(2027, 3, 1, tzinfo=UTC)
    store = ReminderStore()
    if kind == "stop":  # the number texted STOP: opt-outs are kept by E.164, the record keeps its own format
        from chalicelib.patients.store import PatientStore

        PatientStore().put("P1", factories.patient("PAT-A", phone="(555) 555-0120"))
        store.set_sms_opt_out("P1", "+15555550120", True, "STOP", at)
    elif kind == "bounce":
        store.suppress_email("P1", "pat-a@example.test", "bounce", at)
    else:
        store.save_prefs("P1", "PAT-A", ContactPrefs(channels={"billing": {"sms": False}}), "PAT-A", at)


@pytest.mark.parametrize(
    ("kind", "channel", "code"),
    [("stop", "sms", "sms_opted_out"), ("bounce", "email", "email_suppressed"), ("prefs", "sms", "billing_texts_off")],
)
def test_a_pay_link_is_never_sent_where_the_patient_opted_out_bounced_or_turned_billing_off(
    world: BillingWorld, kind: str, channel: str, code: str
) -> None:
    world.charge("PAT-A", "80.00")
    _block(kind)
    refused = world.post("/practices/P1/patients/PAT-A/pay-links", {"channel": channel}, world.staff_headers)
    assert refused.status_code == 409, refused.body
    assert refused.json_body["error"]["code"] == code
    assert refused.json_body["error"]["message"].startswith("not sent: ")
    assert world.sms.sent == [] and world.email.sent == []
    other = "email" if channel == "sms" else "sms"
    other_way = world.post("/practices/P1/patients/PAT-A/pay-links", {"channel": other}, world.staff_headers)
    assert other_way.status_code == 201, other_way.body


def _sent_link(world: BillingWorld, patient_id: str = "PAT-A") -> str:
    sent = world.post(f"/practices/P1/patients/{patient_id}/pay-links", {"channel": "sms"}, world.staff_headers)
    assert sent.status_code == 201, sent.body
    return str(sent.json_body["url"].split("#", 1)[1])


def test_a_verified_pay_session_reads_the_balance_and_sees_the_link_paid_once_the_webhook_pays_it(
    world: BillingWorld,
) -> None:
    world.charge("PAT-A", "80.00")
    token = _sent_link(world)
    opened = world.api.http.get(f"/pay/{token}").json_body
    assert opened["practice"]["zone"] == "America/New_York"
    verified = world.post(f"/pay/{token}/verify", {"birth_date": "1990-04-02"}).json_body
    assert verified["currency"] == "usd"
    session = verified["session"]
    before = world.post(f"/pay/{token}/balance", {"session": session})
    assert before.status_code == 200, before.body
    assert (before.json_body["status"], before.json_body["amount_cents"]) == ("open", 8000)
    assert before.json_body["balance"]["owed_now_cents"] == 8000

    other_token = _sent_link(world, "PAT-A")
    for body in ({}, {"session": "not-a-session"}, {"session": token}):
        refused = world.post(f"/pay/{token}/balance", body)
        assert (refused.status_code, refused.json_body["error"]["code"]) == (401, "identity_check_required"), body
    assert world.post(f"/pay/{other_token}/balance", {"session": session}).status_code == 401

    meta = {"practice_id": "P1", "alloc": '{"PAT-A":8000}'}
    event = {
        "id": "evt_link",
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_link", "amount": 8000, "metadata": meta}},
    }
    assert world.deliver(event).status_code == 200
    after = world.post(f"/pay/{token}/balance", {"session": session}).json_body
    assert (after["status"], after["amount_cents"], after["balance"]["owed_now_cents"]) == ("paid", 0, 0)
    actions = [e.action for e in AuditStore().for_patient("P1", "PAT-A")]
    assert actions.count("paylink.balance") == 2


def test_a_paid_or_expired_link_answers_410_with_the_practices_phone_and_a_forged_one_404(
    world: BillingWorld, clock: FixedClock
) -> None:
    phone = factories.maple().phone
    world.charge("PAT-A", "80.00")
    paid_token = _sent_link(world)
    meta = {"practice_id": "P1", "alloc": '{"PAT-A":8000}'}
    event = {
        "id": "evt_all",
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_all", "amount": 8000, "metadata": meta}},
    }
    assert world.deliver(event).status_code == 200
    assert world.api.http.get(f"/pay/{paid_token}").json_body["status"] == "paid"
    paid = world.post(f"/pay/{paid_token}/verify", {"birth_date": "1990-04-02"})
    assert (paid.status_code, paid.json_body["error"]["code"]) == (410, "link_paid")
    assert paid.json_body["error"]["phone"] == phone

    world.charge("PAT-A", "10.00")
    old_token = _sent_link(world)
    clock.advance(days=31)
    expired = world.api.http.get(f"/pay/{old_token}")
    assert (expired.status_code, expired.json_body["error"]["code"]) == (410, "link_expired")
    assert expired.json_body["error"]["practice"] == {"name": factories.maple().name, "phone": phone}
    forged = world.api.http.get(f"/pay/{old_token[:-4]}AAAA")
    assert forged.status_code == 404
    assert "phone" not in forged.json_body["error"]


def test_a_plan_splits_100_dollars_into_3333_3333_3334_and_the_reminder_engine_sees_them_due(
    world: BillingWorld,
) -> None:
    world.charge("PAT-A", "100.00")
    created = world.post(
        "/practices/P1/patients/PAT-A/payment-plans", {"instalments": 3, "first_due": "2027-04-01"}, world.staff_headers
    )
    assert created.status_code == 201, created.body
    plan = created.json_body["plan"]
    assert [i["amount_cents"] for i in plan["instalments"]] == [3333, 3333, 3334]
    due = instalments_due_between("P1", date(2027, 4, 1), date(2027, 5, 31))
    assert [(d.number, d.amount_due_cents, d.due_on) for d in due] == [
        (1, 3333, date(2027, 4, 1)),
        (2, 3333, date(2027, 5, 1)),
    ]
    listed = world.api.http.get("/practices/P1/patients/PAT-A/payment-plans", headers=world.staff_headers)
    assert [p["id"] for p in listed.json_body["plans"]] == [plan["id"]]


def test_an_owner_refunds_part_of_a_card_payment_and_the_front_desk_cannot(
    world: BillingWorld, stripe_http: StripeHttp, staff: StaffTokens
) -> None:
    world.charge("PAT-A", "125.00")
    meta = {"practice_id": "P1", "alloc": '{"PAT-A":12500}'}
    event = {
        "id": "evt_pay",
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_paid", "amount": 12500, "metadata": meta}},
    }
    assert world.deliver(event).status_code == 200
    denied = world.post("/practices/P1/payments/pi_paid/refunds", {"amount": "25.00"}, world.staff_headers)
    assert denied.status_code == 403
    owner = staff.headers("P1", "owner")
    done = world.post("/practices/P1/payments/pi_paid/refunds", {"amount": "25.00"}, owner)
    assert done.status_code == 201, done.body
    assert (done.json_body["refunded_cents"], done.json_body["refundable_cents"]) == (2500, 10000)
    too_much = world.post("/practices/P1/payments/pi_paid/refunds", {"amount": "100.01"}, owner)
    assert (too_much.status_code, too_much.json_body["error"]["code"]) == (422, "refund_exceeds_payment")
    assert re.match(r"^chairside-refund-", stripe_http.requests[-1][2]["Idempotency-Key"])
    kinds = [(x.kind, x.amount_cents) for x in world.lines("PAT-A") if x.kind in (PAYMENT, REFUND)]
    assert sorted(kinds) == [(PAYMENT, 12500), (REFUND, 2500)]
    assert world.balance("PAT-A") == 2500


# --- issue 5: money that must never vanish or double ----------------------------------------------


def paid_event(event_id: str, pi: str, cents: int, alloc: str) -> dict[str, Any]:
    meta = {"practice_id": "P1", "alloc": alloc}
    return {
        "id": event_id,
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": pi, "amount": cents, "metadata": meta}},
    }


def test_a_second_payment_intent_for_a_paid_balance_is_refused_at_confirm_without_asking_stripe(
    world: BillingWorld, stripe_http: StripeHttp
) -> None:
    world.charge("PAT-A", "65.00")
    headers = world.patient_headers("PAT-A")
    first = world.post("/patient/payments", {"amount": "65.00"}, headers).json_body
    second = world.post("/patient/payments", {"amount": "65.00"}, headers).json_body
    assert first["payment_intent_id"] != second["payment_intent_id"]
    assert world.deliver(paid_event("evt_first", first["payment_intent_id"], 6500, '{"PAT-A":6500}')).status_code == 200
    asked = len(stripe_http.requests)
    body = {"client_secret": second["client_secret"], "card_token": "tok_visa"}
    refused = world.post(f"/payments/{second['payment_intent_id']}/confirm", body)
    assert refused.status_code == 422, refused.body
    assert refused.json_body["error"]["code"] == "amount_exceeds_balance"
    assert "Nothing was charged" in refused.json_body["error"]["message"]
    assert len(stripe_http.requests) == asked
    again = world.post(
        f"/payments/{first['payment_intent_id']}/confirm",
        {"client_secret": first["client_secret"], "card_token": "tok_visa"},
    )
    assert (again.status_code, again.json_body["error"]["code"]) == (409, "already_paid")


def test_two_payments_of_65_that_both_got_through_show_65_as_a_credit_on_the_page(world: BillingWorld) -> None:
    world.charge("PAT-A", "65.00")
    for n in (1, 2):
        assert world.deliver(paid_event(f"evt_tab_{n}", f"pi_tab_{n}", 6500, '{"PAT-A":6500}')).status_code == 200
    page = world.api.http.get("/patient/billing", headers=world.patient_headers("PAT-A")).json_body
    assert page["family"]["credit_cents"] == 6500
    assert page["family"]["owed_now_cents"] == 0
    assert page["family"]["summary"] == "You have a credit of $65.00."
    assert sorted(x.amount_cents for x in world.lines("PAT-A") if x.kind == PAYMENT) == [6500, 6500]


class CountingRefunds:
    """Stripe's refunds endpoint for many threads at once: each call a new refund id."""

    def __init__(self, mock: responses.RequestsMock) -> None:
        self.made: list[tuple[str, int]] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        mock.add_callback(responses.POST, f"{STRIPE_BASE}/v1/refunds", callback=self._refund)

    def _refund(self, request: Any) -> tuple[int, dict[str, str], str]:
        form = parse_qs(request.body if isinstance(request.body, str) else request.body.decode())
        with self._lock:
            rid = f"re_race_{next(self._ids)}"
            self.made.append((rid, int(form["amount"][0])))
        body = {
            "id": rid,
            "object": "refund",
            "amount": int(form["amount"][0]),
            "payment_intent": form["payment_intent"][0],
            "status": "succeeded",
        }
        return 200, {}, json.dumps(body)


def test_six_refunds_of_30_at_once_on_a_65_payment_refund_at_most_what_was_paid_and_the_ledger_matches_stripe(
    world: BillingWorld, staff: StaffTokens
) -> None:
    world.charge("PAT-A", "65.00")
    assert world.deliver(paid_event("evt_paid65", "pi_paid65", 6500, '{"PAT-A":6500}')).status_code == 200
    owner = staff.headers("P1", "owner")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        stripe = CountingRefunds(mock)
        outcomes = at_once(
            6, lambda _i: world.post("/practices/P1/payments/pi_paid65/refunds", {"amount": "30.00"}, owner)
        )
    statuses = Counter(getattr(o, "status_code", type(o).__name__) for o in outcomes)
    assert statuses == {201: 2, 422: 4}, statuses
    at_stripe = sum(cents for _, cents in stripe.made)
    assert at_stripe == 6000
    refunds = [x for x in world.lines("PAT-A") if x.kind == REFUND]
    assert sum(x.amount_cents for x in refunds) == at_stripe
    assert world.balance("PAT-A") == 6000


def test_a_second_plan_for_a_balance_already_in_a_plan_is_422_and_two_at_once_make_one(world: BillingWorld) -> None:
    world.charge("PAT-A", "48.50")
    path = "/practices/P1/patients/PAT-A/payment-plans"
    body = {"instalments": 2, "first_due": "2027-04-01"}
    outcomes = at_once(3, lambda _i: world.post(path, body, world.staff_headers))
    statuses = Counter(getattr(o, "status_code", type(o).__name__) for o in outcomes)
    assert statuses == {201: 1, 422: 2}, statuses
    codes = {o.json_body["error"]["code"] for o in outcomes if o.status_code == 422}
    assert codes == {"plan_exceeds_balance"}
    again = world.post(path, body, world.staff_headers)
    assert (again.status_code, again.json_body["error"]["code"]) == (422, "plan_exceeds_balance")
    listed = world.api.http.get(path, headers=world.staff_headers).json_body["plans"]
    assert len(listed) == 1


@pytest.mark.parametrize("posted_on", ["1800-01-01", "2099-01-01"])
def test_a_ledger_line_dated_1800_or_2099_is_422_invalid_posted_on(world: BillingWorld, posted_on: str) -> None:
    body = {"kind": "charge", "amount": "10.00", "posted_on": posted_on}
    response = world.post("/practices/P1/patients/PAT-A/ledger", body, world.staff_headers)
    assert (response.status_code, response.json_body["error"]["code"]) == (422, "invalid_posted_on")
    assert world.lines("PAT-A") == []


def test_every_statement_month_the_page_lists_opens(world: BillingWorld) -> None:
    world.charge("PAT-A", "10.00", on="2000-01-01")
    world.charge("PAT-A", "10.00", on="2027-03-01")
    headers = world.patient_headers("PAT-A")
    months = world.api.http.get("/patient/billing", headers=headers).json_body["statements"]
    assert months == ["2027-03", "2000-01"]
    for month in months:
        assert world.api.http.get(f"/patient/statements/{month}", headers=headers).status_code == 200


def test_alex_paying_65_twice_with_120_pending_with_insurance_sees_a_65_dollar_credit(world: BillingWorld) -> None:
    world.charge("PAT-A", "185.00")
    estimate = {"kind": "insurance_estimate", "amount": "120.00", "claim_id": "CL-ALEX", "posted_on": "2027-03-01"}
    assert world.post("/practices/P1/patients/PAT-A/ledger", estimate, world.staff_headers).status_code == 201
    for n in (1, 2):
        assert world.deliver(paid_event(f"evt_alex_{n}", f"pi_alex_{n}", 6500, '{"PAT-A":6500}')).status_code == 200
    family = world.api.http.get("/patient/billing", headers=world.patient_headers("PAT-A")).json_body["family"]
    assert (family["owed_now_cents"], family["credit_cents"], family["pending_insurance_cents"]) == (0, 6500, 12000)
    assert family["summary"].startswith("You have a credit of $65.00.")


# --- payment plans: instalments of at least $1, paid however, a year ahead at most --------------------


PLANS = "/practices/P1/patients/PAT-A/payment-plans"


def _make_plan(world: BillingWorld, body: dict[str, Any]) -> dict[str, Any]:
    created = world.post(PLANS, body, world.staff_headers)
    assert created.status_code == 201, created.body
    return dict(created.json_body["plan"])


def _plan_link(world: BillingWorld, plan_id: str, number: int) -> Any:
    body = {"channel": "email", "plan_id": plan_id, "instalment": number}
    return world.post("/practices/P1/patients/PAT-A/pay-links", body, world.staff_headers)


def _paid_through_plan_link(event_id: str, cents: int, link_id: str, plan_id: str, number: int) -> dict[str, Any]:
    event = paid_event(event_id, f"pi_{event_id}", cents, f'{{"PAT-A":{cents}}}')
    event["data"]["object"]["metadata"] |= {"paylink_id": link_id, "plan_id": plan_id, "instalment": str(number)}
    return event


def test_a_plan_of_60_weekly_instalments_of_one_cent_is_422_instalment_too_small(world: BillingWorld) -> None:
    world.charge("PAT-A", "100.00")
    body = {"instalments": 60, "first_due": "2027-04-01", "every": "week", "amount": "1.00"}
    refused = world.post(PLANS, body, world.staff_headers)
    assert (refused.status_code, refused.json_body["error"]["code"]) == (422, "instalment_too_small")
    assert refused.json_body["error"]["message"].startswith("each instalment must be at least $1.00")
    assert world.api.http.get(PLANS, headers=world.staff_headers).json_body["plans"] == []


def test_a_first_due_date_more_than_a_year_from_today_is_422(world: BillingWorld) -> None:
    world.charge("PAT-A", "100.00")
    for first_due in ("2099-01-01", "2028-03-11"):
        refused = world.post(PLANS, {"instalments": 3, "first_due": first_due}, world.staff_headers)
        assert (refused.status_code, refused.json_body["error"]["code"]) == (422, "invalid_due_date"), first_due
        assert "2028-03-10" in refused.json_body["error"]["message"]
    assert _make_plan(world, {"instalments": 3, "first_due": "2028-03-10"})["instalments"][0]["due_on"] == "2028-03-10"


def test_the_50_cents_left_of_an_instalment_get_a_new_link_that_pays_them(
    world: BillingWorld, stripe_http: StripeHttp
) -> None:
    world.charge("PAT-A", "100.00")
    plan = _make_plan(world, {"instalments": 3, "first_due": "2027-04-01"})
    first = _plan_link(world, plan["id"], 1)
    assert first.json_body["amount_cents"] == 3333
    paid = _paid_through_plan_link("evt_part", 3283, first.json_body["link_id"], plan["id"], 1)
    assert world.deliver(paid).status_code == 200
    again = _plan_link(world, plan["id"], 1)
    assert (again.status_code, again.json_body["amount_cents"]) == (201, 50), again.body
    token = again.json_body["url"].split("#", 1)[1]
    verified = world.post(f"/pay/{token}/verify", {"birth_date": "1990-04-02"}).json_body
    assert verified["amount_cents"] == 50
    pay = world.post(f"/pay/{token}/payments", {"session": verified["session"], "amount": "0.50"})
    assert (pay.status_code, pay.json_body["amount_cents"]) == (201, 50), pay.body
    assert stripe_http.requests[-1][1]["amount"] == ["50"]


def test_paying_a_plan_link_more_than_its_instalment_is_422_naming_the_instalment(
    world: BillingWorld, stripe_http: StripeHttp
) -> None:
    world.charge("PAT-A", "65.00")
    plan = _make_plan(world, {"instalments": 2, "first_due": "2027-04-01"})
    token = _plan_link(world, plan["id"], 1).json_body["url"].split("#", 1)[1]
    verified = world.post(f"/pay/{token}/verify", {"birth_date": "1990-04-02"}).json_body
    refused = world.post(f"/pay/{token}/payments", {"session": verified["session"], "amount": "40.00"})
    assert (refused.status_code, refused.json_body["error"]) == (
        422,
        {"code": "amount_over_instalment", "message": "the amount is more than the $32.50 this instalment asks for"},
    )
    assert stripe_http.requests == []


def test_a_plan_paid_off_on_the_patient_page_reads_paid_to_staff_and_patient_and_is_due_no_more(
    world: BillingWorld,
) -> None:
    """$65 in 2 x $32.50: instalment 1 through its link, the rest with the patient page's Pay now."""
    world.charge("PAT-A", "65.00")
    plan = _make_plan(world, {"instalments": 2, "first_due": "2027-04-01"})
    link = _plan_link(world, plan["id"], 1).json_body
    assert world.deliver(_paid_through_plan_link("evt_i1", 3250, link["link_id"], plan["id"], 1)).status_code == 200
    assert world.deliver(paid_event("evt_page", "pi_page", 3250, '{"PAT-A":3250}')).status_code == 200

    [staff_view] = world.api.http.get(PLANS, headers=world.staff_headers).json_body["plans"]
    assert staff_view["due_cents"] == 0
    assert [(i["paid"], i["paid_cents"], i["covered_cents"], i["due_cents"]) for i in staff_view["instalments"]] == [
        (True, 3250, 0, 0),
        (True, 0, 3250, 0),
    ]
    page = world.api.http.get("/patient/billing", headers=world.patient_headers("PAT-A")).json_body
    assert page["family"]["summary"] == "You owe nothing now."
    assert all(i["paid"] for p in page["plans"] for i in p["instalments"])
    assert instalments_due_between("P1", date(2027, 3, 1), date(2027, 6, 1)) == []
    refused = _plan_link(world, plan["id"], 2)
    assert (refused.status_code, refused.json_body["error"]["code"]) == (422, "nothing_owed")

    world.charge("PAT-A", "40.00")  # a new visit: owed outside the settled plan, which does not stand in the way
    assert instalments_due_between("P1", date(2027, 3, 1), date(2027, 6, 1)) == []
    assert _make_plan(world, {"instalments": 2, "first_due": "2027-04-01"})["total_cents"] == 4000


def test_a_balance_partly_paid_at_the_desk_shrinks_the_plans_last_instalment_first(world: BillingWorld) -> None:
    world.charge("PAT-A", "100.00")
    _make_plan(world, {"instalments": 3, "first_due": "2027-04-01"})
    desk = world.post(
        "/practices/P1/patients/PAT-A/ledger", {"kind": "payment", "amount": "50.00"}, world.staff_headers
    )
    assert desk.status_code == 201, desk.body
    [plan] = world.api.http.get(PLANS, headers=world.staff_headers).json_body["plans"]
    assert [i["due_cents"] for i in plan["instalments"]] == [3333, 1667, 0]
    assert [i["paid"] for i in plan["instalments"]] == [False, False, True]
    due = instalments_due_between("P1", date(2027, 4, 1), date(2027, 6, 30))
    assert [(d.number, d.amount_due_cents) for d in due] == [(1, 3333), (2, 1667)]
