"""Billing use cases with in-memory twins: payments, the webhook (C06, C08), pay links, plans, refunds, import."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from chalicelib.adapters.messaging import MemoryEmailSender, MemorySmsSender
from chalicelib.adapters.stripe_gateway import (
    CardDeclined,
    FakeGateway,
    GatewayRejected,
    GatewayUnavailable,
    sign_webhook,
)
from chalicelib.audit.service import Auditor, MemoryAuditLog
from chalicelib.billing.memory import MemoryBillingStore
from chalicelib.billing.model import PAYMENT, REFUND, balance_of, invoice_balance
from chalicelib.billing.service import Billing
from chalicelib.identity.memory import MemoryRates
from chalicelib.patients.model import ContactLink, Patient, contact_links_for, guardian_links_for
from chalicelib.platform.auth import PatientCaller
from chalicelib.platform.clock import FixedClock
from chalicelib.platform.errors import ApiError, NotFound
from chalicelib.practices.model import Practice
from tests import factories

KEY = b"unit-test-key"
NOW = datetime(2027, 3, 10, 15, 0, tzinfo=UTC)
SECRET = "whsec_test_fake"


class FakePatients:
    def __init__(self) -> None:
        self.by_id: dict[tuple[str, str], Patient] = {}
        self.links: dict[tuple[str, str], list[ContactLink]] = {}

    def add(self, practice_id: str, p: Patient) -> Patient:
        self.by_id[(practice_id, p.id)] = p
        for link in contact_links_for(p):
            self.links.setdefault((practice_id, p.id), []).append(link)
        return p

    def get(self, practice_id: str, patient_id: str) -> Patient | None:
        return self.by_id.get((practice_id, patient_id))

    def get_many(self, practice_id: str, patient_ids: list[str]) -> list[Patient]:
        return [self.by_id[(practice_id, i)] for i in dict.fromkeys(patient_ids) if (practice_id, i) in self.by_id]

    def links_for_patient(self, practice_id: str, patient_id: str) -> list[ContactLink]:
        return list(self.links.get((practice_id, patient_id), []))


class FakePractices:
    def __init__(self, *practices: Practice) -> None:
        self.by_id = {p.id: p for p in practices}

    def get(self, practice_id: str) -> Practice | None:
        return self.by_id.get(practice_id)


@dataclass
class World:
    billing: Billing
    store: MemoryBillingStore
    patients: FakePatients
    practices: FakePractices
    gateway: FakeGateway
    email: MemoryEmailSender
    sms: MemorySmsSender
    audit: MemoryAuditLog
    clock: FixedClock
    staff: str = "staff-1"
    events: list[Any] = field(default_factory=list)

    def charge(self, patient_id: str, amount: str, invoice: str = "", on: str = "2027-03-01") -> None:
        self.billing.post_line(
            "P1", patient_id, {"kind": "charge", "amount": amount, "invoice_id": invoice, "posted_on": on}, self.staff
        )

    def balance(self, patient_id: str) -> int:
        return balance_of(self.store.lines_for("P1", patient_id)).total_cents

    def deliver(self, event: dict[str, Any], secret: str = SECRET, at: int | None = None) -> str:
        raw = json.dumps(event).encode()
        return self.billing.handle_webhook(raw, sign_webhook(raw, secret, at)).outcome


@pytest.fixture
def world() -> World:
    store = MemoryBillingStore()
    patients = FakePatients()
    practices = FakePractices(factories.maple(), factories.birch())
    for pid in ("PAT-A", "PAT-B", "K1", "K2"):
        patients.add("P1", factories.patient(pid, phone=f"+1555555012{len(patients.by_id) + 1}"))
    gateway = FakeGateway(webhook_secret=SECRET)
    email, sms, audit = MemoryEmailSender(), MemorySmsSender(), MemoryAuditLog()
    clock = FixedClock(NOW)
    billing = Billing(
        store=store,
        patients=patients,
        practices=practices,
        gateway=gateway,
        email=email,
        sms=sms,
        auditor=Auditor(audit, clock),
        clock=clock,
        rates=MemoryRates(),
        key=KEY,
        web_base_url="https://pay.example.test",
    )
    return World(billing, store, patients, practices, gateway, email, sms, audit, clock)


def session(*patient_ids: str, holder: str = "PAT-A") -> PatientCaller:
    return PatientCaller("P1", "sess-1", holder, patient_ids)


def succeeded(event_id: str, pi: str, amount: int, metadata: dict[str, str]) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "payment_intent.succeeded",
        "created": int(NOW.timestamp()),
        "data": {
            "object": {"id": pi, "object": "payment_intent", "amount": amount, "currency": "usd", "metadata": metadata}
        },
    }


def actions(world: World) -> list[str]:
    return [e.action for _, e in world.audit.events]


# --- C06: duplicate Stripe deliveries -----------------------------------------------------------

C06 = succeeded("evt_test_001", "pi_test_001", 12500, {"practice_id": "P1", "invoice_id": "INV-1001"})
C06_CHARGE = {
    "id": "evt_test_002",
    "type": "charge.succeeded",
    "created": int(NOW.timestamp()),
    "data": {"object": {"id": "ch_test_001", "payment_intent": "pi_test_001", "amount": 12500, "status": "succeeded"}},
}


def test_c06_an_event_posted_twice_then_from_two_threads_then_its_charge_pays_once(world: World) -> None:
    world.charge("PAT-A", "125.00", invoice="INV-1001")
    assert world.deliver(C06) == "applied"
    assert world.deliver(C06) == "duplicate"
    outcomes: list[str] = []
    gate = threading.Barrier(2)

    def again() -> None:
        gate.wait()
        outcomes.append(world.deliver(C06))

    threads = [threading.Thread(target=again) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes == ["duplicate", "duplicate"]
    assert world.deliver(C06_CHARGE) == "applied"  # recorded, and nothing changes
    payments = [x for x in world.store.lines_for("P1", "PAT-A") if x.kind == PAYMENT]
    assert [(x.amount_cents, x.payment_intent_id) for x in payments] == [(12500, "pi_test_001")]
    assert invoice_balance(world.store.lines_for("P1", "PAT-A"), "INV-1001") == 0
    assert world.balance("PAT-A") == 0
    assert len(world.email.sent) == 1
    assert "$125.00" in world.email.sent[0].text


def test_c06_two_first_deliveries_at_once_still_pay_once(world: World) -> None:
    world.charge("PAT-A", "125.00", invoice="INV-1001")
    gate = threading.Barrier(2)
    outcomes: list[str] = []

    def deliver() -> None:
        gate.wait()
        outcomes.append(world.deliver(C06))

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["applied", "duplicate"]
    assert [x.amount_cents for x in world.store.lines_for("P1", "PAT-A") if x.kind == PAYMENT] == [12500]
    assert len(world.email.sent) == 1


def test_a_charge_event_arriving_before_its_payment_intent_event_pays_the_same_once(world: World) -> None:
    world.charge("PAT-A", "125.00", invoice="INV-1001")
    early = json.loads(json.dumps(C06_CHARGE))
    early["data"]["object"]["metadata"] = {"practice_id": "P1", "invoice_id": "INV-1001"}
    assert world.deliver(early) == "applied"
    assert world.deliver(C06) == "applied"
    assert [x.amount_cents for x in world.store.lines_for("P1", "PAT-A") if x.kind == PAYMENT] == [12500]
    assert world.balance("PAT-A") == 0
    assert len(world.email.sent) == 1


def test_a_receipt_that_failed_to_send_goes_with_the_next_delivery(world: World) -> None:
    world.charge("PAT-A", "125.00", invoice="INV-1001")

    class Down:
        def send(self, message: Any) -> str:
            raise RuntimeError("SES down")

    world.billing.email = Down()
    world.deliver(C06)
    world.billing.email = world.email
    world.deliver(C06_CHARGE)
    assert len(world.email.sent) == 1


def test_unknown_event_types_answer_and_change_nothing(world: World) -> None:
    event = {"id": "evt_x", "type": "customer.created", "data": {"object": {"id": "cus_1"}}}
    assert world.deliver(event) == "ignored"
    assert world.store.events == set()


def test_an_event_for_a_practice_we_do_not_have_is_ignored(world: World) -> None:
    assert world.deliver(succeeded("evt_9", "pi_9", 100, {"practice_id": "NOPE"})) == "ignored"


# --- C08: the signature on the raw body ---------------------------------------------------------

C08_RAW = (
    b'{"id":"evt_test_003",  "type":"payment_intent.succeeded","data":{"object":{"id":"pi_test_003","amount":4200,'
    b'"currency":"usd","metadata":{"practice_id":"P1","invoice_id":"INV-1003","memo":"caf\\u00e9"}}}}'
)


def test_c08a_a_correctly_signed_raw_body_pays_4200(world: World) -> None:
    world.charge("PAT-B", "42.00", invoice="INV-1003")
    done = world.billing.handle_webhook(C08_RAW, sign_webhook(C08_RAW, SECRET))
    assert done.outcome == "applied"
    assert [x.amount_cents for x in world.store.lines_for("P1", "PAT-B") if x.kind == PAYMENT] == [4200]


@pytest.mark.parametrize(
    ("variant", "body", "header"),
    [
        ("b: amount changed to 4300", C08_RAW.replace(b"4200", b"4300"), lambda: sign_webhook(C08_RAW, SECRET)),
        ("c: signed ten minutes ago", C08_RAW, lambda: sign_webhook(C08_RAW, SECRET, int(time.time()) - 600)),
        ("d: no signature header", C08_RAW, lambda: None),
        ("e: another secret", C08_RAW, lambda: sign_webhook(C08_RAW, "whsec_other")),
        ("re-serialised body", json.dumps(json.loads(C08_RAW)).encode(), lambda: sign_webhook(C08_RAW, SECRET)),
    ],
)
def test_c08_a_body_whose_signature_does_not_check_out_is_400_and_writes_nothing(
    world: World, variant: str, body: bytes, header: Any
) -> None:
    world.charge("PAT-B", "42.00", invoice="INV-1003")
    before = dict(world.store.lines)
    with pytest.raises(ApiError) as refused:
        world.billing.handle_webhook(body, header())
    assert (refused.value.status, refused.value.code) == (400, "invalid_signature")
    assert world.store.lines == before
    assert world.store.events == set() and world.store.intents == {}
    assert world.email.sent == []


# --- C10 and starting payments -------------------------------------------------------------------


@pytest.mark.parametrize(("balance", "cents"), [("19.99", 1999), ("8.20", 820), ("8.29", 829), ("0.57", 57)])
def test_c10_a_payment_intent_for_the_balance_asks_stripe_for_exact_cents(
    world: World, balance: str, cents: int
) -> None:
    world.charge("PAT-A", balance)
    start = world.billing.start_payment(session("PAT-A"), None, None)
    assert start.amount_cents == cents
    assert world.gateway.intents[-1]["amount"] == cents
    assert isinstance(world.gateway.intents[-1]["amount"], int)


def test_every_payment_intent_create_carries_an_idempotency_key_and_a_repeat_reuses_it(world: World) -> None:
    world.charge("PAT-A", "50.00")
    first = world.billing.start_payment(session("PAT-A"), None, 2000)
    again = world.billing.start_payment(session("PAT-A"), None, 2000)
    other = world.billing.start_payment(session("PAT-A"), None, 2500)
    assert first.payment_intent_id == again.payment_intent_id != other.payment_intent_id
    assert all(i["key"].startswith("chairside-pi-") for i in world.gateway.intents)
    assert world.gateway.intents[0]["metadata"] == {
        "practice_id": "P1",
        "alloc": '{"PAT-A":2000}',
        "source": "patient",
    }
    assert start_is_for_card(world)


def start_is_for_card(world: World) -> bool:
    return all(i["currency"] == "usd" for i in world.gateway.intents)


def test_a_family_pays_everyones_balance_in_one_payment(world: World) -> None:
    world.charge("K1", "50.00")
    world.charge("K2", "25.00")
    start = world.billing.start_payment(session("K1", "K2", holder="G1"), None, None)
    assert (start.amount_cents, start.allocation) == (7500, [("K1", 5000), ("K2", 2500)])
    world.deliver(succeeded("evt_f", start.payment_intent_id, 7500, world.gateway.intents[-1]["metadata"]))
    assert (world.balance("K1"), world.balance("K2")) == (0, 0)


@pytest.mark.parametrize(
    ("amount", "code"),
    [(0, "invalid_amount"), (-100, "invalid_amount"), (5001, "amount_over_balance"), (99, "amount_too_small")],
)
def test_amounts_out_of_bounds_are_422_and_nothing_is_asked_of_stripe(world: World, amount: int, code: str) -> None:
    world.charge("PAT-A", "50.00")
    with pytest.raises(ApiError) as refused:
        world.billing.start_payment(session("PAT-A"), None, amount)
    assert (refused.value.status, refused.value.code) == (422, code)
    assert world.gateway.intents == []


def test_a_patient_of_another_family_is_404_and_audited_as_access_denied(world: World) -> None:
    world.charge("PAT-B", "50.00")
    with pytest.raises(NotFound):
        world.billing.patient_ledger(session("PAT-A"), "PAT-B")
    with pytest.raises(NotFound):
        world.billing.start_payment(session("PAT-A"), ["PAT-B"], None)
    with pytest.raises(NotFound) as missing:
        world.billing.patient_ledger(session("PAT-A", "PAT-Z"), "PAT-Z")
    assert missing.value.message == "no such patient"
    assert actions(world).count("access_denied") == 2
    assert world.gateway.intents == []


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [
        (CardDeclined("Your card was declined", "card_declined"), 402, "card_declined"),
        (GatewayUnavailable("connection reset"), 409, "payments_unavailable"),
    ],
)
def test_stripe_failures_give_a_clear_4xx_and_leave_the_ledger_untouched(
    world: World, failure: Exception, status: int, code: str
) -> None:
    world.charge("PAT-A", "50.00")
    before = dict(world.store.lines)
    world.gateway.fail_with = failure  # type: ignore[assignment]
    with pytest.raises(ApiError) as refused:
        world.billing.start_payment(session("PAT-A"), None, None)
    assert (refused.value.status, refused.value.code) == (status, code)
    assert "nothing was charged" in refused.value.message.lower()
    assert world.store.lines == before


# --- refunds ------------------------------------------------------------------------------------


def paid(world: World, pi: str = "pi_r", cents: int = 12500) -> None:
    world.charge("PAT-A", f"{cents // 100}.{cents % 100:02d}")
    world.deliver(succeeded(f"evt_{pi}", pi, cents, {"practice_id": "P1", "patient_id": "PAT-A"}))


def test_partial_refunds_add_up_and_cannot_pass_what_was_paid(world: World) -> None:
    paid(world)
    first = world.billing.refund("P1", "pi_r", 3000, world.staff)
    second = world.billing.refund("P1", "pi_r", 2000, world.staff)
    assert (first.refunded_cents, second.refunded_cents, second.refundable_cents) == (3000, 5000, 7500)
    with pytest.raises(ApiError) as over:
        world.billing.refund("P1", "pi_r", 7501, world.staff)
    assert over.value.code == "refund_exceeds_payment"
    rest = world.billing.refund("P1", "pi_r", None, world.staff)
    assert (rest.amount_cents, rest.refundable_cents) == (7500, 0)
    with pytest.raises(ApiError) as done:
        world.billing.refund("P1", "pi_r", None, world.staff)
    assert done.value.code == "nothing_to_refund"
    assert [x.amount_cents for x in world.store.lines_for("P1", "PAT-A") if x.kind == REFUND] == [3000, 2000, 7500]
    assert world.balance("PAT-A") == 12500
    assert all(r["key"] for r in world.gateway.refunds)


def test_stripes_own_report_of_a_refund_we_made_does_not_refund_twice(world: World) -> None:
    paid(world)
    made = world.billing.refund("P1", "pi_r", 3000, world.staff)
    refund_obj = {"id": made.refund_id, "payment_intent": "pi_r", "amount": 3000, "status": "succeeded"}
    world.deliver({"id": "evt_rf", "type": "refund.created", "data": {"object": refund_obj}})
    charge = {"id": "ch_r", "payment_intent": "pi_r", "amount": 12500, "amount_refunded": 3000, "status": "succeeded"}
    world.deliver({"id": "evt_cr", "type": "charge.refunded", "data": {"object": charge}})
    assert [x.amount_cents for x in world.store.lines_for("P1", "PAT-A") if x.kind == REFUND] == [3000]


def test_a_refund_stripe_cannot_make_leaves_the_ledger_untouched(world: World) -> None:
    paid(world)
    before = dict(world.store.lines)
    world.gateway.fail_with = GatewayUnavailable("timeout")
    with pytest.raises(ApiError) as refused:
        world.billing.refund("P1", "pi_r", 100, world.staff)
    assert refused.value.status == 409
    assert world.store.lines == before


def test_a_refund_of_an_unknown_payment_is_404(world: World) -> None:
    with pytest.raises(NotFound):
        world.billing.refund("P1", "pi_nope", None, world.staff)


def test_a_refund_shows_on_the_statement(world: World) -> None:
    paid(world)
    world.billing.refund("P1", "pi_r", 2500, world.staff)
    view = world.billing.patient_statement(session("PAT-A"), "2027-03")
    assert view.statement.totals.refunds_cents == 2500
    assert view.statement.amount_due_cents == 2500


# --- pay links ----------------------------------------------------------------------------------


def token_of(url: str) -> str:
    return url.split("#", 1)[1]


def test_a_pay_link_is_texted_checks_the_birth_date_and_stops_once_paid(world: World) -> None:
    world.charge("PAT-A", "80.00")
    sent = world.billing.send_pay_link("P1", "PAT-A", "sms", None, world.staff)
    assert sent.url.startswith("https://pay.example.test/patient/pay/#")
    assert sent.url in world.sms.sent[0].text and "$80.00" in world.sms.sent[0].text
    assert sent.link.expires_at == int((NOW + timedelta(days=30)).timestamp())
    token = token_of(sent.url)
    assert world.billing.open_link(token).status == "open"
    with pytest.raises(ApiError) as wrong:
        world.billing.verify_link(token, "1990-04-03")
    assert (wrong.value.status, wrong.value.code) == (401, "identity_mismatch")
    ok = world.billing.verify_link(token, "1990-04-02")
    assert ok.amount_cents == 8000
    start = world.billing.pay_link(token, ok.session, None)
    meta = world.gateway.intents[-1]["metadata"]
    assert (start.amount_cents, meta["paylink_id"], meta["source"]) == (8000, sent.link.id, "paylink")
    world.deliver(succeeded("evt_pl", start.payment_intent_id, 8000, meta))
    assert world.billing.open_link(token).status == "paid"
    with pytest.raises(ApiError) as closed:
        world.billing.verify_link(token, "1990-04-02")
    assert (closed.value.status, closed.value.code) == (410, "link_paid")


def test_a_verified_pay_session_follows_the_balance_until_the_webhook_has_paid_a_part_payment(world: World) -> None:
    world.charge("PAT-A", "80.00")
    token = token_of(world.billing.send_pay_link("P1", "PAT-A", "sms", None, world.staff).url)
    ok = world.billing.verify_link(token, "1990-04-02")
    start = world.billing.pay_link(token, ok.session, 3000)
    before = world.billing.link_balance(token, ok.session)
    assert (before.status, before.amount_cents, before.balance.owed_now_cents) == ("open", 8000, 8000)
    world.deliver(succeeded("evt_part", start.payment_intent_id, 3000, world.gateway.intents[-1]["metadata"]))
    after = world.billing.link_balance(token, ok.session)
    assert (after.status, after.amount_cents, after.balance.owed_now_cents) == ("open", 5000, 5000)
    world.billing.post_line("P1", "PAT-A", {"kind": "payment", "amount": "50.00"}, world.staff)
    paid = world.billing.link_balance(token, ok.session)
    assert (paid.status, paid.amount_cents, paid.balance.owed_now_cents) == ("paid", 0, 0)
    assert actions(world).count("paylink.balance") == 3
    with pytest.raises(ApiError) as refused:
        world.billing.link_balance(token, None)
    assert (refused.value.status, refused.value.code) == (401, "identity_check_required")


def test_a_closed_link_names_the_practice_to_call_and_a_decline_reads_as_one_sentence(world: World) -> None:
    world.charge("PAT-A", "80.00")
    token = token_of(world.billing.send_pay_link("P1", "PAT-A", "sms", None, world.staff).url)
    world.clock.advance(days=31)
    with pytest.raises(ApiError) as gone:
        world.billing.open_link(token)
    body = gone.value.body()["error"]
    assert (body["code"], body["phone"]) == ("link_expired", factories.maple().phone)
    world.clock.advance(days=-31)
    world.charge("PAT-B", "20.00")
    world.gateway.fail_with = CardDeclined("Your card was declined.", "card_declined")
    with pytest.raises(ApiError) as declined:
        world.billing.start_payment(session("PAT-B", holder="PAT-B"), None, None)
    assert declined.value.message == "Your card was declined. Nothing was charged."


def test_a_pay_link_stops_when_the_balance_is_paid_some_other_way(world: World) -> None:
    world.charge("PAT-A", "80.00")
    token = token_of(world.billing.send_pay_link("P1", "PAT-A", "email", None, world.staff).url)
    world.billing.post_line("P1", "PAT-A", {"kind": "payment", "amount": "80.00"}, world.staff)
    assert world.billing.open_link(token).status == "paid"


def test_a_pay_link_lasts_the_practices_setting_then_answers_410(world: World) -> None:
    world.practices.by_id["P1"] = replace(factories.maple(), settings={"pay_link_days": 7})
    world.charge("PAT-A", "80.00")
    token = token_of(world.billing.send_pay_link("P1", "PAT-A", "sms", None, world.staff).url)
    world.clock.advance(days=6, hours=23)
    assert world.billing.open_link(token).status == "open"
    world.clock.advance(hours=1)
    with pytest.raises(ApiError) as gone:
        world.billing.open_link(token)
    assert (gone.value.status, gone.value.code) == (410, "link_expired")


def test_wrong_birth_dates_are_rate_limited_per_link(world: World) -> None:
    world.charge("PAT-A", "80.00")
    token = token_of(world.billing.send_pay_link("P1", "PAT-A", "sms", None, world.staff).url)
    for _ in range(5):
        with pytest.raises(ApiError):
            world.billing.verify_link(token, "2000-01-01")
    with pytest.raises(ApiError) as limited:
        world.billing.verify_link(token, "1990-04-02")
    assert limited.value.status == 429
    assert actions(world).count("paylink.verify_failed") == 5


def test_a_forged_or_tampered_link_is_404_and_a_session_for_another_link_is_refused(world: World) -> None:
    world.charge("PAT-A", "80.00")
    token = token_of(world.billing.send_pay_link("P1", "PAT-A", "sms", None, world.staff).url)
    other = token_of(world.billing.send_pay_link("P1", "PAT-A", "sms", None, world.staff).url)
    with pytest.raises(NotFound):
        world.billing.open_link(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    session_for_other = world.billing.verify_link(other, "1990-04-02").session
    with pytest.raises(ApiError) as refused:
        world.billing.pay_link(token, session_for_other, None)
    assert refused.value.code == "identity_check_required"
    with pytest.raises(ApiError):
        world.billing.pay_link(token, token, None)  # a link is not a session


def test_a_pay_link_needs_a_birth_date_on_file_and_a_contact(world: World) -> None:
    world.patients.add("P1", replace(factories.patient("PAT-N"), birth_date=None))
    world.charge("PAT-N", "10.00")
    with pytest.raises(ApiError) as refused:
        world.billing.send_pay_link("P1", "PAT-N", "sms", None, world.staff)
    assert refused.value.code == "birth_date_required"


def test_a_childs_pay_link_goes_to_the_guardian(world: World) -> None:
    world.patients.add("P1", replace(factories.patient("K9"), phone="", email=""))
    g = factories.guardian(patient_ids=("K9",))
    for link in guardian_links_for(g):
        world.patients.links.setdefault(("P1", link.patient_id), []).append(link)
    world.charge("K9", "10.00")
    sent = world.billing.send_pay_link("P1", "K9", "sms", None, world.staff)
    assert world.sms.sent[-1].to == g.phone
    assert sent.sent_to == "***0140"


# --- payment plans --------------------------------------------------------------------------------


def test_a_plan_splits_the_balance_and_each_instalment_is_payable_by_link(world: World) -> None:
    world.charge("PAT-A", "100.00")
    plan = world.billing.create_plan("P1", "PAT-A", 3, date(2027, 4, 1), "month", None, world.staff)
    assert [i.amount_cents for i in plan.instalments] == [3333, 3333, 3334]
    due = world.billing.instalments_due_between("P1", date(2027, 3, 25), date(2027, 4, 2))
    assert [(d.plan_id, d.number, d.of, d.amount_due_cents, d.due_on) for d in due] == [
        (plan.id, 1, 3, 3333, date(2027, 4, 1))
    ]
    url = world.billing.instalment_pay_url("P1", plan.id, 1)
    token = token_of(url)
    ok = world.billing.verify_link(token, "1990-04-02")
    assert ok.amount_cents == 3333
    start = world.billing.pay_link(token, ok.session, None)
    meta = world.gateway.intents[-1]["metadata"]
    assert (meta["plan_id"], meta["instalment"]) == (plan.id, "1")
    world.deliver(succeeded("evt_i1", start.payment_intent_id, 3333, meta))
    assert world.billing.instalments_due_between("P1", date(2027, 3, 25), date(2027, 4, 2)) == []
    assert world.balance("PAT-A") == 6667
    assert world.billing.open_link(token).status == "paid"


def test_a_plan_cannot_be_for_more_than_is_owed(world: World) -> None:
    world.charge("PAT-A", "100.00")
    with pytest.raises(ApiError) as refused:
        world.billing.create_plan("P1", "PAT-A", 3, date(2027, 4, 1), "month", 10001, world.staff)
    assert refused.value.code == "amount_over_balance"


def _pay_through(world: World, token: str, amount: int | None, event_id: str) -> int:
    """Pay a link (all it asks, or ``amount``) and let Stripe's webhook in; the cents paid."""
    ok = world.billing.verify_link(token, "1990-04-02")
    start = world.billing.pay_link(token, ok.session, amount)
    world.billing.confirm_card(start.payment_intent_id, start.client_secret, "tok_visa")
    meta = world.gateway.intents[-1]["metadata"]
    world.deliver(succeeded(event_id, start.payment_intent_id, start.amount_cents, meta))
    return start.amount_cents


