"""Reminder domain: when touches are due, where they may go, what an inbound text or an SES notice means.

Pure: stdlib and ``phonenumbers`` only. Times are UTC instants plus IANA zone names.

Rules (DESIGN.md, "Reminders"):
- An offset counted in days keeps the appointment's local wall-clock time in the practice's zone
  (a 09:30 visit gets its 2-day touch at 09:30 local two days before, across DST). An offset in hours
  or minutes is an exact duration. Nothing is fixed at booking time: touches are recomputed from the
  appointment's current start whenever it changes.
- Sending hours default to 08:00-21:00 in the patient's zone, else the practice's; the rest of the day
  is quiet. A touch due in quiet hours moves to the next start of the sending hours, and is dropped if
  that is not before the appointment.
- A local wall-clock time that does not exist (spring forward) resolves to the same offset as before
  the change (02:30 -> 03:30 daylight time); one that happens twice (fall back) resolves to the first.
  So a daily job at a local time runs exactly once on every local day.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from chalicelib.appointments.model import Appointment
from chalicelib.patients.model import Patient
from chalicelib.practices.model import Practice

# --- vocabulary -----------------------------------------------------------------------------------

EMAIL = "email"
SMS = "sms"
CHANNELS = (EMAIL, SMS)

DAYS = "days"
HOURS = "hours"
MINUTES = "minutes"
UNITS = (DAYS, HOURS, MINUTES)

# Message types a patient sets channels for (contact preferences).
APPOINTMENT_REMINDERS = "appointment_reminders"
RECALL = "recall"
BILLING = "billing"
FEEDBACK = "feedback"
MESSAGE_TYPES = (APPOINTMENT_REMINDERS, RECALL, BILLING, FEEDBACK)

# Touch kinds: swept reminders, notices sent when an appointment changes, recall messages.
REMINDER = "reminder"
NOTICE_CANCELLED = "cancelled"
NOTICE_MOVED = "moved"
RECALL_TOUCH = "recall"
SURVEY_TOUCH = "survey"  # post-visit survey (chalicelib/feedback plans it)
THANKS_TOUCH = "referral_thanks"  # thanks a referrer once the friend's first visit is done (chalicelib/feedback)
INSTALMENT_TOUCH = "instalment"  # a payment-plan instalment falls due (chalicelib/reminders/instalments.py)
KINDS = (REMINDER, NOTICE_CANCELLED, NOTICE_MOVED, RECALL_TOUCH, SURVEY_TOUCH, THANKS_TOUCH, INSTALMENT_TOUCH)
FEEDBACK_KINDS = frozenset({SURVEY_TOUCH, THANKS_TOUCH})
NOTICES = frozenset({NOTICE_CANCELLED, NOTICE_MOVED})

# Touch states. A touch is written pending and claimed by one sweep with a conditional update (claimed:
# ours, not tried yet). Right before the provider call it becomes sending (another conditional update,
# still under our lease), and right after, sent with the provider's id. It ends sent, skipped,
# cancelled (re-planned away), failed (the provider refused it MAX_SEND_ATTEMPTS times) or unknown: it
# was handed to the provider and then the run died or the answer was lost, so it may have gone out.
# Delivery is at most once: an unknown touch is never resent by the engine; staff see it and decide.
PENDING = "pending"
CLAIMED = "claimed"
SENDING = "sending"
SENT = "sent"
SKIPPED = "skipped"
CANCELLED = "cancelled"
FAILED = "failed"
UNKNOWN = "unknown"
OPEN_STATES = frozenset({PENDING, CLAIMED, SENDING})

# Appointment statuses that get reminders. Anything else (requested, cancelled, no-show, a
# "reschedule requested" flag the book may add) gets none: an unknown status is never reminded.
REMINDABLE = frozenset({"booked", "confirmed"})
CONFIRMED = "confirmed"
STATUS_CANCELLED = "cancelled"

MAX_SEND_ATTEMPTS = 3
RETRY_AFTER = (timedelta(minutes=2), timedelta(minutes=10), timedelta(minutes=30))


class PolicyError(ValueError):
    """A reminder policy, template or preference that cannot be used, with a message for people."""


class PolicyConflict(Exception):
    """Someone saved another version of the policy first."""


# --- time -----------------------------------------------------------------------------------------


def valid_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise PolicyError(f"unknown time zone {name!r}") from exc
    return name


def at_local(day: date, clock: time, zone: str) -> datetime:
    """The UTC instant of ``clock`` on local ``day`` in ``zone``.

    ``fold=0``: a skipped time keeps the offset from before the change (02:30 on spring-forward day is
    07:30Z in New York = 03:30 EDT); a repeated time is its first occurrence (01:30 on fall-back day is
    05:30Z = 01:30 EDT).
    """
    return datetime.combine(day, clock.replace(tzinfo=None, fold=0), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def offset_instant(start: datetime, offset: int, unit: str, zone: str) -> datetime:
    """When a touch ``offset`` ``unit`` before ``start`` is due: days keep the local clock, hours don't."""
    if unit == DAYS:
        local = start.astimezone(ZoneInfo(zone))
        return at_local(local.date() - timedelta(days=offset), local.time(), zone)
    if unit == HOURS:
        return start - timedelta(hours=offset)
    if unit == MINUTES:
        return start - timedelta(minutes=offset)
    raise PolicyError(f"unknown unit {unit!r}")


