"""Free slots and why a requested time is not one. Pure domain: stdlib and zoneinfo only.

Opening hours are local clock times on a weekday; each local day's hours become UTC instants in
the practice's IANA zone on that day, so a 13:00 opening is 17:00Z on a summer-time Sunday and
18:00Z on a standard-time one, whichever side of a DST change "today" is. Slots then step in
real (UTC) minutes from the opening, so a window that spans a change has its true length.

A local time that does not exist (the skipped hour of spring-forward) or exists twice (the
repeated hour of fall-back) takes ``fold=0``: the offset in force before the change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from chalicelib.appointments.model import Closure, on_grid, overlaps

Hours = dict[str, list[tuple[str, str]]]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Why a requested time cannot be booked; each is also the API error code.
IN_THE_PAST = "in_the_past"
TOO_FAR_AHEAD = "too_far_ahead"
CLOSED = "closed"
OUTSIDE_HOURS = "outside_hours"
NOT_A_SLOT = "not_a_slot"
OFF_GRID = "not_on_five_minute_grid"
TOO_SOON = "too_soon"
SLOT_TAKEN = "slot_taken"

MESSAGES = {
    IN_THE_PAST: "that time is in the past",
    TOO_FAR_AHEAD: "that day is further ahead than the practice books online",
    CLOSED: "the practice or the provider is closed that day",
    OUTSIDE_HOURS: "that time is outside the provider's hours",
    NOT_A_SLOT: "that time is not one of the offered slots; pick one from availability",
    OFF_GRID: "appointment times start on a 5-minute mark",
    TOO_SOON: "that time is too soon to book online; call the office",
    SLOT_TAKEN: "that time has just been taken; pick another",
}


@dataclass(frozen=True)
class Busy:
    """An interval a provider and an operatory are occupied (an appointment in a holding status)."""

    appointment_id: str
    provider_id: str
    operatory_id: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Slot:
    start: datetime
    end: datetime
    provider_id: str
    operatory_ids: tuple[str, ...]  # allowed operatories free for the whole slot, in preference order


@dataclass(frozen=True)
class DayRules:
    """Everything that shapes one provider's bookable time on local days, except existing bookings."""

    zone: ZoneInfo
    hours: Hours  # the provider's own hours, or the practice's when the provider has none
    closures: Sequence[Closure]
    provider_id: str
    operatory_ids: tuple[str, ...]  # operatories the appointment type may use ("" when the practice has none)


def hours_for(provider_hours: Hours, practice_hours: Hours) -> Hours:
    """A provider with any hours of their own works exactly those; one with none works the practice's."""
    return provider_hours if any(provider_hours.values()) else practice_hours


def local_instant(day: date, hhmm: str, zone: ZoneInfo) -> datetime:
    hour, minute = (int(x) for x in hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone, fold=0).astimezone(UTC)


def open_windows(day: date, hours: Hours, zone: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """The local day's opening spans as UTC instants, in order."""
    windows = []
    for start, end in hours.get(WEEKDAYS[day.weekday()], []):
        a, b = local_instant(day, start, zone), local_instant(day, end, zone)
        if a < b:
            windows.append((a, b))
    return sorted(windows)


def is_closed(day: date, provider_id: str, closures: Iterable[Closure]) -> bool:
    return any(c.covers(day, provider_id) for c in closures)


def _free_operatories(
    start: datetime, end: datetime, operatory_ids: tuple[str, ...], busy: Sequence[Busy], ignore: str
) -> tuple[str, ...]:
    taken = {b.operatory_id for b in busy if b.appointment_id != ignore and overlaps(start, end, b.start, b.end)}
    return tuple(o for o in operatory_ids if o == "" or o not in taken)


def _provider_free(start: datetime, end: datetime, provider_id: str, busy: Sequence[Busy], ignore: str) -> bool:
    return not any(
        b.provider_id == provider_id and b.appointment_id != ignore and overlaps(start, end, b.start, b.end)
        for b in busy
    )


def day_slots(
    day: date,
    rules: DayRules,
    duration: timedelta,
    step: timedelta,
    busy: Sequence[Busy],
    not_before: datetime,
    last_day: date | None,
    ignore: str = "",
) -> list[Slot]:
    """Free slots of one provider on one local day.

    ``not_before`` is now plus the minimum notice; ``last_day`` the booking horizon (None: none);
    ``ignore`` an appointment whose own time does not count as busy (it is the one being moved).
    """
    if (last_day is not None and day > last_day) or is_closed(day, rules.provider_id, rules.closures):
        return []
    slots = []
    for window_start, window_end in open_windows(day, rules.hours, rules.zone):
        at = window_start
        while at + duration <= window_end:
            end = at + duration
            if at >= not_before and _provider_free(at, end, rules.provider_id, busy, ignore):
                free = _free_operatories(at, end, rules.operatory_ids, busy, ignore)
                if free:
                    slots.append(Slot(at, end, rules.provider_id, free))
            at += step
    return slots


def patient_problem(
    start: datetime,
    end: datetime,
    rules: DayRules,
    step: timedelta,
    busy: Sequence[Busy],
    now: datetime,
    not_before: datetime,
    last_day: date,
    ignore: str = "",
) -> tuple[str | None, Slot | None]:
    """Why a patient cannot book [start, end), or the matching free slot. Patients book offered slots only."""
    day = start.astimezone(rules.zone).date()
    for slot in day_slots(day, rules, end - start, step, busy, not_before, last_day, ignore):
        if slot.start == start:
            return None, slot
    inside = [w for w in open_windows(day, rules.hours, rules.zone) if w[0] <= start and end <= w[1]]
    checks = (
        (start < now, IN_THE_PAST),
        (day > last_day, TOO_FAR_AHEAD),
        (is_closed(day, rules.provider_id, rules.closures), CLOSED),
        (not inside, OUTSIDE_HOURS),
        (bool(inside) and bool((start - inside[0][0]) % step), NOT_A_SLOT),
        (start < not_before, TOO_SOON),
    )
    return next((code for failed, code in checks if failed), SLOT_TAKEN), None


def staff_problem(
    start: datetime,
    end: datetime,
    rules: DayRules,
    busy: Sequence[Busy],
    now: datetime,
    ignore: str = "",
    outside_hours: bool = False,
) -> tuple[str | None, tuple[str, ...]]:
    """Why staff cannot book [start, end), or the free operatories. Staff may book off the slot grid,
    and with ``outside_hours`` outside hours and on closed days; never in the past or over a booking."""
    day = start.astimezone(rules.zone).date()
    free = _free_operatories(start, end, rules.operatory_ids, busy, ignore)
    checks = (
        (not (on_grid(start) and on_grid(end)), OFF_GRID),
        (start < now, IN_THE_PAST),
        (not outside_hours and is_closed(day, rules.provider_id, rules.closures), CLOSED),
        (
            not outside_hours
            and not any(w[0] <= start and end <= w[1] for w in open_windows(day, rules.hours, rules.zone)),
            OUTSIDE_HOURS,
        ),
        (not _provider_free(start, end, rules.provider_id, busy, ignore) or not free, SLOT_TAKEN),
    )
    problem = next((code for failed, code in checks if failed), None)
    return problem, () if problem else free