def _plan_link(world: World, plan_id: str, number: int) -> str:
    return token_of(world.billing.send_pay_link("P1", "PAT-A", "sms", None, world.staff, plan_id, number).url)


def test_a_plan_of_60_weekly_instalments_of_a_cent_is_refused_when_it_is_made(world: World) -> None:
    world.charge("PAT-A", "100.00")
    with pytest.raises(ApiError) as small:
        world.billing.create_plan("P1", "PAT-A", 60, date(2027, 4, 1), "week", 100, world.staff)
    assert (small.value.status, small.value.code) == (422, "instalment_too_small")
    assert world.store.plans_for("P1", "PAT-A") == []


def test_a_balance_under_a_dollar_may_still_be_a_plan_of_one_instalment_with_a_working_link(world: World) -> None:
    world.charge("PAT-A", "0.75")
    plan = world.billing.create_plan("P1", "PAT-A", 1, date(2027, 4, 1), "month", None, world.staff)
    assert world.billing.verify_link(_plan_link(world, plan.id, 1), "1990-04-02").amount_cents == 75


def test_an_instalment_with_50_cents_left_gets_a_new_link_and_the_50_cents_can_be_paid(world: World) -> None:
    world.charge("PAT-A", "100.00")
    plan = world.billing.create_plan("P1", "PAT-A", 3, date(2027, 4, 1), "month", None, world.staff)
    first = _plan_link(world, plan.id, 1)
    assert _pay_through(world, first, 3283, "evt_part") == 3283  # $0.50 of the $33.33 left
    again = _plan_link(world, plan.id, 1)  # staff's new link, and the reminder's
    url = world.billing.instalment_pay_url("P1", plan.id, 1)
    for token in (again, token_of(url), first):
        assert world.billing.verify_link(token, "1990-04-02").amount_cents == 50
    assert _pay_through(world, again, None, "evt_rest") == 50
    assert world.billing.staff_plans("P1", "PAT-A", world.staff)[0].instalments[0].is_paid
    assert world.billing.open_link(first).status == "paid"


