"""Reminder use cases: plan touches when an appointment changes, sweep what is due, send notices.

Ports come in as one ``Ports`` value (store, readers, senders, carrier check, clock, signing key), so
the service tests run on the in-memory twins of chalicelib/reminders/memory.py.

Invariants:
- Planning is a pure function of the appointment as it is *now* (re-read, never taken from the
  event), so a re-delivered, duplicated or out-of-order change event plans the same touches. Touch ids
  carry the appointment's start, so a moved appointment gets new touches and the old ones are
  cancelled; only *pending* touches are ever cancelled or re-timed (conditional writes), so a touch a
  sweep has claimed is never disturbed.
- A notice (cancelled, moved) has a fixed id: it is created once whatever happens to the event, then
  delivered at once through the same claim-send-record path as the sweep.
- The sweep reads the due index from its watermark to now, claims each touch with a conditional
  update (100 to a transaction, each by itself if it is cancelled; so concurrent or re-delivered runs
  never send twice), re-reads the appointment and the patient, decides, and sends in groups of
  ``SEND_GROUP``: marks the group "sending" (conditional on still holding each claim), calls the
  provider for each, and records the outcomes with the provider message ids at once, in one
  transaction (each conditioned on our lease; each by itself if one condition cancels it).
- Delivery is at most once. A send the provider refused (throttled, rejected, its own 5xx,
  unreachable) is retried with backoff, at most ``MAX_SEND_ATTEMPTS`` times, then "failed". A send
  whose outcome is not known (the answer was lost, or the run died between the provider accepting it
  and the record) is never retried: the next run finds the touch still "sending" after its lease and
  marks it "unknown". A run killed part-way through a group leaves that whole group (at most
  ``SEND_GROUP`` touches) unknown, since nobody can tell which of them went out. Failed and unknown
  touches show in the reminder history, as "failed delivery" items in the staff inbox, and in the
  metrics (RemindersFailed, RemindersUnknown, ReminderSendErrors).
- A run stops starting sends when its invocation has less than ``SWEEP_RESERVE`` left (``Ports.time_left``,
  the Lambda countdown): the touches it claimed but did not try are given back pending, with no attempt
  spent, and the watermark stays before them, so the next run sends them; a timeout never cuts a send.
- A run that dies after claiming leaves leases that expire; the watermark stays pinned at the oldest
  touch it could not finish, so the next run decides again only what was never handed to a provider.
  While a provider throttles a channel, the rest of that channel's touches in the run wait for the
  next run without spending an attempt.
- The watermark advances to ``now - SAFETY_LAG``: touches written late (or not yet visible in the
  index) are read again; the claim makes re-reading harmless.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from chalicelib.adapters.messaging import Email, SendOutcomeUnknown, SendRefused, Sms
from chalicelib.appointments import links
from chalicelib.appointments.events import MOVED, STATUS_CHANGED, AppointmentChanged
from chalicelib.appointments.model import Appointment
from chalicelib.patients.model import Patient
from chalicelib.platform import signed
from chalicelib.platform.observability import logger, metrics
from chalicelib.practices.model import Practice
from chalicelib.reminders import shortlink
from chalicelib.reminders.model import (
    APPOINTMENT_REMINDERS,
    BILLING,
    CHANNELS,
    CLAIMED,
    EMAIL,
    FAILED,
    FEEDBACK,
    FEEDBACK_KINDS,
    INSTALMENT_TOUCH,
    MAX_SEND_ATTEMPTS,
    NOTICE_CANCELLED,
    NOTICE_MOVED,
    PENDING,
    RECALL,
    RECALL_TOUCH,
    REMINDABLE,
    REMINDER,
    SENDING,
    SENT,
    SKIPPED,
    SMS,
    STATUS_CANCELLED,
    SURVEY_TOUCH,
    UNKNOWN,
    AddressState,
    ContactPrefs,
    InboxEntry,
    Policy,
    Route,
    Snapshot,
    SweepState,
    Touch,
    Verdict,
    appointment_verdict,
    e164,
    local_day,
    next_daily_run,
    normal_email,
    plan_reminders,
    retry_due,
    route_message,
    skip,
)
from chalicelib.reminders.ports import Ports
from chalicelib.reminders.templates import MessageFacts, render, sms_segments

if TYPE_CHECKING:
    from chalicelib.reminders.instalments import InstalmentCheck

LEASE = timedelta(minutes=5)
SAFETY_LAG = timedelta(minutes=2)
FIRST_LOOKBACK = timedelta(hours=48)  # a practice's first sweep catches up like any other
MAX_CATCH_UP = timedelta(hours=48)
CHUNK = 100
# Touches marked "sending" (and then recorded) together. One: a run killed mid-sweep (a Lambda timeout, a
# crash) leaves only the message in flight unknown, and every touch not yet handed to a provider is sent by the
# next run. A larger group saves two writes per message per member but turns a kill into that many unknowns,
# which are never resent, so patients would miss reminders; claims stay batched (100 a transaction) either way.
SEND_GROUP = 1
# The sweep starts no new send once its invocation has less than this left (the tick Lambda runs 55 s): the
# rest is given back untried and the next minute's run goes on from it, so a timeout never kills a run in the
# middle of a send (which would leave that message "unknown") and closing writes have time to finish.
SWEEP_RESERVE = timedelta(seconds=10)
PLAN_WINDOW = timedelta(days=62)  # the longest touch a policy may have (60 days) and a margin
UNSUBSCRIBE_PURPOSE = "email.unsubscribe"
UNSUBSCRIBE_LIFETIME = timedelta(days=400)


def compact(at: datetime) -> str:
    return at.strftime("%Y%m%dT%H%M%SZ")


def reminder_touch_id(appointment_id: str, rule_key: str, start: datetime) -> str:
    return f"APPT#{appointment_id}#reminder#{rule_key}#{compact(start)}"


def message_type(kind: str) -> str:
    if kind in FEEDBACK_KINDS:
        return FEEDBACK
    if kind == INSTALMENT_TOUCH:
        return BILLING
    return RECALL if kind == RECALL_TOUCH else APPOINTMENT_REMINDERS


def _second(at: datetime) -> datetime:
    return at.replace(microsecond=0)


# --- planning ------------------------------------------------------------------------------------


def guardian_recipients(ports: Ports, practice_id: str, patient: Patient) -> list[tuple[str, str]]:
    """Addresses of the people who manage a patient, for channels the patient has no address of."""
    own = {SMS: bool(e164(patient.phone)), EMAIL: bool(normal_email(patient.email))}
    if all(own.values()):
        return []
    out = []
    for link in ports.patients.links_for_patient(practice_id, patient.id):
        if link.relation == "self" or own.get(link.channel, True):
            continue
        address = e164(link.address) if link.channel == SMS else normal_email(link.address)
        if address:
            out.append((link.channel, address))
    return list(dict.fromkeys(out))


def replan_appointment(
    ports: Ports,
    practice_id: str,
    appointment_id: str,
    event: AppointmentChanged | None = None,
    *,
    practice: Practice | None = None,
    policy: Policy | None = None,
    patient_id: str = "",
) -> list[Touch]:
    """(Re)compute an appointment's touches from its current state; send a notice the event calls for.

    One BatchGetItem re-reads the practice, policy, appointment, patient and preferences, one Query
    reads the appointment's touches, and the changes go in one transaction. Returns the pending touches.
    """
    now = _second(ports.clock.now())
    snap = ports.store.snapshot(
        practice_id, [appointment_id], [patient_id] if patient_id else [], [], with_practice=practice is None
    )
    practice = practice or snap.practice
    policy = policy or snap.policy or ports.store.policy(practice_id)
    if practice is None:
        return []
    appointment = snap.appointments.get(appointment_id)
    if appointment is not None and appointment.patient_id not in snap.patients:
        more = ports.store.snapshot(practice_id, [], [appointment.patient_id], [])
        snap.patients.update(more.patients)
        snap.prefs.update(more.prefs)
    patient = snap.patients.get(appointment.patient_id) if appointment else None
    existing = {t.id: t for t in ports.store.touches_with_prefix(practice_id, f"APPT#{appointment_id}#")}

    desired: dict[str, Touch] = {}
    if appointment is not None and patient is not None and patient.active:
        prefs = snap.prefs.get(patient.id, ContactPrefs())
        hours = prefs.sending_hours or policy.sending_hours
        quiet_zone = patient.zone or practice.zone
        recipients: list[tuple[str, str]] | None = None
        for planned in plan_reminders(appointment.start, appointment.status, policy, practice.zone, hours, quiet_zone):
            if recipients is None:
                recipients = guardian_recipients(ports, practice_id, patient)
            touch_id = reminder_touch_id(appointment.id, planned.key, appointment.start)
            desired[touch_id] = Touch(
                practice_id=practice_id,
                id=touch_id,
                kind=REMINDER,
                key=planned.key,
                subject_id=appointment.id,
                patient_id=patient.id,
                due=_second(planned.due),
                channel=planned.channel,
                fallback=planned.fallback,
                after_confirm=planned.after_confirm,
                planned_start=appointment.start,
                policy_version=policy.version,
                recipients=list(recipients),
                created_at=now,
            )

    _sync(ports, existing, desired, appointment, now)

    if event is not None and appointment is not None and patient is not None:
        notice = _notice_for(event, appointment, patient, policy, practice_id, now)
        if notice is not None:
            # Written already claimed by us, so creating it is the claim: once, whatever re-delivers the event.
            notice.status, notice.claimed_until, notice.attempts = CLAIMED, now + LEASE, 1
            if ports.store.create_touches([notice]):
                deliver_claimed(ports, practice, policy, [notice], now, snap)
    if event is not None and appointment is not None:
        from chalicelib.recall.service import on_appointment

        on_appointment(ports, practice, policy, appointment, now)
    return [t for t in desired.values() if t.due >= now]


def _sync(
    ports: Ports, existing: dict[str, Touch], desired: dict[str, Touch], appointment: Appointment | None, now: datetime
) -> None:
    """Make the stored reminder touches match the desired ones, touching only pending (or
    planner-cancelled) touches, each by a conditional write."""
    cancel: list[tuple[Touch, str]] = []
    for touch in existing.values():
        if touch.kind != REMINDER:
            continue
        wanted = desired.get(touch.id)
        if wanted is None:
            if touch.status == PENDING:
                cancel.append((touch, _why_not(touch, appointment)))
        elif touch.status == PENDING and touch.due != wanted.due and wanted.due >= now:
            # A past plan instant is left alone: the sweep has deferred (quiet hours) or is retrying it.
            ports.store.replan_touch(touch, wanted.due, PENDING)
        elif touch.status == "cancelled" and wanted.due >= now:
            ports.store.replan_touch(touch, wanted.due, "cancelled")
    if cancel:
        ports.store.cancel_touches(cancel)
    new = [t for touch_id, t in desired.items() if touch_id not in existing and t.due >= now]
    if new:
        ports.store.create_touches(new)


def _why_not(touch: Touch, appointment: Appointment | None) -> str:
    if appointment is None:
        return "appointment_gone"
    if appointment.status == STATUS_CANCELLED:
        return "cancelled"
    if touch.planned_start != appointment.start:
        return "moved"
    if appointment.status not in REMINDABLE:
        return f"status_{appointment.status}"
    if appointment.status == "confirmed":
        return "confirmed"
    return "replanned"


def _notice_for(
    event: AppointmentChanged,
    appointment: Appointment,
    patient: Patient,
    policy: Policy,
    practice_id: str,
    now: datetime,
) -> Touch | None:
    """The one notice an event calls for, if the appointment still is what the event says."""
    if appointment.start <= now or event.by == "import":
        return None
    base = {
        "practice_id": practice_id,
        "subject_id": appointment.id,
        "patient_id": patient.id,
        "due": now,
        "channel": SMS,
        "fallback": True,
        "planned_start": appointment.start,
        "policy_version": policy.version,
        "created_at": now,
    }
    if (
        event.kind == STATUS_CHANGED
        and event.status == STATUS_CANCELLED
        and appointment.status == STATUS_CANCELLED
        and policy.notify_on_cancel
    ):
        return Touch(id=f"APPT#{appointment.id}#cancelled", kind=NOTICE_CANCELLED, key="cancelled", **base)  # type: ignore[arg-type]
    if (
        event.kind == MOVED
        and appointment.status in REMINDABLE
        and appointment.start == event.start
        and policy.notify_on_move
    ):
        return Touch(
            id=f"APPT#{appointment.id}#moved#{compact(appointment.start)}",
            kind=NOTICE_MOVED,
            key="moved",
            **base,  # type: ignore[arg-type]
        )
    return None


def on_appointment_changed(ports: Ports, event: AppointmentChanged) -> None:
    """The bus consumer. A reminder problem must never fail the appointment change that raised it:
    errors are logged (ids only) and counted; the daily planner pass repairs what was missed."""
    try:
        replan_appointment(ports, event.practice_id, event.appointment_id, event, patient_id=event.patient_id)
    except Exception:
        logger.exception(
            "reminder planning failed", extra={"practice_id": event.practice_id, "appointment_id": event.appointment_id}
        )
        metrics.add_metric(name="ReminderPlanFailed", unit="Count", value=1)
        _plan_later(ports, event.practice_id, event.appointment_id, event.patient_id)


def _plan_later(ports: Ports, practice_id: str, appointment_id: str, patient_id: str) -> None:
    """Leave a marker the next sweep plans from (a minute later), so a failed plan loses no reminder.
    If even the marker cannot be written, the daily planner pass is the last net."""
    try:
        ports.store.mark_replan(practice_id, appointment_id, patient_id)
    except Exception:
        logger.exception("reminder re-plan marker not written", extra={"appointment_id": appointment_id})
        metrics.add_metric(name="ReminderReplanMarkFailed", unit="Count", value=1)


def replan_marked(ports: Ports, practice: Practice, policy: Policy) -> int:
    """Plan the appointments whose planning failed when they changed; a marker goes once it worked."""
    done = 0
    for appointment_id, patient_id in ports.store.replans(practice.id):
        try:
            replan_appointment(
                ports, practice.id, appointment_id, practice=practice, policy=policy, patient_id=patient_id
            )
            ports.store.clear_replan(practice.id, appointment_id)
            done += 1
        except Exception:
            logger.exception("reminder re-plan failed again", extra={"appointment_id": appointment_id})
            metrics.add_metric(name="ReminderPlanFailed", unit="Count", value=1)
    return done


def plan_upcoming(
    ports: Ports,
    practice: Practice,
    policy: Policy,
    now: datetime,
    days: int | None = None,
    open_touches: bool = False,
) -> int:
    """Re-plan the practice's coming appointments: every one on the next ``days`` local days (imports
    write appointments without events) and, with ``open_touches``, every one that still has an open
    touch (after a policy change, which may drop or move those). One Query per day of the day index
    (and of the due index); no Scan."""
    horizon = days if days is not None else policy.horizon_days
    today = local_day(now, practice.zone)
    seen: set[str] = set()
    for offset in range(horizon + 1):
        for appointment in ports.appointments.on_day(practice.id, today + timedelta(days=offset)):
            # Others (cancelled, requested...) have no touches to plan; any left open are in the due index.
            if appointment.start > now and appointment.status in REMINDABLE and appointment.id not in seen:
                seen.add(appointment.id)
                replan_appointment(
                    ports,
                    practice.id,
                    appointment.id,
                    practice=practice,
                    policy=policy,
                    patient_id=appointment.patient_id,
                )
    for touch in ports.store.due_touches(practice.id, now, now + PLAN_WINDOW) if open_touches else []:
        if touch.kind == REMINDER and touch.subject_id not in seen:
            seen.add(touch.subject_id)
            replan_appointment(
                ports, practice.id, touch.subject_id, practice=practice, policy=policy, patient_id=touch.patient_id
            )
    return len(seen)


# --- links -----------------------------------------------------------------------------------------


def link_url(ports: Ports, practice_id: str, token: str) -> str:
    """The patient page with an appointments action link (confirm, cancel, reschedule)."""
    return f"{ports.web_base_url}/patient/?practice={practice_id}#link={token}"


def short_url(ports: Ports, practice_id: str, appointment: Appointment, action: str) -> str:
    """The short link an SMS carries; ``GET /l/{token}`` redirects it to ``link_url``."""
    token = shortlink.make(ports.signing_key(), action, practice_id, appointment.id, appointment.start)
    return f"{ports.api_base_url}/l/{token}"


def book_url(ports: Ports, practice_id: str, what: str = "") -> str:
    suffix = f"&book={what}" if what else "&book=1"
    return f"{ports.web_base_url}/patient/?practice={practice_id}{suffix}"


def address_digest(key: bytes, address: str) -> str:
    return hmac.new(key, f"unsubscribe\x1f{address}".encode(), hashlib.sha256).hexdigest()[:20]


def unsubscribe_url(ports: Ports, practice_id: str, patient_id: str, kind: str, address: str, now: datetime) -> str:
    key = ports.signing_key()
    token = signed.sign(
        key,
        UNSUBSCRIBE_PURPOSE,
        {"p": practice_id, "t": patient_id, "m": message_type(kind), "h": address_digest(key, address)},
        int((now + UNSUBSCRIBE_LIFETIME).timestamp()),
    )
    return f"{ports.api_base_url}/public/unsubscribe/{token}"


# --- delivery --------------------------------------------------------------------------------------


@dataclass
class Counts:
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    retimed: int = 0
    unknown: int = 0
    deferred: int = 0  # due touches left for the next run because this one was running out of time
    refused: list[Touch] = field(default_factory=list)  # due touches someone else holds, or left for the next run

    def count(self, t: Touch) -> None:
        if t.status == SENT:
            self.sent += 1
        elif t.status == SKIPPED:
            self.skipped += 1
        elif t.status == FAILED:
            self.failed += 1
        elif t.status == UNKNOWN:
            self.unknown += 1
        elif t.status == PENDING:
            self.retimed += 1

    def add(self, other: Counts) -> None:
        self.sent += other.sent
        self.skipped += other.skipped
        self.failed += other.failed
        self.retimed += other.retimed
        self.unknown += other.unknown
        self.deferred += other.deferred
        self.refused += other.refused


def _candidates(patient: Patient, touch: Touch, states: dict[str, AddressState]) -> dict[str, list[AddressState]]:
    """Where a touch may go, per channel: the patient's own address, else their guardians'."""
    out: dict[str, list[AddressState]] = {SMS: [], EMAIL: []}
    own = {SMS: e164(patient.phone), EMAIL: normal_email(patient.email)}
    for channel in CHANNELS:
        addresses = [own[channel]] if own[channel] else [a for c, a in touch.recipients if c == channel]
        for address in addresses:
            out[channel].append(states.get(address) or AddressState(address=address, channel=channel))
    return out


def _addresses_of(patient: Patient, touch: Touch) -> list[str]:
    own = [a for a in (e164(patient.phone), normal_email(patient.email)) if a]
    return own + [a for _, a in touch.recipients]


def _abandoned(t: Touch, now: datetime) -> bool:
    """Handed to the provider by a run that never recorded the answer, and that run's lease is over."""
    return t.status == SENDING and t.claimed_until is not None and t.claimed_until < now


