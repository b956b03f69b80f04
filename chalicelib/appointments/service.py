"""Appointment use cases: availability, booking, confirm, cancel, reschedule, staff actions, signed links.

Ports come in through ``Ports`` (stores, clock, auditor, event bus, senders, signing key), so unit
tests pass the in-memory twins from memory.py and routes pass the DynamoDB-backed ones (wiring.py).

Invariants:
- a time is validated by reading the day (hours, closures, policy, appointments that hold no locks
  such as imported ones) and then *taken* by ``BookingStore.commit``'s conditional transaction; the
  read only gives a better message, the transaction decides: of any number of racing writers for
  overlapping time exactly one wins, the others get 409 ``slot_taken``;
- every change of time or status is committed first, then published as exactly one
  ``AppointmentChanged`` and audited; an action that changes nothing (confirm twice, cancel a
  cancelled appointment) writes, publishes and notifies nothing and answers as it did the first time;
- a patient acts only for the patients of the session; another patient's appointment answers 404
  exactly like a missing one, and the attempt is audited as ``access_denied``.
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from chalicelib.adapters.messaging import EmailSender, SmsSender
from chalicelib.appointments import links
from chalicelib.appointments.availability import (
    MESSAGES,
    SLOT_TAKEN,
    Busy,
    DayRules,
    Slot,
    day_slots,
    hours_for,
    patient_problem,
    staff_problem,
)
from chalicelib.appointments.events import CREATED, MOVED, STATUS_CHANGED, AppointmentChanged, AppointmentEvents
from chalicelib.appointments.model import (
    ARRIVED,
    BOOKED,
    CANCELLED,
    COMPLETED,
    CONFIRMED,
    HOLDING,
    MAX_LENGTH,
    NO_SHOW,
    ONLINE_ACTORS,
    REQUESTED,
    Appointment,
    ChangedMeanwhile,
    Closure,
    HistoryEntry,
    InvalidTransition,
    SlotTaken,
    holds_for,
    link_actor,
    online_moves,
    operatory_resource,
    overlaps,
    patient_actor,
)
from chalicelib.appointments.policy import REQUEST, BookingPolicy, policy_from
from chalicelib.appointments.ports import (
    BookingStore,
    ClosureStore,
    FeedStore,
    Loaded,
    PatientDirectory,
    PracticeResources,
    WaitlistStore,
    Write,
)
from chalicelib.audit.model import ACTOR_ANONYMOUS, ACTOR_JOB, ACTOR_PATIENT, ACTOR_STAFF
from chalicelib.audit.service import Auditor
from chalicelib.patients.model import Patient
from chalicelib.platform.auth import PatientCaller
from chalicelib.platform.clock import Clock
from chalicelib.platform.errors import ApiError, Conflict, NotFound, Unprocessable
from chalicelib.platform.observability import logger
from chalicelib.practices.model import AppointmentType, Operatory, Practice, Provider

MAX_ID_LENGTH = 128
MAX_REASON_LENGTH = 500
MAX_DAYS_PER_QUERY = 14
CANCELLABLE = frozenset({REQUESTED, BOOKED, CONFIRMED})
BULK_BATCH = 25  # appointments cancelled per batch in a provider-day cancel (one audit event batch each)


# --- errors the page can act on -------------------------------------------------------------------


class OfficeOnly(Conflict):
    """Online change refused by the practice's policy; the page offers to call the office."""

    def __init__(self, message: str, code: str, phone: str) -> None:
        super().__init__(message, code=code)
        self.phone = phone

    def body(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message, "phone": self.phone}}


class Gone(ApiError):
    status = 410
    code = "gone"

    def __init__(self, message: str, code: str, phone: str = "") -> None:
        super().__init__(message, code=code)
        self.phone = phone

    def body(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message, "phone": self.phone}}


def _slot_error(code: str) -> ApiError:
    if code == SLOT_TAKEN:
        return Conflict(MESSAGES[SLOT_TAKEN], code=SLOT_TAKEN)
    return Unprocessable(MESSAGES[code], code=code)


NO_APPOINTMENT = "no such appointment"


# --- ports and who acts -------------------------------------------------------------------------------


@dataclass
class Ports:
    practices: PracticeResources
    patients: PatientDirectory
    appointments: BookingStore
    closures: ClosureStore
    waitlist: WaitlistStore
    feeds: FeedStore
    auditor: Auditor
    events: AppointmentEvents
    clock: Clock
    email: EmailSender
    sms: SmsSender
    signing_key: Callable[[], bytes]
    web_base_url: str = "http://127.0.0.1:8080"
    api_base_url: str = "http://127.0.0.1:8000"
    new_id: Callable[[], str] = field(default=lambda: secrets.token_hex(8))


@dataclass(frozen=True)
class Actor:
    audit_type: str  # staff | patient | anonymous | job
    audit_id: str  # staff sub, contact holder id, "signed_link", job name
    by: str  # history and event actor

    @property
    def online(self) -> bool:
        return self.by.startswith(ONLINE_ACTORS)


def staff_actor(user_id: str) -> Actor:
    return Actor(ACTOR_STAFF, user_id, user_id)


