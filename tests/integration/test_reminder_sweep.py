"""The reminder engine against moto: events plan touches in DynamoDB, the minute tick sends through
SES v2 and SNS, and nothing is ever scanned (C02, C03, R01)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends

from chalicelib.appointments.events import CREATED, MOVED, STATUS_CHANGED, AppointmentChanged
from chalicelib.appointments.model import Appointment
from chalicelib.appointments.store import AppointmentItem, appointment_item
from chalicelib.patients.model import Patient
from chalicelib.patients.store import PatientStore
from chalicelib.platform.aws import client
from chalicelib.platform.clock import FixedClock
from chalicelib.platform.deps import Deps
from chalicelib.practices.model import Practice
from chalicelib.practices.store import PracticeStore, appointment_type_item
from tests import factories
from tests.integration.conftest import StaffTokens


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Calls:
    """SES SendEmail, SNS Publish and DynamoDB Scan calls, counted by botocore event hooks."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        client("sesv2").meta.events.register("before-call.sesv2.SendEmail", self._count("SendEmail"))
        client("sns").meta.events.register("before-call.sns.Publish", self._count("Publish"))

    def _count(self, name: str) -> Any:
        def hook(**_: Any) -> None:
            self.counts[name] = self.counts.get(name, 0) + 1

        return hook

    @property
    def messages(self) -> int:
        return self.counts.get("SendEmail", 0) + self.counts.get("Publish", 0)


def sent_emails() -> list[Any]:
    return list(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)


def sent_texts() -> list[tuple[str, str]]:
    return list(sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages.values())


class Book:
    """Writes appointments as the appointments capability does, and publishes its event."""

    def __init__(self, deps: Deps, practice: Practice) -> None:
        self.deps = deps
        self.practice = practice

    @property
    def clock(self) -> FixedClock:
        assert isinstance(self.deps.clock, FixedClock)
        return self.deps.clock

    def save(self, a: Appointment) -> None:
        try:
            old = AppointmentItem.get(f"PRACTICE#{self.practice.id}", f"APPT#{a.id}")
            old.delete()
        except AppointmentItem.DoesNotExist:
            pass
        appointment_item(self.practice.id, self.practice.zone, a).save()

    def publish(self, a: Appointment, kind: str, by: str, previous: datetime | None = None) -> None:
        self.deps.appointment_events.publish(
            AppointmentChanged(
                self.practice.id, a.id, a.patient_id, kind, a.status, a.start, previous, self.clock.now(), by
            )
        )

    def book(
        self, aid: str, patient_id: str, start: datetime, by: str = "staff-sub-1", type_id: str = "CLEAN"
    ) -> Appointment:
        a = dataclasses.replace(factories.appointment(aid, patient_id, start), type_id=type_id)
        self.save(a)
        self.publish(a, CREATED, by)
        return a

    def get(self, aid: str) -> Appointment:
        found = self.deps.appointments.get(self.practice.id, aid)
        assert found is not None
        return found

    def cancel(self, aid: str, by: str = "staff-sub-1") -> None:
        a = self.get(aid)
        a.transition("cancelled", self.clock.now(), by)
        self.save(a)
        self.publish(a, STATUS_CHANGED, by)

    def move(self, aid: str, start: datetime, by: str = "staff-sub-1") -> None:
        a = self.get(aid)
        previous = a.start
        a.move(start, start + timedelta(hours=1), self.clock.now(), by)
        self.save(a)
        self.publish(a, MOVED, by, previous)


def seed(practice: Practice, *patients: Patient) -> None:
    PracticeStore().put(practice)
    appointment_type_item(practice.id, factories.cleaning()).save()
    for p in patients:
        PatientStore().put(practice.id, p)


def tick(api: Client, deps: Deps, at: datetime) -> Any:
    assert isinstance(deps.clock, FixedClock)
    deps.clock.at = at
    response = api.lambda_.invoke("tick", api.events.generate_cw_event("aws.events", "Scheduled Event", {}, []))
    assert response.payload == {"reminders": "ok"} or response.payload.get("reminders") == "ok", response.payload
    return response.payload


@pytest.fixture
def calls(app_deps: Deps) -> Iterator[Calls]:
    counted = Calls()
    scans: list[str] = []
    from chalicelib.platform.table import TableItem

    TableItem._get_connection().connection.client.meta.events.register(
        "before-call.dynamodb.Scan", lambda **_: scans.append("Scan")
    )
    yield counted
    assert scans == [], "a reminder path scanned the table"