def parse_clock(text: str) -> time:
    if not isinstance(text, str) or not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", text):
        raise PolicyError(f"times are HH:MM (24-hour), not {text!r}")
    return time(int(text[:2]), int(text[3:]))


def clock_text(clock: time) -> str:
    return clock.strftime("%H:%M")


@dataclass(frozen=True)
class SendingHours:
    """Messages go out in [start, end) local time; the rest of the day is quiet hours."""

    start: time = time(8, 0)
    end: time = time(21, 0)

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise PolicyError("sending hours must start before they end, on the same day")
        if (datetime.combine(date.min, self.end) - datetime.combine(date.min, self.start)) < timedelta(hours=2):
            raise PolicyError("sending hours must span at least two hours")

    def is_open(self, at: datetime, zone: str) -> bool:
        local = at.astimezone(ZoneInfo(zone)).time()
        return self.start <= local < self.end

    def next_open(self, at: datetime, zone: str) -> datetime:
        """``at`` itself inside the sending hours, else the start of the next sending hours."""
        local = at.astimezone(ZoneInfo(zone))
        if self.start <= local.time() < self.end:
            return at
        day = local.date() if local.time() < self.start else local.date() + timedelta(days=1)
        return at_local(day, self.start, zone)

    def as_dict(self) -> dict[str, str]:
        return {"start": clock_text(self.start), "end": clock_text(self.end)}


def sending_hours_from(raw: Any, current: SendingHours | None = None) -> SendingHours:
    """Sending hours from JSON. A side left out keeps ``current``'s; with nothing stored to keep,
    both are required (a lone start must not pair with a made-up end)."""
    if not isinstance(raw, Mapping) or set(raw) - {"start", "end"}:
        raise PolicyError('sending_hours is {"start": "HH:MM", "end": "HH:MM"}')
    if current is None and set(raw) != {"start", "end"}:
        raise PolicyError('sending_hours needs both start and end: {"start": "HH:MM", "end": "HH:MM"}')
    start = parse_clock(raw["start"]) if "start" in raw else current.start if current else SendingHours().start
    end = parse_clock(raw["end"]) if "end" in raw else current.end if current else SendingHours().end
    return SendingHours(start, end)


def next_daily_run(after: datetime, clock: time, zone: str) -> datetime:
    """The first instant strictly after ``after`` at local ``clock`` in ``zone``.

    Each local day maps to exactly one instant (see ``at_local``), so a job scheduled from its own
    last run time runs once per local day, on DST days too: no second run in a repeated hour, and a
    run in a skipped hour happens at the same offset just after the change.
    """
    local_day = after.astimezone(ZoneInfo(zone)).date()
    for shift in range(-1, 3):
        candidate = at_local(local_day + timedelta(days=shift), clock, zone)
        if candidate > after:
            return candidate
    raise AssertionError("unreachable: a later local day always exists")  # pragma: no cover


def local_day(at: datetime, zone: str) -> date:
    return at.astimezone(ZoneInfo(zone)).date()


# --- policy -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TouchRule:
    """One reminder touch: ``offset`` ``unit`` before the visit, by ``channel``.

    ``fallback``: use the other channel when this one is not possible (no address, not consented,
    opted out, suppressed). ``after_confirm``: still send once the patient has confirmed.
    """

    key: str
    offset: int
    unit: str
    channel: str
    fallback: bool = True
    after_confirm: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "offset": self.offset,
            "unit": self.unit,
            "channel": self.channel,
            "fallback": self.fallback,
            "after_confirm": self.after_confirm,
        }