def deliver(ports: Ports, practice: Practice, policy: Policy, touches: list[Touch], now: datetime) -> Counts:
    """Claim, re-read, decide, send and record a batch of due touches of one practice."""
    counts = Counts()
    for t in [t for t in touches if _abandoned(t, now)]:
        _give_up_unknown(ports, practice, t, now, "run_ended_while_sending")
        counts.count(t)
    fresh = [t for t in touches if t.status != SENDING]
    in_flight = [t for t in touches if t.status == SENDING and not _abandoned(t, now)]
    claimed = ports.store.claim(fresh, now, now + LEASE)
    owned = {t.id for t in claimed}
    if claimed:
        counts.add(deliver_claimed(ports, practice, policy, claimed, now))
    counts.refused += in_flight + [t for t in fresh if t.id not in owned]
    return counts


def _give_up_unknown(ports: Ports, practice: Practice, t: Touch, now: datetime, why: str) -> None:
    """Never resend a message that may have gone out: mark it unknown, tell staff, count it."""
    if not ports.store.give_up_unknown(t, why):
        return  # another run settled it first
    t.status, t.reason = UNKNOWN, why
    logger.warning("reminder outcome unknown", extra={"practice_id": practice.id, "touch_id": t.id, "reason": why})
    metrics.add_metric(name="RemindersOutcomeUnknown", unit="Count", value=1)
    _tell_staff(ports, practice, t, now, f"{t.kind} message may or may not have gone out ({why}); check, then resend")