def session_actor(caller: PatientCaller) -> Actor:
    return Actor(ACTOR_PATIENT, caller.holder_id, patient_actor(caller.holder_id))


def signed_link_actor(action: str) -> Actor:
    return Actor(ACTOR_ANONYMOUS, "signed_link", link_actor(action))


JOB_ACTOR = Actor(ACTOR_JOB, "waitlist", "job:waitlist")


def audit(ports: Ports, practice_id: str, actor: Actor, action: str, patient_ids: Sequence[str], record: str) -> None:
    ports.auditor.record(
        practice_id,
        actor_type=actor.audit_type,
        actor_id=actor.audit_id,
        action=action,
        patient_ids=list(patient_ids) or [""],
        record=record,
    )


def publish(
    ports: Ports, practice_id: str, a: Appointment, kind: str, by: str, previous_start: datetime | None
) -> None:
    """One event per committed change. The change is already stored: a failing consumer is logged
    (ids only) rather than turning a done booking into an error the patient would retry."""
    event = AppointmentChanged(
        practice_id=practice_id,
        appointment_id=a.id,
        patient_id=a.patient_id,
        kind=kind,
        status=a.status,
        start=a.start,
        previous_start=previous_start,
        at=ports.clock.now(),
        by=by,
    )
    try:
        ports.events.publish(event)
    except Exception:
        logger.exception("appointment event consumer failed", extra={"appointment_id": a.id, "kind": kind})


def valid_id(value: str, what: str = NO_APPOINTMENT) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_LENGTH:
        raise NotFound(what)
    return value


# --- the practice's book --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Book:
    """A practice's resources and rules, loaded once per request."""

    practice: Practice
    policy: BookingPolicy
    providers: dict[str, Provider]
    operatories: list[Operatory]
    types: dict[str, AppointmentType]
    closures: list[Closure]

    @property
    def id(self) -> str:
        return self.practice.id

    def operatories_for(self, t: AppointmentType | None) -> tuple[str, ...]:
        known = [o.id for o in self.operatories]
        if not known:
            return ("",)  # a practice without operatories books providers only
        if t is None or not t.operatory_ids:
            return tuple(known)
        return tuple(o for o in t.operatory_ids if o in known)

    def providers_for(self, t: AppointmentType | None) -> list[Provider]:
        found = [p for p in self.providers.values() if t is None or not t.provider_ids or p.id in t.provider_ids]
        return sorted(found, key=lambda p: (p.name, p.id))

    def rules(self, provider: Provider, t: AppointmentType | None) -> DayRules:
        return DayRules(
            zone=self.practice.tz,
            hours=hours_for(provider.hours, self.practice.hours),
            closures=self.closures,
            provider_id=provider.id,
            operatory_ids=self.operatories_for(t),
        )

    def today(self, now: datetime) -> date:
        return now.astimezone(self.practice.tz).date()

    def local_day(self, at: datetime) -> date:
        return at.astimezone(self.practice.tz).date()


def load_book(ports: Ports, practice_id: str) -> Book:
    practice = ports.practices.get(valid_id(practice_id, "no such practice"))
    if practice is None:
        raise NotFound("no such practice")
    return Book(
        practice=practice,
        policy=policy_from(practice.settings),
        providers={p.id: p for p in ports.practices.providers(practice_id)},
        operatories=sorted(ports.practices.operatories(practice_id), key=lambda o: o.id),
        types={t.id: t for t in ports.practices.appointment_types(practice_id)},
        closures=ports.closures.closures(practice_id),
    )


def busy_of(appointments: Sequence[Appointment]) -> list[Busy]:
    return [Busy(a.id, a.provider_id, a.operatory_id, a.start, a.end) for a in appointments if a.status in HOLDING]


def _busy_around(ports: Ports, book: Book, start: datetime, end: datetime) -> list[Busy]:
    """Holding appointments on every local day the interval touches."""
    first, last = book.local_day(start), book.local_day(end)
    found: list[Appointment] = []
    day = first
    while day <= last:
        found += ports.appointments.on_day(book.id, day)
        day += timedelta(days=1)
    return busy_of(found)


def _type(book: Book, type_id: str, online: bool) -> AppointmentType:
    t = book.types.get(type_id) if isinstance(type_id, str) else None
    if t is None:
        raise Unprocessable("unknown appointment type", code="unknown_type")
    if online and not book.policy.type_is_online(t.id):
        raise Unprocessable("this appointment type is booked by calling the office", code="not_bookable_online")
    return t


def _provider(book: Book, provider_id: str, t: AppointmentType | None) -> Provider:
    provider = book.providers.get(provider_id) if isinstance(provider_id, str) else None
    if provider is None:
        raise Unprocessable("unknown provider", code="unknown_provider")
    if t is not None and t.provider_ids and provider.id not in t.provider_ids:
        raise Unprocessable("this provider does not take that appointment type", code="provider_cannot_take_type")
    return provider