@dataclass(frozen=True)
class RecallPolicy:
    """Recall cadence. The due date is computed from the actual last hygiene visit every time."""

    interval_months: int = 6
    lead_days: int = 28  # first message this many days before the due date
    repeat_days: int = 42  # then every six weeks
    max_messages: int = 4
    give_up_after_months: int = 6  # patients this overdue are no longer messaged
    send_at: time = time(10, 0)  # local time of day recall messages go out
    channel: str = EMAIL

    def as_dict(self) -> dict[str, Any]:
        return {
            "interval_months": self.interval_months,
            "lead_days": self.lead_days,
            "repeat_days": self.repeat_days,
            "max_messages": self.max_messages,
            "give_up_after_months": self.give_up_after_months,
            "send_at": clock_text(self.send_at),
            "channel": self.channel,
        }


MAX_INSTALMENT_LEAD_DAYS = 30


@dataclass(frozen=True)
class InstalmentPolicy:
    """Payment-plan reminders: one per unpaid instalment, ``lead_days`` before its due date at
    ``send_at`` in the practice's local time (0 = on the due date itself)."""

    lead_days: int = 3
    send_at: time = time(10, 0)
    channel: str = EMAIL

    def as_dict(self) -> dict[str, Any]:
        return {"lead_days": self.lead_days, "send_at": clock_text(self.send_at), "channel": self.channel}


DEFAULT_TOUCHES = (
    TouchRule("7d", 7, DAYS, EMAIL),
    TouchRule("2d", 2, DAYS, SMS),
    TouchRule("2h", 2, HOURS, SMS, after_confirm=True),
)


@dataclass(frozen=True)
class Policy:
    """A practice's reminder policy. Stored as versioned settings; ``version`` 0 is the default."""

    touches: tuple[TouchRule, ...] = DEFAULT_TOUCHES
    continue_after_confirm: bool = False
    sending_hours: SendingHours = field(default_factory=SendingHours)
    max_per_day: int = 1  # reminders per patient per local day; 0 = no limit
    notify_on_cancel: bool = True
    notify_on_move: bool = True
    planner_at: time = time(1, 30)  # daily pass that (re)plans the coming days (imports, policy changes)
    recall_at: time = time(2, 30)  # daily recall planning
    plan_days: int = 0  # 0 = as far ahead as the longest touch needs
    recall: RecallPolicy = field(default_factory=RecallPolicy)
    instalments: InstalmentPolicy = field(default_factory=InstalmentPolicy)
    templates: Mapping[str, str] = field(default_factory=dict)
    version: int = 0

    @property
    def horizon_days(self) -> int:
        """How many days ahead the daily planner looks: the longest touch plus a margin."""
        if self.plan_days:
            return self.plan_days
        longest = 0
        for rule in self.touches:
            span = {DAYS: rule.offset * 24 * 60, HOURS: rule.offset * 60, MINUTES: rule.offset}[rule.unit]
            longest = max(longest, span)
        return longest // (24 * 60) + 2

    def rule(self, key: str) -> TouchRule | None:
        return next((r for r in self.touches if r.key == key), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "touches": [r.as_dict() for r in self.touches],
            "continue_after_confirm": self.continue_after_confirm,
            "sending_hours": self.sending_hours.as_dict(),
            "max_per_day": self.max_per_day,
            "notify_on_cancel": self.notify_on_cancel,
            "notify_on_move": self.notify_on_move,
            "planner_at": clock_text(self.planner_at),
            "recall_at": clock_text(self.recall_at),
            "plan_days": self.plan_days,
            "recall": self.recall.as_dict(),
            "instalments": self.instalments.as_dict(),
            "templates": dict(self.templates),
        }


DEFAULT_POLICY = Policy()

_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,15}$")
_POLICY_FIELDS = {
    "version",
    "touches",
    "continue_after_confirm",
    "sending_hours",
    "max_per_day",
    "notify_on_cancel",
    "notify_on_move",
    "planner_at",
    "recall_at",
    "plan_days",
    "recall",
    "instalments",
    "templates",
}
MAX_OFFSET = {DAYS: 60, HOURS: 96, MINUTES: 24 * 60}


def _bool(raw: Mapping[str, Any], name: str, default: bool) -> bool:
    value = raw.get(name, default)
    if not isinstance(value, bool):
        raise PolicyError(f"{name} is true or false")
    return value


