"""Payment-plan reminders: one touch (kind ``instalment``) before each unpaid instalment's due date.

Billing owns the plans; the engine reaches it only through ``ports.instalments`` (an in-memory twin in
memory.py, the billing service in handlers.py). An instalment touch is an ordinary touch swept and
delivered by the reminder engine, of message type "billing" (so the patient's billing channel choices,
opt-outs, suppressions and billing unsubscribes apply), with its own checks:

- Planning runs in the practice's daily planner pass (``run_daily_jobs``): every unpaid instalment due
  from a few days ago to ``lead_days`` ahead gets a touch ``lead_days`` before its due date at the policy's
  local ``send_at``, or now if that moment is gone, moved out of quiet hours. The touch id is
  ``PLAN#<plan>#<number>#<due date>`` and is created by a conditional put, so re-running the planner
  (or running it again after the reminder went out) plans nothing twice.
- At send time, after the claim, billing is asked again: an instalment paid meanwhile is skipped
  (``instalment_paid``). Only then, and once per message actually handed to a provider, is a pay link
  minted (each one is a new signed link and an audit line in billing).
- A policy change (``lead_days``, ``send_at``) re-times the instalment touches still pending, read from the
  due index, each by a conditional write (only a pending touch moves), like appointment reminders.
- Like recall, instalment reminders are not counted against the per-day cap of appointment reminders.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from chalicelib.billing.model import DueInstalment
from chalicelib.patients.model import Patient
from chalicelib.platform.observability import logger, metrics
from chalicelib.practices.model import Practice
from chalicelib.reminders.model import (
    FAILED,
    INSTALMENT_TOUCH,
    MAX_INSTALMENT_LEAD_DAYS,
    MAX_SEND_ATTEMPTS,
    PENDING,
    SKIPPED,
    InstalmentFacts,
    Policy,
    SendingHours,
    Touch,
    Verdict,
    instalment_reminder_at,
    local_day,
    retry_due,
    skip,
)
from chalicelib.reminders.ports import PayLinkRefused, Ports
from chalicelib.reminders.service import guardian_recipients

LOOK_BACK_DAYS = 3  # an instalment due a few days ago that never got its reminder (a plan made late) gets one


def instalment_touch_id(plan_id: str, number: int, due_on: date) -> str:
    return f"PLAN#{plan_id}#{number}#{due_on.isoformat()}"


def instalment_ref(touch_id: str) -> tuple[str, int, date] | None:
    """(plan id, instalment number, due date) of an instalment touch id; None if it is not one."""
    parts = touch_id.split("#")
    if len(parts) != 4 or parts[0] != "PLAN":
        return None
    try:
        return parts[1], int(parts[2]), date.fromisoformat(parts[3])
    except ValueError:
        return None


def plan_instalments(
    ports: Ports, practice: Practice, policy: Policy, now: datetime, policy_changed: bool = False
) -> int:
    """Create the touches of unpaid instalments due soon; returns how many were new. One billing read
    (a Query per month of due dates), one BatchGet of the patients, one conditional put per touch; after
    a policy change, the pending ones are re-timed first."""
    if ports.instalments is None:
        return 0
    if policy_changed:
        retime_pending(ports, practice, policy, now)
    rule = policy.instalments
    today = local_day(now, practice.zone)
    due = ports.instalments.due_between(
        practice.id, today - timedelta(days=LOOK_BACK_DAYS), today + timedelta(days=rule.lead_days)
    )
    if not due:
        return 0
    patients = ports.store.snapshot(practice.id, [], sorted({d.patient_id for d in due}), []).patients
    touches = []
    for item in due:
        patient = patients.get(item.patient_id)
        if patient is None or not patient.active:
            continue
        touches.append(_touch(ports, practice, policy, item, patient, now))
    return ports.store.create_touches(touches) if touches else 0


def retime_pending(ports: Ports, practice: Practice, policy: Policy, now: datetime) -> int:
    """Pending instalment touches (the due index, from now to the longest lead) moved to when the policy
    now says; a moment already past stays as it is (the sweep has it). Returns how many moved."""
    horizon = now + timedelta(days=MAX_INSTALMENT_LEAD_DAYS + 1)
    pending = [
        (t, ref)
        for t in ports.store.due_touches(practice.id, now, horizon)
        if t.kind == INSTALMENT_TOUCH and t.status == PENDING and (ref := instalment_ref(t.id)) is not None
    ]
    if not pending:
        return 0
    patients = ports.store.snapshot(practice.id, [], sorted({t.patient_id for t, _ in pending}), []).patients
    moved = 0
    for t, (_, _, due_on) in pending:
        patient = patients.get(t.patient_id)
        quiet_zone = (patient.zone if patient else "") or practice.zone
        hours = policy.sending_hours
        wanted = instalment_reminder_at(due_on, policy.instalments, practice.zone, hours, quiet_zone, now)
        wanted = wanted.replace(microsecond=0)
        if wanted != t.due and wanted > now and ports.store.replan_touch(t, wanted, PENDING):
            moved += 1
    return moved


def _touch(
    ports: Ports,
    practice: Practice,
    policy: Policy,
    item: DueInstalment,
    patient: Patient,
    now: datetime,
) -> Touch:
    rule = policy.instalments
    quiet_zone = patient.zone or practice.zone
    at = instalment_reminder_at(item.due_on, rule, practice.zone, policy.sending_hours, quiet_zone, now)
    touch_id = instalment_touch_id(item.plan_id, item.number, item.due_on)
    recipients = guardian_recipients(ports, practice.id, patient)
    return Touch(
        practice_id=practice.id,
        id=touch_id,
        kind=INSTALMENT_TOUCH,
        key=f"instalment{item.number}",
        subject_id=item.plan_id,
        patient_id=patient.id,
        due=at.replace(microsecond=0),
        channel=rule.channel,
        fallback=True,
        policy_version=policy.version,
        recipients=list(recipients),
        created_at=now,
    )


class InstalmentCheck:
    """Whether claimed instalment touches are still unpaid: one billing read per due date, per batch."""

    def __init__(self, ports: Ports, practice_id: str) -> None:
        self.ports = ports
        self.practice_id = practice_id
        self.cache: dict[date, dict[tuple[str, int], DueInstalment]] = {}

    def unpaid(self, plan_id: str, number: int, due_on: date) -> DueInstalment | None:
        if self.ports.instalments is None:
            return None
        if due_on not in self.cache:
            found = self.ports.instalments.due_between(self.practice_id, due_on, due_on)
            self.cache[due_on] = {(d.plan_id, d.number): d for d in found}
        return self.cache[due_on].get((plan_id, number))


def instalment_verdict(
    t: Touch, check: InstalmentCheck | None, now: datetime, hours: SendingHours, quiet_zone: str
) -> Verdict:
    """Re-check a claimed instalment touch: still unpaid (else skip), inside the sending hours (else
    re-time). Keeps what billing said on the touch for the message."""
    ref = instalment_ref(t.id)
    if ref is None or check is None:
        return skip("instalment_gone")
    plan_id, number, due_on = ref
    due = check.unpaid(plan_id, number, due_on)
    if due is None:
        return skip("instalment_paid")
    t.instalment = InstalmentFacts(plan_id, number, due.of, due.due_on, due.amount_due_cents)
    opens = hours.next_open(now, quiet_zone)
    return Verdict("send") if opens == now else Verdict("retime", due=opens)


def attach_pay_url(ports: Ports, t: Touch, now: datetime) -> bool:
    """Mint the pay link of a claimed instalment touch that is about to be sent; True when it has one.

    A refusal (paid meanwhile, no birth date to check against...) skips the touch with billing's code;
    any other failure re-times it like a refused send (``MAX_SEND_ATTEMPTS`` times, then failed)."""
    facts = t.instalment
    if facts is None or ports.instalments is None:
        t.status, t.reason, t.claimed_until = SKIPPED, "instalment_gone", None
        return False
    try:
        url = ports.instalments.pay_url(t.practice_id, facts.plan_id, facts.number)
    except PayLinkRefused as exc:
        reason = "instalment_paid" if exc.code == "nothing_owed" else f"pay_link_{exc.code}"
        t.status, t.reason, t.claimed_until = SKIPPED, reason, None
        return False
    except Exception as exc:
        logger.warning("instalment pay link not made", extra={"touch_id": t.id, "error": type(exc).__name__})
        metrics.add_metric(name="InstalmentPayLinkFailed", unit="Count", value=1)
        t.reason = "pay_link_failed"
        if t.attempts >= MAX_SEND_ATTEMPTS:
            t.status, t.claimed_until = FAILED, None
        else:
            t.status, t.due, t.claimed_until = PENDING, retry_due(t.attempts, now).replace(microsecond=0), None
        return False
    t.instalment = InstalmentFacts(facts.plan_id, facts.number, facts.of, facts.due_on, facts.amount_cents, url)
    return True