def _operatory_choice(book: Book, t: AppointmentType | None, wanted: str, free: Sequence[str]) -> list[str]:
    """Operatories to try, in order: the one asked for, or every allowed free one."""
    if not wanted:
        return list(free)
    if wanted not in book.operatories_for(t):
        raise Unprocessable("that operatory cannot be used for this appointment type", code="operatory_not_allowed")
    if wanted not in free:
        raise Conflict(MESSAGES[SLOT_TAKEN], code=SLOT_TAKEN)
    return [wanted]


def _commit_trying(
    ports: Ports, book: Book, a: Appointment, before: Loaded | None, operatories: Sequence[str], claim: Any = None
) -> Appointment:
    """Commit ``a`` in the first of ``operatories`` whose time is free; the provider's conflict ends it."""
    tried = list(operatories) or [a.operatory_id]
    for i, operatory_id in enumerate(tried):
        a.operatory_id = operatory_id
        try:
            ports.appointments.commit(book.id, book.practice.zone, Write(a, before, holds_for(a), claim))
            return a
        except SlotTaken as exc:
            if exc.resource != operatory_resource(operatory_id) or i == len(tried) - 1:
                raise Conflict(MESSAGES[SLOT_TAKEN], code=SLOT_TAKEN) from exc
        except ChangedMeanwhile as exc:
            raise Conflict("the appointment changed meanwhile; reload and try again", code="changed_meanwhile") from exc
    raise Conflict(MESSAGES[SLOT_TAKEN], code=SLOT_TAKEN)  # pragma: no cover - the loop returns or raises


# --- availability ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DaySlots:
    day: date
    slots: list[Slot]


@dataclass(frozen=True)
class Availability:
    book: Book
    type: AppointmentType | None
    duration: timedelta
    days: list[DaySlots]


def availability(
    ports: Ports, practice_id: str, *, type_id: str, provider_id: str, first_day: date, days: int
) -> Availability:
    """Free slots patients may book, per local day; one provider or every provider who takes the type."""
    book = load_book(ports, practice_id)
    if not 1 <= days <= MAX_DAYS_PER_QUERY:
        raise Unprocessable(f"days must be between 1 and {MAX_DAYS_PER_QUERY}", code="invalid_days")
    t = _type(book, type_id, online=True) if type_id else None
    if provider_id:
        provider = book.providers.get(provider_id)
        if provider is None:
            raise NotFound("no such provider")
        if t is not None and t.provider_ids and provider.id not in t.provider_ids:
            raise Unprocessable("this provider does not take that appointment type", code="provider_cannot_take_type")
        providers = [provider]
    else:
        providers = book.providers_for(t)
    minutes = t.duration_min if t else book.policy.slot_minutes
    duration, step = timedelta(minutes=minutes), timedelta(minutes=book.policy.step_for(minutes))
    now = ports.clock.now()
    not_before = max(now, book.policy.earliest_start(now))
    last_day = book.policy.last_day(book.today(now))
    out = []
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        busy = busy_of(ports.appointments.on_day(book.id, day)) if day <= last_day else []
        slots = [
            s for p in providers for s in day_slots(day, book.rules(p, t), duration, step, busy, not_before, last_day)
        ]
        out.append(DaySlots(day, sorted(slots, key=lambda s: (s.start, s.provider_id))))
    return Availability(book, t, duration, out)


# --- creating --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BookingRequest:
    patient_id: str
    type_id: str
    provider_id: str
    start: datetime
    operatory_id: str = ""
    end: datetime | None = None  # staff only: a length other than the type's
    outside_hours: bool = False  # staff only
    note: str = ""


def _new_appointment(
    ports: Ports, book: Book, req: BookingRequest, t: AppointmentType, status: str, actor: Actor
) -> Appointment:
    end = req.end or req.start + timedelta(minutes=t.duration_min)
    if end <= req.start or end - req.start > MAX_LENGTH:
        raise Unprocessable("an appointment ends after it starts and lasts at most 12 hours", code="invalid_length")
    return Appointment(
        id=ports.new_id(),
        patient_id=req.patient_id,
        provider_id=req.provider_id,
        operatory_id="",
        type_id=t.id,
        start=req.start,
        end=end,
        status=status,
        note=req.note,
        history=[HistoryEntry(at=ports.clock.now(), action=status, by=actor.by)],
    )


def deny(ports: Ports, practice_id: str, actor: Actor, patient_id: str, record: str) -> None:
    audit(ports, practice_id, actor, "access_denied", [patient_id], record)