def _tell_staff(ports: Ports, practice: Practice, t: Touch, now: datetime, text: str) -> None:
    """A "failed delivery" item in the staff inbox (its id is fixed per touch and outcome)."""
    try:
        ports.store.add_inbox(
            practice.id,
            InboxEntry(
                id=f"{t.status}-{t.id}",
                at=now,
                kind="delivery_failed",
                address="",
                patient_ids=(t.patient_id,),
                text=text,
            ),
        )
    except Exception:
        # The touch itself records the outcome (reminder history); the inbox is the extra nudge.
        logger.exception("failed-delivery inbox item not written", extra={"practice_id": practice.id, "touch_id": t.id})
        metrics.add_metric(name="ReminderInboxWriteFailed", unit="Count", value=1)


def read_for_sending(
    ports: Ports, practice_id: str, touches: list[Touch], cap_day: str, snap: Snapshot | None = None
) -> tuple[Snapshot, dict[str, AddressState]]:
    """The sweep's re-read of claimed touches (unless ``snap`` holds it): appointments, patients, their
    preferences, daily caps and recall records in BatchGets, then the opt-out state of their addresses."""
    if snap is None:
        snap = ports.store.snapshot(
            practice_id,
            [t.subject_id for t in touches if t.kind not in (RECALL_TOUCH, INSTALMENT_TOUCH)],
            [t.patient_id for t in touches],
            [(t.patient_id, cap_day) for t in touches if t.kind == REMINDER],
            [t.patient_id for t in touches if t.kind == RECALL_TOUCH],
            for_sending=True,
        )
    wanted: list[str] = []
    for t in touches:
        patient = snap.patients.get(t.patient_id)
        if patient is not None:
            wanted += _addresses_of(patient, t)
    return snap, (ports.store.addresses(practice_id, wanted) if wanted else {})