def test_a_plan_link_asked_for_more_than_its_instalment_says_the_instalment_limits_it(world: World) -> None:
    world.charge("PAT-A", "65.00")
    plan = world.billing.create_plan("P1", "PAT-A", 2, date(2027, 4, 1), "month", None, world.staff)
    token = _plan_link(world, plan.id, 1)
    ok = world.billing.verify_link(token, "1990-04-02")
    with pytest.raises(ApiError) as over:
        world.billing.pay_link(token, ok.session, 3300)
    assert (over.value.status, over.value.code) == (422, "amount_over_instalment")
    assert over.value.message == "the amount is more than the $32.50 this instalment asks for"
    assert world.gateway.intents == []


def test_a_link_for_a_chosen_amount_says_the_link_limits_a_larger_payment(world: World) -> None:
    world.charge("PAT-A", "70.00")
    token = token_of(world.billing.send_pay_link("P1", "PAT-A", "sms", 1000, world.staff).url)
    ok = world.billing.verify_link(token, "1990-04-02")
    assert (ok.amount_cents, ok.balance.owed_now_cents) == (1000, 7000)
    with pytest.raises(ApiError) as over:
        world.billing.pay_link(token, ok.session, 2000)
    assert (over.value.code, over.value.message) == (
        "amount_over_link",
        "the amount is more than the $10.00 this link asks for",
    )