def patient_book(ports: Ports, caller: PatientCaller, req: BookingRequest) -> Appointment:
    """A signed-in patient books an offered slot for themself or a dependant: booked at once, or a
    request staff approve, as the practice's policy says. A request holds no time."""
    actor = session_actor(caller)
    book = load_book(ports, caller.practice_id)
    if not caller.owns(req.patient_id):
        deny(ports, book.id, actor, req.patient_id if len(req.patient_id) <= MAX_ID_LENGTH else "", "booking")
        raise NotFound("no such patient")
    t = _type(book, req.type_id, online=True)
    provider = _provider(book, req.provider_id, t)
    a = _new_appointment(ports, book, BookingRequest(**{**req.__dict__, "end": None}), t, BOOKED, actor)
    now = ports.clock.now()
    problem, slot = patient_problem(
        a.start,
        a.end,
        book.rules(provider, t),
        timedelta(minutes=book.policy.step_for(t.duration_min)),
        _busy_around(ports, book, a.start, a.end),
        now,
        max(now, book.policy.earliest_start(now)),
        book.policy.last_day(book.today(now)),
    )
    if problem or slot is None:
        raise _slot_error(problem or SLOT_TAKEN)
    operatories = _operatory_choice(book, t, req.operatory_id, slot.operatory_ids)
    if book.policy.mode == REQUEST:
        a.status = REQUESTED
        a.history = [HistoryEntry(at=now, action=REQUESTED, by=actor.by)]
    a = _commit_trying(ports, book, a, None, operatories)
    publish(ports, book.id, a, CREATED, actor.by, None)
    audit(
        ports,
        book.id,
        actor,
        f"appointment.{'request' if a.status == REQUESTED else 'book'}",
        [a.patient_id],
        f"appointment:{a.id}",
    )
    return a


def staff_book(ports: Ports, staff_id: str, practice_id: str, req: BookingRequest) -> Appointment:
    """Staff book for a patient of their practice, off the slot grid if they like; always booked."""
    actor = staff_actor(staff_id)
    book = load_book(ports, practice_id)
    if ports.patients.get(book.id, valid_id(req.patient_id, "no such patient")) is None:
        raise NotFound("no such patient")
    t = _type(book, req.type_id, online=False)
    provider = _provider(book, req.provider_id, t)
    a = _new_appointment(ports, book, req, t, BOOKED, actor)
    problem, free = staff_problem(
        a.start,
        a.end,
        book.rules(provider, t),
        _busy_around(ports, book, a.start, a.end),
        ports.clock.now(),
        outside_hours=req.outside_hours,
    )
    if problem:
        raise _slot_error(problem)
    a = _commit_trying(ports, book, a, None, _operatory_choice(book, t, req.operatory_id, free))
    publish(ports, book.id, a, CREATED, actor.by, None)
    audit(ports, book.id, actor, "appointment.book", [a.patient_id], f"appointment:{a.id}")
    return a


# --- loading with ownership ----------------------------------------------------------------------------------


def patient_appointment(ports: Ports, caller: PatientCaller, appointment_id: str) -> Loaded:
    """The caller's appointment, or 404 exactly as for a missing one (and an ``access_denied`` audit)."""
    loaded = (
        ports.appointments.load(caller.practice_id, appointment_id) if len(appointment_id) <= MAX_ID_LENGTH else None
    )
    if loaded is None or not caller.owns(loaded.appointment.patient_id):
        owner = loaded.appointment.patient_id if loaded else ""
        deny(ports, caller.practice_id, session_actor(caller), owner, f"appointment:{appointment_id[:MAX_ID_LENGTH]}")
        raise NotFound(NO_APPOINTMENT)
    return loaded


def staff_appointment(ports: Ports, practice_id: str, appointment_id: str) -> Loaded:
    loaded = ports.appointments.load(practice_id, valid_id(appointment_id))
    if loaded is None:
        raise NotFound(NO_APPOINTMENT)
    return loaded


# --- status changes ---------------------------------------------------------------------------------------------


def change_status(
    ports: Ports, book: Book, loaded: Loaded, to: str, actor: Actor, reason: str = "", offer_freed: bool = True
) -> Appointment:
    """Move to ``to``; taking time (requested -> booked) or giving it back (leaving a holding status)
    happens in the same transaction. Re-asking for the current status changes nothing."""
    before = loaded.appointment
    if before.status == to:
        return copy.deepcopy(before)
    a = copy.deepcopy(before)
    try:
        a.transition(to, ports.clock.now(), actor.by, reason[:MAX_REASON_LENGTH])
    except InvalidTransition as exc:
        raise Conflict(f"a {before.status} appointment cannot become {to}", code="invalid_transition") from exc
    operatories = [a.operatory_id]
    if to == BOOKED and before.status == REQUESTED:
        problem, free = staff_problem(
            a.start,
            a.end,
            book.rules(_provider_or_gone(book, a), book.types.get(a.type_id)),
            _busy_around(ports, book, a.start, a.end),
            ports.clock.now(),
            ignore=a.id,
            outside_hours=True,
        )
        if problem:
            raise _slot_error(problem)
        operatories = sorted(free, key=lambda o: o != a.operatory_id)
    a = _commit_trying(ports, book, a, loaded, operatories)
    publish(ports, book.id, a, STATUS_CHANGED, actor.by, None)
    if offer_freed and before.status in HOLDING and a.status not in HOLDING and a.start > ports.clock.now():
        from chalicelib.appointments.waitlist import slot_freed

        slot_freed(ports, book, before)
    return a


def _provider_or_gone(book: Book, a: Appointment) -> Provider:
    provider = book.providers.get(a.provider_id)
    if provider is None:
        raise Conflict("the appointment's provider is no longer on file", code="provider_gone")
    return provider


def _require_future(a: Appointment, now: datetime) -> None:
    if a.start <= now:
        raise Conflict("this appointment has already started or passed", code="already_started")