def deliver_claimed(
    ports: Ports, practice: Practice, policy: Policy, claimed: list[Touch], now: datetime, snap: Snapshot | None = None
) -> Counts:
    """Re-read (unless ``snap`` holds it), decide, send and record touches this caller has claimed.

    Touches to send go in groups of ``SEND_GROUP``: the group is marked "sending" in one transaction
    right before its first provider call, and its outcomes are recorded in one transaction right after
    its last (``finish_many``), so a run that dies later leaves nothing it sent looking unsent, and one
    that dies mid-group leaves at most that group "sending" (then unknown, never resent). Two round
    trips per group instead of two per message: on DynamoDB too that is fewer requests per minute and
    less latency per sweep. Skips and re-timings are written together at the end; if the run dies
    first, their claims run out and the next run decides them again (nothing was sent for them).
    """
    counts = Counts()
    cap_day = local_day(now, practice.zone).isoformat()
    snap, states = read_for_sending(ports, practice.id, claimed, cap_day, snap)
    recall_check = _RecallCheck(ports, practice) if any(t.kind == RECALL_TOUCH for t in claimed) else None

    run = _Round(ports, practice, policy, now, snap, states, recall_check, cap_day)
    if any(t.kind == INSTALMENT_TOUCH for t in claimed):
        from chalicelib.reminders.instalments import InstalmentCheck

        run.instalments = InstalmentCheck(ports, practice.id)
    batch = run.decide_and_send(claimed, counts)
    run.retry_unrecorded()
    # Moved visits are planned again before the "moved" skips are written: if planning fails, the run
    # ends here, the skips stay claimed, and a later run (after the lease) finds them moved again.
    for appointment_id in run.replan:
        ports.replanned.append(appointment_id)
        replan_appointment(ports, practice.id, appointment_id, practice=practice, policy=policy)
    ports.store.record(practice.id, batch, [(p, d, n) for (p, d), n in run.caps_written.items()], zone=practice.zone)
    for t in claimed:
        if t.status == FAILED and t.id in run.finished:
            metrics.add_metric(name="RemindersGaveUp", unit="Count", value=1)
            _tell_staff(ports, practice, t, now, f"{t.kind} message could not be delivered ({t.reason})")
    return counts


