"""Recall (recare): due dates from the actual visit, the message cadence, and the sweep's checks."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.recall.model import add_months, message_dates, recall_due, remaining_dates
from chalicelib.recall.service import plan_practice
from tests import factories
from tests.unit.test_reminder_service import Practice, utc


def test_the_due_date_is_six_months_after_the_visit_clamped_to_the_month_end() -> None:
    assert recall_due(date(2027, 3, 15)) == date(2027, 9, 15)
    assert recall_due(date(2027, 3, 31)) == date(2027, 9, 30)
    assert recall_due(date(2027, 8, 31)) == date(2028, 2, 29)  # leap year
    assert recall_due(date(2026, 8, 31)) == date(2027, 2, 28)


def test_dates_do_not_drift_because_each_due_date_comes_from_the_actual_visit() -> None:
    first_visit = date(2026, 8, 31)
    first_due = recall_due(first_visit)  # Feb 28
    second_visit = first_due  # the patient came exactly when due
    assert recall_due(second_visit) == date(2027, 8, 28)  # from the visit, not Aug 31 again
    late_visit = date(2027, 4, 10)
    assert recall_due(late_visit) == date(2027, 10, 10)


def test_messages_start_four_weeks_before_due_and_repeat_every_six_weeks_at_most_four_times() -> None:
    assert message_dates(date(2027, 10, 1)) == [
        date(2027, 9, 3),
        date(2027, 10, 15),
        date(2027, 11, 26),
        date(2028, 1, 7),
    ]


def test_a_patient_more_than_six_months_overdue_is_not_messaged() -> None:
    assert remaining_dates(date(2027, 10, 1), date(2028, 4, 2), False) == []
    assert remaining_dates(date(2027, 10, 1), date(2028, 1, 1), False) == [(4, date(2028, 1, 7))]


def test_a_patient_holding_a_future_hygiene_appointment_is_not_messaged() -> None:
    assert remaining_dates(date(2027, 10, 1), date(2027, 8, 1), True) == []


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)), st.integers(1, 24))
def test_adding_months_never_overflows_and_keeps_the_day_when_it_can(day: date, months: int) -> None:
    result = add_months(day, months)
    assert (result.year * 12 + result.month) - (day.year * 12 + day.month) == months
    assert result.day == day.day or (result.day < day.day and (result + timedelta(days=1)).day == 1)


# --- the service ------------------------------------------------------------------------------------


def _practice_with_a_cleaning(visit: datetime, at: datetime) -> Practice:
    p = Practice(at)
    p.patient("PAT-R")
    a = p.book("V1", "PAT-R", visit)
    p.clock.at = visit + timedelta(hours=1)
    a.status = "completed"
    p.world.put_appointment(p.id, a)
    p.set_status("V1", "completed")
    return p


def test_a_completed_cleaning_plans_four_recall_messages_at_ten_in_the_morning() -> None:
    p = _practice_with_a_cleaning(utc("2027-03-15T14:00"), utc("2027-03-01T15:00"))
    record = p.store.recall(p.id, "PAT-R")
    assert record is not None and (record.last_visit, record.due) == (date(2027, 3, 15), date(2027, 9, 15))
    recall = [t for t in p.store.all_touches(p.id) if t.kind == "recall"]
    assert [t.due for t in recall] == [
        utc("2027-08-18T14:00"),  # 10:00 EDT
        utc("2027-09-29T14:00"),
        utc("2027-11-10T15:00"),  # 10:00 EST
        utc("2027-12-22T15:00"),
    ]


def test_the_recall_message_links_to_booking_a_hygiene_visit() -> None:
    p = _practice_with_a_cleaning(utc("2027-03-15T14:00"), utc("2027-03-01T15:00"))
    p.sweep(utc("2027-08-18T14:00"))
    (email,) = p.emails.sent
    assert "Your next cleaning and check-up at Maple Dental is due in September 2027." in email.text
    assert "https://patients.example.test/patient/?practice=P1&book=hygiene" in email.text
    assert email.headers["List-Unsubscribe"].startswith("<https://api.example.test/public/unsubscribe/")


def test_booking_a_cleaning_stops_recall_messages() -> None:
    p = _practice_with_a_cleaning(utc("2027-03-15T14:00"), utc("2027-03-01T15:00"))
    p.clock.at = utc("2027-08-01T15:00")
    p.book("V2", "PAT-R", utc("2027-09-20T14:00"))
    assert all(t.status == "cancelled" for t in p.store.all_touches(p.id) if t.kind == "recall")
    p.sweep(utc("2027-08-18T14:00"))
    assert not any("cleaning" in s for s in p.sent())


def test_a_recall_message_is_skipped_when_a_booking_arrived_without_an_event() -> None:
    p = _practice_with_a_cleaning(utc("2027-03-15T14:00"), utc("2027-03-01T15:00"))
    # An import wrote this booking: no event reached the engine.
    p.world.put_appointment(p.id, factories.appointment("V3", "PAT-R", utc("2027-09-20T14:00")))
    p.sweep(utc("2027-08-18T14:00"))
    assert p.emails.sent == []
    first = next(t for t in p.store.all_touches(p.id) if t.key == "recall1")
    assert first.status in {"skipped", "cancelled"} and first.reason == "booked"


def test_the_practice_pass_plans_recall_for_imported_history() -> None:
    p = Practice(utc("2027-06-01T15:00"))
    p.patient("PAT-H")
    p.world.put_appointment(p.id, factories.appointment("H1", "PAT-H", utc("2027-01-10T15:00"), status="completed"))
    assert plan_practice(p.ports, p.world.practices[p.id], p.store.policy(p.id), p.clock.now()) == 1
    assert p.store.recall(p.id, "PAT-H").due == date(2027, 7, 10)  # type: ignore[union-attr]
    assert [t.key for t in p.store.all_touches(p.id)] == ["recall1", "recall2", "recall3", "recall4"]


def test_recall_dates_are_computed_in_the_practice_zone() -> None:
    p = _practice_with_a_cleaning(utc("2027-03-16T02:00"), utc("2027-03-01T15:00"))  # 22:00 EDT on the 15th
    assert p.store.recall(p.id, "PAT-R").last_visit == date(2027, 3, 15)  # type: ignore[union-attr]