def _int(raw: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise PolicyError(f"{name} is a whole number from {low} to {high}")
    return value


def touch_rule_from(raw: Any) -> TouchRule:
    if not isinstance(raw, Mapping):
        raise PolicyError("each touch is an object")
    unknown = set(raw) - {"key", "offset", "unit", "channel", "fallback", "after_confirm"}
    if unknown:
        raise PolicyError(f"unknown touch field(s): {', '.join(sorted(unknown))}")
    unit = raw.get("unit")
    if unit not in UNITS:
        raise PolicyError("a touch's unit is days, hours or minutes")
    channel = raw.get("channel")
    if channel not in CHANNELS:
        raise PolicyError("a touch's channel is email or sms")
    offset = _int(raw, "offset", -1, 1, MAX_OFFSET[str(unit)])
    key = raw.get("key") or f"{offset}{str(unit)[0]}"
    if not isinstance(key, str) or not _KEY.match(key):
        raise PolicyError("a touch's key is 1-16 lower-case letters, digits, - or _")
    return TouchRule(
        key=key,
        offset=offset,
        unit=str(unit),
        channel=str(channel),
        fallback=_bool(raw, "fallback", True),
        after_confirm=_bool(raw, "after_confirm", False),
    )


def _section(raw: Any, name: str, fields: Mapping[str, Any]) -> str:
    """Check a nested policy object (``recall``, ``instalments``): an object of known fields whose channel
    is email or sms; returns the channel."""
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{name} is an object")
    unknown = set(raw) - set(fields)
    if unknown:
        raise PolicyError(f"unknown {name} field(s): {', '.join(sorted(unknown))}")
    channel = raw.get("channel", EMAIL)
    if channel not in CHANNELS:
        raise PolicyError(f"{name} channel is email or sms")
    return str(channel)


def recall_policy_from(raw: Any) -> RecallPolicy:
    channel = _section(raw, "recall", RecallPolicy().as_dict())
    return RecallPolicy(
        interval_months=_int(raw, "interval_months", 6, 1, 24),
        lead_days=_int(raw, "lead_days", 28, 0, 90),
        repeat_days=_int(raw, "repeat_days", 42, 7, 180),
        max_messages=_int(raw, "max_messages", 4, 0, 8),
        give_up_after_months=_int(raw, "give_up_after_months", 6, 0, 36),
        send_at=parse_clock(raw.get("send_at", "10:00")),
        channel=channel,
    )


def instalment_policy_from(raw: Any) -> InstalmentPolicy:
    channel = _section(raw, "instalments", InstalmentPolicy().as_dict())
    return InstalmentPolicy(
        lead_days=_int(raw, "lead_days", 3, 0, MAX_INSTALMENT_LEAD_DAYS),
        send_at=parse_clock(raw.get("send_at", "10:00")),
        channel=channel,
    )


def policy_from_dict(raw: Mapping[str, Any], version: int = 0) -> Policy:
    """A validated policy from its JSON shape; missing fields take the defaults."""
    from chalicelib.reminders.templates import validate_templates

    unknown = set(raw) - _POLICY_FIELDS
    if unknown:
        raise PolicyError(f"unknown policy field(s): {', '.join(sorted(unknown))}")
    touches_raw = raw.get("touches", [r.as_dict() for r in DEFAULT_TOUCHES])
    if not isinstance(touches_raw, list) or len(touches_raw) > 6:
        raise PolicyError("touches is a list of at most 6 touches")
    touches = tuple(touch_rule_from(t) for t in touches_raw)
    if len({t.key for t in touches}) != len(touches):
        raise PolicyError("touch keys must be unique")
    templates = raw.get("templates", {})
    if not isinstance(templates, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in templates.items()
    ):
        raise PolicyError("templates maps template names to text")
    validate_templates(templates)
    return Policy(
        touches=tuple(sorted(touches, key=lambda t: -_minutes(t))),
        continue_after_confirm=_bool(raw, "continue_after_confirm", False),
        sending_hours=sending_hours_from(raw.get("sending_hours", {"start": "08:00", "end": "21:00"})),
        max_per_day=_int(raw, "max_per_day", 1, 0, 10),
        notify_on_cancel=_bool(raw, "notify_on_cancel", True),
        notify_on_move=_bool(raw, "notify_on_move", True),
        planner_at=parse_clock(raw.get("planner_at", "01:30")),
        recall_at=parse_clock(raw.get("recall_at", "02:30")),
        plan_days=_int(raw, "plan_days", 0, 0, 62),
        recall=recall_policy_from(raw.get("recall", {})),
        instalments=instalment_policy_from(raw.get("instalments", {})),
        templates=dict(templates),
        version=version,
    )


def _minutes(rule: TouchRule) -> int:
    return {DAYS: rule.offset * 24 * 60, HOURS: rule.offset * 60, MINUTES: rule.offset}[rule.unit]


# --- planning ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedTouch:
    key: str  # the rule key ("7d"), or the notice/recall key
    kind: str
    due: datetime
    channel: str
    fallback: bool = True
    after_confirm: bool = False


def plan_reminders(
    start: datetime,
    status: str,
    policy: Policy,
    practice_zone: str,
    hours: SendingHours,
    quiet_zone: str,
) -> list[PlannedTouch]:
    """The reminder touches an appointment should have now, in due order.

    Computed from the appointment's current start and status only, so re-running it after any change
    (or twice for one change) gives the same answer.
    """
    if status not in REMINDABLE:
        return []
    planned = []
    for rule in policy.touches:
        if status == CONFIRMED and not (policy.continue_after_confirm or rule.after_confirm):
            continue
        due = schedule_in_sending_hours(
            offset_instant(start, rule.offset, rule.unit, practice_zone), start, hours, quiet_zone
        )
        if due is None:
            continue
        planned.append(PlannedTouch(rule.key, REMINDER, due, rule.channel, rule.fallback, rule.after_confirm))
    return sorted(planned, key=lambda t: t.due)


def instalment_reminder_at(
    due_on: date, rule: InstalmentPolicy, practice_zone: str, hours: SendingHours, quiet_zone: str, now: datetime
) -> datetime:
    """When the reminder of an instalment due on (practice-local) ``due_on`` goes out: ``lead_days``
    before, at ``send_at`` local (days keep the local clock across DST); a moment already past (a plan
    made late, a due date today or gone) is ``now``; either way moved out of quiet hours."""
    planned = at_local(due_on - timedelta(days=rule.lead_days), rule.send_at, practice_zone)
    return hours.next_open(max(planned, now), quiet_zone)


def schedule_in_sending_hours(due: datetime, deadline: datetime, hours: SendingHours, zone: str) -> datetime | None:
    """``due`` moved out of quiet hours; None when that is not before ``deadline`` (the visit)."""
    moved = hours.next_open(due, zone)
    return moved if moved < deadline else None


# --- contact state and preferences ----------------------------------------------------------------


@dataclass(frozen=True)
class AddressState:
    """What we know about one phone (E.164) or email address in one practice."""

    address: str
    channel: str
    sms_opt_out: bool = False  # the number texted STOP (or another opt-out word) to the practice
    sms_blocked: bool = False  # the carrier/SNS reports the number opted out (sms_blocked_opted_out)
    email_suppressed: bool = False  # hard bounce, complaint, 5.x.x, or repeated soft bounces
    suppressed_reason: str = ""
    soft_bounces: int = 0
    unsubscribed: frozenset[str] = frozenset()  # message types unsubscribed by the email link

    def blocked_reason(self, message_type: str) -> str:
        if self.channel == SMS:
            if self.sms_opt_out:
                return "sms_opted_out"
            if self.sms_blocked:
                return "sms_blocked_opted_out"
        elif self.email_suppressed:
            return "email_suppressed"
        elif message_type in self.unsubscribed:
            return "email_unsubscribed"
        return ""


@dataclass(frozen=True)
class ContactPrefs:
    """A patient's own choices. Missing entries mean "allowed"; an empty language means the record's."""

    channels: Mapping[str, Mapping[str, bool]] = field(default_factory=dict)
    sending_hours: SendingHours | None = None
    language: str = ""

    def allows(self, message_type: str, channel: str) -> bool:
        return bool(self.channels.get(message_type, {}).get(channel, True))

    def as_dict(self) -> dict[str, Any]:
        return {
            "channels": {t: {c: self.allows(t, c) for c in CHANNELS} for t in MESSAGE_TYPES},
            "sending_hours": self.sending_hours.as_dict() if self.sending_hours else None,
            "language": self.language or None,
        }


LANGUAGES = ("en", "es")


def prefs_from_dict(raw: Mapping[str, Any], current: ContactPrefs | None = None) -> ContactPrefs:
    """Preferences from the API's JSON; fields left out keep their ``current`` values."""
    base = current or ContactPrefs()
    unknown = set(raw) - {"channels", "sending_hours", "language"}
    if unknown:
        raise PolicyError(f"unknown preference field(s): {', '.join(sorted(unknown))}")
    channels = {t: dict(v) for t, v in base.channels.items()}
    if "channels" in raw:
        given = raw["channels"]
        if not isinstance(given, Mapping):
            raise PolicyError("channels maps a message type to {email: bool, sms: bool}")
        for message_type, choice in given.items():
            if message_type not in MESSAGE_TYPES:
                raise PolicyError(f"unknown message type {message_type!r}")
            if not isinstance(choice, Mapping) or set(choice) - set(CHANNELS):
                raise PolicyError("each message type takes {email: bool, sms: bool}")
            for channel, allowed in choice.items():
                if not isinstance(allowed, bool):
                    raise PolicyError("channel choices are true or false")
                channels.setdefault(message_type, {})[channel] = allowed
    hours = base.sending_hours
    if "sending_hours" in raw:
        hours = None if raw["sending_hours"] is None else sending_hours_from(raw["sending_hours"], hours)
    language = base.language
    if "language" in raw:
        value = raw["language"]
        if value not in (None, "", *LANGUAGES):
            raise PolicyError("language is en or es")
        language = str(value or "")
    return ContactPrefs(channels=channels, sending_hours=hours, language=language)


@dataclass(frozen=True)
class Route:
    channel: str
    address: str
    notes: tuple[str, ...] = ()  # why the preferred channel was not used, if it was not


def route_message(
    preferred: str,
    fallback: bool,
    message_type: str,
    prefs: ContactPrefs,
    candidates: Mapping[str, Sequence[AddressState]],
    exclude: frozenset[str] = frozenset(),
) -> tuple[Route | None, tuple[str, ...]]:
    """Where one message goes: the preferred channel if possible, else (with ``fallback``) the other.

    Returns the route (or None) and every reason a channel was passed over, e.g. ``sms_opted_out``.
    """
    order = [preferred] + ([c for c in CHANNELS if c != preferred] if fallback else [])
    notes: list[str] = []
    for channel in order:
        if channel in exclude:
            continue
        if not prefs.allows(message_type, channel):
            notes.append(f"{channel}_declined")
            continue
        addresses = list(candidates.get(channel, ()))
        if not addresses:
            notes.append(f"no_{channel}")
            continue
        for state in addresses:
            reason = state.blocked_reason(message_type)
            if reason:
                notes.append(reason)
                continue
            return Route(channel, state.address, tuple(notes)), tuple(notes)
    return None, tuple(notes)


# --- send-time checks -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What a claimed touch does now: ``send``, ``skip`` (with a reason) or ``retime`` (to ``due``)."""

    action: str
    reason: str = ""
    due: datetime | None = None


SEND = Verdict("send")


def skip(reason: str) -> Verdict:
    return Verdict("skip", reason)


def appointment_verdict(  # noqa: PLR0911 - one return per rule reads best
    kind: str,
    planned_start: datetime,
    after_confirm: bool,
    status: str | None,
    start: datetime | None,
    policy: Policy,
    now: datetime,
    hours: SendingHours,
    quiet_zone: str,
) -> Verdict:
    """Re-check a claimed appointment touch against the appointment as it is now."""
    if status is None or start is None:
        return skip("appointment_gone")
    if kind == NOTICE_CANCELLED:
        if status != STATUS_CANCELLED:
            return skip("not_cancelled")
        return _in_hours(now, None, hours, quiet_zone)
    if status == STATUS_CANCELLED:
        return skip("cancelled")
    if status not in REMINDABLE:
        return skip(f"status_{status}")
    if start != planned_start:
        return skip("moved")
    if start <= now:
        return skip("visit_started")
    if kind == REMINDER and status == CONFIRMED and not (policy.continue_after_confirm or after_confirm):
        return skip("confirmed")
    return _in_hours(now, start, hours, quiet_zone)


def _in_hours(now: datetime, deadline: datetime | None, hours: SendingHours, zone: str) -> Verdict:
    opens = hours.next_open(now, zone)
    if opens == now:
        return SEND
    if deadline is not None and opens >= deadline:
        return skip("quiet_hours")
    return Verdict("retime", due=opens)


def retry_due(attempts: int, now: datetime) -> datetime:
    return now + RETRY_AFTER[min(max(attempts - 1, 0), len(RETRY_AFTER) - 1)]


# --- records the engine keeps ----------------------------------------------------------------------


@dataclass
class Touch:
    """One message that is due at an instant: a reminder, a notice or a recall message."""

    practice_id: str
    id: str
    kind: str
    key: str
    subject_id: str  # appointment id, patient id for recall, payment-plan id for an instalment
    patient_id: str
    due: datetime
    channel: str
    fallback: bool = True
    after_confirm: bool = False
    planned_start: datetime | None = None
    status: str = PENDING
    reason: str = ""
    attempts: int = 0
    claimed_until: datetime | None = None
    sent_at: datetime | None = None
    sent_channel: str = ""
    sent_to: str = ""
    provider_message_id: str = ""
    notes: list[str] = field(default_factory=list)
    policy_version: int = 0
    recall_due: date | None = None
    recipients: list[tuple[str, str]] = field(default_factory=list)  # plan-time (channel, address), guardians
    created_at: datetime | None = None
    parts: int = field(default=0, compare=False)  # SMS segments of the text sent (not stored; analytics counts them)
    instalment: InstalmentFacts | None = field(default=None, compare=False)  # read at send time (not stored)


@dataclass(frozen=True)
class InstalmentFacts:
    """What an instalment reminder says, read from billing after the touch is claimed."""

    plan_id: str
    number: int
    of: int
    due_on: date
    amount_cents: int
    pay_url: str = ""  # minted once, right before the send


@dataclass(frozen=True)
class SweepState:
    watermark: datetime | None = None
    next_plan_at: datetime | None = None
    next_recall_at: datetime | None = None
    planned_version: int = 0  # the policy version the daily planner last re-planned open touches under


@dataclass(frozen=True)
class InboxEntry:
    id: str
    at: datetime
    kind: str  # sms_reply | possible_opt_out | opt_out_follow_up | delivery_failed | sms_blocked
    address: str
    patient_ids: tuple[str, ...]
    text: str
    status: str = "open"


@dataclass(frozen=True)
class RecallRecord:
    patient_id: str
    last_visit: date
    due: date


@dataclass
class Snapshot:
    """What one sweep round re-reads, in as few requests as DynamoDB allows."""

    appointments: dict[str, Appointment] = field(default_factory=dict)
    patients: dict[str, Patient] = field(default_factory=dict)
    prefs: dict[str, ContactPrefs] = field(default_factory=dict)
    caps: dict[tuple[str, str], int] = field(default_factory=dict)  # (patient id, local date) -> reminders sent
    recalls: dict[str, RecallRecord] = field(default_factory=dict)
    practice: Practice | None = None
    policy: Policy | None = None


# --- phone numbers --------------------------------------------------------------------------------


def e164(raw: str, region: str = "US") -> str:
    """The E.164 form of a phone number in any common format, or "" when it is not a possible number."""
    text = (raw or "").strip()
    if not text or "@" in text:
        return ""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def stored_forms(number: str, region: str = "US") -> list[str]:
    """Forms a number may have been stored in (E.164 first): records from imports keep what they had."""
    canonical = e164(number, region)
    if not canonical:
        return []
    parsed = phonenumbers.parse(canonical)
    national = str(parsed.national_number)
    forms = [
        canonical,
        phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL),
        phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
        national,
    ]
    if len(national) == 10:
        forms += [f"{national[:3]}-{national[3:6]}-{national[6:]}", f"{national[:3]}.{national[3:6]}.{national[6:]}"]
        forms.append(f"{parsed.country_code}{national}")
    return list(dict.fromkeys(forms))


