"""The waitlist through the API against moto: join, an offer when time frees, first acceptor wins."""

from __future__ import annotations

from datetime import timedelta

import pytest
from chalice.test import Client

from chalicelib.appointments.waitlist import advance_offers
from chalicelib.appointments.wiring import ports
from chalicelib.platform.deps import Deps
from tests.integration.test_booking_api import Seeded, book, copy_tables_once_per_transaction, patient, post, seed


@pytest.fixture
def world(app_deps: Deps, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    copy_tables_once_per_transaction(monkeypatch)
    return seed(app_deps)


WINDOW = {"type_id": "CLEAN", "earliest": "2027-04-01", "latest": "2027-04-30"}


def token_in(text: str) -> str:
    return text.split("link=")[1].split(maxsplit=1)[0]


def offers(world: Seeded) -> list[str]:
    """Offer texts only: the reminder engine also texts (a cancellation notice to the canceller)."""
    return [m.to for m in world.sms.sent if "earlier time opened" in m.text]


def test_a_freed_time_goes_to_the_waitlist_and_only_the_first_acceptor_gets_it(api: Client, world: Seeded) -> None:
    a = book(api, "tok-a", "2027-04-20T14:00:00Z").json_body
    joined_b = post(api, "/patient/waitlist", patient("tok-b"), {"patient_id": "PAT-B", **WINDOW})
    world.clock.advance(seconds=1)
    joined_c = post(api, "/patient/waitlist", patient("tok-c"), {"patient_id": "PAT-C", **WINDOW})
    assert (joined_b.status_code, joined_c.status_code) == (201, 201)
    assert joined_b.json_body["channel"] == "sms" and joined_b.json_body["status"] == "waiting"

    post(api, f"/patient/appointments/{a['id']}/cancel", patient("tok-a"), {})
    assert offers(world) == ["+15555550123", "+15555550124"]
    b_token, c_token = (token_in(m.text) for m in world.sms.sent if "earlier time opened" in m.text)

    shown = api.http.get(f"/a/{b_token}").json_body
    assert (shown["action"], shown["state"]) == ("offer", "ready")
    assert shown["offer"]["label"] == "Tuesday, April 20, 2027 at 10:00 AM EDT"

    won = post(api, f"/a/{b_token}", {})
    assert won.status_code == 200 and won.json_body["result"] == "booked"
    assert won.json_body["appointment"]["patient"]["id"] == "PAT-B"
    lost = post(api, f"/a/{c_token}", {})
    assert lost.status_code == 409 and lost.json_body["error"]["code"] == "offer_taken"
    assert post(api, f"/a/{b_token}", {}).json_body["result"] == "already_yours"

    mine = api.http.get("/patient/waitlist", headers=patient("tok-c")).json_body["entries"]
    assert [e["status"] for e in mine] == ["waiting"]
    theirs = api.http.get("/patient/waitlist", headers=patient("tok-b")).json_body["entries"]
    assert [e["status"] for e in theirs] == ["fulfilled"]


def test_the_offer_job_tells_the_next_batch_after_the_wait(api: Client, world: Seeded) -> None:
    world.booking_policy(waitlist_batch_size=1, waitlist_batch_minutes=30)
    a = book(api, "tok-a", "2027-04-20T14:00:00Z").json_body
    post(api, "/patient/waitlist", patient("tok-b"), {"patient_id": "PAT-B", **WINDOW})
    world.clock.advance(seconds=1)
    post(api, "/patient/waitlist", patient("tok-c"), {"patient_id": "PAT-C", **WINDOW})
    post(api, f"/patient/appointments/{a['id']}/cancel", patient("tok-a"), {})
    assert offers(world) == ["+15555550123"]
    assert advance_offers(ports(), world.clock.now() + timedelta(minutes=31)) == 1
    assert offers(world) == ["+15555550123", "+15555550124"]


def test_leaving_and_bad_waitlist_requests(api: Client, world: Seeded) -> None:
    entry = post(api, "/patient/waitlist", patient("tok-b"), {"patient_id": "PAT-B", **WINDOW}).json_body
    assert api.http.delete(f"/patient/waitlist/{entry['id']}", headers=patient("tok-a")).status_code == 404
    assert api.http.delete(f"/patient/waitlist/{entry['id']}", headers=patient("tok-b")).status_code == 204
    foreign = post(api, "/patient/waitlist", patient("tok-a"), {"patient_id": "PAT-B", **WINDOW})
    assert foreign.status_code == 404
    malformed = post(api, "/patient/waitlist", patient("tok-a"), {"patient_id": "PAT-A", **WINDOW, "latest": "soon"})
    assert malformed.status_code == 422 and malformed.json_body["error"]["code"] == "invalid_date"


def test_the_same_waitlist_request_twice_answers_one_entry_and_one_offer_text(api: Client, world: Seeded) -> None:
    a = book(api, "tok-a", "2027-04-20T14:00:00Z").json_body
    first = post(api, "/patient/waitlist", patient("tok-b"), {"patient_id": "PAT-B", **WINDOW})
    again = post(api, "/patient/waitlist", patient("tok-b"), {"patient_id": "PAT-B", **WINDOW})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json_body["id"] == first.json_body["id"]
    mine = api.http.get("/patient/waitlist", headers=patient("tok-b")).json_body["entries"]
    assert [e["id"] for e in mine] == [first.json_body["id"]]
    post(api, f"/patient/appointments/{a['id']}/cancel", patient("tok-a"), {})
    assert offers(world) == ["+15555550123"]


def test_a_lost_race_to_write_the_same_request_answers_the_entry_that_won(world: Seeded) -> None:
    from chalicelib.appointments.model import WaitlistEntry
    from chalicelib.appointments.store import DynamoWaitlist

    store = DynamoWaitlist()
    day = world.clock.now().date()

    def entry(entry_id: str) -> WaitlistEntry:
        return WaitlistEntry(entry_id, "PAT-B", "H", "CLEAN", day, day, "sms", world.clock.now())

    one, two, three = entry("e1"), entry("e2"), entry("e3")
    assert store.put_entry("P1", one) is True
    assert store.put_entry("P1", two) is False
    assert store.get_entry("P1", "e2") is None
    assert store.key_holder("P1", "PAT-B", one.key) == "e1"
    assert store.put_entry("P1", three, replacing="e1") is True
    assert store.key_holder("P1", "PAT-B", one.key) == "e3"
