"""Appointments and their status machine, the time they hold, closures, the waitlist. Pure domain.

requested -> booked -> confirmed -> arrived -> completed; cancelled and no_show end a visit.
Every change of time or status is kept in the history.

Invariant: an appointment holds its provider's and operatory's time exactly while its status is in
``HOLDING``; a pending request holds nothing. Holds are written as 5-minute units by conditional
writes (see store.py), so two holds of one resource never overlap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

REQUESTED = "requested"
BOOKED = "booked"
CONFIRMED = "confirmed"
ARRIVED = "arrived"
COMPLETED = "completed"
CANCELLED = "cancelled"
NO_SHOW = "no_show"

STATUSES = (REQUESTED, BOOKED, CONFIRMED, ARRIVED, COMPLETED, CANCELLED, NO_SHOW)
ACTIVE = frozenset({REQUESTED, BOOKED, CONFIRMED, ARRIVED})

TRANSITIONS: dict[str, frozenset[str]] = {
    REQUESTED: frozenset({BOOKED, CANCELLED}),
    BOOKED: frozenset({CONFIRMED, ARRIVED, CANCELLED, NO_SHOW}),
    CONFIRMED: frozenset({ARRIVED, CANCELLED, NO_SHOW, BOOKED}),
    ARRIVED: frozenset({COMPLETED, NO_SHOW}),
    COMPLETED: frozenset(),
    CANCELLED: frozenset(),
    NO_SHOW: frozenset(),
}


class InvalidTransition(ValueError):
    pass


@dataclass
class HistoryEntry:
    at: datetime
    action: str  # status change ("booked->confirmed"), "moved", "imported"
    by: str  # actor id: staff sub, patient id, "import", "job:<name>"
    reason: str = ""
    previous_start: datetime | None = None


@dataclass
class Appointment:
    id: str
    patient_id: str
    provider_id: str
    operatory_id: str
    type_id: str
    start: datetime  # UTC
    end: datetime  # UTC
    status: str = BOOKED
    history: list[HistoryEntry] = field(default_factory=list)
    note: str = ""
    source_id: str = ""

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("appointment times must be UTC instants")
        if self.end <= self.start:
            raise ValueError("an appointment ends after it starts")
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    def transition(self, to: str, at: datetime, by: str, reason: str = "") -> None:
        if to not in TRANSITIONS.get(self.status, frozenset()):
            raise InvalidTransition(f"cannot go from {self.status} to {to}")
        self.history.append(HistoryEntry(at=at, action=f"{self.status}->{to}", by=by, reason=reason))
        self.status = to

    def move(self, start: datetime, end: datetime, at: datetime, by: str, reason: str = "") -> None:
        if not self.is_active:
            raise InvalidTransition(f"a {self.status} appointment cannot be moved")
        if end <= start:
            raise ValueError("an appointment ends after it starts")
        self.history.append(HistoryEntry(at=at, action="moved", by=by, reason=reason, previous_start=self.start))
        self.start, self.end = start, end


# --- time held by an appointment --------------------------------------------------------------------

HOLDING = frozenset({BOOKED, CONFIRMED, ARRIVED})  # statuses that occupy a provider's and an operatory's time
LOCK_UNIT = timedelta(minutes=5)  # the grain of every hold: booked times sit on a 5-minute grid
MAX_LENGTH = timedelta(hours=12)


class SlotTaken(Exception):
    """A provider or operatory already holds part of the interval (the conditional write said so)."""

    def __init__(self, resource: str) -> None:
        super().__init__(f"{resource} is taken")
        self.resource = resource


class ChangedMeanwhile(Exception):
    """The appointment was changed by someone else between the read and the write."""


class OfferGone(Exception):
    """A waitlist offer was taken, closed, or the entry is no longer waiting."""


def provider_resource(provider_id: str) -> str:
    return f"PROVIDER#{provider_id}"


def operatory_resource(operatory_id: str) -> str:
    return f"OPERATORY#{operatory_id}"


@dataclass(frozen=True)
class Hold:
    """A resource's time [start, end) held by one appointment; conflicts are half-open overlaps."""

    resource: str  # PROVIDER#<id> | OPERATORY#<id>
    start: datetime
    end: datetime

    def units(self) -> list[datetime]:
        return lock_units(self.start, self.end)


def on_grid(at: datetime) -> bool:
    return at.second == 0 and at.microsecond == 0 and at.minute % 5 == 0


