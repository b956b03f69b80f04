"""Properties of quiet hours and DST-aware offsets across US zones (hypothesis)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.reminders.model import (
    DAYS,
    HOURS,
    MINUTES,
    Policy,
    SendingHours,
    TouchRule,
    next_daily_run,
    offset_instant,
    plan_reminders,
    schedule_in_sending_hours,
)

US_ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Indiana/Indianapolis",
    "America/Puerto_Rico",
]

zones = st.sampled_from(US_ZONES)
# Instants around the 2027 and 2028 DST changes as well as ordinary days, to the minute.
instants = st.integers(
    min_value=int(datetime(2027, 1, 1, tzinfo=UTC).timestamp()) // 60,
    max_value=int(datetime(2028, 12, 31, tzinfo=UTC).timestamp()) // 60,
).map(lambda m: datetime.fromtimestamp(m * 60, tz=UTC))
dst_days = st.sampled_from(
    [datetime(2027, 3, 14, tzinfo=UTC), datetime(2027, 11, 7, tzinfo=UTC), datetime(2028, 3, 12, tzinfo=UTC)]
)
near_dst = st.builds(lambda day, minutes: day + timedelta(minutes=minutes), dst_days, st.integers(-4 * 1440, 4 * 1440))
any_instant = st.one_of(instants, near_dst)
hours_windows = st.tuples(st.integers(5, 11), st.integers(0, 59), st.integers(15, 22)).map(
    lambda t: SendingHours(time(t[0], t[1]), time(t[2], 0))
)


@settings(max_examples=400, deadline=None)
@given(due=any_instant, visit_gap=st.integers(0, 10 * 1440), zone=zones, hours=hours_windows)
def test_a_scheduled_touch_is_inside_sending_hours_before_the_visit_and_never_early(
    due: datetime, visit_gap: int, zone: str, hours: SendingHours
) -> None:
    visit = due + timedelta(minutes=visit_gap)
    moved = schedule_in_sending_hours(due, visit, hours, zone)
    if moved is None:
        return
    local = moved.astimezone(ZoneInfo(zone)).time()
    assert hours.start <= local < hours.end
    assert due <= moved < visit
    if hours.is_open(due, zone):
        assert moved == due
    else:
        # It goes out at the first opening after it was due: nothing earlier was open.
        assert moved - due <= timedelta(hours=24)
        assert not hours.is_open(moved - timedelta(minutes=1), zone) or moved == due


@settings(max_examples=400, deadline=None)
@given(visit=any_instant, days=st.integers(1, 14), zone=zones)
def test_a_day_offset_keeps_the_local_wall_clock_unless_that_time_does_not_exist(
    visit: datetime, days: int, zone: str
) -> None:
    tz = ZoneInfo(zone)
    due = offset_instant(visit, days, DAYS, zone)
    visit_local, due_local = visit.astimezone(tz), due.astimezone(tz)
    target = visit_local.date() - timedelta(days=days)
    assert due_local.date() == target
    if due_local.time() != visit_local.time():
        # The visit's wall-clock time does not exist on that day (spring forward): it moved past the gap.
        naive = datetime.combine(target, visit_local.time().replace(tzinfo=None))
        assert naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive
        assert due_local.time() == (naive + timedelta(hours=1)).time()


@settings(max_examples=300, deadline=None)
@given(visit=any_instant, amount=st.integers(1, 96), unit=st.sampled_from([HOURS, MINUTES]), zone=zones)
def test_an_hour_or_minute_offset_is_an_exact_duration_in_every_zone(
    visit: datetime, amount: int, unit: str, zone: str
) -> None:
    due = offset_instant(visit, amount, unit, zone)
    assert visit - due == (timedelta(hours=amount) if unit == HOURS else timedelta(minutes=amount))


@settings(max_examples=300, deadline=None)
@given(visit=any_instant, zone=zones, quiet_zone=zones)
def test_planned_touches_are_in_sending_hours_before_the_visit_and_in_time_order(
    visit: datetime, zone: str, quiet_zone: str
) -> None:
    policy = Policy(
        touches=(TouchRule("7d", 7, DAYS, "email"), TouchRule("2d", 2, DAYS, "sms"), TouchRule("2h", 2, HOURS, "sms"))
    )
    planned = plan_reminders(visit, "booked", policy, zone, policy.sending_hours, quiet_zone)
    assert [t.due for t in planned] == sorted(t.due for t in planned)
    for touch in planned:
        assert touch.due < visit
        assert policy.sending_hours.is_open(touch.due, quiet_zone)


@settings(max_examples=200, deadline=None)
@given(start=near_dst, zone=zones, hour=st.integers(0, 23), minute=st.sampled_from([0, 15, 30, 45]))
def test_a_daily_job_runs_exactly_once_per_local_day_across_dst(
    start: datetime, zone: str, hour: int, minute: int
) -> None:
    clock = time(hour, minute)
    runs = []
    at = next_daily_run(start, clock, zone)
    while at < start + timedelta(days=6):
        runs.append(at)
        at = next_daily_run(at, clock, zone)
    days = [r.astimezone(ZoneInfo(zone)).date() for r in runs]
    assert len(days) == len(set(days))
    assert all(b - a == timedelta(days=1) for a, b in itertools.pairwise(days))
    assert all(timedelta(hours=23) <= b - a <= timedelta(hours=25) for a, b in itertools.pairwise(runs))
