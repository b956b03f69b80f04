"""The reminder engine on in-memory twins: planning on every change, the sweep, notices (C02, C03, R01)."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.adapters.messaging import MemoryEmailSender, MemorySmsSender, SendOutcomeUnknown, SendRefused, Sms
from chalicelib.appointments.events import CREATED, MOVED, STATUS_CHANGED, AppointmentChanged
from chalicelib.appointments.model import Appointment
from chalicelib.platform.clock import FixedClock
from chalicelib.reminders import service
from chalicelib.reminders.memory import MemoryCarrier, MemoryReminderStore, World, memory_ports
from chalicelib.reminders.model import AddressState
from chalicelib.reminders.ports import Ports
from tests import factories


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Practice:
    """A practice, its patients and appointments, the engine's ports, and what was sent."""

    def __init__(self, at: datetime, practice: object | None = None) -> None:
        self.world = World()
        self.practice = practice or factories.maple()
        self.world.add_practice(self.practice, [factories.cleaning()])  # type: ignore[arg-type]
        self.clock = FixedClock(at)
        self.ports: Ports = memory_ports(self.world, self.clock)

    @property
    def id(self) -> str:
        return self.practice.id  # type: ignore[attr-defined,no-any-return]

    @property
    def store(self) -> MemoryReminderStore:
        assert isinstance(self.ports.store, MemoryReminderStore)
        return self.ports.store

    @property
    def emails(self) -> MemoryEmailSender:
        assert isinstance(self.ports.email, MemoryEmailSender)
        return self.ports.email

    @property
    def texts(self) -> MemorySmsSender:
        assert isinstance(self.ports.sms, MemorySmsSender)
        return self.ports.sms

    def sent(self) -> list[str]:
        return [e.text for e in self.emails.sent] + [s.text for s in self.texts.sent]

    def patient(self, pid: str, **changes: object) -> None:
        self.world.add_patient(
            self.id, replace(factories.patient(pid, phone=f"+1555555{abs(hash(pid)) % 9000 + 1000:04d}"), **changes)
        )  # type: ignore[arg-type]

    def _event(self, a: Appointment, kind: str, by: str, previous: datetime | None = None) -> None:
        event = AppointmentChanged(self.id, a.id, a.patient_id, kind, a.status, a.start, previous, self.clock.now(), by)
        service.on_appointment_changed(self.ports, event)

    def book(self, aid: str, patient_id: str, start: datetime, by: str = "staff-1") -> Appointment:
        a = factories.appointment(aid, patient_id, start)
        self.world.put_appointment(self.id, a)
        self._event(a, CREATED, by)
        return a

    def set_status(self, aid: str, status: str, by: str = "staff-1") -> None:
        a = self.world.appointments[(self.id, aid)]
        a.status = status
        self._event(copy.deepcopy(a), STATUS_CHANGED, by)

    def move(self, aid: str, start: datetime, by: str = "staff-1") -> None:
        a = self.world.appointments[(self.id, aid)]
        previous = a.start
        a.move(start, start + timedelta(hours=1), self.clock.now(), by)
        self._event(copy.deepcopy(a), MOVED, by, previous)

    def sweep(self, at: datetime) -> service.SweepReport:
        self.clock.at = at
        return service.sweep(self.ports, at)

    def touches(self, prefix: str = "") -> list[str]:
        return [
            f"{t.key}@{t.due:%Y-%m-%dT%H:%MZ}:{t.status}"
            for t in self.store.all_touches(self.id)
            if t.id.startswith(prefix)
        ]


# --- C02 ---------------------------------------------------------------------------------------------


def test_c02_a1_touches_are_due_at_the_local_clock_time_and_exact_hours() -> None:
    p = Practice(utc("2027-03-01T15:00"))
    p.patient("PAT-A")
    p.book("A1", "PAT-A", utc("2027-03-15T13:30"))
    assert p.touches() == [
        "7d@2027-03-08T14:30Z:pending",
        "2d@2027-03-13T14:30Z:pending",
        "2h@2027-03-15T12:00Z:pending",  # 11:30Z is 07:30 EDT: quiet hours, so 08:00 EDT
    ]


def test_c02_the_same_visit_booked_in_daylight_time_gets_the_same_instants() -> None:
    est = Practice(utc("2027-03-01T15:00"))
    edt = Practice(utc("2027-03-14T16:00"))
    for p in (est, edt):
        p.patient("PAT-A")
        p.book("A1", "PAT-A", utc("2027-03-15T13:30"))
    assert edt.touches() == ["2h@2027-03-15T12:00Z:pending"]
    assert set(edt.touches()) <= set(est.touches())


