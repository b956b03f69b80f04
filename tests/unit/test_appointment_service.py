"""Booking, confirming, cancelling, moving, staff actions and signed links, against in-memory twins."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import count

import pytest

from chalicelib.adapters.messaging import MemoryEmailSender, MemorySmsSender
from chalicelib.appointments import links, service
from chalicelib.appointments.events import CREATED, MOVED, STATUS_CHANGED, RecordingEvents
from chalicelib.appointments.memory import MemoryAppointments, MemoryClosures, MemoryFeeds, MemoryWaitlist
from chalicelib.appointments.model import (
    BOOKED,
    CANCELLED,
    CONFIRMED,
    REQUESTED,
    Appointment,
    Closure,
    SlotTaken,
    holds_for,
)
from chalicelib.appointments.ports import Write
from chalicelib.appointments.serialize import patient_actions
from chalicelib.appointments.service import BookingRequest, MoveRequest, OfficeOnly, Ports
from chalicelib.audit.service import Auditor, MemoryAuditLog
from chalicelib.patients.model import ContactLink, Patient, contact_links_for, guardian_links_for
from chalicelib.platform.auth import PatientCaller
from chalicelib.platform.clock import FixedClock
from chalicelib.platform.errors import ApiError, Conflict, NotFound, Unprocessable
from chalicelib.practices.model import AppointmentType, Operatory, Practice, Provider
from tests import factories

KEY = b"unit-test-key"
NOW = datetime(2027, 3, 10, 15, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DR1_HOURS = {
    "sun": [("13:00", "18:00")],
    "mon": [("09:00", "17:00")],
    **{d: [("08:00", "17:00")] for d in ("tue", "wed", "thu", "fri")},
}


def z(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class FakePractices:
    def __init__(self) -> None:
        self.practices: dict[str, Practice] = {}
        self.providers_by: dict[str, list[Provider]] = {}
        self.operatories_by: dict[str, list[Operatory]] = {}
        self.types_by: dict[str, list[AppointmentType]] = {}

    def get(self, practice_id: str) -> Practice | None:
        return self.practices.get(practice_id)

    def providers(self, practice_id: str) -> list[Provider]:
        return list(self.providers_by.get(practice_id, []))

    def operatories(self, practice_id: str) -> list[Operatory]:
        return list(self.operatories_by.get(practice_id, []))

    def appointment_types(self, practice_id: str) -> list[AppointmentType]:
        return list(self.types_by.get(practice_id, []))


class FakePatients:
    def __init__(self) -> None:
        self.patients: dict[tuple[str, str], Patient] = {}
        self.links: dict[str, list[ContactLink]] = {}

    def add(self, practice_id: str, p: Patient) -> Patient:
        self.patients[(practice_id, p.id)] = p
        self.links.setdefault(practice_id, []).extend(contact_links_for(p))
        return p

    def get(self, practice_id: str, patient_id: str) -> Patient | None:
        return self.patients.get((practice_id, patient_id))

    def get_many(self, practice_id: str, patient_ids: list[str]) -> list[Patient]:
        return [
            self.patients[(practice_id, i)] for i in dict.fromkeys(patient_ids) if (practice_id, i) in self.patients
        ]

    def links_for_patient(self, practice_id: str, patient_id: str) -> list[ContactLink]:
        return [link for link in self.links.get(practice_id, []) if link.patient_id == patient_id]


@dataclass
class World:
    clock: FixedClock = field(default_factory=lambda: FixedClock(NOW))
    practices: FakePractices = field(default_factory=FakePractices)
    patients: FakePatients = field(default_factory=FakePatients)
    waitlist: MemoryWaitlist = field(default_factory=MemoryWaitlist)
    closures: MemoryClosures = field(default_factory=MemoryClosures)
    feeds: MemoryFeeds = field(default_factory=MemoryFeeds)
    audit_log: MemoryAuditLog = field(default_factory=MemoryAuditLog)
    events: RecordingEvents = field(default_factory=RecordingEvents)
    email: MemoryEmailSender = field(default_factory=MemoryEmailSender)
    sms: MemorySmsSender = field(default_factory=MemorySmsSender)

    def __post_init__(self) -> None:
        self.appointments = MemoryAppointments(self.waitlist)
        ids = count(1)
        self.ports = Ports(
            practices=self.practices,
            patients=self.patients,
            appointments=self.appointments,
            closures=self.closures,
            waitlist=self.waitlist,
            feeds=self.feeds,
            auditor=Auditor(self.audit_log, self.clock),
            events=self.events,
            clock=self.clock,
            email=self.email,
            sms=self.sms,
            signing_key=lambda: KEY,
            web_base_url="https://app.example.test",
            api_base_url="https://api.example.test",
            new_id=lambda: f"id{next(ids)}",
        )
        maple = factories.maple()
        self.practices.practices["P1"] = maple
        dr1 = factories.provider("DR1")
        dr1.hours = {k: list(v) for k, v in DR1_HOURS.items()}
        self.practices.providers_by["P1"] = [dr1, factories.provider("DR2")]
        self.practices.operatories_by["P1"] = [factories.operatory("OP2"), factories.operatory("OP3")]
        self.practices.types_by["P1"] = [
            factories.cleaning(),
            AppointmentType(id="EXAM", name="Exam", duration_min=30, category="exam"),
            AppointmentType(id="EMERG", name="Emergency", duration_min=60, provider_ids=["DR2"], operatory_ids=["OP3"]),
        ]
        for pid, phone in (("PAT-A", "+15555550121"), ("PAT-B", "+15555550123"), ("PAT-C", "+15555550124")):
            self.patients.add("P1", factories.patient(pid, phone=phone))
        for kid in ("K1", "K2", "K3"):
            self.patients.add("P1", factories.patient(kid, phone="", email=f"{kid.lower()}@example.test"))
        self.patients.links["P1"].extend(guardian_links_for(factories.guardian("G1", ("K1", "K2"))))

    @property
    def practice(self) -> Practice:
        return self.practices.practices["P1"]

    def policy(self, **booking: object) -> None:
        self.practice.settings["booking"] = dict(booking)

    def caller(self, holder: str = "PAT-A", patient_ids: tuple[str, ...] | None = None) -> PatientCaller:
        return PatientCaller("P1", f"session-{holder}", holder, patient_ids or (holder,))

    def guardian(self) -> PatientCaller:
        return PatientCaller("P1", "session-G1", "G1", ("K1", "K2"))

    def book(self, caller: PatientCaller | None = None, start: str = "2027-04-20T14:00Z", **kw: str) -> Appointment:
        caller = caller or self.caller()
        req = BookingRequest(
            patient_id=kw.get("patient_id", caller.patient_ids[0]),
            type_id=kw.get("type_id", "CLEAN"),
            provider_id=kw.get("provider_id", "DR1"),
            start=z(start),
            operatory_id=kw.get("operatory_id", ""),
        )
        return service.patient_book(self.ports, caller, req)

    def staff_book(
        self, patient_id: str, start: str, provider: str = "DR1", operatory: str = "OP2", **kw: object
    ) -> Appointment:
        req = BookingRequest(
            patient_id=patient_id,
            type_id=str(kw.get("type_id", "CLEAN")),
            provider_id=provider,
            start=z(start),
            operatory_id=operatory,
            end=z(str(kw["end"])) if kw.get("end") else None,
            outside_hours=bool(kw.get("outside_hours", False)),
        )
        return service.staff_book(self.ports, "staff-1", "P1", req)

    def actions(self) -> list[str]:
        return [e.action for _, e in self.audit_log.events]

    def stored(self, appointment_id: str) -> Appointment:
        found = self.appointments.get("P1", appointment_id)
        assert found is not None
        return found


@pytest.fixture
def world() -> World:
    return World()


# --- booking ---------------------------------------------------------------------------


def test_a_patient_books_an_offered_slot_and_it_is_booked_published_once_and_audited(world: World) -> None:
    a = world.book()
    assert (a.status, a.start, a.end, a.operatory_id) == (BOOKED, z("2027-04-20T14:00Z"), z("2027-04-20T15:00Z"), "OP2")
    assert [(e.kind, e.status, e.appointment_id) for e in world.events.published] == [(CREATED, BOOKED, a.id)]
    assert world.events.published[0].by == "patient:PAT-A"
    assert world.actions() == ["appointment.book"]
    assert world.appointments.held_by("P1", a.id) == 24  # 12 five-minute units for DR1 and for OP2


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2027, 3, 14), ["17:00", "18:00", "19:00", "20:00", "21:00"]),
        (date(2027, 11, 7), ["18:00", "19:00", "20:00", "21:00", "22:00"]),
    ],
)
def test_c01_every_slot_offered_on_a_dst_sunday_can_be_booked(world: World, day: date, expected: list[str]) -> None:
    found = service.availability(world.ports, "P1", type_id="CLEAN", provider_id="DR1", first_day=day, days=1)
    slots = found.days[0].slots
    assert [s.start.strftime("%H:%M") for s in slots] == expected
    for slot in slots:
        a = world.book(start=slot.start.strftime("%Y-%m-%dT%H:%MZ"))
        assert a.status == BOOKED
    again = service.availability(world.ports, "P1", type_id="CLEAN", provider_id="DR1", first_day=day, days=1)
    assert again.days[0].slots == []


def test_c01_the_first_monday_slot_is_nine_local_on_both_sides_of_dst(world: World) -> None:
    for day, first in ((date(2027, 3, 15), "13:00"), (date(2027, 11, 8), "14:00")):
        found = service.availability(world.ports, "P1", type_id="", provider_id="DR1", first_day=day, days=1)
        assert found.days[0].slots[0].start.strftime("%H:%M") == first


def test_c01_a_slot_outside_hours_on_spring_forward_sunday_is_refused(world: World) -> None:
    with pytest.raises(Unprocessable) as err:
        world.book(start="2027-03-14T22:00Z")
    assert err.value.code == "outside_hours"
    assert world.events.published == []


def test_c05_overlap_is_409_adjacent_is_booked_and_another_provider_and_room_is_booked(world: World) -> None:
    first = world.staff_book("PAT-A", "2027-04-20T14:00Z")
    with pytest.raises(Conflict) as err:
        world.staff_book("PAT-B", "2027-04-20T14:30Z")
    assert err.value.code == "slot_taken"
    adjacent = world.staff_book("PAT-B", "2027-04-20T15:00Z")
    elsewhere = world.staff_book("PAT-C", "2027-04-20T14:00Z", provider="DR2", operatory="OP3")
    assert {first.status, adjacent.status, elsewhere.status} == {BOOKED}


def test_c05_of_two_requests_for_one_slot_the_second_approval_is_409_and_stays_pending(world: World) -> None:
    world.policy(mode="request")
    one = world.book(world.caller("PAT-A"), start="2027-04-20T16:00Z")
    two = world.book(world.caller("PAT-B"), start="2027-04-20T16:00Z")
    assert (one.status, two.status) == (REQUESTED, REQUESTED)
    assert world.appointments.held_by("P1", one.id) == 0  # a request holds no time
    assert [a.id for a in world.appointments.requests("P1")] == [one.id, two.id]
    approved = service.staff_status(world.ports, "staff-1", "P1", one.id, "approve")
    assert approved.status == BOOKED
    with pytest.raises(Conflict) as err:
        service.staff_status(world.ports, "staff-1", "P1", two.id, "approve")
    assert err.value.code == "slot_taken"
    assert world.stored(two.id).status == REQUESTED
    assert [a.id for a in world.appointments.requests("P1")] == [two.id]


def test_approving_an_approved_request_again_changes_nothing(world: World) -> None:
    world.policy(mode="request")
    a = world.book()
    service.staff_status(world.ports, "staff-1", "P1", a.id, "approve")
    again = service.staff_status(world.ports, "staff-1", "P1", a.id, "approve")
    assert again.status == BOOKED
    assert [e.kind for e in world.events.published] == [CREATED, STATUS_CHANGED]


def test_a_guardian_books_for_a_linked_child_but_an_unlinked_one_is_404(world: World) -> None:
    a = world.book(world.guardian(), patient_id="K1")
    assert a.patient_id == "K1"
    with pytest.raises(NotFound):
        world.book(world.guardian(), patient_id="K3", start="2027-04-20T16:00Z")
    assert world.actions()[-1] == "access_denied"


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"start": "2027-03-09T14:00Z"}, "in_the_past"),
        ({"start": "2027-04-20T14:30Z"}, "not_a_slot"),
        ({"start": "2027-04-20T22:00Z"}, "outside_hours"),
        ({"start": "2028-04-20T14:00Z"}, "too_far_ahead"),
        ({"start": "2027-03-10T16:00Z"}, "too_soon"),
        ({"type_id": "NOPE"}, "unknown_type"),
        ({"provider_id": "DR9"}, "unknown_provider"),
        ({"type_id": "EMERG"}, "provider_cannot_take_type"),
        ({"operatory_id": "OP9"}, "operatory_not_allowed"),
    ],
)
def test_bad_booking_input_is_a_clear_4xx_and_nothing_changes(world: World, kw: dict[str, str], code: str) -> None:
    with pytest.raises(ApiError) as err:
        world.book(**kw)
    assert 400 <= err.value.status < 500
    assert err.value.code == code
    assert world.appointments.items == {}
    assert world.events.published == []


def test_a_closed_day_cannot_be_booked_online(world: World) -> None:
    world.closures.put("P1", Closure("C1", date(2027, 4, 20), date(2027, 4, 20), reason="training"))
    with pytest.raises(Unprocessable) as err:
        world.book()
    assert err.value.code == "closed"


def test_a_type_not_bookable_online_is_refused_for_patients_but_not_staff(world: World) -> None:
    world.policy(online_type_ids=["EXAM"])
    with pytest.raises(Unprocessable) as err:
        world.book()
    assert err.value.code == "not_bookable_online"
    assert world.staff_book("PAT-A", "2027-04-20T14:00Z").status == BOOKED


def test_a_patient_gets_the_next_free_room_when_the_first_is_taken(world: World) -> None:
    world.staff_book("PAT-B", "2027-04-20T14:00Z", provider="DR2", operatory="OP2")
    a = world.book()
    assert a.operatory_id == "OP3"


def test_fifty_threads_booking_one_slot_leave_exactly_one_appointment(world: World) -> None:
    start = z("2027-04-20T14:00Z")
    outcomes: list[str] = []
    barrier = threading.Barrier(50)

    def attempt(i: int) -> None:
        a = Appointment(f"R{i}", "PAT-A", "DR1", "OP2", "CLEAN", start, start + HOUR, BOOKED)
        barrier.wait()
        try:
            world.appointments.commit("P1", "America/New_York", Write(a, None, holds_for(a)))
            outcomes.append("won")
        except SlotTaken:
            outcomes.append("taken")

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes).count("won") == 1
    assert len(world.appointments.items) == 1


def test_a_failing_event_consumer_does_not_undo_or_fail_a_booking(world: World) -> None:
    def broken(_event: object) -> None:
        raise RuntimeError("consumer down")

    world.events.subscribe(broken)
    a = world.book()
    assert world.stored(a.id).status == BOOKED
    assert len(world.events.published) == 1


# --- ownership ---------------------------------------------------------------------------


def test_c14_cancelling_another_patients_appointment_is_404_like_a_missing_one_and_audited(world: World) -> None:
    theirs = world.book(world.caller("PAT-B"))
    world.events.published.clear()
    with pytest.raises(NotFound) as foreign:
        service.patient_cancel(world.ports, world.caller("PAT-A"), theirs.id, "")
    with pytest.raises(NotFound) as missing:
        service.patient_cancel(world.ports, world.caller("PAT-A"), "NOPE", "")
    assert foreign.value.body() == missing.value.body()
    assert world.stored(theirs.id).status == BOOKED
    assert world.events.published == []
    denied = [e for _, e in world.audit_log.events if e.action == "access_denied"]
    assert [e.patient_id for e in denied] == ["PAT-B", ""]
    assert all(e.actor_id == "PAT-A" for e in denied)


def test_a_guardian_may_act_for_a_linked_child_only(world: World) -> None:
    kid = world.book(world.guardian(), patient_id="K1")
    other = world.staff_book("K3", "2027-04-21T14:00Z")
    assert service.patient_confirm(world.ports, world.guardian(), kid.id).status == CONFIRMED
    with pytest.raises(NotFound):
        service.patient_confirm(world.ports, world.guardian(), other.id)


# --- confirm, cancel, reschedule ---------------------------------------------------------------------------


def test_confirming_twice_confirms_once(world: World) -> None:
    a = world.book()
    service.patient_confirm(world.ports, world.caller(), a.id)
    again = service.patient_confirm(world.ports, world.caller(), a.id)
    assert again.status == CONFIRMED
    assert [e.kind for e in world.events.published] == [CREATED, STATUS_CHANGED]


def test_a_pending_request_cannot_be_confirmed_by_the_patient(world: World) -> None:
    world.policy(mode="request")
    a = world.book()
    with pytest.raises(Conflict) as err:
        service.patient_confirm(world.ports, world.caller(), a.id)
    assert err.value.code == "awaiting_approval"


def test_cancelling_gives_the_time_back_and_a_second_cancel_changes_nothing(world: World) -> None:
    a = world.book()
    done = service.patient_cancel(world.ports, world.caller(), a.id, "travel")
    assert done.status == CANCELLED
    assert done.history[-1].reason == "travel"
    assert world.appointments.held_by("P1", a.id) == 0
    service.patient_cancel(world.ports, world.caller(), a.id, "")
    assert [e.kind for e in world.events.published] == [CREATED, STATUS_CHANGED]
    assert world.book(world.caller("PAT-B")).status == BOOKED


def test_inside_the_notice_period_a_patient_is_told_to_call_the_office(world: World) -> None:
    a = world.book()
    world.clock.at = a.start - timedelta(hours=23)
    with pytest.raises(OfficeOnly) as err:
        service.patient_cancel(world.ports, world.caller(), a.id, "")
    assert err.value.status == 409
    assert err.value.body()["error"] == {
        "code": "too_late_to_change",
        "message": "changes less than 24 hours before the appointment are made by calling the office",
        "phone": "+15555550100",
    }
    actions = patient_actions(world.stored(a.id), service.load_book(world.ports, "P1").policy, world.clock.now(), "+1")
    assert actions["cancel"] is False and actions["call_office_reason"] == "too_late_to_change"
    assert world.stored(a.id).status == BOOKED


def test_a_reschedule_takes_the_new_time_and_gives_back_the_old_together(world: World) -> None:
    a = world.book()
    service.patient_confirm(world.ports, world.caller(), a.id)
    moved = service.patient_reschedule(world.ports, world.caller(), a.id, z("2027-04-21T13:00Z"), "")
    assert (moved.start, moved.status) == (z("2027-04-21T13:00Z"), BOOKED)  # a new time needs a new confirmation
    assert world.events.published[-1].kind == MOVED
    assert world.events.published[-1].previous_start == z("2027-04-20T14:00Z")
    assert len([e for e in world.events.published if e.kind == MOVED]) == 1
    assert world.book(world.caller("PAT-B")).start == z("2027-04-20T14:00Z")  # the old time is free again


def test_a_reschedule_into_a_taken_time_changes_nothing(world: World) -> None:
    mine = world.book()
    world.book(world.caller("PAT-B"), start="2027-04-21T13:00Z")
    with pytest.raises(Conflict):
        service.patient_reschedule(world.ports, world.caller(), mine.id, z("2027-04-21T13:00Z"), "")
    assert world.stored(mine.id).start == z("2027-04-20T14:00Z")
    assert world.appointments.held_by("P1", mine.id) == 24


def test_rescheduling_to_the_same_time_twice_moves_once(world: World) -> None:
    a = world.book()
    service.patient_reschedule(world.ports, world.caller(), a.id, z("2027-04-21T13:00Z"), "")
    service.patient_reschedule(world.ports, world.caller(), a.id, z("2027-04-21T13:00Z"), "")
    assert [e.kind for e in world.events.published] == [CREATED, MOVED]


def test_online_reschedules_stop_at_the_practice_maximum(world: World) -> None:
    world.policy(max_online_reschedules=1)
    a = world.book()
    service.patient_reschedule(world.ports, world.caller(), a.id, z("2027-04-21T13:00Z"), "")
    with pytest.raises(OfficeOnly) as err:
        service.patient_reschedule(world.ports, world.caller(), a.id, z("2027-04-22T13:00Z"), "")
    assert err.value.code == "too_many_reschedules"
    staff_move = MoveRequest(start=z("2027-04-22T13:00Z"))
    assert service.staff_move(world.ports, "staff-1", "P1", a.id, staff_move).start == z("2027-04-22T13:00Z")


def test_a_patient_reschedule_must_be_an_offered_slot(world: World) -> None:
    a = world.book()
    with pytest.raises(Unprocessable) as err:
        service.patient_reschedule(world.ports, world.caller(), a.id, z("2027-04-21T13:10Z"), "")
    assert err.value.code == "not_a_slot"


def test_moving_within_its_own_time_does_not_collide_with_itself(world: World) -> None:
    a = world.staff_book("PAT-A", "2027-04-20T14:00Z")
    moved = service.staff_move(world.ports, "staff-1", "P1", a.id, MoveRequest(start=z("2027-04-20T14:30Z")))
    assert moved.start == z("2027-04-20T14:30Z")
    assert world.appointments.held_by("P1", a.id) == 24


# --- staff ---------------------------------------------------------------------------


def test_staff_confirm_by_phone_then_mark_arrived_and_completed(world: World) -> None:
    a = world.staff_book("PAT-A", "2027-04-20T14:00Z")
    service.staff_status(world.ports, "staff-1", "P1", a.id, "confirm", "by phone")
    service.staff_status(world.ports, "staff-1", "P1", a.id, "arrive")
    done = service.staff_status(world.ports, "staff-1", "P1", a.id, "complete")
    assert [h.action for h in done.history] == [
        "booked",
        "booked->confirmed",
        "confirmed->arrived",
        "arrived->completed",
    ]
    assert done.history[1].reason == "by phone"
    assert [e.status for e in world.events.published] == [BOOKED, CONFIRMED, "arrived", "completed"]


def test_a_no_show_gives_the_time_back(world: World) -> None:
    a = world.staff_book("PAT-A", "2027-04-20T14:00Z")
    service.staff_status(world.ports, "staff-1", "P1", a.id, "no-show")
    assert world.appointments.held_by("P1", a.id) == 0


def test_staff_decline_a_request_with_a_reason(world: World) -> None:
    world.policy(mode="request")
    a = world.book()
    done = service.staff_status(world.ports, "staff-1", "P1", a.id, "decline", "provider away")
    assert done.status == CANCELLED and done.history[-1].reason == "provider away"
    assert world.appointments.requests("P1") == []


def test_staff_book_outside_hours_needs_the_override_and_never_the_past(world: World) -> None:
    with pytest.raises(Unprocessable) as err:
        world.staff_book("PAT-A", "2027-04-20T22:00Z")
    assert err.value.code == "outside_hours"
    assert world.staff_book("PAT-A", "2027-04-20T22:00Z", outside_hours=True).status == BOOKED
    with pytest.raises(Unprocessable) as past:
        world.staff_book("PAT-A", "2027-03-01T14:00Z", outside_hours=True)
    assert past.value.code == "in_the_past"


def test_staff_book_for_an_unknown_patient_is_404(world: World) -> None:
    with pytest.raises(NotFound):
        world.staff_book("NOPE", "2027-04-20T14:00Z")


def test_cancelling_a_provider_day_of_150_appointments_cancels_all_with_150_events(world: World) -> None:
    day = date(2027, 4, 20)
    for i in range(150):  # 100 booked here (holding time), 50 imported (holding none, overlapping)
        start = z("2027-04-20T12:00Z") + timedelta(minutes=5 * (i % 100))
        a = Appointment(f"B{i:03}", "PAT-A", "DR1", f"OPX{i}", "EXAM", start, start + timedelta(minutes=5), BOOKED)
        if i < 100:
            world.appointments.commit("P1", "America/New_York", Write(a, None, holds_for(a)))
        else:
            world.appointments.add("P1", a)
    other = Appointment("D2", "PAT-B", "DR2", "OP3", "CLEAN", z("2027-04-20T14:00Z"), z("2027-04-20T15:00Z"), BOOKED)
    world.appointments.add("P1", other)
    done = service.cancel_provider_day(world.ports, "staff-1", "P1", "DR1", day, "sick", close_day=True)
    assert len(done.cancelled) == 150 and done.failed == [] and done.skipped == []
    assert len([e for e in world.events.published if e.status == CANCELLED]) == 150
    assert world.stored("D2").status == BOOKED
    assert done.closure is not None and world.closures.closures("P1")[0].provider_id == "DR1"
    assert world.email.sent == [] and world.sms.sent == []  # notices are the reminder engine's job
    assert not any(holder.startswith("B") for holder in world.appointments.units.values())


def test_a_provider_day_before_the_practices_local_today_cannot_be_cancelled_or_closed(world: World) -> None:
    with pytest.raises(Unprocessable) as past:
        service.cancel_provider_day(world.ports, "staff-1", "P1", "DR1", date(2020, 3, 2), "sick", close_day=True)
    assert past.value.code == "in_the_past"
    with pytest.raises(Unprocessable) as yesterday:
        service.cancel_provider_day(world.ports, "staff-1", "P1", "DR1", date(2027, 3, 9), "", close_day=False)
    assert yesterday.value.code == "in_the_past"
    assert world.closures.closures("P1") == []


def test_the_practices_local_today_can_still_be_closed_while_utc_is_already_tomorrow(world: World) -> None:
    world.clock.at = datetime(2027, 3, 11, 2, 0, tzinfo=UTC)  # 22:00 on the 10th in New York
    done = service.cancel_provider_day(world.ports, "staff-1", "P1", "DR1", date(2027, 3, 10), "", close_day=True)
    assert done.closure is not None and done.closure.start_date == date(2027, 3, 10)
    with pytest.raises(Unprocessable) as past:
        service.add_closure(world.ports, "staff-1", "P1", date(2027, 3, 9), date(2027, 3, 12), "", "")
    assert past.value.code == "in_the_past"
    assert service.add_closure(world.ports, "staff-1", "P1", date(2027, 3, 10), date(2027, 3, 12), "", "").id


def test_a_provider_day_cancel_copes_with_a_stale_day_index(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    a = world.staff_book("PAT-A", "2027-04-20T14:00Z")
    b = world.staff_book("PAT-B", "2027-04-20T16:00Z")
    stale = world.appointments.on_day_loaded("P1", date(2027, 4, 20))
    service.staff_status(world.ports, "staff-1", "P1", a.id, "confirm")
    service.staff_status(world.ports, "staff-1", "P1", b.id, "cancel")
    monkeypatch.setattr(world.appointments, "on_day_loaded", lambda practice_id, day: stale)
    world.events.published.clear()
    done = service.cancel_provider_day(world.ports, "staff-1", "P1", "DR1", date(2027, 4, 20), "", close_day=False)
    assert (done.cancelled, done.skipped, done.failed) == ([a.id], [b.id], [])
    assert [(e.appointment_id, e.status) for e in world.events.published] == [(a.id, CANCELLED)]
    assert world.stored(a.id).status == CANCELLED


# --- signed links ---------------------------------------------------------------------------


def _link(world: World, a: Appointment, action: str) -> links.LinkClaims:
    token = links.action_token(KEY, "P1", a.id, action, a.start, world.clock.now())
    return service.read_link(world.ports, token)


def test_a_confirm_link_confirms_and_a_second_click_changes_nothing(world: World) -> None:
    a = world.book()
    claims = _link(world, a, links.CONFIRM)
    _, state, patient = service.link_view(world.ports, claims)
    assert state == "ready" and patient is not None
    assert service.link_act(world.ports, claims, None, "", "")[0] == "confirmed"
    assert service.link_act(world.ports, claims, None, "", "")[0] == "already_confirmed"
    assert service.link_view(world.ports, claims)[1] == "done"
    assert [e.kind for e in world.events.published] == [CREATED, STATUS_CHANGED]
    assert world.events.published[-1].by == "link:confirm"


def test_a_confirm_link_for_a_moved_appointment_says_it_changed(world: World) -> None:
    a = world.book()
    claims = _link(world, a, links.CONFIRM)
    service.patient_reschedule(world.ports, world.caller(), a.id, z("2027-04-21T13:00Z"), "")
    assert service.link_view(world.ports, claims)[1] == "changed"
    with pytest.raises(Conflict) as err:
        service.link_act(world.ports, claims, None, "", "")
    assert err.value.code == "appointment_changed"


def test_a_cancel_link_cancels_once_and_respects_the_notice_period(world: World) -> None:
    a = world.book()
    b = world.book(world.caller("PAT-B"), start="2027-04-21T13:00Z")
    assert service.link_act(world.ports, _link(world, a, links.CANCEL), None, "", "sick")[0] == "cancelled"
    assert service.link_act(world.ports, _link(world, a, links.CANCEL), None, "", "")[0] == "already_cancelled"
    world.clock.at = b.start - timedelta(hours=2)
    with pytest.raises(OfficeOnly):
        service.link_act(world.ports, _link(world, b, links.CANCEL), None, "", "")


def test_a_reschedule_link_moves_to_an_offered_slot_once(world: World) -> None:
    a = world.book()
    claims = _link(world, a, links.RESCHEDULE)
    assert service.link_act(world.ports, claims, z("2027-04-22T13:00Z"), "", "")[0] == "rescheduled"
    assert service.link_act(world.ports, claims, z("2027-04-22T13:00Z"), "", "")[0] == "already_rescheduled"
    with pytest.raises(Unprocessable):
        service.link_act(world.ports, claims, None, "", "")


def test_an_expired_link_is_410_with_the_office_phone(world: World) -> None:
    a = world.book()
    token = links.action_token(KEY, "P1", a.id, links.CONFIRM, a.start, world.clock.now())
    world.clock.at = a.start
    with pytest.raises(service.Gone) as err:
        service.read_link(world.ports, token)
    assert err.value.status == 410 and err.value.phone == "+15555550100"


def test_a_forged_or_offer_typed_link_is_404(world: World) -> None:
    a = world.book()
    forged = links.action_token(b"another-key", "P1", a.id, links.CANCEL, a.start, world.clock.now())
    with pytest.raises(NotFound) as err:
        service.read_link(world.ports, forged)
    assert err.value.code == "link_invalid"
    with pytest.raises(NotFound):
        service.read_link(world.ports, "garbage")


def test_action_urls_point_at_the_patient_page(world: World) -> None:
    a = world.book()
    url = service.action_url(world.ports, "P1", a, links.CONFIRM)
    assert url.startswith("https://app.example.test/patient/?practice=P1#link=")
