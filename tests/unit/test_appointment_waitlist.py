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
    return join(world, holder, **kw)[0]


def join(world: World, holder: str, **kw: object) -> tuple[str, bool]:
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
    entry, new = waitlist.join(world.ports, caller, req)
    return entry.id, new


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


def test_asking_twice_for_the_same_window_answers_the_same_entry_and_makes_no_second(world: World) -> None:
    first = join(world, "PAT-B")
    assert join(world, "PAT-B") == (first[0], False)
    assert first[1] is True
    assert [e.id for e in world.waitlist.entries_for_patient("P1", "PAT-B")] == [first[0]]


def test_asking_twice_to_move_the_same_appointment_earlier_answers_the_same_entry(world: World) -> None:
    late = world.book(world.caller("PAT-B"), start="2027-04-28T14:00Z")
    first = ask(world, "PAT-B", appointment_id=late.id, type_id="")
    again = ask(world, "PAT-B", appointment_id=late.id, type_id="", earliest=date(2027, 4, 5))
    assert again == first


def test_a_different_window_or_type_is_a_separate_request(world: World) -> None:
    first = ask(world, "PAT-B")
    assert ask(world, "PAT-B", latest=date(2027, 4, 25)) != first


def test_after_leaving_asking_again_makes_a_new_entry(world: World) -> None:
    first = ask(world, "PAT-B")
    waitlist.leave(world.ports, world.caller("PAT-B"), first)
    again, new = join(world, "PAT-B")
    assert new is True and again != first
    assert world.waitlist.get_entry("P1", again).status == WAITING  # type: ignore[union-attr]


def test_a_repeat_that_loses_the_race_answers_the_entry_that_won(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    first = ask(world, "PAT-B")
    # the repeat read before the first was written: it saw no entry and no holder
    monkeypatch.setattr(world.waitlist, "entries_for_patient", lambda practice_id, patient_id: [])
    real_holder = world.waitlist.key_holder
    calls: list[str] = []

    def stale_holder(practice_id: str, patient_id: str, key: str) -> str:
        calls.append(key)
        return "" if len(calls) == 1 else real_holder(practice_id, patient_id, key)

    monkeypatch.setattr(world.waitlist, "key_holder", stale_holder)
    assert join(world, "PAT-B") == (first, False)
    assert [e.id for (_, _), e in world.waitlist.entries.items() if e.patient_id == "PAT-B"] == [first]


def test_a_patient_with_two_matching_requests_is_told_once_about_an_opening(world: World) -> None:
    world.policy(waitlist_batch_size=3)
    taken = world.book(world.caller("PAT-A"))
    ask(world, "PAT-B")
    ask(world, "PAT-B", earliest=date(2027, 4, 15), latest=date(2027, 4, 25))
    ask(world, "PAT-C")
    service.patient_cancel(world.ports, world.caller("PAT-A"), taken.id, "")
    assert [m.to for m in world.sms.sent] == ["+15555550123", "+15555550124"]
    assert waitlist.advance_offers(world.ports, world.clock.now() + timedelta(hours=2)) == 0
    assert len(world.sms.sent) == 2


def test_the_other_link_of_a_patient_who_took_the_time_answers_theirs_not_someone_elses(world: World) -> None:
    taken = world.book(world.caller("PAT-A"))
    one = ask(world, "PAT-B")
    two = ask(world, "PAT-B", earliest=date(2027, 4, 15), latest=date(2027, 4, 25))
    service.patient_cancel(world.ports, world.caller("PAT-A"), taken.id, "")
    # an offer told to both entries of one patient (as offers went before they went one per patient)
    offer = next(iter(world.waitlist.offers.values()))
    world.waitlist.offers[("P1", offer.id)].notified = [one, two]
    world.sms.sent.clear()
    entries = [world.waitlist.get_entry("P1", one), world.waitlist.get_entry("P1", two)]
    waitlist._tell(world.ports, waitlist.load_book(world.ports, "P1"), offer, [e for e in entries if e])
    first_link, second_link = (offer_claims(world, m.text) for m in world.sms.sent)
    result, _, booked = waitlist.accept(world.ports, first_link)
    assert result == "booked"
    assert waitlist.offer_view(world.ports, second_link)[1] == "yours"
    again, _, same = waitlist.accept(world.ports, second_link)
    assert (again, same.id) == ("already_yours", booked.id)
    assert world.waitlist.get_entry("P1", two).status == WAITING  # type: ignore[union-attr]