def test_c02_the_two_day_text_goes_out_at_0930_est_and_names_the_visit_in_edt() -> None:
    p = Practice(utc("2027-03-01T15:00"))
    p.patient("PAT-A")
    p.book("A1", "PAT-A", utc("2027-03-15T13:30"))
    p.sweep(utc("2027-03-13T14:29"))
    assert p.texts.sent == []
    p.sweep(utc("2027-03-13T14:30"))
    assert len(p.texts.sent) == 1
    assert "Monday, March 15, 9:30 AM EDT" in p.texts.sent[0].text
    assert "Reply C to confirm." in p.texts.sent[0].text


def test_c02_a4_two_day_touch_is_at_0900_edt_before_fall_back() -> None:
    p = Practice(utc("2027-10-20T15:00"))
    p.patient("PAT-A")
    p.book("A4", "PAT-A", utc("2027-11-08T14:00"))
    assert "2d@2027-11-06T13:00Z:pending" in p.touches()


# --- C03 ---------------------------------------------------------------------------------------------


def _c03(at: str = "2027-04-01T15:00") -> Practice:
    p = Practice(utc(at))
    p.patient("PAT-A")
    return p


def test_c03_a_cancelled_appointment_gets_no_reminder_and_one_cancellation_notice() -> None:
    p = _c03()
    p.book("A2", "PAT-A", utc("2027-04-20T14:00"))
    assert p.touches() == [
        "7d@2027-04-13T14:00Z:pending",
        "2d@2027-04-18T14:00Z:pending",
        "2h@2027-04-20T12:00Z:pending",
    ]
    p.clock.at = utc("2027-04-17T09:00")
    p.set_status("A2", "cancelled", by="PAT-A")
    p.sweep(utc("2027-04-18T14:00"))
    p.sweep(utc("2027-04-20T12:00"))
    sent = p.sent()
    assert len(sent) == 1
    assert "is cancelled" in sent[0]
    assert not any("see you" in s.lower() for s in sent)


def test_c03_a_redelivered_cancel_event_sends_no_second_notice() -> None:
    p = _c03()
    p.book("A2", "PAT-A", utc("2027-04-20T14:00"))
    p.clock.at = utc("2027-04-17T14:00")
    p.set_status("A2", "cancelled", by="PAT-A")
    p.set_status("A2", "cancelled", by="PAT-A")
    p.sweep(utc("2027-04-17T14:01"))
    assert len(p.sent()) == 1


def test_c03_a_moved_appointment_gets_nothing_at_the_old_time_and_one_touch_at_the_new() -> None:
    p = _c03()
    p.book("A3", "PAT-A", utc("2027-04-20T14:00"))
    p.clock.at = utc("2027-04-16T15:00")
    p.move("A3", utc("2027-04-22T19:00"))
    moved_notice = p.sent()
    assert len(moved_notice) == 1 and "your appointment moved to Thursday, April 22, 3:00 PM EDT" in moved_notice[0]
    p.sweep(utc("2027-04-18T14:00"))
    assert len(p.sent()) == 1  # nothing at the old T-2d
    p.sweep(utc("2027-04-20T19:00"))
    p.sweep(utc("2027-04-20T19:01"))
    texts = p.sent()[1:]
    assert len(texts) == 1
    assert "Thursday, April 22, 3:00 PM" in texts[0]
    assert all("April 20" not in s for s in p.sent())


def test_c03_a_reschedule_requested_appointment_gets_no_see_you_soon() -> None:
    p = _c03()
    p.book("A5", "PAT-A", utc("2027-04-20T14:00"))
    p.set_status("A5", "reschedule_requested")
    for at in ("2027-04-13T14:00", "2027-04-18T14:00", "2027-04-20T12:00"):
        p.sweep(utc(at))
    assert p.sent() == []
    assert all(t.endswith(":cancelled") for t in p.touches())


