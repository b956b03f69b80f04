"""Recall (recare) dates. Pure: stdlib only.

- The due date is the last hygiene visit plus the interval (default 6 months), clamped to the end of
  the month (Aug 31 + 6 months = Feb 28, or 29 in a leap year). It is always computed from the actual
  visit, never from the previous due date, so a late or early visit resets the cycle and dates never
  drift toward the end of the month.
- Messages start ``lead_days`` before the due date and repeat every ``repeat_days``, at most
  ``max_messages`` times; none goes out once the patient is more than ``give_up_after_months`` overdue.
- A patient holding a future hygiene appointment gets none (checked when planning and again at send).
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

HYGIENE = "hygiene"


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months, clamped to the last day of the target month."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def recall_due(last_visit: date, interval_months: int = 6) -> date:
    return add_months(last_visit, interval_months)


def message_dates(
    due: date,
    lead_days: int = 28,
    repeat_days: int = 42,
    max_messages: int = 4,
    give_up_after_months: int = 6,
) -> list[date]:
    """Every day a recall message is planned for, oldest first."""
    last_allowed = add_months(due, give_up_after_months)
    first = due - timedelta(days=lead_days)
    days = [first + timedelta(days=repeat_days * n) for n in range(max_messages)]
    return [d for d in days if d <= last_allowed]


def remaining_dates(
    due: date,
    today: date,
    has_future_hygiene: bool,
    lead_days: int = 28,
    repeat_days: int = 42,
    max_messages: int = 4,
    give_up_after_months: int = 6,
) -> list[tuple[int, date]]:
    """(message number, day) still to come from ``today`` on; none for a booked or long-overdue patient."""
    if has_future_hygiene or today > add_months(due, give_up_after_months):
        return []
    planned = message_dates(due, lead_days, repeat_days, max_messages, give_up_after_months)
    return [(n, d) for n, d in enumerate(planned, start=1) if d >= today]
