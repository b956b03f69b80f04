"""Booking when DynamoDB fails part-way (moto, failures injected below the app: tests/faults.py).

Generated like the sweep's matrix: one clean patient booking records every DynamoDB write the request
makes (the booking transaction, the reminder touches it plans, the audit event, the session refresh);
then each of those writes fails in turn, throttled or with a failed condition, on a fresh slot.

The answer is always 201, or a JSON 409 / 503 that changed nothing (the same booking tried again
then gets its 201, once). A booking that answered 201 is there exactly once, its reminders are planned
(at once, or by the next sweep when planning was what failed) and its audit event is stored (or, when
the table refused that write, logged whole, ids only, and counted).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.appointments.store import AppointmentItem
from chalicelib.audit.store import AuditStore
from chalicelib.reminders.handlers import ports_for
from chalicelib.reminders.service import sweep_practice
from tests.faults import DYNAMODB_WRITES, THROTTLE, Faults, MetricsSeen, Rule, condition_failure, conditional
from tests.integration.test_booking_api import Seeded, book, seed

CLEAN_SLOT = "2027-04-19T15:00:00Z"  # a Monday, 11:00 EDT


def _slots() -> list[str]:
    """Distinct free weekday slots after CLEAN_SLOT (one per fault case)."""
    out = []
    day = datetime(2027, 4, 20, 15, 0, tzinfo=UTC)
    while len(out) < 40:
        if day.weekday() < 5:
            out.append(day.strftime("%Y-%m-%dT%H:%M:%SZ"))
        day += timedelta(days=1)
    return out


@pytest.fixture
def seeded(api: Client, app_deps: Any) -> Seeded:
    return seed(app_deps)


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch, seeded: Seeded) -> Faults:
    return Faults().install(monkeypatch)


def _appointments_at(start: str) -> list[AppointmentItem]:
    at = datetime.fromisoformat(start.replace("Z", "+00:00"))
    return [
        i
        for i in AppointmentItem.query("PRACTICE#P1", AppointmentItem.sk.startswith("APPT#"))
        if isinstance(i, AppointmentItem) and i.start == at and i.status != "cancelled"
    ]


def _touches(seeded: Seeded, appointment_id: str) -> set[str]:
    return {t.key for t in ports_for(seeded.deps).store.touches_with_prefix("P1", f"APPT#{appointment_id}#")}


def _audited(appointment_id: str) -> bool:
    return any(e.record == f"appointment:{appointment_id}" for e in AuditStore().for_patient("P1", "PAT-A", limit=500))


def _check(
    api: Client, seeded: Seeded, slot: str, answer: Any, label: str, planned: set[str], caplog: pytest.LogCaptureFixture
) -> None:
    assert answer.status_code in {201, 409, 503}, f"{label}: {answer.status_code} {answer.body[:300]!r}"
    assert set(answer.json_body) >= ({"id"} if answer.status_code == 201 else {"error"}), label
    if answer.status_code != 201:
        assert _appointments_at(slot) == [], f"{label}: a refused booking left an appointment behind"
        again = book(api, "tok-a", slot)
        assert again.status_code == 201, f"{label}: trying again: {again.body[:300]!r}"
        answer = again
    (stored,) = _appointments_at(slot)
    appointment_id = answer.json_body["id"]
    assert stored.appointment_id == appointment_id, label
    sweep_practice(ports_for(seeded.deps), "P1", seeded.clock.now() + timedelta(minutes=1))
    assert _touches(seeded, appointment_id) == planned, f"{label}: reminders lost"
    logged = [r for r in caplog.records if r.getMessage() == "audit event not stored"]
    in_log = any(getattr(r, "record", "") == f"appointment:{appointment_id}" for r in logged)
    assert _audited(appointment_id) or in_log, f"{label}: the audit event is lost"


def _run_matrix(
    api: Client,
    seeded: Seeded,
    faults: Faults,
    caplog: pytest.LogCaptureFixture,
    inject: Any,
) -> list[str]:
    caplog.set_level(logging.INFO)
    faults.calls.clear()
    clean = book(api, "tok-a", CLEAN_SLOT)
    assert clean.status_code == 201, clean.body
    writes = faults.writes()
    planned = _touches(seeded, clean.json_body["id"])
    assert planned, "the clean booking planned no reminders"
    assert len(writes) >= 3, [op for op, _ in writes]  # the transaction, the touches, the audit event
    tried = []
    for n, ((operation, params), slot) in enumerate(zip(writes, _slots(), strict=False), start=1):
        rule: Rule | None = inject(faults, n, operation, params)
        if rule is None:
            continue
        answer = book(api, "tok-a", slot)
        faults.clear()
        assert rule.fired == 1, f"write {n} ({operation}) not reached: the booking's writes changed"
        label = f"write {n} ({operation}) failing -> {answer.status_code}"
        _check(api, seeded, slot, answer, label, planned, caplog)
        tried.append(label)
    return tried


def test_a_throttled_write_at_any_point_of_a_booking_books_once_or_changes_nothing(
    api: Client, seeded: Seeded, faults: Faults, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = MetricsSeen(pytest.MonkeyPatch())

    def inject(f: Faults, n: int, _operation: str, _params: dict[str, Any]) -> Rule:
        code, status = THROTTLE["dynamodb"]
        return f.refuse("dynamodb", DYNAMODB_WRITES, code, status, at={n})

    tried = _run_matrix(api, seeded, faults, caplog, inject)
    # One refusal is absorbed: the transaction is tried again, a failed plan is redone by the next sweep.
    assert all(label.endswith("201") for label in tried), tried
    assert metrics.total("ReminderPlanFailed") >= 1 and metrics.total("AuditWriteFailed") == 1


def test_a_booking_the_table_keeps_throttling_answers_503_busy_changes_nothing_and_books_once_later(
    api: Client, seeded: Seeded, faults: Faults
) -> None:
    metrics = MetricsSeen(pytest.MonkeyPatch())
    code, status = THROTTLE["dynamodb"]
    rule = faults.refuse("dynamodb", "TransactWriteItems", code, status)
    answer = book(api, "tok-a", CLEAN_SLOT)
    assert answer.status_code == 503, answer.body
    assert answer.json_body["error"]["code"] == "busy"
    assert answer.headers.get("Retry-After") == "1"
    assert rule.fired == 5  # bounded: the store's five tries of the transaction
    assert _appointments_at(CLEAN_SLOT) == []
    assert metrics.total("RequestsThrottled") == 1
    faults.clear()
    again = book(api, "tok-a", CLEAN_SLOT)
    assert again.status_code == 201, again.body
    assert len(_appointments_at(CLEAN_SLOT)) == 1


def test_a_failed_condition_at_any_conditional_write_of_a_booking_books_once_or_changes_nothing(
    api: Client, seeded: Seeded, faults: Faults, caplog: pytest.LogCaptureFixture
) -> None:
    def inject(f: Faults, n: int, operation: str, params: dict[str, Any]) -> Rule | None:
        expression = str(params.get("ConditionExpression", ""))
        if not conditional(params) or expression.startswith("attribute_not_exists"):
            return None
        code, status = condition_failure(operation)
        return f.refuse("dynamodb", DYNAMODB_WRITES, code, status, at={n})

    tried = _run_matrix(api, seeded, faults, caplog, inject)
    assert any(label.endswith("409") for label in tried), tried  # someone took the time first
