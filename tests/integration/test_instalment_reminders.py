"""Payment-plan reminders end to end under moto: a plan made through the billing API, the minute tick,
and a reminder whose pay link opens the instalment on the pay page."""

from __future__ import annotations

from dataclasses import replace

import pytest
from chalice.test import Client

from chalicelib.audit.store import AuditStore
from chalicelib.patients.store import PatientStore
from chalicelib.platform.clock import FixedClock
from chalicelib.platform.deps import Deps
from chalicelib.reminders.model import ContactPrefs
from chalicelib.reminders.store import ReminderStore
from chalicelib.reminders.templates import sms_segments
from tests.integration.billing_world import BillingWorld, make_world
from tests.integration.conftest import StaffTokens
from tests.integration.test_reminder_sweep import tick, utc


@pytest.fixture
def world(api: Client, app_deps: Deps, staff: StaffTokens, monkeypatch: pytest.MonkeyPatch) -> BillingWorld:
    return make_world(api, app_deps, staff.headers("P1", "front_desk"), monkeypatch)


def _plan(world: BillingWorld, patient_id: str) -> dict[str, object]:
    world.charge(patient_id, "100.00")
    created = world.post(
        f"/practices/P1/patients/{patient_id}/payment-plans",
        {"instalments": 3, "first_due": "2027-03-12"},
        world.staff_headers,
    )
    assert created.status_code == 201, created.body
    return dict(created.json_body["plan"])


def _opens_for(world: BillingWorld, url: str, cents: int) -> None:
    assert url.startswith("https://web.example.test/patient/pay/#")
    token = url.split("#", 1)[1]
    assert world.api.http.get(f"/pay/{token}").json_body["status"] == "open"
    verified = world.post(f"/pay/{token}/verify", {"birth_date": "1990-04-02"})
    assert verified.status_code == 200, verified.body
    assert verified.json_body["amount_cents"] == cents


def test_a_payment_plan_made_through_billing_gets_its_reminder_by_email_and_text_with_working_pay_links(
    world: BillingWorld,
    clock: FixedClock,
) -> None:
    plan_a = _plan(world, "PAT-A")
    plan_b = _plan(world, "PAT-B")
    ReminderStore().save_prefs(
        "P1", "PAT-B", ContactPrefs(channels={"billing": {"email": False}}), "PAT-B", clock.now()
    )

    # 2027-03-10 10:00 EST: the practice's first tick runs the daily planner; the first instalments are
    # due on the 12th, so their reminders (three days before) are late and go out now.
    tick(world.api, world.deps, clock.now())

    [email] = [e for e in world.email.sent if "Payment 1 of 3" in e.text]
    assert email.to == "pat-a@example.test"
    assert "$33.33" in email.text and "Friday, March 12" in email.text and "Maple Dental" in email.text
    assert email.headers["List-Unsubscribe"].startswith("<")
    url = next(w for w in email.text.split() if w.startswith("https://web.example.test/patient/pay/#"))
    _opens_for(world, url, 3333)

    [text] = [s for s in world.sms.sent if "payment 1 of 3" in s.text]
    assert text.to == "+15555550121"  # PAT-B declined billing emails
    sms_url = next(w for w in text.text.split() if w.startswith("https://web.example.test/patient/pay/#"))
    _opens_for(world, sms_url, 3333)
    assert sms_segments(text.text) <= 2, text.text

    touches = {t.id: t for t in ReminderStore().touches_with_prefix("P1", "PLAN#")}
    assert {t.status for t in touches.values()} == {"sent"}
    assert set(touches) == {f"PLAN#{plan_a['id']}#1#2027-03-12", f"PLAN#{plan_b['id']}#1#2027-03-12"}

    # The next day's planner pass and later ticks send nothing again and mint no more links.
    for at in (utc("2027-03-11T07:00"), utc("2027-03-11T15:00")):
        tick(world.api, world.deps, at)
    assert len([e for e in world.email.sent if "Payment 1 of 3" in e.text]) == 1
    assert len([s for s in world.sms.sent if "payment 1 of 3" in s.text]) == 1
    minted = [e for e in AuditStore().for_patient("P1", "PAT-A") if e.action == "paylink.create"]
    assert len(minted) == 1


def test_billing_refusing_the_pay_link_skips_the_reminder_with_its_code_and_sends_nothing(
    world: BillingWorld,
    clock: FixedClock,
) -> None:
    _plan(world, "PAT-C")
    patients = PatientStore()
    found = patients.get("P1", "PAT-C")
    assert found is not None
    patients.put("P1", replace(found, birth_date=None))  # a pay link asks for it, so billing makes none
    tick(world.api, world.deps, clock.now())
    [touch] = ReminderStore().touches_with_prefix("P1", "PLAN#")
    assert (touch.status, touch.reason) == ("skipped", "pay_link_birth_date_required")
    assert not [e for e in world.email.sent if "Payment 1 of 3" in e.text]


def test_a_plan_whose_first_instalment_is_due_within_the_lead_days_is_planned_when_it_is_made(
    world: BillingWorld,
    clock: FixedClock,
) -> None:
    """Not at the next daily pass: staff make the plan on 2027-03-10, the first instalment is due on the
    12th, so its reminder is due now (three days before has passed); the ones due in April and May wait."""
    plan = _plan(world, "PAT-A")
    [touch] = ReminderStore().touches_with_prefix("P1", "PLAN#")
    assert touch.id == f"PLAN#{plan['id']}#1#2027-03-12"
    assert (touch.status, touch.kind, touch.due) == ("pending", "instalment", clock.now())
    tick(world.api, world.deps, clock.now())
    [email] = [e for e in world.email.sent if "Payment 1 of 3" in e.text]
    assert email.to == "pat-a@example.test"
    assert [t.status for t in ReminderStore().touches_with_prefix("P1", "PLAN#")] == ["sent"]


def test_an_instalment_paid_off_at_the_desk_is_not_reminded(world: BillingWorld, clock: FixedClock) -> None:
    """The balance was paid outside the plan's links: the reminder is skipped as paid, and no link is made."""
    _plan(world, "PAT-A")
    paid = world.post(
        "/practices/P1/patients/PAT-A/ledger", {"kind": "payment", "amount": "100.00"}, world.staff_headers
    )
    assert paid.status_code == 201, paid.body
    tick(world.api, world.deps, clock.now())
    [touch] = ReminderStore().touches_with_prefix("P1", "PLAN#")
    assert (touch.status, touch.reason) == ("skipped", "instalment_paid")
    assert not [e for e in world.email.sent if "Payment 1 of 3" in e.text]
    assert not [e for e in AuditStore().for_patient("P1", "PAT-A") if e.action == "paylink.create"]


def test_a_balance_partly_paid_at_the_desk_is_reminded_for_what_is_still_owed(
    world: BillingWorld, clock: FixedClock
) -> None:
    """$100 in three; $80 paid at the desk: the last two instalments are covered and the first asks for $20."""
    _plan(world, "PAT-A")
    paid = world.post(
        "/practices/P1/patients/PAT-A/ledger", {"kind": "payment", "amount": "80.00"}, world.staff_headers
    )
    assert paid.status_code == 201, paid.body
    tick(world.api, world.deps, clock.now())
    [email] = [e for e in world.email.sent if "Payment 1 of 3" in e.text]
    assert "$20.00" in email.text and "$33.33" not in email.text
    url = next(w for w in email.text.split() if w.startswith("https://web.example.test/patient/pay/#"))
    _opens_for(world, url, 2000)