def test_a_plan_paid_off_on_the_patient_page_reads_settled_everywhere(world: World) -> None:
    """$65 in 2 x $32.50: instalment 1 through its link, the rest with the patient page's Pay now."""
    world.charge("PAT-A", "65.00")
    plan = world.billing.create_plan("P1", "PAT-A", 2, date(2027, 4, 1), "month", None, world.staff)
    second = _plan_link(world, plan.id, 2)  # sent early, before the rest was paid another way
    _pay_through(world, _plan_link(world, plan.id, 1), None, "evt_i1")
    start = world.billing.start_payment(session("PAT-A"), None, None)
    assert start.amount_cents == 3250
    world.deliver(succeeded("evt_page", start.payment_intent_id, 3250, world.gateway.intents[-1]["metadata"]))

    [staff_view] = world.billing.staff_plans("P1", "PAT-A", world.staff)
    assert [(i.paid_cents, i.covered_cents, i.due_cents, i.is_paid) for i in staff_view.instalments] == [
        (3250, 0, 0, True),
        (0, 3250, 0, True),
    ]
    [page_view] = world.billing.overview(session("PAT-A")).plans
    assert all(i.is_paid for i in page_view.instalments)
    assert world.billing.instalments_due_between("P1", date(2027, 3, 1), date(2027, 6, 1)) == []
    assert world.billing.open_link(second).status == "paid"
    with pytest.raises(ApiError) as nothing:
        world.billing.instalment_pay_url("P1", plan.id, 2)
    assert nothing.value.code == "nothing_owed"
    world.charge("PAT-A", "40.00")  # a new visit is owed outside the settled plan, which stays settled
    assert world.billing.instalments_due_between("P1", date(2027, 3, 1), date(2027, 6, 1)) == []
    new = world.billing.create_plan("P1", "PAT-A", 2, date(2027, 4, 1), "month", None, world.staff)
    assert new.total_cents == 4000


