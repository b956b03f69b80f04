"""Booking through the API against moto: availability across DST (C01), double booking (C05),
foreign ids (C14 case 5), guardians, bad input. Also the seed the other appointment API tests use."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

import moto.dynamodb.models as moto_dynamodb
import pytest
from chalice.test import Client
from moto.dynamodb.models.table import Table

from chalicelib.adapters.messaging import MemoryEmailSender, MemorySmsSender
from chalicelib.appointments.events import AppointmentChanged
from chalicelib.audit.store import AuditStore
from chalicelib.patients.model import guardian_links_for
from chalicelib.patients.store import PatientStore, contact_link_item
from chalicelib.platform.auth import PatientCaller
from chalicelib.platform.clock import FixedClock
from chalicelib.platform.deps import Deps
from chalicelib.practices.model import AppointmentType
from chalicelib.practices.store import (
    PracticeStore,
    appointment_type_item,
    operatory_item,
    provider_item,
)
from tests import factories
from tests.integration.conftest import StaffTokens

DR1_HOURS = {
    "sun": [("13:00", "18:00")],  # test-only Sunday schedule (C01)
    "mon": [("09:00", "17:00")],
    **{d: [("08:00", "17:00")] for d in ("tue", "wed", "thu", "fri")},
}
SESSIONS = {
    "tok-a": PatientCaller("P1", "s-a", "PAT-A", ("PAT-A",)),
    "tok-b": PatientCaller("P1", "s-b", "PAT-B", ("PAT-B",)),
    "tok-c": PatientCaller("P1", "s-c", "PAT-C", ("PAT-C",)),
    "tok-g1": PatientCaller("P1", "s-g1", "G1", ("K1", "K2")),
}


class FakeSessions:
    def resolve(self, token: str) -> PatientCaller | None:
        return SESSIONS.get(token)


@dataclass
class Seeded:
    deps: Deps
    events: list[AppointmentChanged] = field(default_factory=list)

    @property
    def clock(self) -> FixedClock:
        assert isinstance(self.deps.clock, FixedClock)
        return self.deps.clock

    @property
    def email(self) -> MemoryEmailSender:
        assert isinstance(self.deps._email, MemoryEmailSender)
        return self.deps._email

    @property
    def sms(self) -> MemorySmsSender:
        assert isinstance(self.deps._sms, MemorySmsSender)
        return self.deps._sms

    def booking_policy(self, **booking: object) -> None:
        practice = PracticeStore().get("P1")
        assert practice is not None
        practice.settings["booking"] = dict(booking)
        PracticeStore().put(practice)


def seed(app_deps: Deps) -> Seeded:
    PracticeStore().put(factories.maple())
    PracticeStore().put(factories.birch())
    dr1 = factories.provider("DR1")
    dr1.hours = {k: list(v) for k, v in DR1_HOURS.items()}
    provider_item("P1", dr1).save()
    provider_item("P1", factories.provider("DR2")).save()
    for op in ("OP2", "OP3"):
        operatory_item("P1", factories.operatory(op)).save()
    appointment_type_item("P1", factories.cleaning()).save()
    appointment_type_item("P1", AppointmentType(id="EXAM", name="Exam", duration_min=30)).save()
    appointment_type_item(
        "P1", AppointmentType(id="EMERG", name="Emergency", duration_min=60, provider_ids=["DR2"])
    ).save()
    patients = PatientStore()
    for pid, phone in (("PAT-A", "+15555550121"), ("PAT-B", "+15555550123"), ("PAT-C", "+15555550124")):
        patients.put("P1", factories.patient(pid, phone=phone))
    for kid in ("K1", "K2", "K3"):
        patients.put("P1", factories.patient(kid, phone="", email=f"{kid.lower()}@example.test"))
    for link in guardian_links_for(factories.guardian("G1", ("K1", "K2"))):
        contact_link_item("P1", link).save()
    app_deps._email = MemoryEmailSender()
    app_deps._sms = MemorySmsSender()
    app_deps._patient_sessions = FakeSessions()
    seeded = Seeded(app_deps)
    app_deps.appointment_events.subscribe(seeded.events.append)
    return seeded


def patient(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def post(api: Client, path: str, headers: dict[str, str], body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else b""
    return api.http.post(path, headers={"Content-Type": "application/json", **headers}, body=data)


def book(api: Client, token: str, start: str, **kw: str) -> Any:
    body = {
        "patient_id": kw.pop("patient_id", SESSIONS[token].patient_ids[0]),
        "type_id": "CLEAN",
        "provider_id": "DR1",
    }
    return post(api, "/patient/appointments", patient(token), {**body, "start": start, **kw})


_DESK: dict[int, dict[str, str]] = {}


def desk(staff: StaffTokens) -> dict[str, str]:
    """A front-desk token signed in once per test (moto's Cognito sign-in is slow)."""
    if id(staff) not in _DESK:
        _DESK.clear()
        _DESK[id(staff)] = staff.headers("P1", "front_desk")
    return _DESK[id(staff)]


def staff_book(
    api: Client, staff: StaffTokens, patient_id: str, start: str, provider: str = "DR1", op: str = "OP2"
) -> Any:
    body = {"patient_id": patient_id, "type_id": "CLEAN", "provider_id": provider, "operatory_id": op, "start": start}
    return post(api, "/practices/P1/appointments", desk(staff), body)


class _TableCopiedOnce:
    """moto backs up the whole table once per *item* of a transaction, before applying any of them,
    so every copy is of the same state; this hands out one copy per transaction. Same semantics,
    and a 150-appointment test no longer spends minutes copying."""

    def __init__(self) -> None:
        self.copies: dict[int, Table] = {}

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        if isinstance(value, Table):
            if id(value) not in self.copies:
                self.copies[id(value)] = copy.deepcopy(value)
            return self.copies[id(value)]
        return copy.deepcopy(value, memo)


def copy_tables_once_per_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    shim = _TableCopiedOnce()
    original = moto_dynamodb.DynamoDBBackend.transact_write_items

    def transact(self: Any, transact_items: Any) -> None:
        shim.copies.clear()
        try:
            original(self, transact_items)
        finally:
            shim.copies.clear()

    monkeypatch.setattr(moto_dynamodb, "copy", shim)
    monkeypatch.setattr(moto_dynamodb.DynamoDBBackend, "transact_write_items", transact)


@pytest.fixture
def world(app_deps: Deps, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    copy_tables_once_per_transaction(monkeypatch)
    return seed(app_deps)


def slots(api: Client, day: str, **query: str) -> list[str]:
    params = "&".join(f"{k}={v}" for k, v in {"date": day, **query}.items())
    response = api.http.get(f"/practices/P1/providers/DR1/availability?{params}")
    assert response.status_code == 200, response.body
    return [s["start"] for s in response.json_body["days"][0]["slots"]]


# --- C01 -----------------------------------------------------------------------------------------------------


def test_c01_spring_forward_sunday_offers_17z_to_21z_and_each_books_with_201(api: Client, world: Seeded) -> None:
    found = slots(api, "2027-03-14")
    assert found == [
        "2027-03-14T17:00:00Z",
        "2027-03-14T18:00:00Z",
        "2027-03-14T19:00:00Z",
        "2027-03-14T20:00:00Z",
        "2027-03-14T21:00:00Z",
    ]
    response = api.http.get("/practices/P1/providers/DR1/availability?date=2027-03-14")
    first = response.json_body["days"][0]["slots"][0]
    assert first["local_start"] == "2027-03-14T13:00:00-04:00"
    assert first["label"] == "Sunday, March 14, 2027 at 1:00 PM EDT"
    for start in found:
        assert book(api, "tok-a", start).status_code == 201


def test_c01_fall_back_sunday_offers_18z_to_22z_and_each_books_with_201(api: Client, world: Seeded) -> None:
    found = slots(api, "2027-11-07")
    assert found == [
        "2027-11-07T18:00:00Z",
        "2027-11-07T19:00:00Z",
        "2027-11-07T20:00:00Z",
        "2027-11-07T21:00:00Z",
        "2027-11-07T22:00:00Z",
    ]
    for start in found:
        assert book(api, "tok-b", start).status_code == 201


def test_c01_the_first_monday_slot_is_13z_after_spring_forward_and_14z_after_fall_back(
    api: Client, world: Seeded
) -> None:
    assert slots(api, "2027-03-15")[0] == "2027-03-15T13:00:00Z"
    assert slots(api, "2027-11-08")[0] == "2027-11-08T14:00:00Z"


def test_c01_a_slot_outside_hours_is_422_and_nothing_is_booked(api: Client, world: Seeded) -> None:
    response = book(api, "tok-a", "2027-03-14T22:00:00Z")
    assert response.status_code == 422
    assert response.json_body["error"]["code"] == "outside_hours"
    assert world.events == []


# --- C05 -----------------------------------------------------------------------------------------------------


def test_c05_twenty_posts_for_one_slot_give_one_201_and_nineteen_409(
    api: Client, staff: StaffTokens, world: Seeded
) -> None:
    for i in range(20):
        PatientStore().put("P1", factories.patient(f"RACE-{i:02}", phone=f"+155555502{i:02}"))
    codes = [staff_book(api, staff, f"RACE-{i:02}", "2027-04-20T14:00:00Z").status_code for i in range(20)]
    assert sorted(codes) == [201] + [409] * 19
    day = api.http.get("/practices/P1/day?date=2027-04-20", headers=desk(staff)).json_body
    assert [a["start"] for a in day["appointments"]] == ["2027-04-20T14:00:00Z"]


def test_c05_overlap_is_409_adjacent_is_201_and_another_provider_is_201(
    api: Client, staff: StaffTokens, world: Seeded
) -> None:
    assert staff_book(api, staff, "PAT-A", "2027-04-20T14:00:00Z").status_code == 201
    overlap = staff_book(api, staff, "PAT-B", "2027-04-20T14:30:00Z")
    assert overlap.status_code == 409 and overlap.json_body["error"]["code"] == "slot_taken"
    assert staff_book(api, staff, "PAT-B", "2027-04-20T15:00:00Z").status_code == 201
    assert staff_book(api, staff, "PAT-C", "2027-04-20T14:00:00Z", provider="DR2", op="OP3").status_code == 201


def test_c05_two_pending_requests_the_second_confirm_is_409_and_stays_pending(
    api: Client, staff: StaffTokens, world: Seeded
) -> None:
    world.booking_policy(mode="request")
    first = book(api, "tok-a", "2027-04-20T16:00:00Z")
    world.clock.advance(seconds=5)
    second = book(api, "tok-b", "2027-04-20T16:00:00Z")
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json_body["status"] == second.json_body["status"] == "requested"
    front = desk(staff)
    pending = api.http.get("/practices/P1/appointment-requests", headers=front).json_body["appointments"]
    assert [a["id"] for a in pending] == [first.json_body["id"], second.json_body["id"]]
    ok = post(api, f"/practices/P1/appointments/{first.json_body['id']}/approve", front)
    assert ok.status_code == 200 and ok.json_body["status"] == "booked"
    refused = post(api, f"/practices/P1/appointments/{second.json_body['id']}/approve", front)
    assert refused.status_code == 409 and refused.json_body["error"]["code"] == "slot_taken"
    still = api.http.get(f"/practices/P1/appointments/{second.json_body['id']}", headers=front).json_body
    assert still["status"] == "requested"


# --- C14 case 5, guardians -------------------------------------------------------------------------------------


def test_c14_cancelling_another_patients_appointment_is_404_like_a_missing_one(api: Client, world: Seeded) -> None:
    theirs = book(api, "tok-b", "2027-04-20T14:00:00Z").json_body
    foreign = post(api, f"/patient/appointments/{theirs['id']}/cancel", patient("tok-a"), {})
    missing = post(api, "/patient/appointments/NOPE/cancel", patient("tok-a"), {})
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json_body == missing.json_body
    mine = api.http.get(f"/patient/appointments/{theirs['id']}", headers=patient("tok-b")).json_body
    assert mine["status"] == "booked"
    denied = [e for e in AuditStore().for_patient("P1", "PAT-B") if e.action == "access_denied"]
    assert [(e.actor_type, e.actor_id) for e in denied] == [("patient", "PAT-A")]


def test_a_guardian_books_for_a_linked_child_and_an_unlinked_child_is_404(api: Client, world: Seeded) -> None:
    ok = book(api, "tok-g1", "2027-04-20T14:00:00Z", patient_id="K1")
    assert ok.status_code == 201 and ok.json_body["patient"]["id"] == "K1"
    assert book(api, "tok-g1", "2027-04-20T16:00:00Z", patient_id="K3").status_code == 404


def test_a_staff_token_of_another_practice_cannot_book_there(api: Client, staff: StaffTokens, world: Seeded) -> None:
    body = {"patient_id": "PAT-A", "type_id": "CLEAN", "provider_id": "DR1", "start": "2027-04-20T14:00:00Z"}
    response = post(api, "/practices/P1/appointments", staff.headers("P2", "owner"), body)
    assert response.status_code == 404


# --- bad input --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"start": "2027-03-09T14:00:00Z"}, 422, "in_the_past"),
        ({"start": "2027-04-20T14:00:00"}, 422, "invalid_start"),
        ({"start": "tomorrow"}, 422, "invalid_start"),
        ({"start": 1777777777}, 422, "invalid_start"),
        ({"type_id": "NOPE"}, 422, "unknown_type"),
        ({"type_id": "EMERG"}, 422, "provider_cannot_take_type"),
        ({"provider_id": "DR9"}, 422, "unknown_provider"),
        ({"patient_id": "PAT-B"}, 404, "not_found"),
        ({"start": "2027-04-20T14:20:00Z"}, 422, "not_a_slot"),
    ],
)
def test_bad_booking_input_is_a_clear_4xx_and_nothing_is_stored(
    api: Client, world: Seeded, change: dict[str, Any], status: int, code: str
) -> None:
    body = {"patient_id": "PAT-A", "type_id": "CLEAN", "provider_id": "DR1", "start": "2027-04-20T14:00:00Z", **change}
    response = post(api, "/patient/appointments", patient("tok-a"), body)
    assert (response.status_code, response.json_body["error"]["code"]) == (status, code)
    assert response.json_body["error"]["message"]
    assert world.events == []