@dataclass
class _Round:
    """One batch's decisions: verdict, daily cap, send; remembers the caps it used, the touches it
    recorded by themselves (``finished``), gave back untried (``released``) or no longer owns (``lost``)."""

    ports: Ports
    practice: Practice
    policy: Policy
    now: datetime
    snap: Snapshot
    states: dict[str, AddressState]
    recall_check: _RecallCheck | None
    cap_day: str
    instalments: InstalmentCheck | None = None  # billing re-read for instalment touches (instalments.py)

    def __post_init__(self) -> None:
        self.group: list[_Ready] = []  # decided to send, not handed to the provider yet
        self.queued: set[str] = set()
        self.caps = dict(self.snap.caps)
        self.caps_written: dict[tuple[str, str], int] = {}
        self.replan: set[str] = set()
        self.finished: set[str] = set()
        self.released: set[str] = set()
        self.lost: set[str] = set()
        self.throttled: set[str] = set()  # channels the provider throttled in this round
        self.unrecorded: list[tuple[Touch, datetime]] = []

    def _ids(self, t: Touch) -> dict[str, str]:
        return {"practice_id": self.practice.id, "touch_id": t.id}

    def process(self, t: Touch) -> None:
        try:
            verdict = _verdict(t, self.snap, self.practice, self.policy, self.now, self.recall_check, self.instalments)
        except Exception:  # one touch's bad data must not stop the others: retried, then given up
            logger.exception("reminder touch could not be decided", extra=self._ids(t))
            verdict = Verdict("retime", due=_second(retry_due(t.attempts, self.now)))
        if verdict.action == "skip" and verdict.reason == "moved":
            self.replan.add(t.subject_id)
        key = (t.patient_id, self.cap_day)
        capped = t.kind == REMINDER and self.policy.max_per_day and self.caps.get(key, 0) >= self.policy.max_per_day
        if verdict.action == "send" and capped:
            verdict = skip("daily_cap")
        if verdict.action == "send":
            ready = _prepare(self, t)
            if ready is not None:
                if t.kind == REMINDER:  # held for this send; given back in ``flush`` unless it goes out
                    ready.cap = key
                    self.caps[key] = self.caps.get(key, 0) + 1
                self.group.append(ready)
                self.queued.add(t.id)
        elif verdict.action == "retime" and verdict.due is not None:
            t.status, t.due, t.claimed_until, t.attempts = PENDING, verdict.due, None, max(t.attempts - 1, 0)
        else:
            _finish_skip(t, verdict.reason)

    def decide_and_send(self, claimed: list[Touch], counts: Counts) -> list[Touch]:
        """Decide each touch, oldest first, sending in groups; returns what the closing batch writes."""
        latest: dict[str, datetime] = {}
        for t in claimed:
            if t.kind == REMINDER:
                latest[t.subject_id] = max(latest.get(t.subject_id, t.due), t.due)
        batch: list[Touch] = []
        for t in sorted(claimed, key=lambda x: x.due):
            if _out_of_time(self.ports):
                self.released.add(t.id)  # never handed to a provider: given back for the next run, no attempt spent
                counts.deferred += 1
            elif t.kind == REMINDER and t.due < latest[t.subject_id]:
                _finish_skip(t, "superseded")  # a catch-up found a later touch of the same visit
            else:
                self.process(t)
            if t.id not in self.queued:
                self.settle(t, counts, batch)
            if len(self.group) >= SEND_GROUP:
                for done in self.flush():
                    self.settle(done, counts, batch)
        for done in self.flush():
            self.settle(done, counts, batch)
        return batch

    def settle(self, t: Touch, counts: Counts, batch: list[Touch]) -> None:
        """Count a processed touch; queue it for the closing batch write unless it is written already."""
        if t.id in self.lost:
            counts.refused.append(t)  # our claim ran out and another run holds it: write nothing
            return
        if t.id in self.released:
            counts.refused.append(t)  # given back untried: the next run looks at it again
            if t.id not in self.finished:
                t.status, t.claimed_until, t.attempts = PENDING, None, max(t.attempts - 1, 0)
        else:
            counts.count(t)
        if t.id not in self.finished:
            batch.append(t)

    def flush(self) -> list[Touch]:
        """Hand the group to the provider: mark it "sending" (one transaction), send each, record the
        outcomes (one transaction). Returns the group's touches, to be settled."""
        group, self.group = self.group, []
        self.queued.clear()
        if not group:
            return []
        marked = {t.id for t in self.ports.store.begin_sends([r.t for r in group])}
        outcomes: list[tuple[Touch, datetime]] = []
        sent_caps: set[tuple[str, str]] = set()
        for r in group:
            t = r.t
            if t.id not in marked:
                self.lost.add(t.id)  # our claim ran out and another run has it
            else:
                t.status = SENDING
                if _send(self, r):
                    outcomes.append((t, r.lease))
            if t.status == SENT and r.cap is not None:
                sent_caps.add(r.cap)
            elif r.cap is not None:
                self.caps[r.cap] -= 1
        for key in sent_caps:
            self.caps_written[key] = self.caps[key]
        self.finished.update(t.id for t, _ in outcomes)
        try:
            for t in self.ports.store.finish_many(outcomes, self.practice.zone):
                logger.warning("reminder touch settled by another run", extra={"touch_id": t.id})
        except Exception:
            logger.exception("reminder outcomes not recorded yet", extra={"practice_id": self.practice.id})
            metrics.add_metric(name="ReminderRecordFailed", unit="Count", value=1)
            self.unrecorded += outcomes
        return [r.t for r in group]

    def retry_unrecorded(self) -> None:
        """One more try for outcomes the table refused; if it refuses again, the touch stays "sending"
        and the next run marks it unknown (never resent), which staff see."""
        for t, lease in self.unrecorded:
            try:
                self.ports.store.finish(t, lease, self.practice.zone)
            except Exception:
                logger.exception("reminder outcome not recorded", extra=self._ids(t))