def normal_email(raw: str) -> str:
    text = (raw or "").strip().lower()
    return text if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text) else ""


# --- inbound SMS ------------------------------------------------------------------------------------

CONFIRM_REPLY = "confirm"
OPT_OUT = "opt_out"
OPT_IN = "opt_in"
HELP = "help"
POSSIBLE_OPT_OUT = "possible_opt_out"
OTHER = "other"

# Carrier and AWS End User Messaging opt-out words, plus the list. CANCEL here is the carrier
# opt-out word: it never cancels an appointment.
OPT_OUT_WORDS = frozenset(
    {
        "stop",
        "stopall",
        "stop all",
        "unsubscribe",
        "cancel",
        "end",
        "quit",
        "optout",
        "opt out",
        "opt-out",
        "revoke",
        "remove",
        "arret",
        "td",
    }
)
OPT_IN_WORDS = frozenset({"start", "unstop"})
HELP_WORDS = frozenset({"help", "info", "ayuda"})
CONFIRM_WORDS = frozenset(
    {
        "c",
        "y",
        "yes",
        "yeah",
        "yep",
        "ok",
        "okay",
        "k",
        "confirm",
        "confirmed",
        "si",
        "sí",
        "confirmo",
        "👍",
        "✅",
        "👌",
        "🆗",
        "✔",
        "☑",
    }
)
_POSSIBLE_OPT_OUT = re.compile(
    r"\b(stop|unsubscribe|opt ?out|remove me|take me off|no more (texts?|messages)|"
    r"(don'?t|do not|quit|stop) (text|txt|messag|contact|send)\w*|leave me alone|"
    r"no me (escriban|manden|envíen|envien)|dejen de|basta)\b",
    re.IGNORECASE,
)
_SKIN_TONES_AND_SELECTORS = re.compile("[\U0001f3fb-\U0001f3ff\ufe0e\ufe0f]")


