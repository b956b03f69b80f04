"""Free slots from hours, closures, bookings and policy, in the practice's zone across DST (C01)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chalicelib.appointments.availability import (
    CLOSED,
    IN_THE_PAST,
    NOT_A_SLOT,
    OFF_GRID,
    OUTSIDE_HOURS,
    SLOT_TAKEN,
    TOO_FAR_AHEAD,
    TOO_SOON,
    Busy,
    DayRules,
    day_slots,
    hours_for,
    open_windows,
    patient_problem,
    staff_problem,
)
from chalicelib.appointments.model import Closure, lock_units

NY = ZoneInfo("America/New_York")
HOUR = timedelta(hours=1)
NOW = datetime(2027, 3, 10, 15, 0, tzinfo=UTC)  # C01's frozen clock, still EST
DR1_HOURS = {
    "sun": [("13:00", "18:00")],
    "mon": [("09:00", "17:00")],
    "tue": [("08:00", "17:00")],
}


def z(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def rules(hours: dict[str, list[tuple[str, str]]] | None = None, closures: tuple[Closure, ...] = ()) -> DayRules:
    return DayRules(NY, hours or DR1_HOURS, closures, "DR1", ("OP2", "OP3"))


def starts(day: date, busy: list[Busy] | None = None, **kw: object) -> list[str]:
    found = day_slots(day, rules(), HOUR, HOUR, busy or [], NOW, date(2028, 3, 10))
    return [s.start.strftime("%Y-%m-%dT%H:%MZ") for s in found]


def test_on_spring_forward_sunday_one_to_six_pm_edt_gives_slots_from_17z_to_21z() -> None:
    assert starts(date(2027, 3, 14)) == [
        "2027-03-14T17:00Z",
        "2027-03-14T18:00Z",
        "2027-03-14T19:00Z",
        "2027-03-14T20:00Z",
        "2027-03-14T21:00Z",
    ]


def test_on_fall_back_sunday_one_to_six_pm_est_gives_slots_from_18z_to_22z() -> None:
    assert starts(date(2027, 11, 7)) == [
        "2027-11-07T18:00Z",
        "2027-11-07T19:00Z",
        "2027-11-07T20:00Z",
        "2027-11-07T21:00Z",
        "2027-11-07T22:00Z",
    ]


def test_the_monday_after_spring_forward_opens_at_13z_and_after_fall_back_at_14z() -> None:
    assert starts(date(2027, 3, 15))[0] == "2027-03-15T13:00Z"
    assert starts(date(2027, 11, 8))[0] == "2027-11-08T14:00Z"


def test_slots_render_as_local_one_pm_on_both_sides_of_dst() -> None:
    spring = day_slots(date(2027, 3, 14), rules(), HOUR, HOUR, [], NOW, None)[0]
    fall = day_slots(date(2027, 11, 7), rules(), HOUR, HOUR, [], NOW, None)[0]
    assert spring.start.astimezone(NY).strftime("%H:%M %Z") == "13:00 EDT"
    assert fall.start.astimezone(NY).strftime("%H:%M %Z") == "13:00 EST"


def test_a_window_across_the_skipped_hour_has_its_true_length() -> None:
    windows = open_windows(date(2027, 3, 14), {"sun": [("01:00", "04:00")]}, NY)
    assert windows == [(z("2027-03-14T06:00Z"), z("2027-03-14T08:00Z"))]  # 01:00 EST to 04:00 EDT is two hours


def test_a_provider_without_hours_works_the_practice_hours() -> None:
    practice = {"mon": [("08:00", "12:00")]}
    assert hours_for({}, practice) == practice
    assert hours_for({"tue": []}, practice) == practice
    assert hours_for(DR1_HOURS, practice) == DR1_HOURS


def test_overlapping_bookings_remove_slots_and_adjacent_ones_do_not() -> None:
    busy = [Busy("A1", "DR1", "OP2", z("2027-03-15T14:00Z"), z("2027-03-15T15:00Z"))]
    found = day_slots(date(2027, 3, 15), rules(), HOUR, timedelta(minutes=30), busy, NOW, None)
    found_starts = [s.start for s in found]
    assert z("2027-03-15T14:00Z") not in found_starts
    assert z("2027-03-15T14:30Z") not in found_starts  # overlaps 14:30-15:00
    assert z("2027-03-15T13:00Z") in found_starts  # ends exactly at 14:00: adjacent
    assert z("2027-03-15T15:00Z") in found_starts  # starts exactly at 15:00: adjacent


def test_another_providers_booking_takes_only_its_operatory() -> None:
    busy = [Busy("A1", "DR2", "OP2", z("2027-03-15T14:00Z"), z("2027-03-15T15:00Z"))]
    found = {s.start: s for s in day_slots(date(2027, 3, 15), rules(), HOUR, HOUR, busy, NOW, None)}
    assert found[z("2027-03-15T14:00Z")].operatory_ids == ("OP3",)


def test_a_closed_day_has_no_slots_for_the_practice_or_the_provider() -> None:
    practice_wide = Closure("C1", date(2027, 3, 15), date(2027, 3, 15))
    dr2_only = Closure("C2", date(2027, 3, 15), date(2027, 3, 16), provider_id="DR2")
    assert day_slots(date(2027, 3, 15), rules(closures=(practice_wide,)), HOUR, HOUR, [], NOW, None) == []
    assert day_slots(date(2027, 3, 15), rules(closures=(dr2_only,)), HOUR, HOUR, [], NOW, None) != []


def test_minimum_notice_and_horizon_cut_the_offered_slots() -> None:
    not_before = z("2027-03-15T15:30Z")
    found = day_slots(date(2027, 3, 15), rules(), HOUR, HOUR, [], not_before, None)
    assert found[0].start == z("2027-03-15T16:00Z")
    assert day_slots(date(2027, 3, 15), rules(), HOUR, HOUR, [], NOW, date(2027, 3, 14)) == []


@pytest.mark.parametrize(
    ("start", "code"),
    [
        ("2027-03-14T22:00Z", OUTSIDE_HOURS),  # C01: 18:00 EDT, after hours
        ("2027-03-14T17:30Z", NOT_A_SLOT),
        ("2027-03-09T14:00Z", IN_THE_PAST),
        ("2027-03-10T16:00Z", OUTSIDE_HOURS),  # a Wednesday DR1 does not work
        ("2028-04-03T13:00Z", TOO_FAR_AHEAD),
    ],
)
def test_a_patient_gets_a_reason_for_a_time_that_is_not_an_offered_slot(start: str, code: str) -> None:
    at = z(start)
    problem, slot = patient_problem(at, at + HOUR, rules(), HOUR, [], NOW, NOW, date(2028, 3, 10))
    assert (problem, slot) == (code, None)


def test_a_patient_gets_too_soon_inside_the_minimum_notice_and_slot_taken_when_booked() -> None:
    at = z("2027-03-15T13:00Z")
    soon = patient_problem(at, at + HOUR, rules(), HOUR, [], NOW, at + HOUR, date(2028, 3, 10))
    busy = [Busy("A1", "DR1", "OP9", at, at + HOUR)]
    taken = patient_problem(at, at + HOUR, rules(), HOUR, busy, NOW, NOW, date(2028, 3, 10))
    assert soon[0] == TOO_SOON
    assert taken[0] == SLOT_TAKEN


def test_a_closed_day_is_the_reason_a_patient_cannot_book_it() -> None:
    closure = Closure("C1", date(2027, 3, 15), date(2027, 3, 15), reason="training")
    at = z("2027-03-15T13:00Z")
    assert patient_problem(at, at + HOUR, rules(closures=(closure,)), HOUR, [], NOW, NOW, date(2028, 1, 1))[0] == CLOSED


def test_staff_may_book_off_the_slot_grid_but_on_five_minutes_and_inside_hours() -> None:
    ok = z("2027-03-15T13:25Z")
    assert staff_problem(ok, ok + HOUR, rules(), [], NOW) == (None, ("OP2", "OP3"))
    odd = z("2027-03-15T13:27Z")
    assert staff_problem(odd, odd + HOUR, rules(), [], NOW)[0] == OFF_GRID
    late = z("2027-03-15T20:30Z")
    assert staff_problem(late, late + HOUR, rules(), [], NOW)[0] == OUTSIDE_HOURS
    assert staff_problem(late, late + HOUR, rules(), [], NOW, outside_hours=True)[0] is None


def test_staff_moving_an_appointment_does_not_collide_with_itself() -> None:
    at = z("2027-03-15T14:00Z")
    busy = [Busy("A1", "DR1", "OP2", at, at + HOUR)]
    later = at + timedelta(minutes=30)
    assert staff_problem(later, later + HOUR, rules(), busy, NOW)[0] == SLOT_TAKEN
    assert staff_problem(later, later + HOUR, rules(), busy, NOW, ignore="A1")[0] is None


def test_lock_units_of_adjacent_intervals_never_meet_and_of_overlapping_ones_do() -> None:
    a = set(lock_units(z("2027-04-20T14:00Z"), z("2027-04-20T15:00Z")))
    b = set(lock_units(z("2027-04-20T15:00Z"), z("2027-04-20T16:00Z")))
    c = set(lock_units(z("2027-04-20T14:30Z"), z("2027-04-20T15:30Z")))
    assert len(a) == 12
    assert not a & b
    assert a & c and b & c
