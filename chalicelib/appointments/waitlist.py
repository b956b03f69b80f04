"""Waitlist (ASAP list) use cases: asking for an earlier time, offering freed time in batches,
taking an offer.

When an appointment that held time is cancelled or moved away, the freed interval becomes an
``Offer``: the oldest matching waiting entries are told in batches of ``waitlist_batch_size`` by
their own channel (SMS or email), each with a signed link; a job tells the next batch every
``waitlist_batch_minutes`` while no one has taken it. Taking it is one transaction that books (or
moves the entry's appointment into) the time *and* marks the offer taken and the entry fulfilled,
on the same time locks as any booking: the first acceptor wins; later ones are told it is gone and
stay on the list.

Asking is idempotent: a patient holds at most one active entry per appointment (or per type,
provider and window), kept by a conditional write of the request's key, so a double submit makes
one entry. An opening is told to each patient once, whichever of their entries match it.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from chalicelib.adapters.messaging import Email, Sms
from chalicelib.appointments import links
from chalicelib.appointments.availability import SLOT_TAKEN, is_closed, staff_problem
from chalicelib.appointments.events import CREATED, MOVED
from chalicelib.appointments.model import (
    BOOKED,
    CONFIRMED,
    HOLDING,
    OFFER_OPEN,
    REQUESTED,
    WAITING,
    Appointment,
    HistoryEntry,
    Offer,
    OfferGone,
    WaitlistEntry,
    overlaps,
)
from chalicelib.appointments.ports import Claim, Loaded
from chalicelib.appointments.serialize import local_label
from chalicelib.appointments.service import (
    CANCELLABLE,
    JOB_ACTOR,
    MAX_ID_LENGTH,
    Book,
    Conflict,
    Ports,
    _busy_around,
    _commit_trying,
    audit,
    deny,
    load_book,
    publish,
    session_actor,
    signed_link_actor,
)
from chalicelib.patients.model import ContactLink
from chalicelib.platform.auth import PatientCaller
from chalicelib.platform.errors import NotFound, Unprocessable
from chalicelib.platform.jobs import scheduled
from chalicelib.platform.observability import logger
from chalicelib.practices.model import AppointmentType

MAX_WAITING_PER_PATIENT = 5
MAX_WINDOW_DAYS = 180
CHANNELS = ("sms", "email")


# --- asking --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WaitRequest:
    patient_id: str
    type_id: str
    earliest: date
    latest: date
    provider_id: str = ""
    appointment_id: str = ""
    channel: str = ""


def _contact(links_of_patient: Sequence[ContactLink], holder_id: str, channel: str) -> ContactLink | None:
    mine = [link for link in links_of_patient if link.holder_id == holder_id]
    exact = [link for link in mine if link.channel == channel]
    return next(iter(exact or mine), None)


def _target_type(ports: Ports, book: Book, caller: PatientCaller, req: WaitRequest) -> AppointmentType:
    """The type asked for (or the appointment's, when moving one earlier), checked against the provider."""
    type_id = req.type_id
    if req.appointment_id:
        current = ports.appointments.get(book.id, req.appointment_id[:MAX_ID_LENGTH])
        if current is None or current.patient_id != req.patient_id:
            deny(ports, book.id, session_actor(caller), current.patient_id if current else "", "waitlist")
            raise NotFound("no such appointment")
        if current.status not in CANCELLABLE or current.start <= ports.clock.now():
            raise Unprocessable("only an upcoming appointment can be moved earlier", code="not_movable")
        type_id = type_id or current.type_id
    t = book.types.get(type_id)
    if t is None or not book.policy.type_is_online(t.id):
        raise Unprocessable("unknown appointment type", code="unknown_type")
    if req.provider_id:
        provider = book.providers.get(req.provider_id)
        if provider is None:
            raise Unprocessable("unknown provider", code="unknown_provider")
        if t.provider_ids and provider.id not in t.provider_ids:
            raise Unprocessable("this provider does not take that appointment type", code="provider_cannot_take_type")
    return t


def _check_window(book: Book, req: WaitRequest, today: date) -> None:
    if req.latest < req.earliest:
        raise Unprocessable("latest is before earliest", code="invalid_dates")
    if req.latest < today:
        raise Unprocessable("that window is in the past", code="in_the_past")
    if req.latest > book.policy.last_day(today) or (req.latest - max(req.earliest, today)).days > MAX_WINDOW_DAYS:
        raise Unprocessable(f"the window may reach at most {MAX_WINDOW_DAYS} days ahead", code="too_far_ahead")
    if req.channel and req.channel not in CHANNELS:
        raise Unprocessable("channel is sms or email", code="invalid_channel")


def join(ports: Ports, caller: PatientCaller, req: WaitRequest) -> tuple[WaitlistEntry, bool]:
    """The patient's entry for this request and whether it is new. Idempotent: a patient holds at
    most one active entry per appointment (or type, provider and window); a repeat, even a
    concurrent one, answers the entry that holds it."""
    actor = session_actor(caller)
    book = load_book(ports, caller.practice_id)
    if not caller.owns(req.patient_id):
        deny(ports, book.id, actor, req.patient_id[:MAX_ID_LENGTH], "waitlist")
        raise NotFound("no such patient")
    t = _target_type(ports, book, caller, req)
    today = book.today(ports.clock.now())
    _check_window(book, req, today)
    contact = _contact(
        ports.patients.links_for_patient(book.id, req.patient_id), caller.holder_id, req.channel or "sms"
    )
    if contact is None:
        raise Unprocessable("there is no phone or email on file to tell you", code="no_contact")
    entry = WaitlistEntry(
        id=ports.new_id(),
        patient_id=req.patient_id,
        holder_id=caller.holder_id,
        type_id=t.id,
        earliest=max(req.earliest, today),
        latest=req.latest,
        channel=req.channel or contact.channel,
        created_at=ports.clock.now(),
        provider_id=req.provider_id,
        appointment_id=req.appointment_id,
    )
    mine = ports.waitlist.entries_for_patient(book.id, req.patient_id)
    same = [e for e in mine if e.key == entry.key and e.active(today)]
    if same:
        return min(same, key=lambda e: (e.created_at, e.id)), False
    if len([e for e in mine if e.status == WAITING]) >= MAX_WAITING_PER_PATIENT:
        raise Unprocessable(f"at most {MAX_WAITING_PER_PATIENT} waitlist requests per patient", code="waitlist_full")
    holder_id = ports.waitlist.key_holder(book.id, entry.patient_id, entry.key)
    holder = ports.waitlist.get_entry(book.id, holder_id) if holder_id else None
    if holder is not None and holder.active(today):
        return holder, False
    if not ports.waitlist.put_entry(book.id, entry, replacing=holder_id):
        winner_id = ports.waitlist.key_holder(book.id, entry.patient_id, entry.key)
        winner = ports.waitlist.get_entry(book.id, winner_id) if winner_id else None
        if winner is None:
            raise Conflict("that waitlist request changed meanwhile; try again", code="changed_meanwhile")
        return winner, False
    audit(ports, book.id, actor, "waitlist.join", [entry.patient_id], f"waitlist:{entry.id}")
    return entry, True


def entries(ports: Ports, caller: PatientCaller) -> tuple[Book, list[WaitlistEntry]]:
    book = load_book(ports, caller.practice_id)
    found = [e for pid in caller.patient_ids for e in ports.waitlist.entries_for_patient(book.id, pid)]
    found.sort(key=lambda e: (e.created_at, e.id))
    audit(ports, book.id, session_actor(caller), "waitlist.read", list(caller.patient_ids), "waitlist")
    return book, found


def leave(ports: Ports, caller: PatientCaller, entry_id: str) -> None:
    """Idempotent: leaving twice answers the same."""
    actor = session_actor(caller)
    entry = ports.waitlist.get_entry(caller.practice_id, entry_id) if len(entry_id) <= MAX_ID_LENGTH else None
    if entry is None or not caller.owns(entry.patient_id):
        deny(
            ports, caller.practice_id, actor, entry.patient_id if entry else "", f"waitlist:{entry_id[:MAX_ID_LENGTH]}"
        )
        raise NotFound("no such waitlist request")
    ports.waitlist.remove_entry(caller.practice_id, entry.id)
    audit(ports, caller.practice_id, actor, "waitlist.leave", [entry.patient_id], f"waitlist:{entry.id}")


# --- offering --------------------------------------------------------------------------------------------


def _fits(book: Book, t: AppointmentType | None, offer: Offer) -> bool:
    if t is None or not book.policy.type_is_online(t.id):
        return False
    if t.provider_ids and offer.provider_id not in t.provider_ids:
        return False
    if offer.operatory_id and offer.operatory_id not in book.operatories_for(t) and "" not in book.operatories_for(t):
        return False
    return timedelta(minutes=t.duration_min) <= offer.end - offer.start


def candidates(ports: Ports, book: Book, offer: Offer) -> list[WaitlistEntry]:
    """Waiting entries the offered time suits, oldest first, at most one per patient, none of a
    patient already told about this offer (by any of their entries)."""
    day = book.local_day(offer.start)
    waiting = ports.waitlist.waiting(book.id)
    by_id = {e.id: e for e in waiting}
    told: set[str] = set()
    for entry_id in offer.notified:
        e_told = by_id.get(entry_id) or ports.waitlist.get_entry(book.id, entry_id)
        if e_told is not None:
            told.add(e_told.patient_id)
    out: list[WaitlistEntry] = []
    for e in waiting:
        if e.id in offer.notified or e.patient_id in told or not e.wants(day, offer.provider_id):
            continue
        if not _fits(book, book.types.get(e.type_id), offer):
            continue
        if e.appointment_id:
            current = ports.appointments.get(book.id, e.appointment_id)
            if (
                current is None
                or current.id == offer.freed_by
                or current.patient_id != e.patient_id
                or current.status not in CANCELLABLE
                or current.start <= offer.start
            ):
                continue
        told.add(e.patient_id)
        out.append(e)
    return out


def _offer_still_good(ports: Ports, book: Book, offer: Offer, now: datetime) -> bool:
    return offer.start >= book.policy.earliest_start(now) and not is_closed(
        book.local_day(offer.start), offer.provider_id, book.closures
    )


def _tell(ports: Ports, book: Book, offer: Offer, batch: Sequence[WaitlistEntry]) -> None:
    key = ports.signing_key()
    zone = book.practice.zone
    for e in batch:
        patients = ports.patients.get_many(book.id, [e.patient_id])
        language = patients[0].language if patients else "en"
        contact = _contact(ports.patients.links_for_patient(book.id, e.patient_id), e.holder_id, e.channel)
        if contact is None:
            continue
        token = links.offer_token(key, book.id, offer.id, e.id, offer.start)
        url = f"{ports.web_base_url.rstrip('/')}/patient/?practice={book.id}#link={token}"
        t = book.types.get(e.type_id)
        what = t.name if t else ""
        when = local_label(offer.start, zone, language)
        if language == "es":
            text = (
                f"{book.practice.name}: se liberó un horario para {what}: {when}. "
                f"Quien acepte primero lo obtiene: {url}"
            )
            subject = f"{book.practice.name}: un horario antes"
        else:
            text = f"{book.practice.name}: an earlier time opened for {what}: {when}. First to accept gets it: {url}"
            subject = f"{book.practice.name}: an earlier time opened up"
        try:
            if contact.channel == "sms":
                ports.sms.send(Sms(to=contact.address, text=text))
            else:
                ports.email.send(Email(to=contact.address, subject=subject, text=text))
        except Exception:
            logger.exception("waitlist offer not sent", extra={"offer_id": offer.id, "entry_id": e.id})
    audit(ports, book.id, JOB_ACTOR, "waitlist.offer_sent", [e.patient_id for e in batch], f"offer:{offer.id}")


def slot_freed(ports: Ports, book: Book, freed: Appointment) -> Offer | None:
    """Offer the time ``freed`` held (it was cancelled or moved away) to the waitlist's first batch."""
    now = ports.clock.now()
    offer = Offer(
        id=ports.new_id(),
        provider_id=freed.provider_id,
        operatory_id=freed.operatory_id,
        start=freed.start,
        end=freed.end,
        created_at=now,
        freed_by=freed.id,
    )
    if not _offer_still_good(ports, book, offer, now):
        return None
    found = candidates(ports, book, offer)
    if not found:
        return None
    batch = found[: book.policy.waitlist_batch_size]
    offer.notified = [e.id for e in batch]
    offer.next_batch_at = now + timedelta(minutes=book.policy.waitlist_batch_minutes)
    ports.waitlist.put_offer(book.id, offer)
    _tell(ports, book, offer, batch)
    return offer


def advance_offers(ports: Ports, now: datetime) -> int:
    """Tell the next batch of every open offer that is due; close offers whose time has gone."""
    told = 0
    for practice_id, offer in ports.waitlist.due_offers(now):
        try:
            book = load_book(ports, practice_id)
        except NotFound:
            ports.waitlist.close_offer(practice_id, offer.id)
            continue
        if not _offer_still_good(ports, book, offer, now):
            ports.waitlist.close_offer(practice_id, offer.id)
            continue
        batch = candidates(ports, book, offer)[: book.policy.waitlist_batch_size]
        offer.notified = offer.notified + [e.id for e in batch]
        offer.next_batch_at = now + timedelta(minutes=book.policy.waitlist_batch_minutes) if batch else None
        if ports.waitlist.advance_offer(practice_id, offer) and batch:
            _tell(ports, book, offer, batch)
            told += len(batch)
    return told


@scheduled("waitlist_offers")
def _offers_job(now: datetime) -> None:
    from chalicelib.appointments.wiring import ports

    advance_offers(ports(), now)


# --- taking ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OfferTarget:
    book: Book
    offer: Offer
    entry: WaitlistEntry
    type: AppointmentType | None
    taker: WaitlistEntry | None = None  # the entry that took the offer, when it was taken


def offer_target(ports: Ports, claims: links.LinkClaims) -> OfferTarget:
    book = load_book(ports, claims.practice_id)
    offer = ports.waitlist.get_offer(book.id, claims.offer_id)
    entry = ports.waitlist.get_entry(book.id, claims.entry_id)
    if offer is None or entry is None or entry.id not in offer.notified:
        raise NotFound("this link is not valid", code="link_invalid")
    taker = ports.waitlist.get_entry(book.id, offer.taken_by) if offer.taken_by else None
    return OfferTarget(book, offer, entry, book.types.get(entry.type_id), taker)


def _taken_by_patient(target: OfferTarget) -> bool:
    """This patient took it, by this link's entry or another of theirs (told before offers went one per patient)."""
    taker = target.taker
    return target.offer.taken_by == target.entry.id or (
        taker is not None and taker.patient_id == target.entry.patient_id
    )


def offer_state(ports: Ports, target: OfferTarget) -> str:
    """ready, yours (this patient took it), taken (someone else did), closed, expired, left (not waiting)."""
    offer, entry = target.offer, target.entry
    if _taken_by_patient(target):
        return "yours"
    if offer.status != OFFER_OPEN:
        return "taken" if offer.taken_by else "closed"
    if entry.status != WAITING:
        return "left"
    if not _offer_still_good(ports, target.book, offer, ports.clock.now()):
        return "expired"
    return "ready"


def offer_appointment_id(target: OfferTarget) -> str:
    """A new booking from an offer has an id derived from the offer, so a second click finds it;
    once taken, the taking entry's (the patient's other link answers the same appointment)."""
    entry = target.taker if target.taker is not None and _taken_by_patient(target) else target.entry
    return entry.appointment_id or f"w{target.offer.id}"


def offer_view(ports: Ports, claims: links.LinkClaims) -> tuple[OfferTarget, str]:
    target = offer_target(ports, claims)
    audit(
        ports,
        target.book.id,
        signed_link_actor(links.OFFER),
        "waitlist.offer_read",
        [target.entry.patient_id],
        f"offer:{target.offer.id}",
    )
    return target, offer_state(ports, target)


def _gone(target: OfferTarget) -> Conflict:
    return Conflict("someone else took that time; you are still on the waitlist", code="offer_taken")


def _accepted(ports: Ports, target: OfferTarget, t: AppointmentType) -> tuple[Appointment, Loaded | None]:
    """The appointment as it would be after taking the offer: a new booking, or the entry's moved."""
    book, offer, entry = target.book, target.offer, target.entry
    by = signed_link_actor(links.OFFER).by
    now = ports.clock.now()
    start, end = offer.start, offer.start + timedelta(minutes=t.duration_min)
    if not entry.appointment_id:
        return Appointment(
            id=offer_appointment_id(target),
            patient_id=entry.patient_id,
            provider_id=offer.provider_id,
            operatory_id="",
            type_id=t.id,
            start=start,
            end=end,
            status=BOOKED,
            history=[HistoryEntry(at=now, action=BOOKED, by=by, reason="waitlist")],
        ), None
    before = ports.appointments.load(book.id, entry.appointment_id)
    if before is None or before.appointment.status not in CANCELLABLE:
        raise Conflict("this waitlist request was withdrawn or already met", code="waitlist_request_closed")
    a = copy.deepcopy(before.appointment)
    a.move(start, end, now, by, "waitlist")
    a.provider_id = offer.provider_id
    if a.status in (CONFIRMED, REQUESTED):
        a.transition(BOOKED, now, by, "waitlist")
    return a, before


def _refuse(state: str, target: OfferTarget) -> None:
    if state in ("taken", "closed", "yours"):
        raise _gone(target)
    if state == "left":
        raise Conflict("this waitlist request was withdrawn or already met", code="waitlist_request_closed")
    if state == "expired" or target.type is None:
        raise Conflict("that time is no longer available online", code="offer_expired")


def accept(ports: Ports, claims: links.LinkClaims) -> tuple[str, OfferTarget, Appointment]:
    """Take the offered time. Exactly one acceptor wins; the others get 409 ``offer_taken`` and stay waiting."""
    target = offer_target(ports, claims)
    book, offer, entry = target.book, target.offer, target.entry
    actor = signed_link_actor(links.OFFER)
    state = offer_state(ports, target)
    if state == "yours":
        mine = ports.appointments.get(book.id, offer_appointment_id(target))
        if mine is not None:
            return "already_yours", target, mine
    _refuse(state, target)
    assert target.type is not None  # _refuse raised otherwise
    a, before = _accepted(ports, target, target.type)
    provider = book.providers.get(offer.provider_id)
    problem, free = (
        staff_problem(
            a.start,
            a.end,
            book.rules(provider, target.type),
            _busy_around(ports, book, a.start, a.end),
            ports.clock.now(),
            ignore=a.id,
            outside_hours=True,
        )
        if provider
        else (SLOT_TAKEN, ())
    )
    if problem:
        if problem == SLOT_TAKEN:
            ports.waitlist.close_offer(book.id, offer.id)
            raise _gone(target)
        raise Conflict("that time is no longer available online", code="offer_expired")
    try:
        a = _commit_trying(
            ports, book, a, before, sorted(free, key=lambda o: o != offer.operatory_id), Claim(offer.id, entry.id)
        )
    except OfferGone as exc:
        raise _gone(target) from exc
    except Conflict as exc:
        if exc.code == SLOT_TAKEN:
            ports.waitlist.close_offer(book.id, offer.id)
            raise _gone(target) from exc
        raise
    _after_accept(ports, book, a, before, actor.by)
    audit(ports, book.id, actor, "waitlist.accept", [a.patient_id], f"appointment:{a.id}")
    return ("booked" if before is None else "moved"), target, a


def _after_accept(ports: Ports, book: Book, a: Appointment, before: Loaded | None, by: str) -> None:
    if before is None:
        publish(ports, book.id, a, CREATED, by, None)
        return
    publish(ports, book.id, a, MOVED, by, before.appointment.start)
    old = before.appointment
    if old.status in HOLDING and old.start > ports.clock.now() and not overlaps(old.start, old.end, a.start, a.end):
        slot_freed(ports, book, old)