def test_a_balance_partly_paid_at_the_desk_shrinks_the_last_instalments_first(world: World) -> None:
    world.charge("PAT-A", "100.00")
    plan = world.billing.create_plan("P1", "PAT-A", 3, date(2027, 4, 1), "month", None, world.staff)
    world.billing.post_line("P1", "PAT-A", {"kind": "payment", "amount": "50.00"}, world.staff)
    [now] = world.billing.staff_plans("P1", "PAT-A", world.staff)
    assert [i.due_cents for i in now.instalments] == [3333, 1667, 0]
    due = world.billing.instalments_due_between("P1", date(2027, 4, 1), date(2027, 6, 30))
    assert [(d.number, d.amount_due_cents) for d in due] == [(1, 3333), (2, 1667)]
    assert world.billing.verify_link(_plan_link(world, plan.id, 2), "1990-04-02").amount_cents == 1667
    with pytest.raises(ApiError) as settled:
        _plan_link(world, plan.id, 3)
    assert settled.value.code == "nothing_owed"
    with pytest.raises(ApiError) as full:  # the plans' open rest is what is owed now: no room for another
        world.billing.create_plan("P1", "PAT-A", 1, date(2027, 4, 1), "month", 100, world.staff)
    assert full.value.code == "plan_exceeds_balance"


def test_a_first_instalment_more_than_a_year_away_is_refused(world: World) -> None:
    world.charge("PAT-A", "100.00")
    with pytest.raises(ApiError) as late:
        world.billing.create_plan("P1", "PAT-A", 3, date(2099, 1, 1), "month", None, world.staff)
    assert (late.value.status, late.value.code) == (422, "invalid_due_date")
    plan = world.billing.create_plan("P1", "PAT-A", 3, date(2028, 3, 10), "month", None, world.staff)
    assert plan.instalments[0].due_on == date(2028, 3, 10)


# --- the ledger and its import --------------------------------------------------------------------


def test_staff_posting_is_audited_and_an_external_id_posts_once(world: World) -> None:
    body = {"kind": "charge", "amount": "75.00", "external_id": "PROC-77"}
    world.billing.post_line("P1", "PAT-A", body, world.staff)
    with pytest.raises(ApiError) as again:
        world.billing.post_line("P1", "PAT-A", body, world.staff)
    assert again.value.code == "duplicate_line"
    assert world.balance("PAT-A") == 7500
    assert "ledger.write" in actions(world)