def test_c03_a_bulk_cancel_of_150_sends_no_reminder_and_nothing_is_capped_at_100() -> None:
    p = _c03()
    for n in range(150):
        p.patient(f"PAT-{n:03d}", phone=f"+1555556{n:04d}")
        p.book(f"B{n:03d}", f"PAT-{n:03d}", utc("2027-04-20T13:00") + timedelta(minutes=2 * n))
    assert len(p.store.all_touches(p.id)) == 450
    p.clock.at = utc("2027-04-19T15:00")
    for n in range(150):
        p.set_status(f"B{n:03d}", "cancelled")
    notices = len(p.sent())
    assert notices == 150  # one cancellation notice each, at cancel time
    for at in ("2027-04-19T15:10", "2027-04-20T11:00", "2027-04-20T13:00", "2027-04-20T18:00"):
        p.sweep(utc(at))
    assert len(p.sent()) - notices == 0
    assert all(t.status == "cancelled" for t in p.store.all_touches(p.id) if t.kind == "reminder")


# --- R01 ---------------------------------------------------------------------------------------------


def test_r01_staff_booked_and_patient_booked_reminders_read_the_same_in_mountain_time() -> None:
    p = Practice(utc("2027-01-02T16:00"), factories.birch())
    p.patient("PAT-S", phone="+15555550131", email="s@example.test")
    p.patient("PAT-P", phone="+15555550132", email="p@example.test")
    p.book("R-S", "PAT-S", utc("2027-01-12T15:30"), by="staff-sub-1")
    p.book("R-P", "PAT-P", utc("2027-01-12T15:30"), by="PAT-P")
    p.sweep(utc("2027-01-05T15:30"))  # 7d emails
    p.sweep(utc("2027-01-10T15:30"))  # 2d texts
    bodies = p.sent()
    assert len(bodies) == 4
    for body in bodies:
        assert "8:30 AM" in body and "MST" in body
        assert "15:30" not in body and "3:30 PM" not in body and "UTC" not in body

    def same(text: str) -> str:
        return text.split("http", maxsplit=1)[0]

    staff_email, patient_email = p.emails.sent
    assert same(staff_email.text) == same(patient_email.text)
    assert same(p.texts.sent[0].text) == same(p.texts.sent[1].text)


# --- the sweep ------------------------------------------------------------------------------------------


def _one_due(at: str = "2027-04-01T15:00") -> Practice:
    p = _c03(at)
    p.book("A6", "PAT-A", utc("2027-04-20T14:00"))
    return p


def test_a_redelivered_schedule_event_never_sends_twice() -> None:
    p = _one_due()
    p.sweep(utc("2027-04-18T14:00"))
    p.sweep(utc("2027-04-18T14:00"))
    p.sweep(utc("2027-04-18T14:01"))
    assert len(p.texts.sent) == 1


def test_two_runners_sharing_a_store_send_once() -> None:
    p = _one_due()
    other = replace(p.ports, sms=MemorySmsSender(), email=MemoryEmailSender())
    p.clock.at = utc("2027-04-18T14:00")
    service.sweep(p.ports, p.clock.at)
    service.sweep(other, p.clock.at)
    assert len(p.texts.sent) + len(other.sms.sent) == 1  # type: ignore[attr-defined]


def test_a_touch_another_runner_holds_is_not_sent_and_is_looked_at_again() -> None:
    p = _one_due()
    touch_id = next(t.id for t in p.store.all_touches(p.id) if t.key == "2d")
    p.store.fail_claims.add(touch_id)
    p.sweep(utc("2027-04-18T14:00"))
    assert p.texts.sent == []
    assert p.store.states[p.id].watermark is not None
    assert p.store.states[p.id].watermark < utc("2027-04-18T14:00")  # pinned at that touch
    p.store.fail_claims.clear()
    p.sweep(utc("2027-04-18T14:05"))
    assert len(p.texts.sent) == 1


def test_a_touch_still_held_minutes_after_it_was_due_is_looked_at_again_once_free() -> None:
    p = _one_due()
    touch_id = next(t.id for t in p.store.all_touches(p.id) if t.key == "2d")
    p.store.fail_claims.add(touch_id)
    p.sweep(utc("2027-04-18T14:00"))
    p.sweep(utc("2027-04-18T14:04"))  # still held: the watermark must stay before its due instant
    p.store.fail_claims.clear()
    p.sweep(utc("2027-04-18T14:05"))
    assert len(p.texts.sent) == 1


class FlakySms(MemorySmsSender):
    def __init__(self, failing: set[str]) -> None:
        super().__init__()
        self.failing = failing

    def send(self, message: Sms) -> str:
        if message.to in self.failing:
            raise RuntimeError("Throttled")
        return super().send(message)


