"""Shared setup for the billing integration tests: a practice, patients, patient sessions, in-memory senders,
the real Stripe adapter (webhook secret ``whsec_test_fake``) and helpers to sign and post Stripe events."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.adapters.messaging import MemoryEmailSender, MemorySmsSender
from chalicelib.adapters.stripe_gateway import sign_webhook
from chalicelib.billing.model import LedgerLine, balance_of
from chalicelib.billing.store import BillingStore
from chalicelib.patients.model import Guardian, guardian_links_for
from chalicelib.patients.store import PatientStore, contact_link_item, guardian_item
from chalicelib.platform.auth import PatientCaller
from chalicelib.platform.deps import Deps
from chalicelib.practices.store import PracticeStore
from tests import factories

SECRET = "whsec_test_fake"
STRIPE_BASE = "https://stripe.test"


class FakeSessions:
    def __init__(self) -> None:
        self.by_token: dict[str, PatientCaller] = {}

    def resolve(self, token: str) -> PatientCaller | None:
        return self.by_token.get(token)


@dataclass
class BillingWorld:
    api: Client
    deps: Deps
    staff_headers: dict[str, str]
    email: MemoryEmailSender
    sms: MemorySmsSender
    sessions: FakeSessions

    def patient_headers(self, *patient_ids: str, holder: str = "") -> dict[str, str]:
        token = f"tok-{'-'.join(patient_ids)}"
        self.sessions.by_token[token] = PatientCaller("P1", f"s-{token}", holder or patient_ids[0], patient_ids)
        return {"Authorization": f"Bearer {token}"}

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.api.http.post(path, body=raw, headers={"Content-Type": "application/json", **(headers or {})})

    def charge(self, patient_id: str, amount: str, invoice: str = "", on: str = "2027-03-01") -> None:
        body = {"kind": "charge", "amount": amount, "posted_on": on}
        if invoice:
            body["invoice_id"] = invoice
        response = self.post(f"/practices/P1/patients/{patient_id}/ledger", body, self.staff_headers)
        assert response.status_code == 201, response.body

    def lines(self, patient_id: str) -> list[LedgerLine]:
        return BillingStore().lines_for("P1", patient_id)

    def balance(self, patient_id: str) -> int:
        return balance_of(self.lines(patient_id)).total_cents

    def webhook(self, raw: bytes, signature: str | None) -> Any:
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if signature is not None:
            headers["Stripe-Signature"] = signature
        return self.api.http.post("/stripe/webhook", body=raw, headers=headers)

    def deliver(self, event: dict[str, Any]) -> Any:
        raw = json.dumps(event).encode()
        return self.webhook(raw, sign_webhook(raw, SECRET))


def make_world(
    api: Client, app_deps: Deps, staff_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> BillingWorld:
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_fake")
    monkeypatch.setenv("STRIPE_PUBLISHABLE_KEY", "pk_test_fake")
    monkeypatch.setenv("STRIPE_API_BASE", STRIPE_BASE)
    monkeypatch.setenv("WEB_BASE_URL", "https://web.example.test")
    practices = PracticeStore()
    practices.put(factories.maple())
    practices.put(factories.birch())
    patients = PatientStore()
    for n, pid in enumerate(("PAT-A", "PAT-B", "PAT-C", "PAT-D", "K1", "K2")):
        patients.put("P1", factories.patient(pid, phone=f"+155555501{20 + n}"))
    guardian: Guardian = factories.guardian("G1", ("K1", "K2"))
    guardian_item("P1", guardian).save()
    for link in guardian_links_for(guardian):
        contact_link_item("P1", link).save()
    patients.put("P2", replace(factories.patient("PAT-Z"), given_name="Zed"))
    email, sms, sessions = MemoryEmailSender(), MemorySmsSender(), FakeSessions()
    app_deps._email = email
    app_deps._sms = sms
    app_deps._patient_sessions = sessions
    return BillingWorld(api, app_deps, staff_headers, email, sms, sessions)
