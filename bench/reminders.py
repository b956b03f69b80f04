"""The reminder sweep at scale, under moto in process: at least 10,000 touches due in one run.

Setup: Maple Dental with ``TOUCHES`` patients (7 in 10 with a mobile, the rest email only), one
appointment each on one day, planned with the engine's own ``plan_reminders``; the 2-day touches
(SMS, email when there is no number) are due over that day's sending hours, two days before. The
sweep then runs once, catching up the whole window, exactly as a minute tick after an outage would.

Figures:
- ``reminder_touches``: touches due in the run;
- ``reminder_ddb_requests_per_sent``: DynamoDB requests the sweep made (botocore ``before-call`` hook
  on every client) per message sent;
- ``reminder_scans``: Scan calls anywhere in setup and sweep (goal 0);
- ``reminder_sweep_seconds``: wall time of the sweep;
- ``reminder_sweep_ratio_to_floor``: the sweep's time over the time of the same number of bare SES v2
  ``SendEmail`` and SNS ``Publish`` calls (same mix, same moto, same run);
- ``reminder_sweep_dynamodb_share``: the part of the sweep's time spent inside DynamoDB client calls (from
  building the request to its parsed answer, botocore ``before-parameter-build`` to ``after-call``: botocore's
  validation and serialization, then moto's emulation of DynamoDB);
- ``reminder_sweep_ratio_to_floor_outside_dynamodb``: the rest of the sweep (deciding, rendering, signing
  links, opt-out checks, the sends themselves, pynamodb's models) over the same floor;
- ``reminder_reads_ratio_to_floor``: the same, for only the reads the sweep cannot do without (the due
  index, then per 100 touches the re-read of appointments, patients, preferences and daily caps, and the
  addresses' opt-out state), timed before the sweep on the same touches: a lower bound for the ratio
  that no change to the sweep's writes can go under on this moto.
moto's DynamoDB costs far more per call than DynamoDB does, relative to its SES and SNS, so the ratio
here overstates what AWS would show; the request counts carry over.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

TOUCHES = int(os.environ.get("CHAIRSIDE_BENCH_REMINDER_TOUCHES", "10000"))
PRACTICE = "P-BENCH"
VISIT_DAY = datetime(2027, 4, 20, 12, 0, tzinfo=UTC)  # 08:00 EDT
SWEEP_AT = datetime(2027, 4, 18, 23, 0, tzinfo=UTC)  # 19:00 EDT, two days before, in sending hours


class _Calls:
    """Counts API calls per service and operation on every botocore client created while active."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.seconds: dict[str, float] = {}  # wall time inside calls, per service (request to parsed answer)
        self._started: dict[int, float] = {}
        self._original: Any = None

    def _hook(self, model: Any = None, **_: Any) -> None:
        self.counts[(model.service_model.service_name, model.name)] += 1

    def _start(self, context: Any = None, **_: Any) -> None:
        self._started[id(context)] = time.perf_counter()

    def _done(self, model: Any = None, context: Any = None, **_: Any) -> None:
        started = self._started.pop(id(context), None)
        if started is not None:
            service = model.service_model.service_name
            self.seconds[service] = self.seconds.get(service, 0.0) + time.perf_counter() - started

    def install(self) -> None:
        import botocore.session

        original = botocore.session.Session.create_client
        hook, start, done = self._hook, self._start, self._done

        def create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
            made = original(session, *args, **kwargs)
            made.meta.events.register("before-call", hook, unique_id="chairside-bench-reminders")
            made.meta.events.register("before-parameter-build", start, unique_id="chairside-bench-reminders-start")
            made.meta.events.register("after-call", done, unique_id="chairside-bench-reminders-done")
            return made

        self._original = original
        botocore.session.Session.create_client = create_client

    def uninstall(self) -> None:
        import botocore.session

        if self._original is not None:
            botocore.session.Session.create_client = self._original

    def total(self, service: str) -> int:
        return sum(n for (s, _), n in self.counts.items() if s == service)