def test_a_failure_part_way_retries_only_what_was_not_sent() -> None:
    p = _c03()
    p.patient("PAT-B", phone="+15555550123")
    p.book("A7", "PAT-A", utc("2027-04-20T14:00"))
    p.book("A8", "PAT-B", utc("2027-04-20T14:00"))
    pat_a_phone = p.world.patients[(p.id, "PAT-A")].phone
    flaky = FlakySms({pat_a_phone})
    p.ports.sms = flaky
    p.sweep(utc("2027-04-18T14:00"))
    assert [m.to for m in flaky.sent] == ["+15555550123"]
    flaky.failing.clear()
    p.sweep(utc("2027-04-18T14:01"))
    assert [m.to for m in flaky.sent] == ["+15555550123"]  # not yet: retried after a backoff
    p.sweep(utc("2027-04-18T14:03"))
    assert [m.to for m in flaky.sent] == ["+15555550123", pat_a_phone]


def test_a_send_that_keeps_failing_gives_up_after_three_attempts_and_tells_staff() -> None:
    p = _one_due()
    p.ports.sms = FlakySms({p.world.patients[(p.id, "PAT-A")].phone})
    for minutes in range(0, 60):
        p.sweep(utc("2027-04-18T14:00") + timedelta(minutes=minutes))
    touch = next(t for t in p.store.all_touches(p.id) if t.key == "2d")
    assert (touch.status, touch.attempts) == ("failed", 3)
    assert [e.kind for e in p.store.inbox(p.id)] == ["delivery_failed"]


class Killed(BaseException):
    """The process died: nothing in the engine catches it."""


class DiesAfterSending(MemorySmsSender):
    """The provider accepts the text, then the process is killed before the engine hears back."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = True

    def send(self, message: Sms) -> str:
        message_id = super().send(message)
        if self.armed:
            self.armed = False
            raise Killed()
        return message_id


def test_a_run_killed_between_the_provider_accepting_and_the_record_never_sends_again_and_says_unknown() -> None:
    p = _one_due()
    p.ports.sms = DiesAfterSending()
    with pytest.raises(Killed):
        p.sweep(utc("2027-04-18T14:00"))
    p.sweep(utc("2027-04-18T14:02"))  # its lease still runs: left alone
    p.sweep(utc("2027-04-18T14:06"))  # the lease is over: unknown
    for minutes in range(7, 60):
        p.sweep(utc("2027-04-18T14:00") + timedelta(minutes=minutes))
    assert len(p.ports.sms.sent) == 1  # type: ignore[attr-defined]
    touch = next(t for t in p.store.all_touches(p.id) if t.key == "2d")
    assert (touch.status, touch.reason) == ("unknown", "run_ended_while_sending")
    assert [(e.kind, e.patient_ids) for e in p.store.inbox(p.id)] == [("delivery_failed", ("PAT-A",))]
    assert "may or may not have gone out" in p.store.inbox(p.id)[0].text


class LostAnswer(MemorySmsSender):
    def send(self, message: Sms) -> str:
        super().send(message)
        raise SendOutcomeUnknown("ReadTimeoutError")


def test_a_send_whose_answer_was_lost_is_unknown_at_once_and_never_retried() -> None:
    p = _one_due()
    p.ports.sms = LostAnswer()
    for minutes in range(0, 60):
        p.sweep(utc("2027-04-18T14:00") + timedelta(minutes=minutes))
    assert len(p.ports.sms.sent) == 1  # type: ignore[attr-defined]
    touch = next(t for t in p.store.all_touches(p.id) if t.key == "2d")
    assert (touch.status, touch.attempts) == ("unknown", 1)


class Throttled(MemorySmsSender):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.throttling = True

    def send(self, message: Sms) -> str:
        self.calls += 1
        if self.throttling:
            raise SendRefused("Throttling", throttled=True)
        return super().send(message)


def test_while_the_provider_throttles_the_rest_of_that_channel_waits_without_spending_attempts() -> None:
    p = _c03()
    for n in range(5):
        p.patient(f"PAT-{n}", phone=f"+155555501{20 + n}")
        p.book(f"A{n}", f"PAT-{n}", utc("2027-04-20T14:00"))
    texts = Throttled()
    p.ports.sms = texts
    p.sweep(utc("2027-04-18T14:00"))
    assert texts.calls == 1  # one refused, the other four not tried
    attempts = sorted(t.attempts for t in p.store.all_touches(p.id) if t.key == "2d")
    assert attempts == [0, 0, 0, 0, 1]
    texts.throttling = False
    for minutes in (1, 3, 5):
        p.sweep(utc("2027-04-18T14:00") + timedelta(minutes=minutes))
    assert sorted(m.to for m in texts.sent) == [f"+155555501{20 + n}" for n in range(5)]


class Stopwatch(MemorySmsSender):
    """Each text takes a second of the run's time; ``left`` is what the invocation has left."""

    def __init__(self, left: float) -> None:
        super().__init__()
        self.left = left

    def send(self, message: Sms) -> str:
        self.left -= 1
        return super().send(message)