def lock_units(start: datetime, end: datetime) -> list[datetime]:
    """The 5-minute units [u, u+5m) an interval touches; adjacent intervals share none."""
    first = start.replace(minute=start.minute - start.minute % 5, second=0, microsecond=0)
    units = []
    at = first
    while at < end:
        units.append(at)
        at += LOCK_UNIT
    return units


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    return a_start < b_end and b_start < a_end


def holds_for(a: Appointment) -> tuple[Hold, ...]:
    """What an appointment in a holding status keeps from everyone else."""
    if a.status not in HOLDING:
        return ()
    holds = [Hold(provider_resource(a.provider_id), a.start, a.end)]
    if a.operatory_id:
        holds.append(Hold(operatory_resource(a.operatory_id), a.start, a.end))
    return tuple(holds)


# --- who acted -----------------------------------------------------------------------------------------

PATIENT_ACTOR = "patient:"  # + the contact holder's id: a signed-in patient or guardian
LINK_ACTOR = "link:"  # + the action: someone holding a signed link from a message
ONLINE_ACTORS = (PATIENT_ACTOR, LINK_ACTOR)


def patient_actor(holder_id: str) -> str:
    return f"{PATIENT_ACTOR}{holder_id}"


def link_actor(action: str) -> str:
    return f"{LINK_ACTOR}{action}"


def online_moves(a: Appointment) -> int:
    """How many times patients moved this appointment themselves (the policy caps it)."""
    return sum(1 for h in a.history if h.action == "moved" and h.by.startswith(ONLINE_ACTORS))


def request_order(a: Appointment) -> tuple[datetime, datetime, str]:
    """Pending requests by start, then first come first served."""
    return (a.start, a.history[0].at if a.history else a.start, a.id)


def calendar_sequence(a: Appointment) -> int:
    """iCalendar SEQUENCE: bumps on every change an attendee must see (a move or a cancellation)."""
    return sum(1 for h in a.history if h.action == "moved" or h.action.endswith(f"->{CANCELLED}"))


# --- closures -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Closure:
    """Whole local days [start_date, end_date] on which the practice, or one provider, takes no bookings."""

    id: str
    start_date: date
    end_date: date  # inclusive
    provider_id: str = ""  # empty: the whole practice
    reason: str = ""

    def __post_init__(self) -> None:
        if self.end_date < self.start_date:
            raise ValueError("a closure ends on or after the day it starts")

    def covers(self, day: date, provider_id: str) -> bool:
        return self.start_date <= day <= self.end_date and self.provider_id in ("", provider_id)


# --- waitlist -------------------------------------------------------------------------------------------

WAITING = "waiting"
FULFILLED = "fulfilled"
REMOVED = "removed"

OFFER_OPEN = "open"
OFFER_TAKEN = "taken"
OFFER_CLOSED = "closed"


@dataclass
class WaitlistEntry:
    """A patient asking for an earlier time: a type, a window of local days, optionally one provider.

    With ``appointment_id`` the entry moves that appointment earlier; without, it books a new one.
    """

    id: str
    patient_id: str
    holder_id: str  # the contact holder who asked; offers go to that contact
    type_id: str
    earliest: date
    latest: date
    channel: str  # sms | email
    created_at: datetime
    provider_id: str = ""
    appointment_id: str = ""
    status: str = WAITING

    @property
    def key(self) -> str:
        """What the patient asked for: one active entry per patient and key (a repeat answers it)."""
        if self.appointment_id:
            return f"A#{self.appointment_id}"
        return f"T#{self.type_id}#{self.provider_id}#{self.earliest.isoformat()}#{self.latest.isoformat()}"

    def active(self, today: date) -> bool:
        return self.status == WAITING and self.latest >= today

    def wants(self, day: date, provider_id: str) -> bool:
        return self.status == WAITING and self.earliest <= day <= self.latest and self.provider_id in ("", provider_id)


@dataclass
class Offer:
    """A freed interval offered to waitlisted patients in batches; the first to accept takes it."""

    id: str
    provider_id: str
    operatory_id: str
    start: datetime
    end: datetime  # the whole freed interval; an accepted entry books its own type's length from start
    created_at: datetime
    notified: list[str] = field(default_factory=list)  # entry ids already told, in order
    next_batch_at: datetime | None = None
    status: str = OFFER_OPEN
    taken_by: str = ""  # entry id
    freed_by: str = ""  # the appointment whose change freed the time


# --- calendar feeds --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalendarFeed:
    """A contact's subscribable calendar; ``feed_id`` changes on rotation, which revokes old URLs."""

    holder_id: str
    feed_id: str
    patient_ids: tuple[str, ...]
    created_at: datetime