def _out_of_time(ports: Ports) -> bool:
    """Whether the run should start nothing more (see ``SWEEP_RESERVE``)."""
    return ports.time_left() < SWEEP_RESERVE.total_seconds()


def _finish_skip(t: Touch, reason: str) -> None:
    t.status, t.reason, t.claimed_until = SKIPPED, reason, None


class _RecallCheck:
    """Whether a patient holds a future hygiene appointment (one Query per patient, cached per batch)."""

    def __init__(self, ports: Ports, practice: Practice) -> None:
        self.ports = ports
        self.practice = practice
        self.hygiene_types = {t.id for t in ports.practices.appointment_types(practice.id) if t.category == "hygiene"}
        self.cache: dict[str, bool] = {}

    def booked(self, patient_id: str, now: datetime) -> bool:
        if patient_id not in self.cache:
            upcoming = self.ports.appointments.for_patient(self.practice.id, patient_id, now, now + timedelta(days=400))
            self.cache[patient_id] = any(
                a.type_id in self.hygiene_types and a.status in REMINDABLE | {"requested"} for a in upcoming
            )
        return self.cache[patient_id]


def _verdict(  # noqa: PLR0911 - one return per rule reads best
    t: Touch,
    snap: Snapshot,
    practice: Practice,
    policy: Policy,
    now: datetime,
    recall_check: _RecallCheck | None,
    instalments: InstalmentCheck | None = None,
) -> Verdict:
    patient = snap.patients.get(t.patient_id)
    if patient is None or not patient.active:
        return skip("patient_inactive")
    prefs = snap.prefs.get(t.patient_id, ContactPrefs())
    hours = prefs.sending_hours or policy.sending_hours
    quiet_zone = patient.zone or practice.zone
    if t.kind in FEEDBACK_KINDS:  # after the visit: only the patient and the sending hours matter
        opens = hours.next_open(now, quiet_zone)
        return Verdict("send") if opens == now else Verdict("retime", due=opens)
    if t.kind == INSTALMENT_TOUCH:
        from chalicelib.reminders.instalments import instalment_verdict

        return instalment_verdict(t, instalments, now, hours, quiet_zone)
    if t.kind == RECALL_TOUCH:
        record = snap.recalls.get(t.patient_id)
        if record is None or record.due != t.recall_due:
            return skip("recall_changed")
        if recall_check is not None and recall_check.booked(t.patient_id, now):
            return skip("booked")
        opens = hours.next_open(now, quiet_zone)
        return Verdict("send") if opens == now else Verdict("retime", due=opens)
    appointment = snap.appointments.get(t.subject_id)
    if t.planned_start is None:
        return skip("no_start")
    return appointment_verdict(
        t.kind,
        t.planned_start,
        t.after_confirm,
        appointment.status if appointment else None,
        appointment.start if appointment else None,
        policy,
        now,
        hours,
        quiet_zone,
    )


@dataclass
class _Ready:
    """A touch decided for sending, routed, and not yet handed to the provider."""

    t: Touch
    patient: Patient
    appointment: Appointment | None
    route: Route
    language: str
    lease: datetime
    cap: tuple[str, str] | None = None


def _prepare(run: _Round, t: Touch) -> _Ready | None:
    """Route a touch to send; None when it is skipped, given back or no longer ours instead."""
    ports, practice, snap, states, now = run.ports, run.practice, run.snap, run.states, run.now
    patient = snap.patients[t.patient_id]
    prefs = snap.prefs.get(t.patient_id, ContactPrefs())
    candidates = _candidates(patient, t, states)
    route, notes = route_message(t.channel, t.fallback, message_type(t.kind), prefs, candidates)
    if route is not None and route.channel == SMS:
        try:
            opted_out = ports.carrier.is_opted_out(route.address)
        except Exception as exc:  # the provider could not answer: decide this touch on a later run
            logger.warning("carrier opt-out check failed", extra={"touch_id": t.id, "error": type(exc).__name__})
            run.released.add(t.id)
            return None
        if opted_out:
            # The provider would drop it: record why, show staff "SMS blocked (opted out)", use email.
            ports.store.set_sms_blocked(practice.id, route.address, now)
            states[route.address] = replace(
                states.get(route.address) or AddressState(route.address, SMS), sms_blocked=True
            )
            blocked = (*notes, "sms_blocked_opted_out")
            route, more = route_message(
                t.channel, True, message_type(t.kind), prefs, candidates, exclude=frozenset({SMS})
            )
            notes = blocked + more
    t.notes = list(dict.fromkeys(notes))
    if route is None:
        _finish_skip(t, "no_channel")
        return None
    if route.channel in run.throttled:
        run.released.add(t.id)  # the provider is throttling this channel: the next run tries, no attempt spent
        return None
    if t.claimed_until is None:
        run.lost.add(t.id)
        return None
    language = prefs.language or patient.language or "en"
    appointment = snap.appointments.get(t.subject_id) if t.kind not in (RECALL_TOUCH, INSTALMENT_TOUCH) else None
    if t.kind == INSTALMENT_TOUCH:
        from chalicelib.reminders.instalments import attach_pay_url

        if not attach_pay_url(ports, t, now):  # last, so a link is minted only for a message about to go
            return None
    return _Ready(t, patient, appointment, route, language, t.claimed_until)