@pytest.mark.parametrize(
    "query", ["date=2027-13-01", "date=yesterday", "", "date=2027-04-20&days=99", "date=2027-04-20&type_id=NOPE"]
)
def test_malformed_availability_queries_are_422(api: Client, world: Seeded, query: str) -> None:
    response = api.http.get(f"/practices/P1/availability?{query}")
    assert response.status_code == 422, response.body


def test_availability_of_an_unknown_practice_or_provider_is_404(api: Client, world: Seeded) -> None:
    assert api.http.get("/practices/NOPE/availability?date=2027-04-20").status_code == 404
    assert api.http.get("/practices/P1/providers/DR9/availability?date=2027-04-20").status_code == 404


def test_practice_availability_lists_every_provider_who_takes_the_type(api: Client, world: Seeded) -> None:
    response = api.http.get("/practices/P1/availability?date=2027-04-20&type_id=EMERG&days=2")
    body = response.json_body
    assert [d["date"] for d in body["days"]] == ["2027-04-20", "2027-04-21"]
    assert {s["provider"]["id"] for d in body["days"] for s in d["slots"]} == {"DR2"}
    assert body["type"] == {"id": "EMERG", "name": "Emergency", "duration_min": 60}


def test_the_booking_options_list_online_types_providers_and_policy(api: Client, world: Seeded) -> None:
    world.booking_policy(online_type_ids=["CLEAN", "EXAM"])
    body = api.http.get("/public/practices/P1/booking").json_body
    assert [t["id"] for t in body["types"]] == ["CLEAN", "EXAM"]
    assert body["policy"]["change_notice_hours"] == 24
    assert body["practice"]["phone"] == "+15555550100"
