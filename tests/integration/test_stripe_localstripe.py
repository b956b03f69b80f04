"""A card payment end to end through localstripe: our API creates the PaymentIntent, a card (pm_card_visa,
4242…) confirms it, and localstripe's signed webhook lands on POST /stripe/webhook and pays the ledger."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.billing.model import PAYMENT, REFUND
from chalicelib.platform.deps import Deps
from local.stripe_local import register_webhook
from tests.integration.billing_world import SECRET, BillingWorld, make_world
from tests.integration.conftest import StaffTokens


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture(scope="module")
def localstripe() -> Iterator[str]:
    port = _free_port()
    code = (
        "import sys; from localstripe.server import start; "
        f"sys.argv = ['localstripe', '--port', '{port}', '--from-scratch']; start()"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait(f"{url}/js.stripe.com/v3/")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


class Forwarder:
    """A local address for localstripe's webhooks; each delivery goes to the app, byte for byte."""

    def __init__(self, deliver: Callable[[bytes, str | None], int]) -> None:
        self.deliveries: list[int] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = deliver(raw, self.headers.get("Stripe-Signature"))
                owner.deliveries.append(status)
                self.send_response(status)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stripe/webhook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def world(
    api: Client, app_deps: Deps, staff: StaffTokens, monkeypatch: pytest.MonkeyPatch, localstripe: str
) -> Iterator[BillingWorld]:
    made = make_world(api, app_deps, staff.headers("P1", "owner"), monkeypatch)
    monkeypatch.setenv("STRIPE_API_BASE", localstripe)
    lock = threading.Lock()  # the chalice test client serves one request at a time

    def deliver(raw: bytes, signature: str | None) -> int:
        with lock:
            return int(made.webhook(raw, signature).status_code)

    forwarder = Forwarder(deliver)
    register_webhook(localstripe, forwarder.url, SECRET)
    made.deps.extras["forwarder"] = forwarder
    yield made
    forwarder.close()


def stripe_client(base: str) -> Any:
    import stripe

    return stripe.StripeClient("sk_test_local", base_addresses={"api": base})


