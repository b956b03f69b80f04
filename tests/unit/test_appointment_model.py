from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.appointments.model import (
    BOOKED,
    CANCELLED,
    COMPLETED,
    CONFIRMED,
    REQUESTED,
    Appointment,
    InvalidTransition,
)

NINE_THIRTY = datetime(2027, 3, 15, 13, 30, tzinfo=UTC)
LATER = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def _appt(status: str = BOOKED) -> Appointment:
    return Appointment("A1", "PAT-A", "DR1", "OP2", "CLEAN", NINE_THIRTY, NINE_THIRTY + timedelta(hours=1), status)


def test_a_request_is_booked_then_confirmed_then_completed_with_history() -> None:
    a = _appt(REQUESTED)
    a.transition(BOOKED, LATER, "staff-1")
    a.transition(CONFIRMED, LATER, "PAT-A")
    a.transition("arrived", LATER, "staff-1")
    a.transition(COMPLETED, LATER, "staff-1")
    assert [h.action for h in a.history] == [
        "requested->booked",
        "booked->confirmed",
        "confirmed->arrived",
        "arrived->completed",
    ]


def test_a_cancelled_appointment_cannot_be_confirmed() -> None:
    a = _appt()
    a.transition(CANCELLED, LATER, "PAT-A", reason="travel")
    with pytest.raises(InvalidTransition):
        a.transition(CONFIRMED, LATER, "PAT-A")
    assert a.history[-1].reason == "travel"


def test_a_completed_visit_cannot_be_moved() -> None:
    a = _appt()
    a.transition("arrived", LATER, "s")
    a.transition(COMPLETED, LATER, "s")
    with pytest.raises(InvalidTransition):
        a.move(NINE_THIRTY + timedelta(days=1), NINE_THIRTY + timedelta(days=1, hours=1), LATER, "s")


def test_a_move_keeps_the_previous_start_in_the_history() -> None:
    a = _appt()
    a.move(NINE_THIRTY + timedelta(days=2), NINE_THIRTY + timedelta(days=2, hours=1), LATER, "s", reason="asked")
    assert a.history[-1].previous_start == NINE_THIRTY
    assert a.start == NINE_THIRTY + timedelta(days=2)


def test_times_must_be_aware_instants_and_end_after_start() -> None:
    with pytest.raises(ValueError):
        Appointment("A", "P", "D", "O", "T", datetime(2027, 1, 1), datetime(2027, 1, 1, 1), BOOKED)
    with pytest.raises(ValueError):
        Appointment("A", "P", "D", "O", "T", NINE_THIRTY, NINE_THIRTY, BOOKED)
