"""Calendar files and subscribable feeds through the API against moto."""

from __future__ import annotations

import pytest
from chalice.test import Client
from icalendar import Calendar

from chalicelib.platform.deps import Deps
from tests.integration.test_booking_api import Seeded, book, copy_tables_once_per_transaction, patient, post, seed


@pytest.fixture
def world(app_deps: Deps, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    copy_tables_once_per_transaction(monkeypatch)
    return seed(app_deps)


def vevents(text: str) -> list[tuple[str, str, str, str]]:
    cal = Calendar.from_ical(text)
    return [
        (str(e.get("uid")), e.get("dtstart").to_ical().decode(), str(e.get("status")), str(e.get("sequence")))
        for e in cal.walk("VEVENT")
    ]


def feed_path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def test_an_appointment_downloads_as_ics_in_the_practice_zone(api: Client, world: Seeded) -> None:
    a = book(api, "tok-a", "2027-04-20T14:00:00Z").json_body
    response = api.http.get(f"/patient/appointments/{a['id']}/calendar.ics", headers=patient("tok-a"))
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/calendar")
    text = response.body.decode()
    assert "DTSTART;TZID=America/New_York:20270420T100000" in text
    assert "BEGIN:VTIMEZONE" in text
    assert api.http.get(f"/patient/appointments/{a['id']}/calendar.ics", headers=patient("tok-b")).status_code == 404


def test_the_feed_reflects_moves_and_cancellations_and_rotation_revokes_it(api: Client, world: Seeded) -> None:
    a = book(api, "tok-a", "2027-04-20T14:00:00Z").json_body
    assert api.http.get("/patient/calendar-feed", headers=patient("tok-a")).json_body == {
        "url": None,
        "webcal_url": None,
    }
    made = post(api, "/patient/calendar-feed", patient("tok-a"))
    assert made.status_code == 201
    url, webcal = made.json_body["url"], made.json_body["webcal_url"]
    assert webcal.startswith("webcal://") and url.endswith("/appointments.ics")
    path = feed_path(url)
    uid = f"{a['id']}@P1.chairside"
    assert vevents(api.http.get(path).body.decode()) == [(uid, "20270420T100000", "CONFIRMED", "0")]

    post(api, f"/patient/appointments/{a['id']}/reschedule", patient("tok-a"), {"start": "2027-04-22T19:00:00Z"})
    assert vevents(api.http.get(path).body.decode()) == [(uid, "20270422T150000", "CONFIRMED", "1")]
    post(api, f"/patient/appointments/{a['id']}/cancel", patient("tok-a"), {})
    assert vevents(api.http.get(path).body.decode()) == [(uid, "20270422T150000", "CANCELLED", "2")]

    rotated = post(api, "/patient/calendar-feed", patient("tok-a")).json_body["url"]
    assert api.http.get(path).status_code == 404
    assert api.http.get(feed_path(rotated)).status_code == 200
    assert api.http.delete("/patient/calendar-feed", headers=patient("tok-a")).status_code == 204
    assert api.http.get(feed_path(rotated)).status_code == 404


def test_a_feed_url_for_garbage_is_404(api: Client, world: Seeded) -> None:
    assert api.http.get("/feeds/nonsense/appointments.ics").status_code == 404