def patient_confirm(ports: Ports, caller: PatientCaller, appointment_id: str) -> Appointment:
    loaded = patient_appointment(ports, caller, appointment_id)
    return confirm_online(ports, load_book(ports, caller.practice_id), loaded, session_actor(caller))


def confirm_online(ports: Ports, book: Book, loaded: Loaded, actor: Actor) -> Appointment:
    a = loaded.appointment
    if a.status == CONFIRMED:
        audit(ports, book.id, actor, "appointment.confirm", [a.patient_id], f"appointment:{a.id}")
        return a
    if a.status == REQUESTED:
        raise Conflict("the office has not approved this request yet", code="awaiting_approval")
    if a.status != BOOKED:
        raise Conflict(f"a {a.status} appointment cannot be confirmed", code="invalid_transition")
    _require_future(a, ports.clock.now())
    done = change_status(ports, book, loaded, CONFIRMED, actor)
    audit(ports, book.id, actor, "appointment.confirm", [a.patient_id], f"appointment:{a.id}")
    return done


def patient_cancel(ports: Ports, caller: PatientCaller, appointment_id: str, reason: str) -> Appointment:
    loaded = patient_appointment(ports, caller, appointment_id)
    return cancel_online(ports, load_book(ports, caller.practice_id), loaded, session_actor(caller), reason)


def _change_online_allowed(book: Book, a: Appointment, now: datetime) -> None:
    if a.status in (BOOKED, CONFIRMED) and not book.policy.can_change_online(a.start, now):
        hours = book.policy.change_notice_hours
        raise OfficeOnly(
            f"changes less than {hours} hours before the appointment are made by calling the office",
            "too_late_to_change",
            book.practice.phone,
        )


def cancel_online(ports: Ports, book: Book, loaded: Loaded, actor: Actor, reason: str) -> Appointment:
    a = loaded.appointment
    record = f"appointment:{a.id}"
    if a.status == CANCELLED:
        audit(ports, book.id, actor, "appointment.cancel", [a.patient_id], record)
        return a
    if a.status not in CANCELLABLE:
        raise Conflict(f"a {a.status} appointment cannot be cancelled", code="invalid_transition")
    now = ports.clock.now()
    _require_future(a, now)
    _change_online_allowed(book, a, now)
    done = change_status(ports, book, loaded, CANCELLED, actor, reason)
    audit(ports, book.id, actor, "appointment.cancel", [a.patient_id], record)
    return done


# --- moving -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MoveRequest:
    start: datetime
    provider_id: str = ""  # empty: keep the provider
    operatory_id: str = ""  # staff only
    end: datetime | None = None  # staff only
    outside_hours: bool = False  # staff only
    reason: str = ""


def move(ports: Ports, book: Book, loaded: Loaded, req: MoveRequest, actor: Actor) -> Appointment:
    """Reschedule: the new time is taken and the old one given back in one transaction, or neither.
    A confirmed appointment goes back to booked (the confirmation was for the old time)."""
    before = loaded.appointment
    if before.status not in CANCELLABLE:
        raise Conflict(f"a {before.status} appointment cannot be moved", code="invalid_transition")
    t = book.types.get(before.type_id)
    provider = _provider(book, req.provider_id or before.provider_id, t)
    length = (req.end - req.start) if req.end else (before.end - before.start)
    start, end = req.start, req.start + length
    if start == before.start and end == before.end and provider.id == before.provider_id and not req.operatory_id:
        return copy.deepcopy(before)  # already there: a second click changes nothing
    if length <= timedelta(0) or length > MAX_LENGTH:
        raise Unprocessable("an appointment ends after it starts and lasts at most 12 hours", code="invalid_length")
    now = ports.clock.now()
    busy = _busy_around(ports, book, start, end)
    rules = book.rules(provider, t)
    if actor.online:
        step = timedelta(minutes=book.policy.step_for(int(length / timedelta(minutes=1))))
        problem, slot = patient_problem(
            start,
            end,
            rules,
            step,
            busy,
            now,
            max(now, book.policy.earliest_start(now)),
            book.policy.last_day(book.today(now)),
            ignore=before.id,
        )
        free: Sequence[str] = slot.operatory_ids if slot else ()
    else:
        problem, free = staff_problem(start, end, rules, busy, now, ignore=before.id, outside_hours=req.outside_hours)
    if problem:
        raise _slot_error(problem)
    operatories = _operatory_choice(book, t, req.operatory_id, free)
    if not req.operatory_id and before.operatory_id in operatories:
        operatories.sort(key=lambda o: o != before.operatory_id)  # stay in the same room when it is free
    a = copy.deepcopy(before)
    a.move(start, end, now, actor.by, req.reason[:MAX_REASON_LENGTH])
    a.provider_id = provider.id
    if a.status == CONFIRMED:
        a.transition(BOOKED, now, actor.by, "moved")
    a = _commit_trying(ports, book, a, loaded, operatories)
    publish(ports, book.id, a, MOVED, actor.by, before.start)
    if before.status in HOLDING and before.start > now and not overlaps(before.start, before.end, a.start, a.end):
        from chalicelib.appointments.waitlist import slot_freed

        slot_freed(ports, book, before)
    return a


