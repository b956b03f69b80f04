"""Calendar files and feeds: practice zone with VTIMEZONE, stable UID, SEQUENCE on every change."""

from __future__ import annotations

import pytest
from icalendar import Calendar

from chalicelib.appointments import calendar, links, service
from chalicelib.platform.errors import NotFound
from tests.unit.test_appointment_service import World, z


@pytest.fixture
def world() -> World:
    return World()


def events(raw: bytes) -> list[dict[str, str]]:
    cal = Calendar.from_ical(raw)
    return [
        {
            "uid": str(e.get("uid")),
            "start": e.decoded("dtstart").isoformat(),
            "tzid": str(e.get("dtstart").params.get("TZID")),
            "status": str(e.get("status")),
            "sequence": str(e.get("sequence")),
            "summary": str(e.get("summary")),
        }
        for e in cal.walk("VEVENT")
    ]


def feed_token(url: str) -> str:
    return url.split("/feeds/")[1].split("/", maxsplit=1)[0]


def test_an_appointment_file_is_in_the_practice_zone_with_its_vtimezone(world: World) -> None:
    a = world.book()
    raw = calendar.appointment_ics(world.ports, world.caller(), a.id)
    text = raw.decode()
    assert "DTSTART;TZID=America/New_York:20270420T100000" in text
    assert "BEGIN:VTIMEZONE" in text and "TZID:America/New_York" in text
    assert events(raw)[0]["uid"] == f"{a.id}@P1.chairside"
    assert events(raw)[0]["summary"] == "Ava: Cleaning at Maple Dental"
    assert "15555550121" not in text and "pat-a@" not in text  # no patient contact details in the file


def test_the_feed_follows_moves_and_cancellations_with_a_growing_sequence(world: World) -> None:
    a = world.book()
    url = calendar.make_feed(world.ports, world.caller()).https
    assert url.startswith("https://api.example.test/feeds/") and url.endswith("/appointments.ics")
    token = feed_token(url)
    first = events(calendar.read_feed(world.ports, token))
    assert [(e["start"], e["status"], e["sequence"]) for e in first] == [
        ("2027-04-20T10:00:00-04:00", "CONFIRMED", "0")
    ]
    service.patient_reschedule(world.ports, world.caller(), a.id, z("2027-04-22T19:00Z"), "")
    moved = events(calendar.read_feed(world.ports, token))
    assert [(e["start"], e["sequence"]) for e in moved] == [("2027-04-22T15:00:00-04:00", "1")]
    service.patient_cancel(world.ports, world.caller(), a.id, "")
    gone = events(calendar.read_feed(world.ports, token))
    assert [(e["uid"], e["status"], e["sequence"]) for e in gone] == [(f"{a.id}@P1.chairside", "CANCELLED", "2")]


def test_a_guardians_feed_shows_each_linked_child_and_a_request_as_tentative(world: World) -> None:
    world.book(world.guardian(), patient_id="K1")
    world.policy(mode="request")
    world.book(world.guardian(), patient_id="K2", start="2027-04-21T13:00Z")
    token = feed_token(calendar.make_feed(world.ports, world.guardian()).https)
    found = events(calendar.read_feed(world.ports, token))
    assert [e["status"] for e in found] == ["CONFIRMED", "TENTATIVE"]
    world.patients.links["P1"] = [
        x for x in world.patients.links["P1"] if not (x.holder_id == "G1" and x.patient_id == "K2")
    ]
    assert len(events(calendar.read_feed(world.ports, token))) == 1  # unlinked since: no longer shown


def test_rotating_or_revoking_a_feed_stops_the_old_url(world: World) -> None:
    world.book()
    old = feed_token(calendar.make_feed(world.ports, world.caller()).https)
    new = feed_token(calendar.make_feed(world.ports, world.caller()).https)
    assert calendar.current_feed(world.ports, world.caller()).https.endswith(f"/{new}/appointments.ics")  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        calendar.read_feed(world.ports, old)
    calendar.read_feed(world.ports, new)
    calendar.revoke_feed(world.ports, world.caller())
    with pytest.raises(NotFound):
        calendar.read_feed(world.ports, new)
    assert calendar.current_feed(world.ports, world.caller()) is None


def test_an_action_link_is_not_a_feed_token(world: World) -> None:
    a = world.book()
    token = links.action_token(b"unit-test-key", "P1", a.id, links.CONFIRM, a.start, world.clock.now())
    with pytest.raises(NotFound):
        calendar.read_feed(world.ports, token)