def _send(run: _Round, r: _Ready) -> bool:
    """Hand a touch marked "sending" to the provider; True when its outcome is to be recorded with the
    group's (sent, refused, or given back untried), False when it is settled already (unknown)."""
    ports, practice, policy, now, t, lease = run.ports, run.practice, run.policy, run.now, r.t, r.lease
    if r.route.channel in run.throttled:
        # The provider began throttling this channel within the group: never handed over, give it back.
        run.released.add(t.id)
        t.status, t.claimed_until, t.attempts = PENDING, None, max(t.attempts - 1, 0)
        return True
    try:
        provider_id = _send_rendered(ports, practice, policy, t, r.patient, r.appointment, r.route, r.language, now)
    except SendOutcomeUnknown as exc:
        t.claimed_until = lease
        run.finished.add(t.id)
        _give_up_unknown(ports, practice, t, now, exc.code)
        return False
    except Exception as exc:  # the provider refused it (throttled, rejected, unreachable): retry later
        logger.warning(
            "reminder send failed",
            extra={"practice_id": practice.id, "touch_id": t.id, "error": type(exc).__name__},
        )
        metrics.add_metric(name="ReminderSendErrors", unit="Count", value=1)
        if isinstance(exc, SendRefused) and exc.throttled:
            run.throttled.add(r.route.channel)
        t.reason = exc.code if isinstance(exc, SendRefused) else type(exc).__name__
        if t.attempts >= MAX_SEND_ATTEMPTS:
            t.status, t.claimed_until = FAILED, None
        else:
            t.status, t.due, t.claimed_until = PENDING, _second(retry_due(t.attempts, now)), None
        return True
    t.status, t.reason, t.claimed_until = SENT, "", None
    t.sent_at, t.sent_channel, t.sent_to, t.provider_message_id = now, r.route.channel, r.route.address, provider_id
    return True


def _send_rendered(
    ports: Ports,
    practice: Practice,
    policy: Policy,
    t: Touch,
    patient: Patient,
    appointment: Appointment | None,
    route: Route,
    language: str,
    now: datetime,
) -> str:
    facts = message_facts(ports, practice, t, patient, appointment, language, now, route)
    rendered = render(facts, route.channel, policy.templates)
    if route.channel == SMS:
        origination = e164(str(practice.settings.get("sms_number") or practice.phone))
        t.parts = sms_segments(rendered.text)
        return ports.sms.send(Sms(to=route.address, text=rendered.text, origination=origination))
    headers = {
        "List-Unsubscribe": f"<{facts.unsubscribe_url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "X-Chairside-Practice": practice.id,
    }
    return ports.email.send(
        Email(to=route.address, subject=rendered.subject, text=rendered.text, html=rendered.html, headers=headers)
    )


def message_facts(
    ports: Ports,
    practice: Practice,
    t: Touch,
    patient: Patient,
    appointment: Appointment | None,
    language: str,
    now: datetime,
    route: Route | None = None,
) -> MessageFacts:
    """Everything a message about ``t`` says; the same whoever created the appointment (R01)."""
    when = appointment.start if appointment is not None else t.planned_start
    action: dict[str, str] = {}
    sms_reschedule = ""
    if appointment is not None and t.kind in (REMINDER, NOTICE_MOVED) and appointment.start > now:
        key = ports.signing_key()
        if route is not None and route.channel == SMS:
            sms_reschedule = short_url(ports, practice.id, appointment, links.RESCHEDULE)
        else:
            for name in links.ACTIONS:
                token = links.action_token(key, practice.id, appointment.id, name, appointment.start, now)
                action[name] = link_url(ports, practice.id, token)
    survey = ""
    if t.kind == SURVEY_TOUCH:
        from chalicelib.feedback.links import survey_url

        survey = survey_url(ports.web_base_url, ports.signing_key(), practice.id, t.subject_id, now, language)
    instalment = t.instalment if t.kind == INSTALMENT_TOUCH else None
    unsubscribe = ""
    if route is not None and route.channel == EMAIL:
        unsubscribe = unsubscribe_url(ports, practice.id, patient.id, t.kind, route.address, now)
    return MessageFacts(
        kind=t.kind,
        language=language,
        practice_name=practice.name,
        practice_phone=practice.phone,
        practice_address=practice.address,
        zone=practice.zone,
        first_name=patient.given_name,
        when=when,
        confirmed=bool(appointment is not None and appointment.status == "confirmed"),
        confirm_url=action.get(links.CONFIRM, ""),
        cancel_url=action.get(links.CANCEL, ""),
        reschedule_url=action.get(links.RESCHEDULE, ""),
        book_url=book_url(ports, practice.id, "hygiene" if t.kind == RECALL_TOUCH else ""),
        unsubscribe_url=unsubscribe,
        due=t.recall_due,
        sms_reschedule_url=sms_reschedule,
        survey_url=survey,
        pay_url=instalment.pay_url if instalment else "",
        amount_cents=instalment.amount_cents if instalment else None,
        instalment_number=instalment.number if instalment else 0,
        instalment_of=instalment.of if instalment else 0,
        due_on=instalment.due_on if instalment else None,
    )


# --- the sweep --------------------------------------------------------------------------------------


@dataclass
class SweepReport:
    practices: int = 0
    due: int = 0
    counts: Counts = field(default_factory=Counts)


def sweep(ports: Ports, now: datetime) -> SweepReport:
    """Every practice, one after the other; one practice failing does not stop the others."""
    report = SweepReport()
    for practice_id in ports.practices.all_ids():
        if _out_of_time(ports):
            logger.warning("reminder sweep out of time; the next run goes on", extra={"practice_id": practice_id})
            metrics.add_metric(name="ReminderSweepOutOfTime", unit="Count", value=1)
            break
        try:
            due, counts = sweep_practice(ports, practice_id, now)
        except Exception:
            logger.exception("reminder sweep failed for a practice", extra={"practice_id": practice_id})
            metrics.add_metric(name="ReminderSweepFailed", unit="Count", value=1)
            continue
        report.practices += 1
        report.due += due
        report.counts.add(counts)
    counts = report.counts
    for name, value in (
        ("RemindersSent", counts.sent),
        ("RemindersSkipped", counts.skipped),
        ("RemindersFailed", counts.failed),
        ("RemindersRetimed", counts.retimed),
        ("RemindersUnknown", counts.unknown),
        ("RemindersDeferred", counts.deferred),
    ):
        if value:
            metrics.add_metric(name=name, unit="Count", value=value)
    return report