def patient_reschedule(
    ports: Ports, caller: PatientCaller, appointment_id: str, start: datetime, provider_id: str
) -> Appointment:
    loaded = patient_appointment(ports, caller, appointment_id)
    return reschedule_online(
        ports, load_book(ports, caller.practice_id), loaded, session_actor(caller), start, provider_id
    )


def reschedule_online(
    ports: Ports, book: Book, loaded: Loaded, actor: Actor, start: datetime, provider_id: str
) -> Appointment:
    a = loaded.appointment
    if a.start == start and provider_id in ("", a.provider_id) and a.status in CANCELLABLE:
        audit(ports, book.id, actor, "appointment.reschedule", [a.patient_id], f"appointment:{a.id}")
        return a  # the same request twice: already done
    if a.status not in CANCELLABLE:
        raise Conflict(f"a {a.status} appointment cannot be moved", code="invalid_transition")
    now = ports.clock.now()
    _require_future(a, now)
    _change_online_allowed(book, a, now)
    if online_moves(a) >= book.policy.max_online_reschedules:
        raise OfficeOnly(
            "this appointment has been moved online as often as the practice allows; call the office",
            "too_many_reschedules",
            book.practice.phone,
        )
    if not book.policy.type_is_online(a.type_id):
        raise OfficeOnly(
            "this appointment type is moved by calling the office", "not_bookable_online", book.practice.phone
        )
    done = move(ports, book, loaded, MoveRequest(start=start, provider_id=provider_id), actor)
    audit(ports, book.id, actor, "appointment.reschedule", [a.patient_id], f"appointment:{a.id}")
    return done


# --- staff ----------------------------------------------------------------------------------------------------------

STAFF_STATUS = {"confirm": CONFIRMED, "arrive": ARRIVED, "complete": COMPLETED, "no-show": NO_SHOW}


def staff_status(
    ports: Ports, staff_id: str, practice_id: str, appointment_id: str, action: str, reason: str = ""
) -> Appointment:
    """approve, decline, confirm (by phone), arrive, complete, no-show, cancel."""
    actor = staff_actor(staff_id)
    book = load_book(ports, practice_id)
    loaded = staff_appointment(ports, practice_id, appointment_id)
    a = loaded.appointment
    if action == "approve":
        if a.status != REQUESTED:
            if a.status in HOLDING:
                return copy.deepcopy(a)
            raise Conflict(f"a {a.status} appointment cannot be approved", code="invalid_transition")
        if a.start <= ports.clock.now():
            raise Unprocessable(MESSAGES["in_the_past"], code="in_the_past")
        to = BOOKED
    elif action == "decline":
        if a.status not in (REQUESTED, CANCELLED):
            raise Conflict(f"a {a.status} appointment is not a pending request", code="invalid_transition")
        to = CANCELLED
    elif action == "cancel":
        to = CANCELLED
    else:
        to = STAFF_STATUS[action]
    done = change_status(ports, book, loaded, to, actor, reason)
    audit(ports, book.id, actor, f"appointment.{action}", [a.patient_id], f"appointment:{a.id}")
    return done


def staff_move(ports: Ports, staff_id: str, practice_id: str, appointment_id: str, req: MoveRequest) -> Appointment:
    actor = staff_actor(staff_id)
    book = load_book(ports, practice_id)
    loaded = staff_appointment(ports, practice_id, appointment_id)
    done = move(ports, book, loaded, req, actor)
    audit(ports, book.id, actor, "appointment.reschedule", [done.patient_id], f"appointment:{done.id}")
    return done


@dataclass(frozen=True)
class DayCancel:
    day: date
    provider_id: str
    cancelled: list[str]
    skipped: list[str]  # not cancellable (arrived, completed, already cancelled ...)
    failed: list[str]  # changed meanwhile twice; nothing written for these
    closure: Closure | None


