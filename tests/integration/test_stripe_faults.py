"""Stripe failing on payment creation and on refunds (its HTTP answered by ``responses``, never the real API).

For each failure (card declined, rate limited, the network gone, Stripe's own 5xx): the answer is a
JSON 4xx a person can act on, the ledger and the audit trail are unchanged, Stripe is asked a bounded
number of times (the client's two network retries at most), every try carries the same idempotency
key, and asking again once Stripe is back creates one PaymentIntent or one refund, not two: Stripe
replays an idempotency key it has already answered, so a try whose answer was lost cannot charge or
refund twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
import responses
from chalice.test import Client

from chalicelib.audit.store import AuditStore
from chalicelib.billing.model import PAYMENT, REFUND
from chalicelib.platform.deps import Deps
from tests.integration.billing_world import STRIPE_BASE, BillingWorld, make_world
from tests.integration.conftest import StaffTokens

MAX_TRIES = 3  # the first request and stripe-python's max_network_retries=2 (chalicelib/adapters/stripe_gateway.py)


def _error(kind: str, status: int, code: str = "") -> Callable[[Any], tuple[int, dict[str, str], str]]:
    body = {"error": {"type": kind, "code": code or kind, "message": f"injected {kind}"}}
    return lambda _request: (status, {}, json.dumps(body))


def _network_down(_request: Any) -> tuple[int, dict[str, str], str]:
    raise requests.ConnectionError("connection reset by peer")


FAILURES = {
    # name: (answer, expected status, expected error code, tries Stripe sees)
    "card_declined": (_error("card_error", 402, "card_declined"), 402, "card_declined", 1),
    "rate_limited": (_error("rate_limit_error", 429, "rate_limit"), 409, "payments_unavailable", 1),
    "network": (_network_down, 409, "payments_unavailable", MAX_TRIES),
    "server_error": (_error("api_error", 500), 409, "payments_unavailable", MAX_TRIES),
}


class Stripe:
    """Answers with ``failing`` until told to recover; then creates, replaying each idempotency key once seen."""

    def __init__(self, mock: responses.RequestsMock, failing: Callable[[Any], Any]) -> None:
        self.failing: Callable[[Any], Any] | None = failing
        self.tries: list[tuple[str, str]] = []  # (path, idempotency key)
        self.created: dict[str, dict[str, Any]] = {}  # idempotency key -> object
        for path in ("/v1/payment_intents", "/v1/refunds"):
            mock.add_callback(responses.POST, f"{STRIPE_BASE}{path}", callback=self._answer)

    def _answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        path = request.url.removeprefix(STRIPE_BASE)
        key = str(request.headers.get("Idempotency-Key", ""))
        self.tries.append((path, key))
        if self.failing is not None:
            return self.failing(request)  # type: ignore[no-any-return]
        if key not in self.created:
            form = parse_qs(request.body if isinstance(request.body, str) else request.body.decode())
            n = len(self.created) + 1
            if path == "/v1/refunds":
                obj = {"id": f"re_{n}", "object": "refund", "amount": int(form["amount"][0]), "status": "succeeded"}
                obj["payment_intent"] = form["payment_intent"][0]
            else:
                obj = {"id": f"pi_{n}", "object": "payment_intent", "amount": int(form["amount"][0])}
                obj |= {"currency": "usd", "client_secret": f"pi_{n}_secret", "status": "requires_payment_method"}
            self.created[key] = obj
        return 200, {}, json.dumps(self.created[key])


@pytest.fixture
def world(api: Client, app_deps: Deps, staff: StaffTokens, monkeypatch: pytest.MonkeyPatch) -> BillingWorld:
    return make_world(api, app_deps, staff.headers("P1", "owner"), monkeypatch)


def _audit_actions(patient_id: str) -> list[str]:
    return sorted(e.action for e in AuditStore().for_patient("P1", patient_id, limit=500))


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_stripe_failing_on_payment_creation_is_a_clear_4xx_changes_nothing_and_a_retry_makes_one_intent(
    world: BillingWorld, failure: str
) -> None:
    answer, status, code, tries = FAILURES[failure]
    world.charge("PAT-A", "19.99")
    lines, audit = world.lines("PAT-A"), _audit_actions("PAT-A")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        stripe = Stripe(mock, answer)
        refused = world.post("/patient/payments", {}, world.patient_headers("PAT-A"))
        assert refused.status_code == status, refused.body
        assert refused.json_body["error"]["code"] == code
        assert world.lines("PAT-A") == lines and _audit_actions("PAT-A") == audit
        assert len(stripe.tries) == tries
        assert len({key for _, key in stripe.tries}) == 1 and stripe.tries[0][1].startswith("chairside-pi-")
        stripe.failing = None
        first = world.post("/patient/payments", {}, world.patient_headers("PAT-A"))
        again = world.post("/patient/payments", {}, world.patient_headers("PAT-A"))
    assert first.status_code == 201, first.body
    assert again.json_body["payment_intent_id"] == first.json_body["payment_intent_id"]
    assert len(stripe.created) == 1  # the same ask against the same ledger is one PaymentIntent
    assert {key for _, key in stripe.tries} == {stripe.tries[0][1]}
    assert first.json_body["amount_cents"] == 1999


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_stripe_failing_on_a_refund_is_a_clear_4xx_changes_nothing_and_a_retry_refunds_once(
    world: BillingWorld, failure: str
) -> None:
    answer, status, code, tries = FAILURES[failure]
    world.charge("PAT-A", "125.00")
    paid = {"practice_id": "P1", "alloc": '{"PAT-A":12500}'}
    event = {"id": "evt_paid", "type": "payment_intent.succeeded"}
    event["data"] = {"object": {"id": "pi_paid", "amount": 12500, "metadata": paid}}  # type: ignore[assignment]
    assert world.deliver(event).status_code == 200
    lines, audit = world.lines("PAT-A"), _audit_actions("PAT-A")
    path = "/practices/P1/payments/pi_paid/refunds"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        stripe = Stripe(mock, answer)
        refused = world.post(path, {"amount": "25.00"}, world.staff_headers)
        assert refused.status_code == status, refused.body
        assert refused.json_body["error"]["code"] == code
        assert world.lines("PAT-A") == lines and _audit_actions("PAT-A") == audit
        assert len(stripe.tries) == tries and len({key for _, key in stripe.tries}) == 1
        stripe.failing = None
        done = world.post(path, {"amount": "25.00"}, world.staff_headers)
    assert done.status_code == 201, done.body
    assert len(stripe.created) == 1
    assert {key for _, key in stripe.tries} == {stripe.tries[0][1]}  # the retry replays the refused try's key
    refunds = [(x.kind, x.amount_cents) for x in world.lines("PAT-A") if x.kind in (PAYMENT, REFUND)]
    assert sorted(refunds) == [(PAYMENT, 12500), (REFUND, 2500)]
    assert world.balance("PAT-A") == 2500