def test_an_invoice_number_belongs_to_one_patient(world: World) -> None:
    world.charge("PAT-A", "10.00", invoice="INV-7")
    with pytest.raises(ApiError) as taken:
        world.charge("PAT-B", "10.00", invoice="INV-7")
    assert taken.value.code == "invoice_taken"


def test_a_thousand_imported_lines_of_ten_cents_total_exactly_one_hundred_dollars(world: World) -> None:
    rows = "\n".join(f"PAT-A,2027-03-01,charge,0.10,visit {n}" for n in range(1000))
    raw = f"patient_id,date,kind,amount,description\n{rows}\n".encode()
    result = world.billing.import_lines("P1", raw, world.staff)
    assert (result.lines, result.patients) == (1000, 1)
    assert world.balance("PAT-A") == 10000
    world.billing.import_lines("P1", raw, world.staff)  # the same file again changes nothing
    assert world.balance("PAT-A") == 10000


def test_a_file_with_a_bad_row_imports_nothing_and_names_every_bad_row(world: World) -> None:
    raw = (
        b"patient_id,date,kind,amount\n"
        b"PAT-A,2027-03-01,charge,10.00\n"
        b"PAT-A,2027-03-01,charge,10.005\n"
        b"PAT-Q,2027-03-01,charge,1.00\n"
        b"PAT-A,03/14/2027,refund,1.00\n"
    )
    with pytest.raises(ApiError) as refused:
        world.billing.import_lines("P1", raw, world.staff)
    body = refused.value.body()
    assert refused.value.status == 422
    assert [r["row"] for r in body["error"]["rows"]] == [3, 4, 5]
    assert world.store.lines == {}


def test_the_overview_says_what_is_owed_now_and_what_waits_on_insurance(world: World) -> None:
    world.charge("PAT-A", "200.00")
    world.billing.post_line(
        "P1", "PAT-A", {"kind": "insurance_estimate", "amount": "120.00", "claim_id": "CL1"}, world.staff
    )
    o = world.billing.overview(session("PAT-A"))
    assert (o.family.owed_now_cents, o.family.pending_insurance_cents) == (8000, 12000)
    assert o.months == ["2027-03"]
    assert "billing.read" in actions(world)


def test_a_file_exported_with_patnums_lands_on_the_patients_imported_from_the_same_system(world: World) -> None:
    from chalicelib.imports.model import PATIENT, internal_id

    pid = internal_id("opendental", PATIENT, "77")
    world.patients.add("P1", factories.patient(pid))
    raw = b"PatNum;Date;Kind;Amount;Description\n77;2027-03-02;charge;45.00;Exam\n"
    assert world.billing.import_lines("P1", raw, world.staff, source="opendental").lines == 1
    assert world.balance(pid) == 4500


def test_a_card_token_confirms_a_payment_only_with_that_payments_client_secret(world: World) -> None:
    world.charge("PAT-A", "19.99")
    start = world.billing.start_payment(session("PAT-A"), None, None)
    with pytest.raises(NotFound):
        world.billing.confirm_card(start.payment_intent_id, "pi_other_secret_fake", "tok_visa")
    with pytest.raises(ApiError) as bad:
        world.billing.confirm_card(start.payment_intent_id, start.client_secret, "4242424242424242")
    assert bad.value.status == 422
    done = world.billing.confirm_card(start.payment_intent_id, start.client_secret, "tok_visa")
    assert (done.status, done.amount_cents) == ("succeeded", 1999)
    assert "payment.confirm" in actions(world)
    assert world.balance("PAT-A") == 1999  # the ledger moves only when Stripe's webhook says so


def test_an_imported_invoice_number_of_another_patient_is_named_by_its_row(world: World) -> None:
    world.charge("PAT-A", "10.00", invoice="INV-5")
    raw = b"patient_id,date,kind,amount,invoice_id\nPAT-B,2027-03-01,charge,1.00,\nPAT-B,2027-03-01,charge,2.00,INV-5\n"
    with pytest.raises(ApiError) as refused:
        world.billing.import_lines("P1", raw, world.staff)
    assert [r["row"] for r in refused.value.body()["error"]["rows"]] == [3]


# --- issue 5: money that must never vanish or double ----------------------------------------------


def two_intents_for_the_balance(world: World, patient_id: str = "PAT-A") -> tuple[Any, Any]:
    """Two PaymentIntents for the same balance, as two tabs get from a Stripe that ignores idempotency keys."""
    first = world.billing.start_payment(session(patient_id), None, None)
    world.gateway._by_key.clear()
    second = world.billing.start_payment(session(patient_id), None, None)
    assert first.payment_intent_id != second.payment_intent_id
    return first, second


def intent_of(world: World, pi: str) -> dict[str, Any]:
    return next(i for i in world.gateway.intents if i["id"] == pi)


def test_confirming_a_second_payment_for_a_balance_already_paid_is_422_and_the_card_is_not_charged(
    world: World,
) -> None:
    world.charge("PAT-A", "65.00")
    first, second = two_intents_for_the_balance(world)
    world.billing.confirm_card(first.payment_intent_id, first.client_secret, "tok_visa")
    world.deliver(
        succeeded("evt_one", first.payment_intent_id, 6500, intent_of(world, first.payment_intent_id)["metadata"])
    )
    with pytest.raises(ApiError) as refused:
        world.billing.confirm_card(second.payment_intent_id, second.client_secret, "tok_visa")
    assert (refused.value.status, refused.value.code) == (422, "amount_exceeds_balance")
    assert "nothing is owed now" in refused.value.message and "Nothing was charged" in refused.value.message
    assert "confirmed_with" not in intent_of(world, second.payment_intent_id)
    assert world.balance("PAT-A") == 0


def test_a_payment_that_no_longer_fits_after_a_part_payment_is_refused_and_one_that_still_fits_goes_through(
    world: World,
) -> None:
    world.charge("PAT-A", "65.00")
    big = world.billing.start_payment(session("PAT-A"), None, 6000)
    small = world.billing.start_payment(session("PAT-A"), None, 500)
    world.billing.confirm_card(small.payment_intent_id, small.client_secret, "tok_visa")
    world.deliver(
        succeeded("evt_small", small.payment_intent_id, 500, intent_of(world, small.payment_intent_id)["metadata"])
    )
    assert world.billing.confirm_card(big.payment_intent_id, big.client_secret, "tok_visa").status == "succeeded"
    world.charge("PAT-A", "1.00")
    late = world.billing.start_payment(session("PAT-A"), None, 6100)
    world.deliver(
        succeeded("evt_big", big.payment_intent_id, 6000, intent_of(world, big.payment_intent_id)["metadata"])
    )
    with pytest.raises(ApiError) as refused:
        world.billing.confirm_card(late.payment_intent_id, late.client_secret, "tok_visa")
    assert refused.value.code == "amount_exceeds_balance"
    assert "$1.00 is owed now" in refused.value.message


