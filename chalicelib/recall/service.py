"""Recall use cases: keep each patient's recall record and recall touches in step with their visits.

A recall touch is an ordinary touch (kind ``recall``) swept and delivered by the reminder engine, with
its own checks at send time: the recall record still has the due date the touch was planned for, and
the patient holds no future hygiene appointment. Planning runs when a hygiene appointment changes
(event) and once a day per practice at ``recall_at`` local time (records that came in by import).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from chalicelib.appointments.model import Appointment
from chalicelib.practices.model import Practice
from chalicelib.recall.model import HYGIENE, recall_due, remaining_dates
from chalicelib.reminders.model import (
    PENDING,
    RECALL_TOUCH,
    REMINDABLE,
    Policy,
    RecallRecord,
    Touch,
    at_local,
    local_day,
)
from chalicelib.reminders.ports import Ports

LOOK_BACK = timedelta(days=3 * 366)
LOOK_AHEAD = timedelta(days=400)
UPCOMING = REMINDABLE | {"requested"}


TYPES_TTL = 300.0  # seconds a container trusts its list of a practice's hygiene types


def hygiene_type_ids(ports: Ports, practice_id: str) -> set[str]:
    """The practice's hygiene appointment types, cached for a few minutes per container."""
    cached = ports.hygiene_types.get(practice_id)
    if cached is None or time.monotonic() - cached[0] > TYPES_TTL:
        ids = {t.id for t in ports.practices.appointment_types(practice_id) if t.category == HYGIENE}
        cached = ports.hygiene_types[practice_id] = (time.monotonic(), ids)
    return cached[1]


def on_appointment(ports: Ports, practice: Practice, policy: Policy, appointment: Appointment, now: datetime) -> None:
    """A hygiene appointment was booked, moved, completed or cancelled: re-plan that patient's recall."""
    hygiene = hygiene_type_ids(ports, practice.id)
    if appointment.type_id in hygiene:
        plan_patient(ports, practice, policy, appointment.patient_id, now, hygiene)


def last_hygiene_visit(appointments: list[Appointment], hygiene: set[str], now: datetime) -> Appointment | None:
    done = [a for a in appointments if a.type_id in hygiene and a.status == "completed" and a.start <= now]
    return max(done, key=lambda a: a.start) if done else None


def plan_patient(
    ports: Ports,
    practice: Practice,
    policy: Policy,
    patient_id: str,
    now: datetime,
    hygiene: set[str] | None = None,
) -> list[Touch]:
    """The patient's recall record and pending recall touches, from their actual visits."""
    hygiene = hygiene if hygiene is not None else hygiene_type_ids(ports, practice.id)
    visits = ports.appointments.for_patient(practice.id, patient_id, now - LOOK_BACK, now + LOOK_AHEAD)
    last = last_hygiene_visit(visits, hygiene, now)
    if last is None:
        return []  # no hygiene visit on record: no recall record, so no recall touches either
    booked = any(a.type_id in hygiene and a.status in UPCOMING and a.start > now for a in visits)
    patient = ports.patients.get(practice.id, patient_id)
    existing = {t.id: t for t in ports.store.touches_with_prefix(practice.id, f"RECALL#{patient_id}#")}
    desired: dict[str, Touch] = {}
    if patient is not None and patient.active:
        rule = policy.recall
        visit_day = local_day(last.start, practice.zone)
        record = RecallRecord(patient_id, visit_day, recall_due(visit_day, rule.interval_months))
        if ports.store.recall(practice.id, patient_id) != record:
            ports.store.save_recall(practice.id, record)
        today = local_day(now, practice.zone)
        zone = patient.zone or practice.zone
        plan = remaining_dates(
            record.due,
            today,
            booked,
            rule.lead_days,
            rule.repeat_days,
            rule.max_messages,
            rule.give_up_after_months,
        )
        for number, day in plan:
            due = policy.sending_hours.next_open(at_local(day, rule.send_at, zone), zone)
            touch_id = f"RECALL#{patient_id}#{record.due.isoformat()}#{number}"
            desired[touch_id] = Touch(
                practice_id=practice.id,
                id=touch_id,
                kind=RECALL_TOUCH,
                key=f"recall{number}",
                subject_id=patient_id,
                patient_id=patient_id,
                due=due.replace(microsecond=0),
                channel=rule.channel,
                fallback=True,
                policy_version=policy.version,
                recall_due=record.due,
                created_at=now,
            )
    for touch in existing.values():
        if touch.id not in desired and touch.status == PENDING:
            ports.store.cancel_touch(touch, "booked" if booked else "replanned")
    for touch_id, touch in desired.items():
        if touch_id not in existing and touch.due >= now:
            ports.store.create_touch(touch)
    return [t for t in desired.values() if t.due >= now]


RECENT_DAYS = 3


def plan_recent_visits(ports: Ports, practice: Practice, policy: Policy, now: datetime) -> int:
    """The daily recall pass: patients whose hygiene appointments are on the last few local days
    (completions written without an event, e.g. by an import). One day-index Query per day."""
    hygiene = hygiene_type_ids(ports, practice.id)
    if not hygiene:
        return 0
    today = local_day(now, practice.zone)
    patients: list[str] = []
    for back in range(RECENT_DAYS):
        for appointment in ports.appointments.on_day(practice.id, today - timedelta(days=back)):
            if appointment.type_id in hygiene:
                patients.append(appointment.patient_id)
    for patient_id in dict.fromkeys(patients):
        plan_patient(ports, practice, policy, patient_id, now, hygiene)
    return len(set(patients))


def plan_practice(ports: Ports, practice: Practice, policy: Policy, now: datetime) -> int:
    """Recall for every patient of the practice (a paged Query, never a Scan): for an import of
    visit history, or the demo loader, to call once."""
    if ports.patient_lister is None:
        return 0
    hygiene = hygiene_type_ids(ports, practice.id)
    if not hygiene:
        return 0
    planned = 0
    for patient_id in ports.patient_lister.patient_ids(practice.id):
        if plan_patient(ports, practice, policy, patient_id, now, hygiene):
            planned += 1
    return planned