def cancel_provider_day(
    ports: Ports, staff_id: str, practice_id: str, provider_id: str, day: date, reason: str, close_day: bool
) -> DayCancel:
    """Cancel every cancellable appointment of one provider on one local day, in batches of
    ``BULK_BATCH``: each batch is packed into as few transactions as fit DynamoDB's 100 items (the
    day's Query pages to the end; nothing is capped). With ``close_day`` the provider's day is
    closed first, so no one books into it meanwhile. Freed time is not offered to the waitlist:
    the provider is not there. Each cancelled appointment publishes its own event."""
    actor = staff_actor(staff_id)
    book = load_book(ports, practice_id)
    if provider_id not in book.providers:
        raise NotFound("no such provider")
    _not_past(book, ports, day, "a day before today cannot be cancelled or closed")
    closure = None
    if close_day:
        closure = Closure(ports.new_id(), day, day, provider_id, reason[:MAX_REASON_LENGTH])
        ports.closures.put(book.id, closure)
    todo = [x for x in ports.appointments.on_day_loaded(book.id, day) if x.appointment.provider_id == provider_id]
    targets = [x for x in todo if x.appointment.status in CANCELLABLE]
    skipped = [x.appointment.id for x in todo if x.appointment.status not in CANCELLABLE]
    cancelled: list[str] = []
    failed: list[str] = []
    now = ports.clock.now()
    for first in range(0, len(targets), BULK_BATCH):
        batch = targets[first : first + BULK_BATCH]
        writes = []
        for loaded in batch:
            a = copy.deepcopy(loaded.appointment)
            a.transition(CANCELLED, now, actor.by, reason[:MAX_REASON_LENGTH])
            writes.append(Write(a, loaded, ()))
        outcomes = ports.appointments.commit_each(book.id, book.practice.zone, writes)
        done: list[Appointment] = []
        for loaded, write, error in zip(batch, writes, outcomes, strict=True):
            if error is None:
                done.append(write.appointment)
                continue
            again, by_us = _cancel_fresh(ports, book, loaded.appointment.id, actor, reason)  # the index was stale
            if again is None:
                failed.append(loaded.appointment.id)
            elif by_us:
                done.append(again)
            else:
                skipped.append(again.id)
        for a in done:
            publish(ports, book.id, a, STATUS_CHANGED, actor.by, None)
        cancelled += [a.id for a in done]
        audit(
            ports,
            book.id,
            actor,
            "appointment.cancel",
            [a.patient_id for a in done],
            f"provider-day:{provider_id}:{day.isoformat()}",
        )
    return DayCancel(day, provider_id, cancelled, skipped, failed, closure)


def _cancel_fresh(
    ports: Ports, book: Book, appointment_id: str, actor: Actor, reason: str
) -> tuple[Appointment | None, bool]:
    """Cancel after a consistent read: (the appointment as it ends up, whether this call cancelled it),
    or (None, False) if it kept changing underneath."""
    for _attempt in range(2):
        loaded = ports.appointments.load(book.id, appointment_id)
        if loaded is None:
            return None, False
        if loaded.appointment.status not in CANCELLABLE:
            return loaded.appointment, False
        a = copy.deepcopy(loaded.appointment)
        a.transition(CANCELLED, ports.clock.now(), actor.by, reason[:MAX_REASON_LENGTH])
        try:
            ports.appointments.commit(book.id, book.practice.zone, Write(a, loaded, ()))
        except (ChangedMeanwhile, SlotTaken):
            continue
        return a, True
    return None, False


def pending_requests(
    ports: Ports, staff_id: str, practice_id: str
) -> tuple[Book, list[Appointment], dict[str, Patient]]:
    book = load_book(ports, practice_id)
    found = ports.appointments.requests(book.id)
    patients = {p.id: p for p in ports.patients.get_many(book.id, [a.patient_id for a in found])}
    audit(ports, book.id, staff_actor(staff_id), "appointments.requests.read", list(patients), "appointment-requests")
    return book, found, patients


def staff_read(
    ports: Ports, staff_id: str, practice_id: str, appointment_id: str
) -> tuple[Book, Appointment, Patient | None]:
    book = load_book(ports, practice_id)
    a = staff_appointment(ports, practice_id, appointment_id).appointment
    audit(ports, book.id, staff_actor(staff_id), "appointment.read", [a.patient_id], f"appointment:{a.id}")
    return book, a, ports.patients.get(book.id, a.patient_id)


def _not_past(book: Book, ports: Ports, day: date, message: str) -> None:
    """Closures (and a provider's day cancel) are for days from the practice's local today on."""
    if day < book.today(ports.clock.now()):
        raise Unprocessable(message, code="in_the_past")


def add_closure(
    ports: Ports, staff_id: str, practice_id: str, start_date: date, end_date: date, provider_id: str, reason: str
) -> Closure:
    book = load_book(ports, practice_id)
    if provider_id and provider_id not in book.providers:
        raise Unprocessable("unknown provider", code="unknown_provider")
    if end_date < start_date:
        raise Unprocessable("end_date is before start_date", code="invalid_dates")
    _not_past(book, ports, start_date, "a closure starts today or later")
    if (end_date - start_date).days > 366:
        raise Unprocessable("a closure lasts at most a year", code="invalid_dates")
    closure = Closure(ports.new_id(), start_date, end_date, provider_id, reason[:MAX_REASON_LENGTH])
    ports.closures.put(book.id, closure)
    audit(ports, book.id, staff_actor(staff_id), "closure.add", [], f"closure:{closure.id}")
    return closure


# --- patient reads -----------------------------------------------------------------------------------


def patient_read(ports: Ports, caller: PatientCaller, appointment_id: str) -> tuple[Book, Appointment, Patient | None]:
    loaded = patient_appointment(ports, caller, appointment_id)
    book = load_book(ports, caller.practice_id)
    a = loaded.appointment
    audit(ports, book.id, session_actor(caller), "appointment.read", [a.patient_id], f"appointment:{a.id}")
    return book, a, ports.patients.get(book.id, a.patient_id)