def _forget_pynamodb_connections() -> None:
    """So every pynamodb client is created (and hooked) inside the run."""
    from chalicelib.platform.table import TableItem

    found: list[Any] = [TableItem]
    for cls in found:
        found.extend(c for c in cls.__subclasses__() if c not in found)
    for cls in found:
        cls._connection = None


def _seed(touches: int) -> tuple[int, int]:
    """Patients, contact links, appointments and their due 2-day touches, written in batches."""
    from chalicelib.appointments.model import Appointment
    from chalicelib.appointments.store import appointment_item
    from chalicelib.patients.model import Patient, contact_links_for
    from chalicelib.patients.store import contact_link_item, patient_item
    from chalicelib.platform.table import TableItem
    from chalicelib.practices.model import AppointmentType, Practice
    from chalicelib.practices.store import PracticeStore, appointment_type_item
    from chalicelib.reminders.model import REMINDER, Policy, SweepState, Touch, plan_reminders
    from chalicelib.reminders.service import reminder_touch_id
    from chalicelib.reminders.store import ReminderStore, touch_item

    practice = Practice(
        id=PRACTICE,
        name="Maple Dental",
        zone="America/New_York",
        phone="+15555550100",
        address={"line": "1 Maple Way", "city": "Springfield", "state": "NY", "postal_code": "10001"},
    )
    PracticeStore().put(practice)
    appointment_type_item(PRACTICE, AppointmentType("CLEAN", "Cleaning", 60, "hygiene")).save()
    policy = Policy()
    sms = email = 0
    with TableItem.batch_write() as batch:
        for n in range(touches):
            has_phone = n % 10 < 7
            patient = Patient(
                id=f"BP{n:05d}",
                given_name="Ava",
                family_name=f"Bench{n}",
                phone=f"+1555{n:07d}" if has_phone else "",  # 1 in 100 ends in 99: moto calls it opted out
                email=f"bp{n:05d}@example.test",
            )
            start = (VISIT_DAY + timedelta(seconds=(n * 36_000) // touches)).replace(second=0)  # 08:00-18:00 EDT
            appointment = Appointment(
                f"BA{n:05d}", patient.id, "DR1", "OP2", "CLEAN", start, start + timedelta(hours=1)
            )
            batch.save(patient_item(PRACTICE, patient))
            for link in contact_links_for(patient):
                batch.save(contact_link_item(PRACTICE, link))
            batch.save(appointment_item(PRACTICE, practice.zone, appointment))
            for planned in plan_reminders(start, "booked", policy, practice.zone, policy.sending_hours, practice.zone):
                touch_id = reminder_touch_id(appointment.id, planned.key, start)
                batch.save(
                    touch_item(
                        Touch(
                            practice_id=PRACTICE,
                            id=touch_id,
                            kind=REMINDER,
                            key=planned.key,
                            subject_id=appointment.id,
                            patient_id=patient.id,
                            due=planned.due,
                            channel=planned.channel,
                            fallback=planned.fallback,
                            after_confirm=planned.after_confirm,
                            planned_start=start,
                            created_at=SWEEP_AT - timedelta(days=10),
                        )
                    )
                )
            sms += has_phone
            email += not has_phone
    # The practice's daily jobs have run today; its last sweep was before the 2-day window opened.
    ReminderStore().save_sweep_state(
        PRACTICE,
        None,
        SweepState(
            watermark=VISIT_DAY - timedelta(days=2, minutes=1),
            next_plan_at=SWEEP_AT + timedelta(hours=6),
            next_recall_at=SWEEP_AT + timedelta(hours=7),
        ),
    )
    return sms, email


def _floor(sms: int, email: int) -> float:
    """Seconds for the same number of bare sends, with bodies of the same size."""
    from chalicelib.platform.aws import client

    ses, sns = client("sesv2"), client("sns")
    text = "Maple Dental: Hi Ava, see you Tuesday, April 20, 10:00 AM EDT. Reply C to confirm. " + "x" * 90
    started = time.perf_counter()
    for n in range(sms):
        sns.publish(PhoneNumber=f"+1556{n:07d}", Message=text)
    for n in range(email):
        ses.send_email(
            FromEmailAddress="reminders@chairside.example.test",
            Destination={"ToAddresses": [f"floor{n}@example.test"]},
            Content={"Simple": {"Subject": {"Data": "Reminder"}, "Body": {"Text": {"Data": text * 8}}}},
        )
    return time.perf_counter() - started


def _reads(ports: Any, since: datetime) -> float:
    """Seconds for the sweep's unavoidable reads of what is due (see ``reminder_reads_ratio_to_floor``):
    the due index, then the sweep's own re-read (``read_for_sending``) per chunk."""
    from chalicelib.reminders.service import CHUNK, read_for_sending

    started = time.perf_counter()
    due = ports.store.due_touches(PRACTICE, since, SWEEP_AT)
    for first in range(0, len(due), CHUNK):
        read_for_sending(ports, PRACTICE, due[first : first + CHUNK], "2027-04-18")
    return time.perf_counter() - started


def run() -> Iterator[tuple[str, str]]:
    from bench.moto_aws import SIGNING_KEY, in_process_aws

    calls = _Calls()
    calls.install()
    try:
        with in_process_aws(
            AWS_ACCESS_KEY_ID=os.environ.get("AWS_ACCESS_KEY_ID", "bench"),
            AWS_SECRET_ACCESS_KEY=os.environ.get("AWS_SECRET_ACCESS_KEY", "bench"),
            TOKEN_SIGNING_KEY=SIGNING_KEY,
            POWERTOOLS_METRICS_DISABLED="true",
            POWERTOOLS_LOG_LEVEL="WARNING",
        ):
            from chalicelib.platform.clock import FixedClock
            from chalicelib.platform.deps import Deps
            from chalicelib.reminders.handlers import ports_for
            from chalicelib.reminders.service import sweep_practice
            from local.bootstrap import create_resources

            _forget_pynamodb_connections()
            create_resources()
            sms, email = _seed(TOUCHES)
            ports = ports_for(Deps(clock=FixedClock(SWEEP_AT)))
            reads = _reads(ports, VISIT_DAY - timedelta(days=2, minutes=1))
            before, ddb_before = Counter(calls.counts), calls.seconds.get("dynamodb", 0.0)
            started = time.perf_counter()
            due, counts = sweep_practice(ports, PRACTICE, SWEEP_AT)
            seconds = time.perf_counter() - started
            ddb_seconds = calls.seconds.get("dynamodb", 0.0) - ddb_before
            during = calls.counts - before
            ddb = sum(n for (service, _), n in during.items() if service == "dynamodb")
            sent_sms = during[("sns", "Publish")]
            sent_email = during[("sesv2", "SendEmail")]
            floor = _floor(sent_sms, sent_email)
            scans = sum(n for (service, op), n in calls.counts.items() if service == "dynamodb" and op == "Scan")
    finally:
        calls.uninstall()
    sent = max(counts.sent, 1)
    yield "reminder_touches", str(due)
    yield (
        "reminder_sent",
        f"{counts.sent} ({sent_sms} sms, {sent_email} email, of {sms} with a phone, {email} email-only)",
    )
    yield "reminder_ddb_requests_per_sent", f"{ddb / sent:.2f}"
    yield "reminder_scans", str(scans)
    yield "reminder_sweep_seconds", f"{seconds:.1f}"
    yield "reminder_sweep_ratio_to_floor", f"{seconds / floor:.2f}"
    yield "reminder_sweep_dynamodb_share", f"{ddb_seconds / seconds:.2f}"
    yield "reminder_sweep_ratio_to_floor_outside_dynamodb", f"{(seconds - ddb_seconds) / floor:.2f}"
    yield "reminder_reads_ratio_to_floor", f"{reads / floor:.2f}"