def sweep_practice(ports: Ports, practice_id: str, now: datetime) -> tuple[int, Counts]:
    now = _second(now)
    practice = ports.practices.get(practice_id)
    if practice is None:
        return 0, Counts()
    policy = ports.store.policy(practice_id)
    state = run_daily_jobs(ports, practice, policy, now)
    replan_marked(ports, practice, policy)
    since = state.watermark if state and state.watermark else now - FIRST_LOOKBACK
    since = max(since, now - MAX_CATCH_UP)
    due = ports.store.due_touches(practice_id, since, now)
    counts = Counts()
    pinned: list[datetime] = []
    for start in range(0, len(due), CHUNK):
        if _out_of_time(ports):  # what is left waits for the next run, from just before its oldest touch
            pinned.append(due[start].due - timedelta(seconds=1))
            counts.deferred += len(due) - start
            break
        part = deliver(ports, practice, policy, due[start : start + CHUNK], now)
        counts.add(part)
        # Touches someone else holds (a concurrent run, or one that died): look at them again next time.
        # Just before its due instant: the next run reads (watermark, now], so a pin *at* the instant
        # would skip the very touch it is meant to keep (found by a test: a run 2+ minutes later).
        pinned += [t.due - timedelta(seconds=1) for t in part.refused]
    watermark = max(since, min([now - SAFETY_LAG, *pinned]))
    current = ports.store.sweep_state(practice_id)
    ports.store.save_sweep_state(practice_id, current, replace(current or SweepState(), watermark=watermark))
    if due:
        logger.info(
            "reminder sweep",
            extra={
                "practice_id": practice_id,
                "due": len(due),
                "sent": counts.sent,
                "skipped": counts.skipped,
                "failed": counts.failed,
                "retimed": counts.retimed,
                "unknown": counts.unknown,
                "deferred": counts.deferred,
            },
        )
    return len(due), counts


def run_daily_jobs(ports: Ports, practice: Practice, policy: Policy, now: datetime) -> SweepState | None:
    """The practice's daily jobs (planner at ``planner_at``, recall at ``recall_at``, local time), each
    claimed for its local day by a compare-and-set of the next run instant, so it runs once a day,
    DST days included (see model.next_daily_run). A new practice runs both on its first sweep."""
    state = ports.store.sweep_state(practice.id)
    plan_due = state is None or state.next_plan_at is None or now >= state.next_plan_at
    recall_due = state is None or state.next_recall_at is None or now >= state.next_recall_at
    if not (plan_due or recall_due):
        return state
    base = state or SweepState(planned_version=policy.version)
    new_policy = base.planned_version != policy.version
    new = replace(
        base,
        next_plan_at=next_daily_run(now, policy.planner_at, practice.zone) if plan_due else base.next_plan_at,
        next_recall_at=next_daily_run(now, policy.recall_at, practice.zone) if recall_due else base.next_recall_at,
        planned_version=policy.version if plan_due else base.planned_version,
    )
    if not ports.store.save_sweep_state(practice.id, state, new):
        return ports.store.sweep_state(practice.id)  # another run claimed them
    if plan_due:
        plan_upcoming(ports, practice, policy, now, open_touches=new_policy)
        plan_instalment_reminders(ports, practice.id, now, practice=practice, policy=policy, policy_changed=new_policy)
    if recall_due:
        from chalicelib.recall.service import plan_practice, plan_recent_visits

        # A new practice (or one whose records came in by import) gets every patient's recall once.
        (plan_practice if state is None else plan_recent_visits)(ports, practice, policy, now)
    return new


def plan_instalment_reminders(
    ports: Ports,
    practice_id: str,
    now: datetime,
    *,
    practice: Practice | None = None,
    policy: Policy | None = None,
    policy_changed: bool = False,
) -> None:
    """Payment-plan reminders (chalicelib/reminders/instalments.py), for the daily pass and for a plan just
    made (practice and policy read here unless given). Best effort: billing or the table failing must not
    stop the sweep nor undo a saved plan; logged (ids only), counted, and the next daily pass, which looks a
    few days back, plans what is still unpaid."""
    from chalicelib.reminders.instalments import plan_instalments

    try:
        practice = practice or ports.practices.get(practice_id)
        if practice is not None:
            plan_instalments(ports, practice, policy or ports.store.policy(practice_id), now, policy_changed)
    except Exception:
        logger.exception("instalment reminder planning failed", extra={"practice_id": practice_id})
        metrics.add_metric(name="InstalmentPlanFailed", unit="Count", value=1)


# --- policy changes -----------------------------------------------------------------------------------


def change_policy(ports: Ports, practice_id: str, raw: dict[str, object], by: str) -> Policy:
    """Validate and save a new policy version (optimistic: ``version`` must be the current one), then
    ask the next sweep to re-plan the coming days under it."""
    from chalicelib.reminders.model import PolicyError, policy_from_dict

    expected = raw.get("version")
    if isinstance(expected, bool) or not isinstance(expected, int) or expected < 0:
        raise PolicyError("version (the version you are replacing) is required")
    body = {k: v for k, v in raw.items() if k != "version"}
    policy = policy_from_dict(body)
    saved = ports.store.save_policy(practice_id, policy, expected, by, ports.clock.now())
    state = ports.store.sweep_state(practice_id)
    if state is not None:
        ports.store.save_sweep_state(practice_id, state, replace(state, next_plan_at=None))
    return saved


# --- reads for the contact record ----------------------------------------------------------------------


def contact_addresses(ports: Ports, practice_id: str, patient: Patient) -> list[AddressState]:
    """The patient's own and their guardians' addresses, with opt-out and suppression state."""
    wanted: list[str] = [a for a in (e164(patient.phone), normal_email(patient.email)) if a]
    for link in ports.patients.links_for_patient(practice_id, patient.id):
        address = e164(link.address) if link.channel == SMS else normal_email(link.address)
        if address:
            wanted.append(address)
    wanted = list(dict.fromkeys(wanted))
    states = ports.store.addresses(practice_id, wanted)
    return [states.get(a) or AddressState(a, EMAIL if "@" in a else SMS) for a in wanted]


def refresh_patient(ports: Ports, practice_id: str, patient_id: str) -> None:
    """Re-plan a patient's upcoming appointments (their sending hours or channels changed)."""
    now = ports.clock.now()
    for appointment in ports.appointments.for_patient(practice_id, patient_id, now, now + timedelta(days=62)):
        replan_appointment(ports, practice_id, appointment.id)
