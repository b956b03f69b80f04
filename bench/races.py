"""Races at full size. Fast versions: tests/integration/test_hardening_races.py and test_booking_races.py.

Figures:
- ``race_booking_winners``: 50 concurrent staff bookings of one free slot, over HTTP on the local
  stack, each for another demo patient -> the number that got a 201 (goal 1);
- ``race_webhook_credits``: 1,000 deliveries, 50 at a time, of one signed Stripe
  ``payment_intent.succeeded`` event over HTTP on the local stack -> ledger credits (goal 1);
- ``race_webhook_5xx``: deliveries that got a 5xx (goal 0: Stripe would retry them, harmlessly);
- ``race_sweep_duplicates``: 20 concurrent sweeps of the same minute, in process under moto with
  DynamoDB requests serialised as DynamoDB serialises conflicting writes -> messages sent more than
  once (goal 0); ``race_sweep_sent`` is how many went out.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

WEBHOOK_SECRET = "whsec_local"


def _call(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        request.add_header(k, v)
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw) if raw else None
        except ValueError:
            return exc.code, None


def at_once(count: int, work: Callable[[int], Any], concurrency: int | None = None) -> list[Any]:
    gate = threading.Barrier(min(count, concurrency or count))

    def one(i: int) -> Any:
        if i < gate.parties:
            gate.wait()
        return work(i)

    with ThreadPoolExecutor(max_workers=concurrency or count) as pool:
        return list(pool.map(one, range(count)))


def free_slot(api: str, practice_id: str, type_id: str, first: date) -> dict[str, Any]:
    status, found = _call(
        "GET", f"{api}/practices/{practice_id}/availability?date={first.isoformat()}&days=14&type_id={type_id}"
    )
    assert status == 200, found
    for day in found["days"]:
        for slot in day["slots"]:
            return dict(slot)
    raise LookupError("no free slot in two weeks")


def demo_patient_ids(api: str, practice_id: str, staff: dict[str, str], around: date, wanted: int) -> list[str]:
    """Patient ids from the staff day sheets (the demo has no patient list route)."""
    ids: list[str] = []
    for offset in range(0, 60):
        day = (around - timedelta(days=offset)).isoformat()
        status, sheet = _call("GET", f"{api}/practices/{practice_id}/day?date={day}", headers=staff)
        if status != 200:
            continue
        for value in _walk(sheet):
            if isinstance(value, dict) and isinstance(value.get("patient_id"), str):
                ids.append(value["patient_id"])
            elif isinstance(value, dict) and isinstance(value.get("patient"), dict) and "id" in value["patient"]:
                ids.append(str(value["patient"]["id"]))
        ids = list(dict.fromkeys(ids))
        if len(ids) >= wanted:
            break
    return ids[:wanted]


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)


def booking_race(stack: Any, racers: int = 50) -> int:
    api, practice_id = stack.api_url, stack.practice_id
    staff = {"Authorization": f"Bearer {stack.staff_sign_in('owner')['id_token']}"}
    anchor = date.fromisoformat(str(stack.demo.anchor))
    patients = demo_patient_ids(api, practice_id, staff, anchor, racers) or list(stack.demo.patient.patient_ids)
    status, booking = _call("GET", f"{api}/public/practices/{practice_id}/booking")
    assert status == 200, booking
    type_id = next(t["id"] for t in booking["types"] if t["category"] != "hygiene")
    slot = free_slot(api, practice_id, type_id, anchor + timedelta(days=21))

    def book(i: int) -> int:
        body = {
            "patient_id": patients[i % len(patients)],
            "type_id": type_id,
            "provider_id": slot["provider"]["id"],
            "start": slot["start"],
        }
        status, _ = _call("POST", f"{api}/practices/{practice_id}/appointments", body, staff)
        return status

    statuses = Counter(at_once(racers, book))
    return statuses.get(201, 0)


def webhook_race(stack: Any, deliveries: int = 1000, concurrency: int = 50) -> tuple[int, int]:
    from chalicelib.adapters.stripe_gateway import sign_webhook

    api, practice_id = stack.api_url, stack.practice_id
    staff = {"Authorization": f"Bearer {stack.staff_sign_in('owner')['id_token']}"}
    patient_id = str(stack.demo.patient.patient_ids[0])
    stamp = int(time.time())
    invoice, intent = f"INV-RACE-{stamp}", f"pi_race_{stamp}"
    status, body = _call(
        "POST",
        f"{api}/practices/{practice_id}/patients/{patient_id}/ledger",
        {"kind": "charge", "amount": "125.00", "posted_on": date.today().isoformat(), "invoice_id": invoice},
        staff,
    )
    assert status == 201, body
    event = {
        "id": f"evt_race_{stamp}",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": stamp,
        "data": {
            "object": {
                "id": intent,
                "object": "payment_intent",
                "amount": 12500,
                "currency": "usd",
                "metadata": {"practice_id": practice_id, "invoice_id": invoice},
            }
        },
    }
    raw = json.dumps(event).encode()

    def deliver(_i: int) -> int:
        # Stripe signs each delivery afresh; the body is the same event.
        headers = {"Stripe-Signature": sign_webhook(raw, WEBHOOK_SECRET)}
        return _call("POST", f"{api}/stripe/webhook", raw, headers)[0]

    statuses = Counter(at_once(deliveries, deliver, concurrency))
    status, ledger = _call("GET", f"{api}/practices/{practice_id}/patients/{patient_id}/ledger", headers=staff)
    assert status == 200, ledger
    credits = [
        v
        for v in _walk(ledger)
        if isinstance(v, dict) and v.get("kind") == "payment" and intent in json.dumps(v, sort_keys=True)
    ]
    server_errors = sum(n for s, n in statuses.items() if s >= 500)
    return len(credits), server_errors


def sweep_race(sweeps: int = 20, patients: int = 40) -> tuple[int, int]:
    """(messages sent, duplicates): ``sweeps`` concurrent sweeps of one minute against the same world
    swept once (a patient may rightly get two touches in one catch-up, so duplicates are the excess)."""
    once = _in_moto(lambda: _sweep_race(1, patients))
    many = _in_moto(lambda: _sweep_race(sweeps, patients))
    return many, max(0, many - once)


def _in_moto(work: Callable[[], int]) -> int:
    import os

    # What the app reads from its stage (the tests' conftest sets the same): without a signing key every
    # send fails before the provider is called, and the race would count nothing.
    stage = {
        "TOKEN_SIGNING_KEY": "bench-signing-key-not-secret",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    names = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE", *stage)
    saved = {k: os.environ.pop(k, None) for k in names}
    os.environ.update(stage)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from chalicelib.platform.observability import logger

    level = logger.log_level
    logger.setLevel("WARNING")  # one INFO line per sweep would bury the figures
    try:
        from moto import mock_aws

        with mock_aws():
            return work()
    finally:
        logger.setLevel(level)
        for key, value in saved.items():
            os.environ.pop(key, None)
            if value is not None:
                os.environ[key] = value


def _sweep_race(sweeps: int, count: int) -> int:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends
    from moto.sns.models import sns_backends

    import app as _app  # noqa: F401 - wires the reminder engine to appointment events
    from chalicelib.appointments.events import CREATED, AppointmentChanged
    from chalicelib.appointments.model import Appointment
    from chalicelib.appointments.store import appointment_item
    from chalicelib.patients.model import Patient
    from chalicelib.patients.store import PatientStore
    from chalicelib.platform import deps as deps_module
    from chalicelib.platform.aws import reset_clients
    from chalicelib.platform.clock import FixedClock
    from chalicelib.platform.deps import Deps
    from chalicelib.practices.model import AppointmentType, Practice
    from chalicelib.practices.store import PracticeStore, appointment_type_item
    from chalicelib.reminders.handlers import ports_for
    from chalicelib.reminders.service import sweep
    from local.atomic_dynamodb import atomic_dynamodb_requests
    from local.bootstrap import create_resources

    reset_clients()
    create_resources()
    clock = FixedClock(datetime(2027, 3, 1, 15, 0, tzinfo=UTC))
    d = Deps(clock=clock)
    deps_module.use(d)
    try:
        hours = {day: [("08:00", "17:00")] for day in ("mon", "tue", "wed", "thu", "fri")}
        practice = Practice(
            id="P-RACE",
            name="Race Dental",
            zone="America/New_York",
            phone="+15555550100",
            email="front@race.example.test",
            hours=hours,
        )
        PracticeStore().put(practice)
        appointment_type_item(practice.id, AppointmentType("CLEAN", "Cleaning", 60, "hygiene")).save()
        visit = datetime(2027, 3, 15, 13, 30, tzinfo=UTC)
        for n in range(count):
            patient = Patient(
                id=f"PAT-{n}",
                given_name="Race",
                family_name=f"Patient{n}",
                birth_date=date(1990, 1, 1),
                phone=f"+1555555{101 + n % 97:04d}" if n % 3 else "",
                email=f"race{n}@example.test",
            )
            PatientStore().put(practice.id, patient)
            start = visit + timedelta(minutes=15 * n)
            appointment = Appointment(
                id=f"A{n}",
                patient_id=patient.id,
                provider_id=f"DR{n}",
                operatory_id="OP1",
                type_id="CLEAN",
                start=start,
                end=start + timedelta(hours=1),
                status="booked",
            )
            appointment_item(practice.id, practice.zone, appointment).save()
            d.appointment_events.publish(
                AppointmentChanged(
                    practice.id, appointment.id, patient.id, CREATED, "booked", start, None, clock.now(), "bench"
                )
            )
        due = datetime(2027, 3, 14, 23, 0, tzinfo=UTC)
        clock.at = due
        with atomic_dynamodb_requests():
            at_once(sweeps, lambda _i: sweep(ports_for(d), due))
        texts = sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages
        mails = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
        return len(texts) + len(mails)
    finally:
        deps_module.use(None)
        reset_clients()


def run() -> Iterator[tuple[str, str]]:
    from bench.stack import running_stack

    sent, duplicates = sweep_race()
    yield "race_sweep_sent", str(sent)
    yield "race_sweep_duplicates", str(duplicates)
    with running_stack(demo_patients=200) as stack:
        winners = booking_race(stack)
        credits, webhook_5xx = webhook_race(stack)
    yield "race_booking_winners", str(winners)
    yield "race_webhook_credits", str(credits)
    yield "race_webhook_5xx", str(webhook_5xx)