def patient_schedule(
    ports: Ports, caller: PatientCaller, when: str
) -> tuple[Book, list[Appointment], dict[str, Patient]]:
    """Upcoming (now to a year ahead, still on) or past (three years back, and any cancelled) visits
    of every patient of the session."""
    book = load_book(ports, caller.practice_id)
    now = ports.clock.now()
    patients = {p.id: p for p in ports.patients.get_many(book.id, list(caller.patient_ids)) if p.active}
    found: list[Appointment] = []
    for pid in patients:
        if when == "past":
            found += [
                a
                for a in ports.appointments.for_patient(book.id, pid, now - timedelta(days=3 * 366), now)
                if a.start < now
            ]
        else:
            found += [
                a
                for a in ports.appointments.for_patient(
                    book.id, pid, now - timedelta(hours=12), now + timedelta(days=366)
                )
                if a.end > now
            ]
    found.sort(key=lambda a: (a.start, a.id), reverse=when == "past")
    audit(ports, book.id, session_actor(caller), "appointments.list", list(patients), f"appointments:{when}")
    return book, found, patients


# --- signed links ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkTarget:
    claims: links.LinkClaims
    book: Book
    loaded: Loaded


def action_url(ports: Ports, practice_id: str, a: Appointment, action: str) -> str:
    """The page URL for a confirm / cancel / reschedule link in a message (the reminder engine calls this)."""
    token = links.action_token(ports.signing_key(), practice_id, a.id, action, a.start, ports.clock.now())
    return link_page_url(ports, practice_id, token)


def link_page_url(ports: Ports, practice_id: str, token: str) -> str:
    return f"{ports.web_base_url.rstrip('/')}/patient/?practice={practice_id}#link={token}"


def read_link(ports: Ports, token: str) -> links.LinkClaims:
    try:
        return links.read_link(ports.signing_key(), token, ports.clock.now())
    except links.LinkExpired as exc:
        practice = ports.practices.get(exc.practice_id) if len(exc.practice_id) <= MAX_ID_LENGTH else None
        raise Gone(
            "this link has expired; open the app or call the office",
            "link_expired",
            practice.phone if practice else "",
        ) from exc
    except links.LinkInvalid as exc:
        raise NotFound("this link is not valid", code="link_invalid") from exc


def link_target(ports: Ports, claims: links.LinkClaims) -> LinkTarget:
    if claims.action == links.OFFER:
        raise NotFound("this link is not valid", code="link_invalid")
    book = load_book(ports, claims.practice_id)
    loaded = ports.appointments.load(book.id, claims.appointment_id)
    if loaded is None:
        raise NotFound("this link is not valid", code="link_invalid")
    return LinkTarget(claims, book, loaded)


def link_state(ports: Ports, target: LinkTarget) -> str:
    """What the link would do now: ready, done, changed (the time moved since the message),
    pending (awaiting approval), too_late (policy), cancelled, past."""
    a, claims, now = target.loaded.appointment, target.claims, ports.clock.now()
    policy = target.book.policy
    if a.status == CANCELLED:
        state = "done" if claims.action == links.CANCEL else "cancelled"
    elif a.start <= now or a.status not in CANCELLABLE:
        state = "past"
    elif claims.action == links.CONFIRM:
        state = _confirm_state(a, claims)
    elif (a.status != REQUESTED and not policy.can_change_online(a.start, now)) or (
        claims.action == links.RESCHEDULE and online_moves(a) >= policy.max_online_reschedules
    ):
        state = "too_late"
    else:
        state = "ready"
    return state


def _confirm_state(a: Appointment, claims: links.LinkClaims) -> str:
    if a.start != claims.start:
        return "changed"
    if a.status == CONFIRMED:
        return "done"
    return "pending" if a.status == REQUESTED else "ready"


def link_view(ports: Ports, claims: links.LinkClaims) -> tuple[LinkTarget, str, Patient | None]:
    target = link_target(ports, claims)
    a = target.loaded.appointment
    audit(
        ports,
        target.book.id,
        signed_link_actor(target.claims.action),
        "appointment.read",
        [a.patient_id],
        f"appointment:{a.id}",
    )
    return target, link_state(ports, target), ports.patients.get(target.book.id, a.patient_id)


def link_act(
    ports: Ports, claims: links.LinkClaims, start: datetime | None, provider_id: str, reason: str
) -> tuple[str, LinkTarget, Appointment]:
    """Do what the link says. Idempotent: a second click answers ``already_<done>`` and changes nothing."""
    target = link_target(ports, claims)
    claims, book, loaded = target.claims, target.book, target.loaded
    actor = signed_link_actor(claims.action)
    a = loaded.appointment
    if claims.action == links.CONFIRM:
        if a.start != claims.start and a.status != CANCELLED:
            raise Conflict(
                "this appointment has moved since the message; check the new time", code="appointment_changed"
            )
        was = a.status
        done = confirm_online(ports, book, loaded, actor)
        return ("already_confirmed" if was == CONFIRMED else "confirmed"), target, done
    if claims.action == links.CANCEL:
        was = a.status
        done = cancel_online(ports, book, loaded, actor, reason)
        return ("already_cancelled" if was == CANCELLED else "cancelled"), target, done
    if start is None:
        raise Unprocessable("start is required to reschedule", code="start_required")
    was_start = a.start
    done = reschedule_online(ports, book, loaded, actor, start, provider_id)
    return ("already_rescheduled" if was_start == start else "rescheduled"), target, done