@pytest.fixture
def maple(app_deps: Deps) -> Book:
    assert isinstance(app_deps.clock, FixedClock)
    app_deps.clock.at = utc("2027-04-01T15:00")
    seed(
        factories.maple(),
        factories.patient("PAT-A"),
        factories.patient("PAT-B", phone="(555) 555-0123", email="pat.b@example.test"),
    )
    return Book(app_deps, factories.maple())


# --- C02 ---------------------------------------------------------------------------------------------


def test_c02_the_two_day_touch_goes_out_at_0930_est_not_48_hours_before(
    api: Client, app_deps: Deps, calls: Calls
) -> None:
    app_deps.clock.at = utc("2027-03-01T15:00")  # type: ignore[attr-defined]
    seed(factories.maple(), factories.patient("PAT-A"))
    book = Book(app_deps, factories.maple())
    book.book("A1", "PAT-A", utc("2027-03-15T13:30"))
    tick(api, app_deps, utc("2027-03-13T13:30"))  # 48 hours before: not yet
    assert calls.messages == 0
    tick(api, app_deps, utc("2027-03-13T14:30"))
    assert calls.counts == {"Publish": 1}
    ((to, text),) = sent_texts()
    assert to == "+15555550121"
    assert "Monday, March 15, 9:30 AM EDT" in text


def test_in_lambda_the_tick_stops_before_its_timeout_and_the_next_tick_sends(
    api: Client, app_deps: Deps, maple: Book, calls: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    maple.book("A6", "PAT-A", utc("2027-04-20T14:00"))
    # In Lambda the tick reads its context's countdown; chalice's test context has 3 s, under the reserve.
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "chairside-prod-tick")
    tick(api, app_deps, utc("2027-04-18T14:00"))
    assert calls.messages == 0
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME")  # outside Lambda there is no deadline
    tick(api, app_deps, utc("2027-04-18T14:01"))
    assert calls.counts == {"Publish": 1}


# --- C03 ---------------------------------------------------------------------------------------------


def test_c03_cancelled_a2_gets_no_reminder_and_exactly_one_cancellation_notice(
    api: Client, app_deps: Deps, maple: Book, calls: Calls
) -> None:
    maple.book("A2", "PAT-A", utc("2027-04-20T14:00"))
    maple.clock.at = utc("2027-04-17T13:00")  # 09:00 EDT
    maple.cancel("A2", by="PAT-A")
    tick(api, app_deps, utc("2027-04-18T14:00"))
    tick(api, app_deps, utc("2027-04-20T12:00"))
    assert calls.messages == 1
    ((_, text),) = sent_texts()
    assert "is cancelled" in text


def test_c03_moved_a3_is_reminded_once_at_the_new_time_with_the_new_day(
    api: Client, app_deps: Deps, maple: Book, calls: Calls
) -> None:
    maple.book("A3", "PAT-A", utc("2027-04-20T14:00"))
    maple.clock.at = utc("2027-04-16T15:00")
    maple.move("A3", utc("2027-04-22T19:00"))
    assert calls.messages == 1  # "your appointment moved"
    tick(api, app_deps, utc("2027-04-18T14:00"))
    assert calls.messages == 1  # nothing at the old T-2d
    tick(api, app_deps, utc("2027-04-20T19:00"))
    tick(api, app_deps, utc("2027-04-20T19:01"))
    texts = [t for _, t in sent_texts()]
    assert len(texts) == 2
    assert "your appointment moved to Thursday, April 22, 3:00 PM EDT" in texts[0]
    assert "Thursday, April 22, 3:00 PM" in texts[1]
    assert all("April 20" not in t for t in texts)


def test_c03_a_bulk_cancel_of_150_leaves_the_dispatcher_nothing_to_send(
    api: Client, app_deps: Deps, maple: Book, calls: Calls
) -> None:
    store = PatientStore()
    for n in range(150):
        store.put("P1", factories.patient(f"BP{n:03d}", phone=f"+1555557{n:04d}"))
        maple.book(f"B{n:03d}", f"BP{n:03d}", utc("2027-04-20T13:00") + timedelta(minutes=2 * n), type_id="EXAM")
    maple.clock.at = utc("2027-04-19T15:00")
    for n in range(150):
        maple.cancel(f"B{n:03d}")
    notices = calls.messages
    assert notices == 150
    for at in ("2027-04-19T15:10", "2027-04-20T11:00", "2027-04-20T13:00", "2027-04-20T18:00"):
        tick(api, app_deps, utc(at))
    assert calls.messages - notices == 0


