"""A practice's booking policy: what patients may do online, read from ``Practice.settings["booking"]``.

Pure domain. Missing or malformed settings fall back to the defaults below, so a practice that
never opened its settings still works; staff-side changes are not limited by this policy.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any

INSTANT = "instant"  # a patient's booking is booked at once
REQUEST = "request"  # a patient's booking is a request that staff approve
MODES = (INSTANT, REQUEST)


@dataclass(frozen=True)
class BookingPolicy:
    mode: str = INSTANT
    min_notice_minutes: int = 120  # no online booking that starts sooner than this
    horizon_days: int = 365  # no online booking later than this many local days ahead (recalls are ~6 months out)
    change_notice_hours: int = 24  # online cancel and reschedule stop this long before the start
    max_online_reschedules: int = 2  # per appointment; staff are not limited
    slot_minutes: int = 60  # slot length when no appointment type is given
    slot_step_minutes: int = 0  # distance between offered starts; 0 means the type's duration
    online_type_ids: tuple[str, ...] = ()  # types patients may book online; empty means all
    waitlist_batch_size: int = 3  # patients told about a freed time at once
    waitlist_batch_minutes: int = 30  # wait before telling the next batch

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"booking mode must be one of {', '.join(MODES)}")
        for name in (
            "min_notice_minutes",
            "horizon_days",
            "change_notice_hours",
            "max_online_reschedules",
            "slot_step_minutes",
        ):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} cannot be negative")
        for name in ("slot_minutes", "waitlist_batch_size", "waitlist_batch_minutes"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1")

    @property
    def min_notice(self) -> timedelta:
        return timedelta(minutes=self.min_notice_minutes)

    @property
    def change_notice(self) -> timedelta:
        return timedelta(hours=self.change_notice_hours)

    def earliest_start(self, now: datetime) -> datetime:
        return now + self.min_notice

    def last_day(self, today: date) -> date:
        return today + timedelta(days=self.horizon_days)

    def step_for(self, duration_min: int) -> int:
        return self.slot_step_minutes or duration_min

    def can_change_online(self, start: datetime, now: datetime) -> bool:
        return start - now >= self.change_notice

    def change_deadline(self, start: datetime) -> datetime:
        return start - self.change_notice

    def type_is_online(self, type_id: str) -> bool:
        return not self.online_type_ids or type_id in self.online_type_ids

    def public(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "min_notice_minutes": self.min_notice_minutes,
            "horizon_days": self.horizon_days,
            "change_notice_hours": self.change_notice_hours,
            "max_online_reschedules": self.max_online_reschedules,
        }


def policy_from(settings: dict[str, object]) -> BookingPolicy:
    """The policy in a practice's settings; each bad value falls back to its default on its own."""
    raw = settings.get("booking") if isinstance(settings, dict) else None
    if not isinstance(raw, dict):
        return BookingPolicy()
    default = BookingPolicy()
    values: dict[str, Any] = {}
    for f in fields(BookingPolicy):
        if f.name not in raw:
            continue
        value = raw[f.name]
        if f.name == "online_type_ids":
            if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
                values[f.name] = tuple(value)
        elif f.name == "mode":
            if value in MODES:
                values[f.name] = value
        elif isinstance(value, int) and not isinstance(value, bool):
            candidate = {**{g.name: getattr(default, g.name) for g in fields(BookingPolicy)}, f.name: value}
            try:
                BookingPolicy(**candidate)
            except ValueError:
                continue
            values[f.name] = value
    return BookingPolicy(**values)
