"""Confirm, cancel, reschedule (patients, signed links, staff), staff actions, provider-day cancel and
closures through the API against moto. One AppointmentChanged per change."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.appointments import links
from chalicelib.appointments.events import CREATED, MOVED, STATUS_CHANGED, AppointmentEvents
from chalicelib.appointments.model import BOOKED, Appointment, holds_for
from chalicelib.appointments.ports import Write
from chalicelib.appointments.store import AppointmentStore, SlotLockItem, appointment_item
from chalicelib.platform.deps import Deps
from chalicelib.platform.secrets import token_signing_key
from chalicelib.platform.table import practice_pk
from tests.integration.conftest import StaffTokens
from tests.integration.test_booking_api import Seeded, book, copy_tables_once_per_transaction, desk, patient, post, seed


@pytest.fixture
def world(app_deps: Deps, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    copy_tables_once_per_transaction(monkeypatch)
    return seed(app_deps)


def kinds(world: Seeded) -> list[tuple[str, str]]:
    return [(e.kind, e.status) for e in world.events]


def link(api: Client, appointment: dict[str, Any], action: str, now: datetime) -> str:
    start = datetime.fromisoformat(appointment["start"].replace("Z", "+00:00"))
    return links.action_token(token_signing_key(), "P1", appointment["id"], action, start, now)


# --- patients ----------------------------------------------------------------------------------------------


def test_a_patient_confirms_cancels_and_each_is_one_event(api: Client, world: Seeded) -> None:
    a = book(api, "tok-a", "2027-04-20T14:00:00Z").json_body
    assert a["actions"] == {
        "confirm": True,
        "cancel": True,
        "reschedule": True,
        "change_deadline": "2027-04-19T14:00:00Z",
        "reschedules_left": 2,
        "call_office_reason": None,
        "office_phone": "+15555550100",
    }
    for _ in range(2):
        confirmed = post(api, f"/patient/appointments/{a['id']}/confirm", patient("tok-a"))
        assert confirmed.status_code == 200 and confirmed.json_body["status"] == "confirmed"
    cancelled = post(api, f"/patient/appointments/{a['id']}/cancel", patient("tok-a"), {"reason": "moving away"})
    assert cancelled.status_code == 200 and cancelled.json_body["status"] == "cancelled"
    assert kinds(world) == [(CREATED, "booked"), (STATUS_CHANGED, "confirmed"), (STATUS_CHANGED, "cancelled")]
    desk = api.http.get(f"/practices/P1/appointments/{a['id']}", headers=StaffHeaders.get()).json_body
    assert desk["history"][-1]["reason"] == "moving away"


def test_inside_24_hours_cancel_is_409_with_the_office_phone(api: Client, world: Seeded) -> None:
    a = book(api, "tok-a", "2027-04-20T14:00:00Z").json_body
    world.clock.at = datetime(2027, 4, 19, 15, 0, tzinfo=UTC)
    response = post(api, f"/patient/appointments/{a['id']}/cancel", patient("tok-a"), {})
    assert response.status_code == 409
    assert response.json_body["error"]["code"] == "too_late_to_change"
    assert response.json_body["error"]["phone"] == "+15555550100"
    shown = api.http.get(f"/patient/appointments/{a['id']}", headers=patient("tok-a")).json_body
    assert shown["actions"]["cancel"] is False and shown["actions"]["call_office_reason"] == "too_late_to_change"


def test_a_patient_reschedules_atomically_and_the_old_time_is_free(api: Client, world: Seeded) -> None:
    a = book(api, "tok-a", "2027-04-20T14:00:00Z").json_body
    moved = post(
        api, f"/patient/appointments/{a['id']}/reschedule", patient("tok-a"), {"start": "2027-04-22T19:00:00Z"}
    )
    assert moved.status_code == 200, moved.body
    assert moved.json_body["local_label"] == "Thursday, April 22, 2027 at 3:00 PM EDT"
    assert book(api, "tok-b", "2027-04-20T14:00:00Z").status_code == 201
    taken = post(
        api, f"/patient/appointments/{a['id']}/reschedule", patient("tok-a"), {"start": "2027-04-20T14:00:00Z"}
    )
    assert taken.status_code == 409
    assert api.http.get(f"/patient/appointments/{a['id']}", headers=patient("tok-a")).json_body["start"] == (
        "2027-04-22T19:00:00Z"
    )
    assert [k for k, _ in kinds(world)] == [CREATED, MOVED, CREATED]
    assert world.events[1].previous_start == datetime(2027, 4, 20, 14, tzinfo=UTC)


def test_the_schedule_lists_upcoming_and_past_visits_of_the_whole_family(api: Client, world: Seeded) -> None:
    k1 = book(api, "tok-g1", "2027-04-20T14:00:00Z", patient_id="K1").json_body
    k2 = book(api, "tok-g1", "2027-04-21T13:00:00Z", patient_id="K2").json_body
    upcoming = api.http.get("/patient/schedule", headers=patient("tok-g1")).json_body
    assert [(a["id"], a["patient"]["id"]) for a in upcoming["appointments"]] == [(k1["id"], "K1"), (k2["id"], "K2")]
    world.clock.at = datetime(2027, 4, 21, 18, 0, tzinfo=UTC)
    past = api.http.get("/patient/schedule?when=past", headers=patient("tok-g1")).json_body
    assert [a["id"] for a in past["appointments"]] == [k2["id"], k1["id"]]
    assert api.http.get("/patient/schedule?when=later", headers=patient("tok-g1")).status_code == 422


def test_patient_routes_need_a_session(api: Client, world: Seeded) -> None:
    assert api.http.get("/patient/schedule").status_code == 401
    assert api.http.get("/patient/schedule", headers=patient("tok-nope")).status_code == 401


# --- signed links ------------------------------------------------------------------------------------------


def test_a_confirm_link_shows_then_confirms_once_without_signing_in(api: Client, world: Seeded) -> None:
    a = book(api, "tok-a", "2027-04-20T14:00:00Z").json_body
    token = link(api, a, links.CONFIRM, world.clock.now())
    shown = api.http.get(f"/a/{token}").json_body
    assert (shown["action"], shown["state"]) == ("confirm", "ready")
    assert shown["appointment"]["patient"] == {"id": "PAT-A", "name": "Ava"}  # given name only
    assert shown["appointment"]["local_label"] == "Tuesday, April 20, 2027 at 10:00 AM EDT"
    first = post(api, f"/a/{token}", {})
    second = post(api, f"/a/{token}", {})
    assert (first.json_body["result"], second.json_body["result"]) == ("confirmed", "already_confirmed")
    assert [k for k, _ in kinds(world)] == [CREATED, STATUS_CHANGED]
    assert api.http.get(f"/a/{token}").json_body["state"] == "done"


def test_a_reschedule_link_moves_to_a_chosen_slot_and_a_cancel_link_cancels(api: Client, world: Seeded) -> None:
    a = book(api, "tok-a", "2027-04-20T14:00:00Z").json_body
    moved = post(api, f"/a/{link(api, a, links.RESCHEDULE, world.clock.now())}", {}, {"start": "2027-04-21T13:00:00Z"})
    assert moved.status_code == 200 and moved.json_body["result"] == "rescheduled"
    cancel = link(api, moved.json_body["appointment"], links.CANCEL, world.clock.now())
    assert post(api, f"/a/{cancel}", {}, {"reason": "sick"}).json_body["result"] == "cancelled"
    assert post(api, f"/a/{cancel}", {}).json_body["result"] == "already_cancelled"


def test_an_expired_link_is_410_and_a_forged_one_404(api: Client, world: Seeded) -> None:
    a = book(api, "tok-a", "2027-04-20T14:00:00Z").json_body
    token = link(api, a, links.CONFIRM, world.clock.now())
    world.clock.at = datetime(2027, 4, 20, 14, 0, tzinfo=UTC)
    expired = api.http.get(f"/a/{token}")
    assert expired.status_code == 410
    assert expired.json_body["error"] == {
        "code": "link_expired",
        "message": "this link has expired; open the app or call the office",
        "phone": "+15555550100",
    }
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert api.http.get(f"/a/{forged}").status_code == 404
    assert post(api, "/a/not-a-token", {}).status_code == 404


# --- staff -------------------------------------------------------------------------------------------------


class StaffHeaders:
    tokens: StaffTokens | None = None

    @classmethod
    def get(cls) -> dict[str, str]:
        assert cls.tokens is not None
        return {**desk(cls.tokens), "Content-Type": "application/json"}


@pytest.fixture(autouse=True)
def _staff(staff: StaffTokens) -> None:
    StaffHeaders.tokens = staff


def test_staff_confirm_by_phone_arrive_complete_each_publish_once(api: Client, world: Seeded) -> None:
    body = {"patient_id": "PAT-A", "type_id": "CLEAN", "provider_id": "DR1", "start": "2027-04-20T14:00:00Z"}
    a = post(api, "/practices/P1/appointments", StaffHeaders.get(), body).json_body
    for action in ("confirm", "arrive", "complete"):
        response = post(api, f"/practices/P1/appointments/{a['id']}/{action}", StaffHeaders.get(), {})
        assert response.status_code == 200, (action, response.body)
    assert kinds(world) == [
        (CREATED, "booked"),
        (STATUS_CHANGED, "confirmed"),
        (STATUS_CHANGED, "arrived"),
        (STATUS_CHANGED, "completed"),
    ]
    shown = api.http.get(f"/practices/P1/appointments/{a['id']}", headers=StaffHeaders.get()).json_body
    assert shown["history"][1]["reason"] == "by phone"
    bad = post(api, f"/practices/P1/appointments/{a['id']}/cancel", StaffHeaders.get(), {})
    assert bad.status_code == 409 and bad.json_body["error"]["code"] == "invalid_transition"


def test_staff_reschedule_to_another_provider_and_no_show_gives_time_back(api: Client, world: Seeded) -> None:
    body = {"patient_id": "PAT-A", "type_id": "CLEAN", "provider_id": "DR1", "start": "2027-04-20T14:00:00Z"}
    a = post(api, "/practices/P1/appointments", StaffHeaders.get(), body).json_body
    moved = post(
        api,
        f"/practices/P1/appointments/{a['id']}/reschedule",
        StaffHeaders.get(),
        {"start": "2027-04-20T14:15:00Z", "provider_id": "DR2", "operatory_id": "OP3"},
    )
    assert moved.status_code == 200, moved.body
    assert (moved.json_body["provider"]["id"], moved.json_body["operatory_id"]) == ("DR2", "OP3")
    post(api, f"/practices/P1/appointments/{a['id']}/no-show", StaffHeaders.get(), {})
    again = {
        **body,
        "provider_id": "DR2",
        "operatory_id": "OP3",
        "start": "2027-04-20T14:15:00Z",
        "patient_id": "PAT-B",
    }
    assert post(api, "/practices/P1/appointments", StaffHeaders.get(), again).status_code == 201


def test_staff_decline_a_request(api: Client, world: Seeded) -> None:
    world.booking_policy(mode="request")
    a = book(api, "tok-a", "2027-04-20T14:00:00Z").json_body
    declined = post(api, f"/practices/P1/appointments/{a['id']}/decline", StaffHeaders.get(), {"reason": "full"})
    assert declined.json_body["status"] == "cancelled"
    assert api.http.get("/practices/P1/appointment-requests", headers=StaffHeaders.get()).json_body == {
        "appointments": []
    }


def test_another_practices_appointment_is_404_for_staff(api: Client, staff: StaffTokens, world: Seeded) -> None:
    a = book(api, "tok-a", "2027-04-20T14:00:00Z").json_body
    theirs = {**staff.headers("P2", "owner"), "Content-Type": "application/json"}
    assert api.http.get(f"/practices/P2/appointments/{a['id']}", headers=theirs).status_code == 404
    assert post(api, f"/practices/P2/appointments/{a['id']}/cancel", theirs, {}).status_code == 404
    assert post(api, f"/practices/P1/appointments/{a['id']}/cancel", theirs, {}).status_code == 404


def test_cancelling_a_provider_day_of_150_appointments_cancels_all_and_publishes_150_events(
    api: Client, world: Seeded
) -> None:
    # Only this test's recorder listens: the reminder engine's own tests cover its side of C03.
    world.deps.appointment_events = AppointmentEvents()
    world.deps.appointment_events.subscribe(world.events.append)
    store = AppointmentStore()
    day_start = datetime(2027, 4, 20, 12, 0, tzinfo=UTC)  # 08:00 EDT
    for i in range(150):
        start = day_start + timedelta(minutes=5 * (i % 100))
        a = Appointment(
            f"B{i:03}", "PAT-A", "DR1", "OP2" if i < 100 else "", "EXAM", start, start + timedelta(minutes=5)
        )
        if i < 100:
            store.commit("P1", "America/New_York", Write(a, None, holds_for(a)))
        else:  # imported: no locks, overlapping the others
            appointment_item("P1", "America/New_York", a).save()
    other = Appointment("OTHER", "PAT-B", "DR2", "OP3", "CLEAN", day_start, day_start + timedelta(hours=1), BOOKED)
    store.commit("P1", "America/New_York", Write(other, None, holds_for(other)))
    world.events.clear()
    response = post(api, "/practices/P1/providers/DR1/days/2027-04-20/cancel", StaffHeaders.get(), {"reason": "sick"})
    assert response.status_code == 200, response.body
    body = response.json_body
    assert (body["cancelled"], body["failed_ids"], body["skipped_ids"]) == (150, [], [])
    assert body["closure"]["provider_id"] == "DR1" and body["closure"]["start_date"] == "2027-04-20"
    assert len(world.events) == 150 and {e.status for e in world.events} == {"cancelled"}
    statuses = {a.id: a.status for a in store.on_day("P1", date(2027, 4, 20))}
    assert len(statuses) == 151 and statuses.pop("OTHER") == "booked"
    assert set(statuses.values()) == {"cancelled"}
    for hour in range(12, 21):
        try:
            item = SlotLockItem.get(practice_pk("P1"), f"LOCK#PROVIDER#DR1#2027-04-20T{hour:02d}")
        except SlotLockItem.DoesNotExist:
            continue
        assert all(getattr(item, f"u{m:02d}") is None for m in range(0, 60, 5))
    avail = api.http.get("/practices/P1/providers/DR1/availability?date=2027-04-20").json_body
    assert avail["days"][0]["slots"] == []  # the day is closed


def test_closures_are_added_listed_and_removed_and_shape_availability(api: Client, world: Seeded) -> None:
    added = post(
        api, "/practices/P1/closures", StaffHeaders.get(), {"start_date": "2027-04-20", "end_date": "2027-04-21"}
    )
    assert added.status_code == 201
    assert api.http.get("/practices/P1/availability?date=2027-04-20&type_id=CLEAN&days=2").json_body["days"] == [
        {"date": "2027-04-20", "slots": []},
        {"date": "2027-04-21", "slots": []},
    ]
    listed = api.http.get("/practices/P1/closures", headers=StaffHeaders.get()).json_body["closures"]
    assert [c["id"] for c in listed] == [added.json_body["id"]]
    gone = api.http.delete(f"/practices/P1/closures/{added.json_body['id']}", headers=StaffHeaders.get())
    assert gone.status_code == 204
    assert (
        api.http.delete(f"/practices/P1/closures/{added.json_body['id']}", headers=StaffHeaders.get()).status_code
        == 404
    )
    bad = post(
        api, "/practices/P1/closures", StaffHeaders.get(), {"start_date": "2027-04-21", "end_date": "2027-04-20"}
    )
    assert bad.status_code == 422


def test_closures_and_provider_day_cancels_in_the_past_are_refused(api: Client, world: Seeded) -> None:
    past = post(api, "/practices/P1/providers/DR1/days/2020-03-02/cancel", StaffHeaders.get(), {"reason": "sick"})
    assert (past.status_code, past.json_body["error"]["code"]) == (422, "in_the_past")
    closure = post(
        api, "/practices/P1/closures", StaffHeaders.get(), {"start_date": "2020-03-02", "end_date": "2020-03-03"}
    )
    assert (closure.status_code, closure.json_body["error"]["code"]) == (422, "in_the_past")
    assert api.http.get("/practices/P1/closures", headers=StaffHeaders.get()).json_body["closures"] == []