def normalise_keyword(text: str) -> str:
    """Case, width, surrounding space and punctuation, emoji skin tones: none of them change a keyword."""
    cleaned = unicodedata.normalize("NFKC", text or "").casefold()
    cleaned = _SKIN_TONES_AND_SELECTORS.sub("", cleaned)
    cleaned = re.sub(r"\s+", " ", cleaned).strip()
    return cleaned.strip(" .!?,;:'\"()[]").strip()


def classify_inbound(text: str) -> str:
    """What an inbound SMS asks for. Only a whole-message keyword acts; other text goes to staff."""
    word = normalise_keyword(text)
    if word in OPT_OUT_WORDS:
        return OPT_OUT
    if word in OPT_IN_WORDS:
        return OPT_IN
    if word in HELP_WORDS:
        return HELP
    if word in CONFIRM_WORDS:
        return CONFIRM_REPLY
    if _POSSIBLE_OPT_OUT.search(unicodedata.normalize("NFKC", text or "")):
        return POSSIBLE_OPT_OUT
    return OTHER


# --- SES feedback -----------------------------------------------------------------------------------

SOFT_BOUNCE_LIMIT = 3
"""Product decision: an address is suppressed after three transient (4.x.x) bounces on three different
sends with no delivery in between. One full mailbox is not a dead address; three failed sends in a row
are, for reminders that matter only for a few days. A delivery resets the count."""