def test_a_sweep_running_out_of_time_gives_the_rest_back_untried_and_the_next_run_sends_each_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(service, "CHUNK", 25)  # several chunks: the run stops inside one and before others
    p = _c03()
    phones = [f"+155555501{20 + n}" for n in range(60)]
    for n, phone in enumerate(phones):
        p.patient(f"PAT-{n}", phone=phone)
        p.book(f"A{n}", f"PAT-{n}", utc("2027-04-20T14:00") + timedelta(minutes=n))
    texts = Stopwatch(left=service.SWEEP_RESERVE.total_seconds() + 29.5)  # time for 30 texts, then under the reserve
    p.ports.sms = texts
    p.ports.time_left = lambda: texts.left

    first = p.sweep(utc("2027-04-18T15:05"))
    assert len(texts.sent) == 30  # then less than the reserve was left: nothing more was started
    assert (first.counts.sent, first.counts.deferred, first.counts.unknown) == (30, 30, 0)
    left_over = [t for t in p.store.all_touches(p.id) if t.key == "2d" and t.status != "sent"]
    assert len(left_over) == 30
    assert {(t.status, t.attempts) for t in left_over} == {("pending", 0)}  # given back, no attempt spent

    texts.left = float("inf")
    later = p.sweep(utc("2027-04-18T15:06"))
    assert later.counts.sent == 30
    assert sorted(m.to for m in texts.sent) == sorted(phones)  # every patient once, nobody twice
    assert "unknown" not in {t.status for t in p.store.all_touches(p.id)}


def test_a_sweep_with_no_time_left_starts_nothing_and_the_next_run_sends_everything() -> None:
    p = _one_due()
    p.ports.time_left = lambda: service.SWEEP_RESERVE.total_seconds() - 1
    report = p.sweep(utc("2027-04-18T14:00"))
    assert p.texts.sent == []
    assert report.practices == 0
    p.ports.time_left = lambda: float("inf")
    p.sweep(utc("2027-04-18T14:03"))
    assert len(p.texts.sent) == 1


class FailingCarrier(MemoryCarrier):
    def is_opted_out(self, number: str) -> bool:
        raise SendRefused("Throttling", throttled=True)


def test_an_opt_out_check_that_fails_sends_nothing_and_the_next_run_decides() -> None:
    p = _one_due()
    carrier = p.ports.carrier
    p.ports.carrier = FailingCarrier()
    p.sweep(utc("2027-04-18T14:00"))
    assert p.texts.sent == []
    p.ports.carrier = carrier
    p.sweep(utc("2027-04-18T14:01"))
    assert len(p.texts.sent) == 1


def test_a_missed_run_catches_up_once_and_sends_only_the_latest_touch_of_a_visit() -> None:
    p = _c03()
    three_and_two = [{"offset": 3, "unit": "days", "channel": "sms"}, {"offset": 2, "unit": "days", "channel": "sms"}]
    service.change_policy(p.ports, p.id, {"version": 0, "touches": three_and_two}, "owner-1")
    p.book("A6", "PAT-A", utc("2027-04-20T14:00"))
    p.sweep(utc("2027-04-16T14:00"))
    p.sweep(utc("2027-04-18T15:00"))  # down for two days: T-3d and T-2d both due
    assert len(p.sent()) == 1
    assert "Tuesday, April 20" in p.texts.sent[0].text
    assert "3d@2027-04-17T14:00Z:skipped" in p.touches()
    p.sweep(utc("2027-04-18T15:01"))
    assert len(p.sent()) == 1