def test_a_pay_link_for_10_dollars_refuses_a_second_payment_past_what_the_link_still_allows(world: World) -> None:
    world.charge("PAT-A", "95.00")
    sent = world.billing.send_pay_link("P1", "PAT-A", "email", 1000, world.staff)
    token = token_of(sent.url)
    ok = world.billing.verify_link(token, "1990-04-02")
    five = world.billing.pay_link(token, ok.session, 500)
    ten = world.billing.pay_link(token, ok.session, 1000)
    world.billing.confirm_card(five.payment_intent_id, five.client_secret, "tok_visa")
    world.deliver(
        succeeded("evt_five", five.payment_intent_id, 500, intent_of(world, five.payment_intent_id)["metadata"])
    )
    with pytest.raises(ApiError) as refused:
        world.billing.confirm_card(ten.payment_intent_id, ten.client_secret, "tok_visa")
    assert (refused.value.status, refused.value.code) == (422, "amount_exceeds_balance")
    assert "this link asks for $5.00 now" in refused.value.message
    assert "confirmed_with" not in intent_of(world, ten.payment_intent_id)


def test_confirming_a_payment_already_paid_is_409_already_paid_in_plain_words(world: World) -> None:
    world.charge("PAT-A", "65.00")
    start = world.billing.start_payment(session("PAT-A"), None, None)
    world.billing.confirm_card(start.payment_intent_id, start.client_secret, "tok_visa")
    world.deliver(
        succeeded("evt_paid", start.payment_intent_id, 6500, intent_of(world, start.payment_intent_id)["metadata"])
    )
    with pytest.raises(ApiError) as again:
        world.billing.confirm_card(start.payment_intent_id, start.client_secret, "tok_visa")
    assert (again.value.status, again.value.code) == (409, "already_paid")
    assert again.value.message == "this payment has already been made; nothing more was charged"


def test_two_payments_that_both_got_through_land_in_full_and_show_as_a_credit(world: World) -> None:
    world.charge("PAT-A", "65.00")
    first, second = two_intents_for_the_balance(world)
    for n, start in enumerate((first, second)):
        meta = intent_of(world, start.payment_intent_id)["metadata"]
        world.deliver(succeeded(f"evt_both_{n}", start.payment_intent_id, 6500, meta))
    paid = sorted(x.amount_cents for x in world.store.lines_for("P1", "PAT-A") if x.kind == PAYMENT)
    assert paid == [6500, 6500]
    family = world.billing.overview(session("PAT-A")).family
    assert (family.owed_now_cents, family.credit_cents) == (0, 6500)
    assert family.summary == "You have a credit of $65.00."


def test_a_family_payment_larger_than_what_was_asked_lands_in_full_with_the_excess_on_the_first_payer(
    world: World,
) -> None:
    world.charge("K1", "50.00")
    world.charge("K2", "25.00")
    start = world.billing.start_payment(session("K1", "K2", holder="G1"), None, None)
    world.deliver(succeeded("evt_more", start.payment_intent_id, 10000, world.gateway.intents[-1]["metadata"]))
    assert (world.balance("K1"), world.balance("K2")) == (-2500, 0)
    family = world.billing.overview(session("K1", "K2", holder="G1")).family
    assert (family.owed_now_cents, family.credit_cents) == (0, 2500)


def test_a_family_with_a_debt_on_one_member_and_a_credit_on_another_reads_both_in_words(world: World) -> None:
    world.charge("K1", "10.00")
    world.billing.post_line("P1", "K2", {"kind": "payment", "amount": "4.00"}, world.staff)
    family = world.billing.overview(session("K1", "K2", holder="G1")).family
    assert family.summary == "You owe $10.00 now. You have a credit of $4.00."