SUPPRESS = "suppress"
SOFT = "soft"
DELIVERED = "delivered"
IGNORE = "ignore"


@dataclass(frozen=True)
class Feedback:
    action: str  # suppress | soft | delivered | ignore
    reason: str


def classify_feedback(  # noqa: PLR0911
    notification_type: str, bounce_type: str = "", status: str = "", complaint_type: str = ""
) -> Feedback:
    """What one SES notice means for one recipient (DESIGN.md and case C12).

    A permanent bounce, a complaint, or a transient bounce whose status is 5.x.x suppresses the address;
    a transient (or undetermined) bounce with a 4.x.x or no status counts as a soft bounce.
    """
    kind = (notification_type or "").strip().lower()
    if kind == "complaint":
        if complaint_type.strip().lower() == "not-spam":
            return Feedback(IGNORE, "complaint_not_spam")
        return Feedback(SUPPRESS, "complaint")
    if kind == "delivery":
        return Feedback(DELIVERED, "delivered")
    if kind != "bounce":
        return Feedback(IGNORE, f"unknown_{kind or 'type'}")
    bounce = (bounce_type or "").strip().lower()
    code = (status or "").strip()
    if bounce == "permanent":
        return Feedback(SUPPRESS, f"bounce_permanent_{code}" if code else "bounce_permanent")
    if code.startswith("5."):
        return Feedback(SUPPRESS, f"bounce_{code}")
    return Feedback(SOFT, f"bounce_soft_{code}" if code else "bounce_soft")


def with_soft_bounce(state: AddressState) -> AddressState:
    count = state.soft_bounces + 1
    if count >= SOFT_BOUNCE_LIMIT:
        return replace(state, soft_bounces=count, email_suppressed=True, suppressed_reason="soft_bounces")
    return replace(state, soft_bounces=count)