def test_a_touch_whose_visit_has_started_is_skipped_on_catch_up() -> None:
    p = _c03()
    p.book("A9", "PAT-A", utc("2027-04-20T14:00"))
    p.sweep(utc("2027-04-20T11:00"))
    p.store.states[p.id] = replace(p.store.states[p.id], watermark=utc("2027-04-20T11:00"))
    p.sweep(utc("2027-04-20T14:30"))
    assert p.sent() == []
    assert "2h@2027-04-20T12:00Z:skipped" in p.touches()


def test_a_touch_found_at_night_after_an_outage_waits_for_the_morning() -> None:
    p = _c03()
    p.book("A10", "PAT-A", utc("2027-04-20T18:00"))  # 14:00 EDT; T-2h 12:00 EDT
    touch = next(t for t in p.store.all_touches(p.id) if t.key == "2d")
    assert touch.due == utc("2027-04-18T18:00")
    p.sweep(utc("2027-04-18T17:50"))
    p.store.states[p.id] = replace(p.store.states[p.id], watermark=utc("2027-04-18T17:59"))
    p.sweep(utc("2027-04-19T02:00"))  # 22:00 EDT: quiet
    assert p.sent() == []
    assert "2d@2027-04-19T12:00Z:pending" in p.touches()
    p.sweep(utc("2027-04-19T12:00"))
    assert len(p.texts.sent) == 1


def test_at_most_one_reminder_per_patient_per_day() -> None:
    p = _c03()
    p.book("D1", "PAT-A", utc("2027-04-20T14:00"))
    p.book("D2", "PAT-A", utc("2027-04-20T18:00"))
    p.sweep(utc("2027-04-18T14:00"))
    p.sweep(utc("2027-04-18T18:00"))
    assert len(p.texts.sent) == 1
    assert "2d@2027-04-18T18:00Z:skipped" in p.touches()
    assert next(t for t in p.store.all_touches(p.id) if t.subject_id == "D2" and t.key == "2d").reason == "daily_cap"


def test_a_confirmed_visit_stops_the_confirmation_chase_but_keeps_the_day_of_text() -> None:
    p = _one_due()
    p.set_status("A6", "confirmed")
    statuses = p.touches()
    assert "7d@2027-04-13T14:00Z:cancelled" in statuses and "2d@2027-04-18T14:00Z:cancelled" in statuses
    assert "2h@2027-04-20T12:00Z:pending" in statuses
    p.sweep(utc("2027-04-20T12:00"))
    assert "You're confirmed." in p.texts.sent[0].text


def test_moving_back_to_the_original_time_does_not_resend_what_was_sent() -> None:
    p = _one_due()
    p.sweep(utc("2027-04-13T14:00"))
    assert len(p.emails.sent) == 1
    p.clock.at = utc("2027-04-14T15:00")
    p.move("A6", utc("2027-04-21T14:00"))
    p.move("A6", utc("2027-04-20T14:00"))
    assert "7d@2027-04-13T14:00Z:sent" in p.touches()
    assert len(p.emails.sent) == 1


# --- channels: opt-outs, carrier blocks, suppression (C11, C12) --------------------------------------------


def test_c11_an_opted_out_number_gets_no_text_and_the_reminder_goes_by_email() -> None:
    p = _one_due()
    phone = p.world.patients[(p.id, "PAT-A")].phone
    p.store.set_sms_opt_out(p.id, phone, True, "stop", p.clock.now())
    p.sweep(utc("2027-04-18T14:00"))
    assert [m.to for m in p.texts.sent] == []
    assert [m.to for m in p.emails.sent] == ["pat-a@example.test"]
    touch = next(t for t in p.store.all_touches(p.id) if t.key == "2d")
    assert (touch.status, touch.sent_channel, touch.notes) == ("sent", "email", ["sms_opted_out"])


def test_c11_a_number_the_carrier_reports_opted_out_is_recorded_and_email_is_used() -> None:
    p = _c03()
    p.patient("PAT-N", phone="+15555550199", email="pat.n@example.test")
    p.book("N1", "PAT-N", utc("2027-04-20T14:00"))
    p.sweep(utc("2027-04-18T14:00"))
    assert p.texts.sent == []
    assert [m.to for m in p.emails.sent] == ["pat.n@example.test"]
    assert p.store.address(p.id, "+15555550199").sms_blocked
    touch = next(t for t in p.store.all_touches(p.id) if t.key == "2d")
    assert "sms_blocked_opted_out" in touch.notes and touch.sent_channel == "email"
    carrier = p.ports.carrier
    assert isinstance(carrier, MemoryCarrier) and carrier.checks == ["+15555550199"]


