"""Races on one slot against moto, from threads in this process: exactly one winner (C05).

moto's DynamoDB backend is not thread-safe: it applies a transaction item by item with no lock and
rolls a failed one back by restoring a copy of the whole table, so concurrent requests can both
pass a condition, undo each other's writes, or fail with "dictionary changed size during
iteration". DynamoDB serialises conflicting transactions; ``serialised_dynamodb`` makes moto do the
same by handling one DynamoDB request at a time. The code under test is unchanged, and the threads
still interleave between requests (read, validate, transact), which is where a race would be.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.appointments import service
from chalicelib.appointments.model import BOOKED, Appointment, SlotTaken, holds_for
from chalicelib.appointments.ports import Write
from chalicelib.appointments.service import BookingRequest, MoveRequest
from chalicelib.appointments.store import AppointmentStore, SlotLockItem
from chalicelib.appointments.wiring import ports
from chalicelib.patients.store import PatientStore
from chalicelib.platform.deps import Deps
from chalicelib.platform.errors import Conflict
from chalicelib.platform.table import practice_pk
from local.atomic_dynamodb import atomic_dynamodb_requests
from tests import factories
from tests.integration.test_booking_api import Seeded, copy_tables_once_per_transaction, seed

START = datetime(2027, 4, 20, 14, 0, tzinfo=UTC)


@pytest.fixture
def serialised_dynamodb() -> Iterator[None]:
    with atomic_dynamodb_requests():
        yield


@pytest.fixture
def world(app_deps: Deps, serialised_dynamodb: None, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    copy_tables_once_per_transaction(monkeypatch)
    seeded = seed(app_deps)
    for i in range(50):
        PatientStore().put("P1", factories.patient(f"RACE-{i:02}", phone=f"+155555502{i:02}"))
    return seeded


def race(n: int, attempt: Callable[[int], str]) -> list[str]:
    barrier = threading.Barrier(n)
    outcomes: list[str] = []
    guard = threading.Lock()

    def run(i: int) -> None:
        barrier.wait()
        try:
            outcome = attempt(i)
        except Exception as exc:  # every outcome is recorded, including surprises
            outcome = f"error:{type(exc).__name__}:{exc}"
        with guard:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return outcomes


def staff_books(i: int) -> str:
    req = BookingRequest(f"RACE-{i:02}", "CLEAN", "DR1", START, operatory_id="OP2")
    try:
        service.staff_book(ports(), "staff-1", "P1", req)
    except Conflict as exc:
        return f"409:{exc.code}"
    return "201"


def on_the_day() -> list[Appointment]:
    return [a for a in AppointmentStore().on_day("P1", START.date()) if a.status == BOOKED]


def test_twenty_concurrent_bookings_of_one_slot_give_one_201_and_nineteen_409(world: Seeded) -> None:
    outcomes = race(20, staff_books)
    assert sorted(outcomes) == ["201"] + ["409:slot_taken"] * 19
    assert [a.start for a in on_the_day()] == [START]


def test_even_if_every_racer_passes_the_read_the_conditional_write_lets_one_win(
    world: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(AppointmentStore, "on_day", lambda self, practice_id, day: [])
    outcomes = race(20, staff_books)
    assert sorted(outcomes) == ["201"] + ["409:slot_taken"] * 19
    monkeypatch.undo()
    assert len(on_the_day()) == 1


def test_fifty_threads_writing_one_slot_leave_exactly_one_appointment(world: Seeded) -> None:
    store = AppointmentStore()

    def attempt(i: int) -> str:
        a = Appointment(f"R{i:02}", f"RACE-{i:02}", "DR1", "OP2", "CLEAN", START, START + timedelta(hours=1), BOOKED)
        try:
            store.commit("P1", "America/New_York", Write(a, None, holds_for(a)))
        except SlotTaken:
            return "taken"
        return "won"

    outcomes = race(50, attempt)
    assert sorted(outcomes) == ["taken"] * 49 + ["won"]
    assert len(on_the_day()) == 1
    hour = SlotLockItem.get(practice_pk("P1"), "LOCK#PROVIDER#DR1#2027-04-20T14")
    holders = {getattr(hour, f"u{m:02d}") for m in range(0, 60, 5)}
    assert holders == {on_the_day()[0].id}


def test_a_move_and_a_booking_racing_for_one_time_have_one_winner(world: Seeded) -> None:
    mover = service.staff_book(ports(), "staff-1", "P1", BookingRequest("PAT-A", "CLEAN", "DR1", START, "OP2"))
    target = START + timedelta(hours=2)

    def attempt(i: int) -> str:
        try:
            if i == 0:
                service.staff_move(ports(), "staff-1", "P1", mover.id, MoveRequest(start=target, operatory_id="OP2"))
            else:
                req = BookingRequest(f"RACE-{i:02}", "CLEAN", "DR1", target, operatory_id="OP2")
                service.staff_book(ports(), "staff-1", "P1", req)
        except Conflict:
            return "409"
        return "ok"

    outcomes = race(10, attempt)
    assert sorted(outcomes) == ["409"] * 9 + ["ok"]
    at_target = [a for a in on_the_day() if a.start == target]
    assert len(at_target) == 1


def test_cancelling_and_booking_the_freed_slot_at_once_never_double_books(world: Seeded) -> None:
    first = service.staff_book(ports(), "staff-1", "P1", BookingRequest("PAT-A", "CLEAN", "DR1", START, "OP2"))

    def attempt(i: int) -> str:
        try:
            if i == 0:
                service.staff_status(ports(), "staff-1", "P1", first.id, "cancel")
            else:
                service.staff_book(
                    ports(), "staff-1", "P1", BookingRequest(f"RACE-{i:02}", "CLEAN", "DR1", START, "OP2")
                )
        except Conflict:
            return "409"
        return "ok"

    race(8, attempt)
    assert len(on_the_day()) <= 1
    assert AppointmentStore().get("P1", first.id).status == "cancelled"  # type: ignore[union-attr]
