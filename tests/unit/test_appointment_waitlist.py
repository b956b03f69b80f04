"""Waitlist: asking for an earlier time, offers in batches when time frees, first acceptor wins."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from chalicelib.appointments import links, service, waitlist
from chalicelib.appointments.events import CREATED, MOVED, STATUS_CHANGED
from chalicelib.appointments.model import BOOKED, FULFILLED, OFFER_CLOSED, REMOVED, WAITING
from chalicelib.appointments.waitlist import WaitRequest
from chalicelib.platform.errors import Conflict, NotFound, Unprocessable
from tests.unit.test_appointment_service import World


@pytest.fixture
def world() -> World:
    return World()


def ask(world: World, holder: str, **kw: object) -> str:
    caller = world.caller(holder) if holder != "G1" else world.guardian()
    req = WaitRequest(
        patient_id=str(kw.get("patient_id", caller.patient_ids[0])),
        type_id=str(kw.get("type_id", "CLEAN")),
        earliest=kw.get("earliest", date(2027, 4, 1)),  # type: ignore[arg-type]
        latest=kw.get("latest", date(2027, 4, 30)),  # type: ignore[arg-type]
        provider_id=str(kw.get("provider_id", "")),
        appointment_id=str(kw.get("appointment_id", "")),
        channel=str(kw.get("channel", "")),
    )
    return waitlist.join(world.ports, caller, req).id


def offer_claims(world: World, text: str) -> links.LinkClaims:
    token = text.split("link=")[1].split(maxsplit=1)[0]
    return service.read_link(world.ports, token)


def test_a_freed_time_is_offered_to_the_oldest_waiting_patients_by_their_channel(world: World) -> None:
    world.policy(waitlist_batch_size=2)
    taken = world.book(world.caller("PAT-A"))
    ask(world, "PAT-B")
    world.clock.advance(minutes=1)
    ask(world, "G1", patient_id="K1", channel="email")
    world.clock.advance(minutes=1)
    ask(world, "PAT-C")
    service.patient_cancel(world.ports, world.caller("PAT-A"), taken.id, "")
    assert [m.to for m in world.sms.sent] == ["+15555550123"]  # PAT-B by SMS
    assert [m.to for m in world.email.sent] == ["g1@example.test"]  # K1's guardian by email, the one who asked
    assert "Tuesday, April 20, 2027 at 10:00 AM EDT" in world.sms.sent[0].text
    assert "https://app.example.test/patient/?practice=P1#link=" in world.sms.sent[0].text


def test_the_first_to_accept_gets_the_time_and_a_later_acceptor_is_told_and_stays_waiting(world: World) -> None:
    taken = world.book(world.caller("PAT-A"))
    b = ask(world, "PAT-B")
    c = ask(world, "PAT-C")
    service.patient_cancel(world.ports, world.caller("PAT-A"), taken.id, "")
    b_link, c_link = (offer_claims(world, m.text) for m in world.sms.sent)
    result, _, booked = waitlist.accept(world.ports, b_link)
    assert (result, booked.patient_id, booked.start, booked.status) == ("booked", "PAT-B", taken.start, BOOKED)
    with pytest.raises(Conflict) as err:
        waitlist.accept(world.ports, c_link)
    assert err.value.code == "offer_taken"
    assert world.waitlist.get_entry("P1", b).status == FULFILLED  # type: ignore[union-attr]
    assert world.waitlist.get_entry("P1", c).status == WAITING  # type: ignore[union-attr]
    assert waitlist.accept(world.ports, b_link)[0] == "already_yours"
    assert waitlist.offer_view(world.ports, c_link)[1] == "taken"
    assert [e.kind for e in world.events.published] == [CREATED, STATUS_CHANGED, CREATED]


def test_an_offer_lost_to_a_direct_booking_is_gone_for_everyone(world: World) -> None:
    taken = world.book(world.caller("PAT-A"))
    ask(world, "PAT-B")
    service.patient_cancel(world.ports, world.caller("PAT-A"), taken.id, "")
    world.staff_book("PAT-C", "2027-04-20T14:00Z")
    with pytest.raises(Conflict) as err:
        waitlist.accept(world.ports, offer_claims(world, world.sms.sent[0].text))
    assert err.value.code == "offer_taken"


def test_the_next_batch_is_told_after_the_wait_and_no_one_twice(world: World) -> None:
    world.policy(waitlist_batch_size=1, waitlist_batch_minutes=30)
    taken = world.book(world.caller("PAT-A"))
    ask(world, "PAT-B")
    ask(world, "PAT-C")
    service.patient_cancel(world.ports, world.caller("PAT-A"), taken.id, "")
    assert [m.to for m in world.sms.sent] == ["+15555550123"]
    assert waitlist.advance_offers(world.ports, world.clock.now() + timedelta(minutes=29)) == 0
    assert waitlist.advance_offers(world.ports, world.clock.now() + timedelta(minutes=30)) == 1
    assert [m.to for m in world.sms.sent] == ["+15555550123", "+15555550124"]
    assert waitlist.advance_offers(world.ports, world.clock.now() + timedelta(minutes=90)) == 0
    assert len(world.sms.sent) == 2


def test_an_offer_closes_once_its_time_is_too_close(world: World) -> None:
    taken = world.book(world.caller("PAT-A"))
    ask(world, "PAT-B")
    service.patient_cancel(world.ports, world.caller("PAT-A"), taken.id, "")
    offer = next(iter(world.waitlist.offers.values()))
    world.clock.at = taken.start - timedelta(minutes=30)
    waitlist.advance_offers(world.ports, world.clock.now())
    assert world.waitlist.offers[("P1", offer.id)].status == OFFER_CLOSED
    with pytest.raises(Conflict):
        waitlist.accept(world.ports, offer_claims(world, world.sms.sent[0].text))


def test_moving_an_appointment_earlier_from_the_waitlist_frees_its_old_time(world: World) -> None:
    early = world.book(world.caller("PAT-A"), start="2027-04-20T14:00Z")
    late = world.book(world.caller("PAT-B"), start="2027-04-28T14:00Z")
    ask(world, "PAT-B", appointment_id=late.id, type_id="")
    ask(world, "PAT-C", earliest=date(2027, 4, 25))
    service.patient_cancel(world.ports, world.caller("PAT-A"), early.id, "")
    result, _, moved = waitlist.accept(world.ports, offer_claims(world, world.sms.sent[0].text))
    assert (result, moved.id, moved.start) == ("moved", late.id, early.start)
    assert [e.kind for e in world.events.published] == [CREATED, CREATED, STATUS_CHANGED, MOVED]
    assert world.sms.sent[-1].to == "+15555550124"  # the freed 28th went to PAT-C, whose window starts the 25th


def test_a_patient_cannot_wait_for_someone_else_and_windows_are_checked(world: World) -> None:
    with pytest.raises(NotFound):
        ask(world, "PAT-A", patient_id="PAT-B")
    with pytest.raises(Unprocessable) as backwards:
        ask(world, "PAT-A", earliest=date(2027, 4, 30), latest=date(2027, 4, 1))
    assert backwards.value.code == "invalid_dates"
    with pytest.raises(Unprocessable) as past:
        ask(world, "PAT-A", earliest=date(2027, 1, 1), latest=date(2027, 2, 1))
    assert past.value.code == "in_the_past"
    with pytest.raises(Unprocessable) as bad_type:
        ask(world, "PAT-A", type_id="NOPE")
    assert bad_type.value.code == "unknown_type"


def test_leaving_the_waitlist_is_idempotent_and_foreign_entries_are_404(world: World) -> None:
    entry = ask(world, "PAT-B")
    with pytest.raises(NotFound):
        waitlist.leave(world.ports, world.caller("PAT-A"), entry)
    waitlist.leave(world.ports, world.caller("PAT-B"), entry)
    waitlist.leave(world.ports, world.caller("PAT-B"), entry)
    assert world.waitlist.get_entry("P1", entry).status == REMOVED  # type: ignore[union-attr]


def test_a_provider_day_cancel_offers_nothing_to_the_waitlist(world: World) -> None:
    world.book(world.caller("PAT-A"))
    ask(world, "PAT-B")
    service.cancel_provider_day(world.ports, "staff-1", "P1", "DR1", date(2027, 4, 20), "sick", close_day=True)
    assert world.sms.sent == [] and world.waitlist.offers == {}
