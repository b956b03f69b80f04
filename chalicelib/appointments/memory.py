"""In-memory twins of the appointment stores for service tests, with the same conditions as the
DynamoDB ones: a write is all or nothing, a unit of a resource's time has at most one holder."""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from chalicelib.appointments.model import (
    FULFILLED,
    OFFER_CLOSED,
    OFFER_OPEN,
    OFFER_TAKEN,
    REMOVED,
    REQUESTED,
    WAITING,
    Appointment,
    CalendarFeed,
    ChangedMeanwhile,
    Closure,
    Hold,
    Offer,
    OfferGone,
    SlotTaken,
    WaitlistEntry,
    request_order,
)
from chalicelib.appointments.ports import Loaded, Write


class MemoryWaitlist:
    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], WaitlistEntry] = {}
        self.offers: dict[tuple[str, str], Offer] = {}
        self.keys: dict[tuple[str, str, str], str] = {}
        self.lock = threading.RLock()

    def put_entry(self, practice_id: str, entry: WaitlistEntry, replacing: str = "") -> bool:
        with self.lock:
            if (practice_id, entry.id) in self.entries:
                raise KeyError("entry exists")
            holder = self.keys.get((practice_id, entry.patient_id, entry.key), "")
            if holder and holder != replacing:
                return False
            self.keys[(practice_id, entry.patient_id, entry.key)] = entry.id
            self.entries[(practice_id, entry.id)] = copy.deepcopy(entry)
            return True

    def key_holder(self, practice_id: str, patient_id: str, key: str) -> str:
        return self.keys.get((practice_id, patient_id, key), "")

    def get_entry(self, practice_id: str, entry_id: str) -> WaitlistEntry | None:
        found = self.entries.get((practice_id, entry_id))
        return copy.deepcopy(found) if found else None

    def entries_for_patient(self, practice_id: str, patient_id: str) -> list[WaitlistEntry]:
        return [
            copy.deepcopy(e)
            for (p, _), e in sorted(self.entries.items())
            if p == practice_id and e.patient_id == patient_id
        ]

    def waiting(self, practice_id: str) -> list[WaitlistEntry]:
        found = [copy.deepcopy(e) for (p, _), e in self.entries.items() if p == practice_id and e.status == WAITING]
        return sorted(found, key=lambda e: (e.created_at, e.id))

    def remove_entry(self, practice_id: str, entry_id: str) -> bool:
        with self.lock:
            entry = self.entries.get((practice_id, entry_id))
            if entry is None or entry.status != WAITING:
                return False
            entry.status = REMOVED
            return True

    def put_offer(self, practice_id: str, offer: Offer) -> None:
        with self.lock:
            if (practice_id, offer.id) in self.offers:
                raise KeyError("offer exists")
            self.offers[(practice_id, offer.id)] = copy.deepcopy(offer)

    def get_offer(self, practice_id: str, offer_id: str) -> Offer | None:
        found = self.offers.get((practice_id, offer_id))
        return copy.deepcopy(found) if found else None

    def due_offers(self, now: datetime) -> list[tuple[str, Offer]]:
        due = [
            (p, copy.deepcopy(o))
            for (p, _), o in self.offers.items()
            if o.status == OFFER_OPEN and o.next_batch_at is not None and o.next_batch_at <= now
        ]
        return sorted(due, key=lambda pair: (pair[1].next_batch_at or now, pair[0], pair[1].id))

    def advance_offer(self, practice_id: str, offer: Offer) -> bool:
        with self.lock:
            stored = self.offers.get((practice_id, offer.id))
            if stored is None or stored.status != OFFER_OPEN:
                return False
            stored.notified = list(offer.notified)
            stored.next_batch_at = offer.next_batch_at
            return True

    def close_offer(self, practice_id: str, offer_id: str) -> bool:
        with self.lock:
            stored = self.offers.get((practice_id, offer_id))
            if stored is None or stored.status != OFFER_OPEN:
                return False
            stored.status = OFFER_CLOSED
            stored.next_batch_at = None
            return True