# --- R01 ---------------------------------------------------------------------------------------------


def test_r01_denver_reminders_read_830_am_mst_whoever_booked(api: Client, app_deps: Deps, calls: Calls) -> None:
    app_deps.clock.at = utc("2027-01-02T16:00")  # type: ignore[attr-defined]
    staff_booked = dataclasses.replace(factories.patient("PAT-S", phone="+15555550131"), given_name="Sam")
    self_booked = dataclasses.replace(factories.patient("PAT-P", phone="+15555550132"), given_name="Sam")
    seed(factories.birch(), staff_booked, self_booked)
    book = Book(app_deps, factories.birch())
    book.book("R-S", "PAT-S", utc("2027-01-12T15:30"), by="staff-sub-1")
    book.book("R-P", "PAT-P", utc("2027-01-12T15:30"), by="PAT-P")
    tick(api, app_deps, utc("2027-01-05T15:30"))
    tick(api, app_deps, utc("2027-01-10T15:30"))
    bodies = [m.body for m in sent_emails()] + [t for _, t in sent_texts()]
    assert len(bodies) == 4
    for body in bodies:
        assert "8:30 AM" in body and "MST" in body
        assert "15:30" not in body and "3:30 PM" not in body and "UTC" not in body
    texts = sorted(t.split("http")[0] for _, t in sent_texts())
    assert texts[0] == texts[1]


# --- records -------------------------------------------------------------------------------------------


def test_a_sent_touch_records_the_provider_message_id_for_staff(
    api: Client, app_deps: Deps, maple: Book, staff: StaffTokens, calls: Calls
) -> None:
    maple.book("A6", "PAT-B", utc("2027-04-20T14:00"))
    tick(api, app_deps, utc("2027-04-18T14:00"))
    response = api.http.get("/practices/P1/appointments/A6/reminders", headers=staff.headers("P1"))
    assert response.status_code == 200
    touches = {t["rule"]: t for t in response.json_body["touches"]}
    assert touches["2d"]["status"] == "sent"
    assert touches["2d"]["provider_message_id"] in sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages
    assert touches["2h"]["status"] == "pending" and touches["2h"]["due"] == "2027-04-20T12:00:00Z"
    # PAT-B's number is stored as "(555) 555-0123": it is texted in E.164.
    assert [to for to, _ in sent_texts()] == ["+15555550123"]


def test_reminder_emails_carry_list_unsubscribe_and_working_links(
    api: Client, app_deps: Deps, maple: Book, calls: Calls
) -> None:
    seen: list[dict[str, Any]] = []
    client("sesv2").meta.events.register(
        "provide-client-params.sesv2.SendEmail", lambda params, **_: seen.append(params)
    )
    maple.book("A7", "PAT-B", utc("2027-04-20T14:00"))
    tick(api, app_deps, utc("2027-04-13T14:00"))
    (params,) = seen
    headers = {h["Name"]: h["Value"] for h in params["Content"]["Simple"]["Headers"]}
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = headers["List-Unsubscribe"].strip("<>")
    path = unsubscribe.split("127.0.0.1:8000", 1)[1]
    page = api.http.get(path)
    assert page.status_code == 200 and b"Unsubscribe" in page.body
    done = api.http.post(
        path, headers={"Content-Type": "application/x-www-form-urlencoded"}, body=b"List-Unsubscribe=One-Click"
    )
    assert done.status_code == 200
    text = params["Content"]["Simple"]["Body"]["Text"]["Data"]
    assert "1 Maple Way, Springfield, NY 10001" in text
    tick(api, app_deps, utc("2027-04-18T14:00"))  # the 2-day SMS is unaffected by the email unsubscribe
    assert calls.counts.get("Publish") == 1


def test_an_sms_short_link_redirects_to_the_patient_page_with_an_action_link(
    api: Client, app_deps: Deps, maple: Book, calls: Calls
) -> None:
    maple.book("A8", "PAT-A", utc("2027-04-20T14:00"))
    tick(api, app_deps, utc("2027-04-18T14:00"))
    ((_, text),) = sent_texts()
    link = text.rsplit(" ", 1)[-1]
    assert link.startswith("http://127.0.0.1:8000/l/")
    response = api.http.get(link.removeprefix("http://127.0.0.1:8000"))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("http://127.0.0.1:8080/patient/?practice=P1#link=")
    assert api.http.get("/l/forged.token").status_code == 404
