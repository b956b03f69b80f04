"""The local stack's demo balances (local/stripe_local.py): lines to pay and a payment plan, loaded once."""

from __future__ import annotations

from datetime import date

from chalicelib.billing.store import BillingStore
from local.demo import DemoInfo, ShowcaseContact
from local.stripe_local import DEMO_PLAN_ID, seed_demo_balances

ANCHOR = date(2027, 3, 10)


def _demo() -> DemoInfo:
    adult = ShowcaseContact("patient", "Ava Demo", "ava@example.test", "+15555550110", ("p1",), ("PAT-A",))
    guardian = ShowcaseContact(
        "guardian", "Gus Demo", "gus@example.test", "+15555550111", ("p2", "p3"), ("PAT-K1", "PAT-K2")
    )
    return DemoInfo("P1", "Maple Dental", "America/New_York", ANCHOR, 7, 3, 0, adult, guardian)


def test_the_showcase_adult_pays_in_two_instalments_from_two_days_on_and_a_reload_keeps_the_plan(
    aws: None,
) -> None:
    seed_demo_balances(_demo())
    store = BillingStore()
    plan = store.plan("P1", DEMO_PLAN_ID)
    assert plan is not None and plan.patient_id == "PAT-A"
    assert [(i.number, i.due_on, i.amount_cents) for i in plan.instalments] == [
        (1, date(2027, 3, 12), 3250),
        (2, date(2027, 4, 12), 3250),
    ]
    seed_demo_balances(_demo())
    assert store.plan("P1", DEMO_PLAN_ID) == plan
    assert [p.id for p in store.plans_for("P1", "PAT-A")] == [DEMO_PLAN_ID]