class MemoryAppointments:
    """Appointments, their holds as 5-minute units, and pending-request markers."""

    def __init__(self, waitlist: MemoryWaitlist | None = None) -> None:
        self.items: dict[tuple[str, str], Loaded] = {}
        self.zones: dict[tuple[str, str], str] = {}
        self.units: dict[tuple[str, str, datetime], str] = {}
        self.request_marks: set[tuple[str, str]] = set()
        self.waitlist = waitlist or MemoryWaitlist()
        self.commits = 0
        self._lock = self.waitlist.lock

    def add(self, practice_id: str, appointment: Appointment, zone: str = "America/New_York") -> None:
        """Seed an appointment as an import would: no holds (tests of unheld appointments use it)."""
        self.items[(practice_id, appointment.id)] = Loaded(copy.deepcopy(appointment), 1, ())
        self.zones[(practice_id, appointment.id)] = zone

    def get(self, practice_id: str, appointment_id: str) -> Appointment | None:
        loaded = self.load(practice_id, appointment_id)
        return loaded.appointment if loaded else None

    def load(self, practice_id: str, appointment_id: str) -> Loaded | None:
        found = self.items.get((practice_id, appointment_id))
        return copy.deepcopy(found) if found else None

    def on_day(self, practice_id: str, day: date) -> list[Appointment]:
        found = [
            copy.deepcopy(x.appointment)
            for (p, aid), x in self.items.items()
            if p == practice_id and x.appointment.start.astimezone(ZoneInfo(self.zones[(p, aid)])).date() == day
        ]
        return sorted(found, key=lambda a: (a.start, a.id))

    def for_patient(self, practice_id: str, patient_id: str, start: datetime, end: datetime) -> list[Appointment]:
        found = [
            copy.deepcopy(x.appointment)
            for (p, _), x in self.items.items()
            if p == practice_id and x.appointment.patient_id == patient_id and start <= x.appointment.start <= end
        ]
        return sorted(found, key=lambda a: (a.start, a.id))

    def on_day_loaded(self, practice_id: str, day: date) -> list[Loaded]:
        return [x for x in (self.load(practice_id, a.id) for a in self.on_day(practice_id, day)) if x is not None]

    def commit_each(self, practice_id: str, zone: str, writes: Sequence[Write]) -> list[Exception | None]:
        outcomes: list[Exception | None] = []
        for write in writes:
            try:
                self.commit(practice_id, zone, write)
                outcomes.append(None)
            except (SlotTaken, ChangedMeanwhile, OfferGone) as exc:
                outcomes.append(exc)
        return outcomes

    def requests(self, practice_id: str) -> list[Appointment]:
        found = [self.items[key].appointment for key in self.request_marks if key[0] == practice_id]
        return sorted((copy.deepcopy(a) for a in found if a.status == REQUESTED), key=request_order)

    def held_by(self, practice_id: str, appointment_id: str) -> int:
        return sum(1 for (p, _, _), holder in self.units.items() if p == practice_id and holder == appointment_id)

    def _units(self, holds: tuple[Hold, ...]) -> set[tuple[str, datetime]]:
        return {(h.resource, u) for h in holds for u in h.units()}

    def commit(self, practice_id: str, zone: str, write: Write) -> None:
        a = write.appointment
        key = (practice_id, a.id)
        with self._lock:
            stored = self.items.get(key)
            if write.before is None:
                if stored is not None:
                    raise ChangedMeanwhile()
            elif stored is None or stored.version != write.before.version:
                raise ChangedMeanwhile()
            had = self._units(stored.holds if stored else ())
            wants = self._units(write.holds)
            for resource, unit in sorted(wants - had):
                holder = self.units.get((practice_id, resource, unit))
                if holder not in (None, a.id):
                    raise SlotTaken(resource)
            if write.claim is not None:
                offer = self.waitlist.offers.get((practice_id, write.claim.offer_id))
                entry = self.waitlist.entries.get((practice_id, write.claim.entry_id))
                if offer is None or offer.status != OFFER_OPEN or entry is None or entry.status != WAITING:
                    raise OfferGone()
                offer.status, offer.taken_by, offer.next_batch_at = OFFER_TAKEN, entry.id, None
                entry.status = FULFILLED
            for resource, unit in had - wants:
                if self.units.get((practice_id, resource, unit)) == a.id:
                    del self.units[(practice_id, resource, unit)]
            for resource, unit in wants - had:
                self.units[(practice_id, resource, unit)] = a.id
            version = (stored.version or 0) + 1 if stored else 1
            self.items[key] = Loaded(copy.deepcopy(a), version, tuple(write.holds))
            self.zones[key] = zone
            if a.status == REQUESTED:
                self.request_marks.add(key)
            else:
                self.request_marks.discard(key)
            self.commits += 1


class MemoryClosures:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Closure] = {}

    def closures(self, practice_id: str) -> list[Closure]:
        found = [c for (p, _), c in self.items.items() if p == practice_id]
        return sorted(found, key=lambda c: (c.start_date, c.id))

    def put(self, practice_id: str, closure: Closure) -> None:
        self.items[(practice_id, closure.id)] = closure

    def delete(self, practice_id: str, closure_id: str) -> bool:
        return self.items.pop((practice_id, closure_id), None) is not None


class MemoryFeeds:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], CalendarFeed] = {}

    def get(self, practice_id: str, holder_id: str) -> CalendarFeed | None:
        return self.items.get((practice_id, holder_id))

    def put(self, practice_id: str, feed: CalendarFeed) -> None:
        self.items[(practice_id, feed.holder_id)] = replace(feed)

    def delete(self, practice_id: str, holder_id: str) -> None:
        self.items.pop((practice_id, holder_id), None)
