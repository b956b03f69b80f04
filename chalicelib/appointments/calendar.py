"""Calendar files: an ``.ics`` per appointment and a subscribable per-contact feed.

Events carry the practice's zone (``DTSTART;TZID=America/New_York`` plus its VTIMEZONE), a UID
that never changes for an appointment, and a SEQUENCE that grows with every move or cancellation,
so calendar apps update the event in place; a cancelled appointment stays in the feed with
``STATUS:CANCELLED`` so subscribers drop it. Summaries name the visit and the patient's given
name only.

A feed URL holds a signed token naming the contact and the feed id; rotating or deleting the feed
revokes every earlier URL. Reading it re-checks that the contact still acts for each patient.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from chalicelib.appointments import links
from chalicelib.appointments.model import CANCELLED, REQUESTED, Appointment, CalendarFeed, calendar_sequence
from chalicelib.appointments.service import Book, Ports, audit, load_book, session_actor
from chalicelib.audit.model import ACTOR_ANONYMOUS
from chalicelib.patients.model import Patient
from chalicelib.platform.auth import PatientCaller
from chalicelib.platform.errors import NotFound

if TYPE_CHECKING:
    from icalendar import Event

FEED_PAST = timedelta(days=90)
FEED_AHEAD = timedelta(days=400)
PRODID = "-//Chairside//Appointments//EN"


def _uid(practice_id: str, appointment_id: str) -> str:
    return f"{appointment_id}@{practice_id}.chairside"


def _event(book: Book, a: Appointment, patient: Patient | None, now: datetime) -> Event:
    tz = book.practice.tz
    t = book.types.get(a.type_id)
    provider = book.providers.get(a.provider_id)
    what = t.name if t else "Dental appointment"
    who = f"{patient.given_name}: " if patient else ""
    from icalendar import Event  # only calendar requests pay for its import

    event = Event()
    event.add("uid", _uid(book.id, a.id))
    event.add("dtstamp", now)
    event.add("dtstart", a.start.astimezone(tz))
    event.add("dtend", a.end.astimezone(tz))
    event.add("sequence", calendar_sequence(a))
    event.add("summary", f"{who}{what} at {book.practice.name}")
    if a.status == CANCELLED:
        event.add("status", "CANCELLED")
    elif a.status == REQUESTED:
        event.add("status", "TENTATIVE")
    else:
        event.add("status", "CONFIRMED")
    lines = [
        f"With {provider.name}" if provider else "",
        f"Office: {book.practice.phone}" if book.practice.phone else "",
    ]
    event.add("description", "\n".join(x for x in lines if x))
    address = book.practice.address
    if address:
        event.add(
            "location", ", ".join(v for v in (address.get("line"), address.get("city"), address.get("state")) if v)
        )
    if a.history:
        event.add("last-modified", max(h.at for h in a.history))
    return event


def calendar_bytes(
    book: Book, appointments: Sequence[tuple[Appointment, Patient | None]], now: datetime, name: str
) -> bytes:
    from icalendar import Calendar

    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", book.practice.zone)
    for a, patient in appointments:
        cal.add_component(_event(book, a, patient, now))
    first = min((a.start for a, _ in appointments), default=now).date()
    last = max((a.end for a, _ in appointments), default=now).date()
    cal.add_missing_timezones(first_date=date(first.year - 1, 1, 1), last_date=date(last.year + 2, 1, 1))
    return bytes(cal.to_ical())


def appointment_ics(ports: Ports, caller: PatientCaller, appointment_id: str) -> bytes:
    from chalicelib.appointments.service import patient_appointment

    loaded = patient_appointment(ports, caller, appointment_id)
    book = load_book(ports, caller.practice_id)
    a = loaded.appointment
    patient = ports.patients.get(book.id, a.patient_id)
    audit(ports, book.id, session_actor(caller), "appointment.calendar", [a.patient_id], f"appointment:{a.id}")
    return calendar_bytes(book, [(a, patient)], ports.clock.now(), book.practice.name)


# --- feeds -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedUrls:
    https: str
    webcal: str


def feed_urls(ports: Ports, practice_id: str, feed: CalendarFeed) -> FeedUrls:
    token = links.feed_token(ports.signing_key(), practice_id, feed.holder_id, feed.feed_id)
    url = f"{ports.api_base_url.rstrip('/')}/feeds/{token}/appointments.ics"
    return FeedUrls(url, "webcal://" + url.split("://", 1)[-1])


def current_feed(ports: Ports, caller: PatientCaller) -> FeedUrls | None:
    feed = ports.feeds.get(caller.practice_id, caller.holder_id)
    return feed_urls(ports, caller.practice_id, feed) if feed else None


def make_feed(ports: Ports, caller: PatientCaller) -> FeedUrls:
    """Create the contact's feed, or rotate it: the new URL works, every earlier one stops."""
    feed = CalendarFeed(caller.holder_id, secrets.token_hex(12), tuple(caller.patient_ids), ports.clock.now())
    ports.feeds.put(caller.practice_id, feed)
    audit(ports, caller.practice_id, session_actor(caller), "calendar.feed.create", caller.patient_ids, "calendar-feed")
    return feed_urls(ports, caller.practice_id, feed)


def revoke_feed(ports: Ports, caller: PatientCaller) -> None:
    ports.feeds.delete(caller.practice_id, caller.holder_id)
    audit(ports, caller.practice_id, session_actor(caller), "calendar.feed.revoke", caller.patient_ids, "calendar-feed")


def read_feed(ports: Ports, token: str) -> bytes:
    """The feed behind a token, or 404 for anything not a live feed (bad, rotated or revoked)."""
    now = ports.clock.now()
    try:
        practice_id, holder_id, feed_id = links.read_feed_token(ports.signing_key(), token, now)
    except links.LinkInvalid as exc:
        raise NotFound("no such calendar feed") from exc
    feed = ports.feeds.get(practice_id, holder_id)
    if feed is None or feed.feed_id != feed_id:
        raise NotFound("no such calendar feed")
    book = load_book(ports, practice_id)
    still_linked = [
        pid
        for pid in feed.patient_ids
        if any(link.holder_id == holder_id for link in ports.patients.links_for_patient(book.id, pid))
    ]
    patients = {p.id: p for p in ports.patients.get_many(book.id, still_linked) if p.active}
    rows = [
        (a, patients[pid])
        for pid in patients
        for a in ports.appointments.for_patient(book.id, pid, now - FEED_PAST, now + FEED_AHEAD)
    ]
    rows.sort(key=lambda row: (row[0].start, row[0].id))
    ports.auditor.record(
        book.id,
        actor_type=ACTOR_ANONYMOUS,
        actor_id="calendar_feed",
        action="calendar.feed.read",
        patient_ids=list(patients) or [""],
        record=f"calendar-feed:{holder_id}",
    )
    return calendar_bytes(book, rows, now, f"{book.practice.name} appointments")
