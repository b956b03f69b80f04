"""POST /stripe/webhook against moto's DynamoDB with Stripe's own signature check: C06 and C08."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.adapters.stripe_gateway import sign_webhook
from chalicelib.billing.model import PAYMENT, REFUND, invoice_balance
from chalicelib.billing.store import PaymentIntentItem, StripeEventItem
from chalicelib.platform.deps import Deps
from chalicelib.platform.table import practice_pk
from local.atomic_dynamodb import atomic_dynamodb_requests
from tests.integration.billing_world import SECRET, BillingWorld, make_world
from tests.integration.conftest import StaffTokens

NOW = int(time.time())


@pytest.fixture
def world(api: Client, app_deps: Deps, staff: StaffTokens, monkeypatch: pytest.MonkeyPatch) -> BillingWorld:
    return make_world(api, app_deps, staff.headers("P1", "front_desk"), monkeypatch)


def payments(world: BillingWorld, patient_id: str) -> list[tuple[int, str]]:
    return [(x.amount_cents, x.payment_intent_id) for x in world.lines(patient_id) if x.kind == PAYMENT]


def stored_events() -> list[str]:
    return [
        i.event_id for i in StripeEventItem.query(practice_pk("P1"), StripeEventItem.sk.startswith("STRIPE_EVENT#"))
    ]


# --- C06 ------------------------------------------------------------------------------------------

C06: dict[str, Any] = {
    "id": "evt_test_001",
    "object": "event",
    "type": "payment_intent.succeeded",
    "created": NOW,
    "data": {
        "object": {
            "id": "pi_test_001",
            "object": "payment_intent",
            "amount": 12500,
            "currency": "usd",
            "metadata": {"practice_id": "P1", "invoice_id": "INV-1001"},
        }
    },
}
C06_CHARGE: dict[str, Any] = {
    "id": "evt_test_002",
    "object": "event",
    "type": "charge.succeeded",
    "created": NOW,
    "data": {
        "object": {
            "id": "ch_test_001",
            "object": "charge",
            "payment_intent": "pi_test_001",
            "amount": 12500,
            "status": "succeeded",
        }
    },
}


def test_c06_duplicate_deliveries_leave_one_payment_of_12500_a_zero_balance_and_one_receipt(
    world: BillingWorld,
) -> None:
    world.charge("PAT-A", "125.00", invoice="INV-1001")
    first, second = world.deliver(C06), world.deliver(C06)
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.json_body["outcome"], second.json_body["outcome"]) == ("applied", "duplicate")

    statuses: list[int] = []
    gate = threading.Barrier(2)

    def post() -> None:
        gate.wait()
        statuses.append(world.deliver(C06).status_code)

    with atomic_dynamodb_requests():
        threads = [threading.Thread(target=post) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert statuses == [200, 200]

    third = world.deliver(C06_CHARGE)  # no metadata: found through the PaymentIntent index
    assert third.status_code == 200
    assert payments(world, "PAT-A") == [(12500, "pi_test_001")]
    assert invoice_balance(world.lines("PAT-A"), "INV-1001") == 0
    assert world.balance("PAT-A") == 0
    assert len(world.email.sent) == 1
    assert world.email.sent[0].to == "pat-a@example.test"
    assert sorted(stored_events()) == ["evt_test_001", "evt_test_002"]


def test_c06_two_first_deliveries_at_the_same_moment_pay_once(world: BillingWorld) -> None:
    world.charge("PAT-A", "125.00", invoice="INV-1001")
    outcomes: list[str] = []
    gate = threading.Barrier(2)

    def post() -> None:
        gate.wait()
        response = world.deliver(C06)
        assert response.status_code == 200
        outcomes.append(response.json_body["outcome"])

    with atomic_dynamodb_requests():
        threads = [threading.Thread(target=post) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(outcomes) == ["applied", "duplicate"]
    assert payments(world, "PAT-A") == [(12500, "pi_test_001")]
    assert len(world.email.sent) == 1


def test_the_charge_first_and_the_payment_intent_second_reach_the_same_state(world: BillingWorld) -> None:
    world.charge("PAT-A", "125.00", invoice="INV-1001")
    early = json.loads(json.dumps(C06_CHARGE))
    early["data"]["object"]["metadata"] = {"practice_id": "P1", "invoice_id": "INV-1001"}
    assert world.deliver(early).json_body["outcome"] == "applied"
    assert world.deliver(C06).json_body["outcome"] == "applied"
    assert payments(world, "PAT-A") == [(12500, "pi_test_001")]
    assert world.balance("PAT-A") == 0
    assert len(world.email.sent) == 1


def test_partial_refund_events_add_up_in_any_order_and_never_pass_the_payment(world: BillingWorld) -> None:
    world.charge("PAT-A", "125.00", invoice="INV-1001")

    def refund(event_id: str, rid: str, cents: int) -> dict[str, Any]:
        obj = {"id": rid, "object": "refund", "payment_intent": "pi_test_001", "amount": cents, "status": "succeeded"}
        return {"id": event_id, "type": "refund.created", "created": NOW, "data": {"object": obj}}

    cumulative = {
        "id": "evt_cr",
        "type": "charge.refunded",
        "created": NOW,
        "data": {
            "object": {
                "id": "ch_test_001",
                "payment_intent": "pi_test_001",
                "amount": 12500,
                "amount_refunded": 5000,
                "status": "succeeded",
                "metadata": {"practice_id": "P1"},
            }
        },
    }
    for event in (refund("evt_r2", "re_2", 2000), cumulative, C06, refund("evt_r1", "re_1", 3000)):
        assert world.deliver(event).status_code == 200
    assert [x.amount_cents for x in world.lines("PAT-A") if x.kind == REFUND] == [5000]
    assert world.balance("PAT-A") == 5000
    world.deliver(refund("evt_r3", "re_3", 99999))
    state = PaymentIntentItem.get(practice_pk("P1"), "PI#pi_test_001").state
    assert sum(c for _, c in state["refunded"]) == 12500
    assert world.balance("PAT-A") == 12500


def test_an_unknown_event_type_answers_200_and_changes_nothing(world: BillingWorld) -> None:
    event = {"id": "evt_other", "type": "customer.subscription.created", "created": NOW, "data": {"object": {}}}
    response = world.deliver(event)
    assert (response.status_code, response.json_body["outcome"]) == (200, "ignored")
    assert stored_events() == []


# --- C08 ------------------------------------------------------------------------------------------

C08_RAW = (
    b'{"id":"evt_test_003",  "type":"payment_intent.succeeded","data":{"object":{"id":"pi_test_003","amount":4200,'
    b'"currency":"usd","metadata":{"practice_id":"P1","invoice_id":"INV-1003","memo":"caf\\u00e9"}}}}'
)


def test_c08_the_raw_body_keeps_its_double_space_and_unicode_escape() -> None:
    assert b'"evt_test_003",  "type"' in C08_RAW
    assert b"caf\\u00e9" in C08_RAW


def test_c08a_a_correctly_signed_body_answers_200_and_pays_4200(world: BillingWorld) -> None:
    world.charge("PAT-B", "42.00", invoice="INV-1003")
    response = world.webhook(C08_RAW, sign_webhook(C08_RAW, SECRET, int(time.time())))
    assert response.status_code == 200
    assert payments(world, "PAT-B") == [(4200, "pi_test_003")]
    assert len(world.email.sent) == 1


@pytest.mark.parametrize(
    ("variant", "body", "signature"),
    [
        ("b_amount_4300", C08_RAW.replace(b"4200", b"4300"), lambda: sign_webhook(C08_RAW, SECRET)),
        ("c_ten_minutes_old", C08_RAW, lambda: sign_webhook(C08_RAW, SECRET, int(time.time()) - 600)),
        ("d_no_header", C08_RAW, lambda: None),
        ("e_other_secret", C08_RAW, lambda: sign_webhook(C08_RAW, "whsec_someone_else")),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_c08_b_to_e_answer_400_with_no_ledger_change_and_no_email(
    world: BillingWorld, variant: str, body: bytes, signature: Any
) -> None:
    world.charge("PAT-B", "42.00", invoice="INV-1003")
    before = world.lines("PAT-B")
    response = world.webhook(body, signature())
    assert response.status_code == 400
    assert response.json_body["error"]["code"] == "invalid_signature"
    assert world.lines("PAT-B") == before
    assert stored_events() == []
    assert world.email.sent == []