class LockedGateway(FakeGateway):
    """The fake gateway, safe to call from many threads (its ids come from a counter)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._guard = threading.Lock()

    def refund(self, **kwargs: Any) -> Any:
        with self._guard:
            return super().refund(**kwargs)


def test_six_refunds_of_30_dollars_at_once_on_a_65_dollar_payment_refund_two_and_the_ledger_matches_stripe(
    world: World,
) -> None:
    gateway = LockedGateway(webhook_secret=SECRET)
    world.billing.gateway = gateway
    world.charge("PAT-A", "65.00")
    world.deliver(succeeded("evt_r", "pi_r", 6500, {"practice_id": "P1", "alloc": '{"PAT-A":6500}'}))
    gate = threading.Barrier(6)
    outcomes: list[Any] = [None] * 6

    def one(i: int) -> None:
        gate.wait()
        try:
            outcomes[i] = world.billing.refund("P1", "pi_r", 3000, world.staff)
        except ApiError as exc:
            outcomes[i] = exc.code

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    at_stripe = sum(r["amount"] for r in gateway.refunds)
    in_ledger = sum(x.amount_cents for x in world.store.lines_for("P1", "PAT-A") if x.kind == REFUND)
    assert at_stripe == 6000
    assert in_ledger == at_stripe
    assert sorted(o for o in outcomes if isinstance(o, str)) == ["refund_exceeds_payment"] * 4


def test_a_refund_stripe_refuses_gives_its_hold_back_so_the_next_one_can_be_made(world: World) -> None:
    world.charge("PAT-A", "65.00")
    world.deliver(succeeded("evt_h", "pi_h", 6500, {"practice_id": "P1", "alloc": '{"PAT-A":6500}'}))
    world.gateway.fail_with = GatewayUnavailable("down")
    with pytest.raises(ApiError):
        world.billing.refund("P1", "pi_h", 6500, world.staff)
    world.gateway.fail_with = None
    assert world.billing.refund("P1", "pi_h", 6500, world.staff).refunded_cents == 6500


def test_a_second_plan_on_a_balance_already_in_a_plan_is_422_plan_exceeds_balance(world: World) -> None:
    world.charge("PAT-A", "48.50")
    world.billing.create_plan("P1", "PAT-A", 2, date(2027, 4, 1), "month", None, world.staff)
    with pytest.raises(ApiError) as refused:
        world.billing.create_plan("P1", "PAT-A", 2, date(2027, 4, 1), "month", None, world.staff)
    assert (refused.value.status, refused.value.code) == (422, "plan_exceeds_balance")
    assert "$48.50 of the $48.50 owed is already in a payment plan" in refused.value.message


def test_a_plan_for_part_of_the_balance_leaves_room_for_a_plan_of_exactly_the_rest(world: World) -> None:
    world.charge("PAT-A", "48.50")
    world.billing.create_plan("P1", "PAT-A", 2, date(2027, 4, 1), "month", 2000, world.staff)
    world.billing.create_plan("P1", "PAT-A", 2, date(2027, 4, 1), "month", 2850, world.staff)
    world.charge("PAT-A", "1.00")
    with pytest.raises(ApiError) as refused:
        world.billing.create_plan("P1", "PAT-A", 1, date(2027, 4, 1), "month", 101, world.staff)
    assert refused.value.code == "plan_exceeds_balance"


def test_two_plans_for_the_whole_balance_made_at_once_make_one(world: World) -> None:
    world.charge("PAT-A", "48.50")
    gate = threading.Barrier(4)
    outcomes: list[Any] = [None] * 4

    def one(i: int) -> None:
        gate.wait()
        try:
            outcomes[i] = world.billing.create_plan("P1", "PAT-A", 2, date(2027, 4, 1), "month", None, world.staff).id
        except ApiError as exc:
            outcomes[i] = exc.code

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(o for o in outcomes if o in ("plan_exceeds_balance", "busy")) == ["plan_exceeds_balance"] * 3
    assert len(world.store.plans_for("P1", "PAT-A")) == 1


@pytest.mark.parametrize("posted_on", ["1800-01-01", "1999-12-31", "2099-01-01", "2028-03-11"])
def test_a_ledger_line_dated_outside_2000_to_a_year_from_today_is_422_invalid_posted_on(
    world: World, posted_on: str
) -> None:
    with pytest.raises(ApiError) as refused:
        world.billing.post_line(
            "P1", "PAT-A", {"kind": "charge", "amount": "5.00", "posted_on": posted_on}, world.staff
        )
    assert (refused.value.status, refused.value.code) == (422, "invalid_posted_on")
    assert "from 2000-01-01 to 2028-03-10" in refused.value.message
    assert world.store.lines_for("P1", "PAT-A") == []


@pytest.mark.parametrize("posted_on", ["2000-01-01", "2028-03-10"])
def test_the_first_and_last_posting_days_are_accepted_and_their_statements_open(world: World, posted_on: str) -> None:
    world.billing.post_line("P1", "PAT-A", {"kind": "charge", "amount": "5.00", "posted_on": posted_on}, world.staff)
    months = world.billing.overview(session("PAT-A")).months
    assert months == [posted_on[:7]]
    view = world.billing.patient_statement(session("PAT-A"), months[0])
    assert view.statement.totals.charges_cents == 500


def test_an_imported_line_dated_1800_is_named_by_its_row_and_nothing_is_imported(world: World) -> None:
    raw = b"patient_id,date,kind,amount\nPAT-A,2027-03-01,charge,1.00\nPAT-A,1800-01-01,charge,2.00\n"
    with pytest.raises(ApiError) as refused:
        world.billing.import_lines("P1", raw, world.staff)
    assert [r["row"] for r in refused.value.body()["error"]["rows"]] == [3]
    assert world.store.lines_for("P1", "PAT-A") == []


def test_a_pay_link_email_names_the_amount_it_asks_for_not_the_balance(world: World) -> None:
    world.charge("PAT-A", "95.00")
    world.billing.send_pay_link("P1", "PAT-A", "email", 1000, world.staff)
    message = world.email.sent[-1]
    assert "asks you to pay $10.00" in message.text
    assert "balance" not in message.text.lower() and "balance" not in message.subject.lower()


def test_a_second_tab_confirming_before_the_first_payments_webhook_is_in_is_refused(world: World) -> None:
    world.charge("PAT-A", "65.00")
    first, second = two_intents_for_the_balance(world)
    world.billing.confirm_card(first.payment_intent_id, first.client_secret, "tok_visa")
    with pytest.raises(ApiError) as refused:
        world.billing.confirm_card(second.payment_intent_id, second.client_secret, "tok_visa")
    assert refused.value.code == "amount_exceeds_balance"
    assert "confirmed_with" not in intent_of(world, second.payment_intent_id)


def test_a_declined_card_does_not_count_against_the_next_try(world: World) -> None:
    world.charge("PAT-A", "65.00")
    first, second = two_intents_for_the_balance(world)
    world.gateway.fail_with = CardDeclined("Your card was declined.", "card_declined")
    with pytest.raises(ApiError):
        world.billing.confirm_card(first.payment_intent_id, first.client_secret, "tok_visa")
    world.gateway.fail_with = None
    assert world.billing.confirm_card(second.payment_intent_id, second.client_secret, "tok_visa").status == "succeeded"


def test_a_card_left_at_its_3d_secure_step_does_not_block_the_next_try(world: World) -> None:
    world.charge("PAT-A", "65.00")
    first, second = two_intents_for_the_balance(world)
    world.gateway.confirm_status = "requires_action"
    assert world.billing.confirm_card(first.payment_intent_id, first.client_secret, "tok_visa").status == (
        "requires_action"
    )
    world.gateway.confirm_status = "succeeded"
    assert world.billing.confirm_card(second.payment_intent_id, second.client_secret, "tok_visa").status == "succeeded"


def test_a_confirmed_payment_whose_webhook_never_came_stops_counting_after_an_hour(world: World) -> None:
    world.charge("PAT-A", "65.00")
    first, second = two_intents_for_the_balance(world)
    world.billing.confirm_card(first.payment_intent_id, first.client_secret, "tok_visa")
    world.clock.at = NOW + timedelta(hours=1, seconds=1)
    assert world.billing.confirm_card(second.payment_intent_id, second.client_secret, "tok_visa").status == "succeeded"


def test_stripe_saying_a_payment_can_no_longer_be_confirmed_is_409_already_paid(world: World) -> None:
    world.charge("PAT-A", "65.00")
    start = world.billing.start_payment(session("PAT-A"), None, None)
    world.gateway.fail_with = GatewayRejected("Bad request", "payment_intent_unexpected_state")
    with pytest.raises(ApiError) as again:
        world.billing.confirm_card(start.payment_intent_id, start.client_secret, "tok_visa")
    assert (again.value.status, again.value.code) == (409, "already_paid")
    assert "Bad request" not in again.value.message


def test_a_10_dollar_pay_link_refuses_a_10_dollar_payment_while_a_5_dollar_one_is_on_its_way(world: World) -> None:
    world.charge("PAT-A", "95.00")
    token = token_of(world.billing.send_pay_link("P1", "PAT-A", "email", 1000, world.staff).url)
    ok = world.billing.verify_link(token, "1990-04-02")
    five = world.billing.pay_link(token, ok.session, 500)
    ten = world.billing.pay_link(token, ok.session, 1000)
    world.billing.confirm_card(five.payment_intent_id, five.client_secret, "tok_visa")
    with pytest.raises(ApiError) as refused:
        world.billing.confirm_card(ten.payment_intent_id, ten.client_secret, "tok_visa")
    assert (refused.value.code, "this link asks for $5.00 now" in refused.value.message) == (
        "amount_exceeds_balance",
        True,
    )
    other = world.billing.pay_link(token, ok.session, 500)
    assert world.billing.confirm_card(other.payment_intent_id, other.client_secret, "tok_visa").status == "succeeded"
