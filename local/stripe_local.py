"""localstripe wiring for the local stack: its signed webhooks go to the local API, and the demo's showcase
patients get a few balances to pay.

localstripe signs every event it sends with the secret registered here, so the API checks them exactly as
it checks Stripe's. The API starts after this runs; that is fine, because events only fire once someone pays.
"""

from __future__ import annotations

import json
import os
import urllib.request
from datetime import timedelta
from typing import Any

WEBHOOK_ID = "chairside"
DEMO_PLAN_ID = "demo-plan-crown"


def register_webhook(stripe_url: str, webhook_url: str, secret: str) -> None:
    """Point localstripe's webhooks at ``webhook_url``, signed with ``secret`` (``POST /_config/webhooks/<id>``)."""
    request = urllib.request.Request(  # noqa: S310 - a loopback address the stack chose
        f"{stripe_url}/_config/webhooks/{WEBHOOK_ID}",
        data=json.dumps({"url": webhook_url, "secret": secret}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        if response.status != 200:
            raise RuntimeError(f"localstripe refused the webhook ({response.status})")


def seed_demo_balances(demo: Any) -> None:
    """A few lines for the showcase patients (``local.demo.DemoInfo``), so there is something to pay.

    The showcase adult owes $65.00 now with $120.00 waiting on insurance, paid in two monthly instalments
    of $32.50 from two days on (so the first sweep sends a payment-plan reminder to the outbox); the
    guardian's two children owe $95.00 and $48.50. Line and plan ids are fixed, so loading twice writes
    the same lines again and keeps the plan.
    """
    from chalicelib.billing.model import (
        CHARGE,
        INSURANCE_ESTIMATE,
        SOURCE_IMPORT,
        LedgerLine,
        charged_cents,
        make_plan,
    )
    from chalicelib.billing.store import BillingStore

    day = demo.anchor - timedelta(days=3)
    lines: list[LedgerLine] = []
    adult = demo.patient.patient_ids[:1]
    children = demo.guardian.patient_ids[:2]
    for patient_id in adult:
        lines += [
            LedgerLine("demo-crown", patient_id, CHARGE, 18500, day, "Crown, first visit", invoice_id="DEMO-1001"),
            LedgerLine(
                "demo-crown-ins", patient_id, INSURANCE_ESTIMATE, 12000, day, "Insurance estimate", claim_id="DEMO-CL1"
            ),
        ]
    for patient_id, (cents, what) in zip(children, ((9500, "Cleaning and exam"), (4850, "Sealants")), strict=False):
        lines.append(LedgerLine(f"demo-{cents}", patient_id, CHARGE, cents, day, what))
    lines = [
        LedgerLine(
            x.id,
            x.patient_id,
            x.kind,
            x.amount_cents,
            x.posted_on,
            x.description,
            x.invoice_id,
            x.claim_id,
            source=SOURCE_IMPORT,
            posted_by="demo-loader",
        )
        for x in lines
    ]
    store = BillingStore()
    store.put_lines(demo.practice_id, lines)
    for x in lines:
        if x.invoice_id:
            store.claim_invoice(demo.practice_id, x.invoice_id, x.patient_id)
    if adult and store.plan(demo.practice_id, DEMO_PLAN_ID) is None:
        first_due = demo.anchor + timedelta(days=2)
        charged = charged_cents(x for x in lines if x.patient_id == adult[0])
        plan = make_plan(DEMO_PLAN_ID, adult[0], 6500, 2, first_due, "month", demo.anchor, "demo-loader", charged)
        store.put_plan(demo.practice_id, plan)


def wire_local_stripe(stripe_url: str, api_url: str, demo: Any = None) -> None:
    """Everything the local stack needs from billing: webhooks to the local API, and demo balances."""
    register_webhook(stripe_url, f"{api_url}/stripe/webhook", os.environ["STRIPE_WEBHOOK_SECRET"])
    if demo is not None:
        seed_demo_balances(demo)