def test_c12_a_suppressed_email_sends_nothing_by_email_and_uses_sms() -> None:
    p = _one_due()
    p.store.suppress_email(p.id, "pat-a@example.test", "bounce_permanent", p.clock.now())
    p.sweep(utc("2027-04-13T14:00"))  # the 7-day email touch
    assert p.emails.sent == []
    assert len(p.texts.sent) == 1


def test_a_patient_without_any_usable_channel_is_skipped_with_the_reasons() -> None:
    p = _one_due()
    phone = p.world.patients[(p.id, "PAT-A")].phone
    p.store.address_states[(p.id, phone)] = AddressState(phone, "sms", sms_opt_out=True)
    p.store.suppress_email(p.id, "pat-a@example.test", "complaint", p.clock.now())
    p.sweep(utc("2027-04-18T14:00"))
    touch = next(t for t in p.store.all_touches(p.id) if t.key == "2d")
    assert (touch.status, touch.reason) == ("skipped", "no_channel")
    assert touch.notes == ["sms_opted_out", "email_suppressed"]


def test_a_child_is_reminded_through_the_guardian() -> None:
    p = _c03()
    p.patient("K1", phone="", email="")
    p.world.add_guardian(p.id, factories.guardian("G1", ("K1",)))
    p.book("K1-1", "K1", utc("2027-04-20T14:00"))
    p.sweep(utc("2027-04-18T14:00"))
    assert [m.to for m in p.texts.sent] == ["+15555550140"]


def test_reminder_emails_carry_unsubscribe_headers_and_the_practice_address() -> None:
    p = _one_due()
    p.sweep(utc("2027-04-13T14:00"))
    email = p.emails.sent[0]
    assert email.headers["List-Unsubscribe"].startswith("<https://api.example.test/public/unsubscribe/")
    assert email.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "1 Maple Way, Springfield, NY 10001" in email.text
    assert "https://patients.example.test/patient/?practice=P1#link=" in email.text


@pytest.mark.parametrize("language", ["en", "es"])
def test_messages_are_in_the_patients_language(language: str) -> None:
    p = _c03()
    p.patient("PAT-L", language=language)
    p.book("L1", "PAT-L", utc("2027-04-20T14:00"))
    p.sweep(utc("2027-04-18T14:00"))
    text = p.texts.sent[0].text
    assert ("martes, 20 de abril, 10:00 a. m. EDT" in text) == (language == "es")
    assert ("Tuesday, April 20, 10:00 AM EDT" in text) == (language == "en")


def test_a_policy_change_is_versioned_and_replans_on_the_next_sweep() -> None:
    p = _one_due()
    p.sweep(utc("2027-04-02T15:00"))
    saved = service.change_policy(
        p.ports, p.id, {"version": 0, "touches": [{"offset": 3, "unit": "days", "channel": "sms"}]}, "owner-1"
    )
    assert saved.version == 1
    p.sweep(utc("2027-04-02T15:01"))
    assert [t for t in p.touches() if t.endswith("pending")] == ["3d@2027-04-17T14:00Z:pending"]
    with pytest.raises(Exception, match="changed meanwhile"):
        service.change_policy(p.ports, p.id, {"version": 0}, "owner-1")


@pytest.mark.parametrize("group", [1, 25])
def test_sends_are_marked_and_recorded_a_group_at_a_time(group: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "SEND_GROUP", group)
    p = _c03()
    for n in range(service.SEND_GROUP + 5):
        p.patient(f"PAT-G{n}", phone=f"+1555555{n:04d}")
        p.book(f"AG{n}", f"PAT-G{n}", utc("2027-04-20T14:00"))
    marks: list[int] = []
    records: list[int] = []
    begin_sends, finish_many = p.store.begin_sends, p.store.finish_many

    def mark(touches: Any) -> Any:
        marks.append(len(touches))
        return begin_sends(touches)

    def record(outcomes: Any, zone: str = "UTC") -> Any:
        records.append(len(outcomes))
        return finish_many(outcomes, zone)

    p.store.begin_sends, p.store.finish_many = mark, record  # type: ignore[method-assign]
    p.sweep(utc("2027-04-18T14:00"))
    assert marks == records == ([1] * 6 if group == 1 else [25, 5])
    assert len(p.texts.sent) == service.SEND_GROUP + 5
    assert {t.status for t in p.store.all_touches(p.id) if t.key == "2d"} == {"sent"}