def wait_for(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("localstripe's webhook did not arrive")
        time.sleep(0.2)


def test_a_card_payment_confirmed_at_localstripe_pays_the_ledger_through_its_signed_webhook(
    world: BillingWorld, localstripe: str
) -> None:
    world.charge("PAT-A", "125.00")
    started = world.post("/patient/payments", {}, world.patient_headers("PAT-A"))
    assert started.status_code == 201, started.body
    pi = started.json_body["payment_intent_id"]
    assert started.json_body["client_secret"].startswith(f"{pi}_secret_")
    client = stripe_client(localstripe)
    client.v1.payment_intents.update(pi, params={"payment_method": "pm_card_visa"})
    confirmed = client.v1.payment_intents.confirm(pi).to_dict()
    assert confirmed["status"] == "succeeded"

    wait_for(lambda: any(x.kind == PAYMENT for x in world.lines("PAT-A")))
    assert [(x.amount_cents, x.payment_intent_id) for x in world.lines("PAT-A") if x.kind == PAYMENT] == [(12500, pi)]
    assert world.balance("PAT-A") == 0
    # The forwarder notes the status once the app has answered, a moment after the ledger line is written.
    wait_for(lambda: bool(world.deps.extras["forwarder"].deliveries))
    assert world.deps.extras["forwarder"].deliveries == [200]
    assert len(world.email.sent) == 1

    refund = world.post(f"/practices/P1/payments/{pi}/refunds", {"amount": "20.00"}, world.staff_headers)
    assert refund.status_code == 201, refund.body
    assert refund.json_body["status"] == "succeeded"
    assert [x.amount_cents for x in world.lines("PAT-A") if x.kind == REFUND] == [2000]
    assert world.balance("PAT-A") == 2000


def test_a_declined_card_leaves_the_ledger_untouched(world: BillingWorld, localstripe: str) -> None:
    import stripe

    world.charge("PAT-B", "42.00")
    started = world.post("/patient/payments", {}, world.patient_headers("PAT-B"))
    pi = started.json_body["payment_intent_id"]
    client = stripe_client(localstripe)
    client.v1.payment_intents.update(pi, params={"payment_method": "pm_card_chargeCustomerFail"})
    try:
        status = client.v1.payment_intents.confirm(pi).to_dict()["status"]
    except stripe.CardError:
        status = "declined"
    assert status != "succeeded"
    wait_for(lambda: bool(world.deps.extras["forwarder"].deliveries))  # payment_intent.payment_failed
    assert world.deps.extras["forwarder"].deliveries == [200]
    assert [x.kind for x in world.lines("PAT-B")] == ["charge"]
    assert world.balance("PAT-B") == 4200


def card_token(base: str, number: str = "4242424242424242") -> str:
    """What localstripe's Stripe.js stand-in does for ``stripe.createToken(cardElement)``: the browser sends the
    card to Stripe with the publishable key, never to us."""
    form = f"card[number]={number}&card[exp_month]=12&card[exp_year]=2030&card[cvc]=123&key=pk_test_local"
    request = urllib.request.Request(
        f"{base}/v1/tokens",
        data=form.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.loads(response.read())["id"])


def test_a_page_pays_with_a_card_token_and_the_client_secret_and_the_webhook_pays_the_ledger(
    world: BillingWorld, localstripe: str
) -> None:
    world.charge("PAT-C", "8.29")
    started = world.post("/patient/payments", {}, world.patient_headers("PAT-C")).json_body
    pi, secret = started["payment_intent_id"], started["client_secret"]
    token = card_token(localstripe)
    wrong = world.post(f"/payments/{pi}/confirm", {"client_secret": f"{pi}_secret_guess", "card_token": token})
    assert wrong.status_code == 404
    done = world.post(f"/payments/{pi}/confirm", {"client_secret": secret, "card_token": token})
    assert done.status_code == 200, done.body
    assert (done.json_body["status"], done.json_body["amount_cents"]) == ("succeeded", 829)
    wait_for(lambda: world.balance("PAT-C") == 0)
    assert [x.amount_cents for x in world.lines("PAT-C") if x.kind == PAYMENT] == [829]


def test_two_tabs_paying_the_same_65_dollars_charge_once_and_the_second_confirm_asks_nothing_of_stripe(
    world: BillingWorld, localstripe: str
) -> None:
    world.charge("PAT-D", "65.00")
    headers = world.patient_headers("PAT-D")
    first = world.post("/patient/payments", {"amount": "65.00"}, headers).json_body
    second = world.post("/patient/payments", {"amount": "65.00"}, headers).json_body
    assert first["payment_intent_id"] != second["payment_intent_id"]  # localstripe ignores idempotency keys
    one = {"client_secret": first["client_secret"], "card_token": card_token(localstripe)}
    assert world.post(f"/payments/{first['payment_intent_id']}/confirm", one).status_code == 200
    two = {"client_secret": second["client_secret"], "card_token": card_token(localstripe)}
    refused = world.post(f"/payments/{second['payment_intent_id']}/confirm", two)
    assert (refused.status_code, refused.json_body["error"]["code"]) == (422, "amount_exceeds_balance")
    wait_for(lambda: world.balance("PAT-D") == 0)
    again = world.post(f"/payments/{first['payment_intent_id']}/confirm", one)
    assert (again.status_code, again.json_body["error"]["code"]) == (409, "already_paid")
    left = stripe_client(localstripe).v1.payment_intents.retrieve(second["payment_intent_id"]).to_dict()
    assert left["status"] != "succeeded"
    assert [x.amount_cents for x in world.lines("PAT-D") if x.kind == PAYMENT] == [6500]
