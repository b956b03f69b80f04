"""Feedback on in-memory twins: surveys after a completed visit through the reminder engine, answers
once with review links for every score, low scores to the inbox, referrals counted once, roll-ups."""

from __future__ import annotations

import copy
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.adapters.messaging import MemoryEmailSender, MemorySmsSender
from chalicelib.appointments.events import STATUS_CHANGED, AppointmentChanged
from chalicelib.feedback import model, service
from chalicelib.feedback.memory import MemoryFeedbackStore
from chalicelib.feedback.ports import FeedbackPorts
from chalicelib.identity.memory import MemoryRates
from chalicelib.platform.auth import PatientCaller
from chalicelib.platform.clock import FixedClock
from chalicelib.platform.errors import ApiError
from chalicelib.reminders import service as reminders
from chalicelib.reminders.memory import MemoryReminderStore, World, memory_ports
from chalicelib.reminders.model import ContactPrefs
from tests import factories

REVIEWS = {"google": "https://g.example.test/maple", "yelp": "https://yelp.example.test/maple"}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Office:
    def __init__(self, at: datetime) -> None:
        self.world = World()
        self.world.add_practice(factories.maple(), [factories.cleaning()])
        self.clock = FixedClock(at)
        self.reminders = memory_ports(self.world, self.clock)
        self.store = MemoryFeedbackStore()
        self.ports = FeedbackPorts(
            store=self.store,
            reminders=self.reminders,
            rates=MemoryRates(),
            clock=self.clock,
            signing_key=lambda: b"test-signing-key",
            web_base_url="https://patients.example.test",
        )
        self.store.save_settings("P1", model.FeedbackSettings(review_links=REVIEWS, survey_delay_hours=1), 0)

    @property
    def rstore(self) -> MemoryReminderStore:
        assert isinstance(self.reminders.store, MemoryReminderStore)
        return self.reminders.store

    def patient(self, pid: str, phone: str, **changes: object) -> None:
        self.world.add_patient("P1", replace(factories.patient(pid, phone=phone), **changes))  # type: ignore[arg-type]

    def visit(self, aid: str, pid: str, start: datetime, provider: str = "DR1") -> None:
        a = replace(factories.appointment(aid, pid, start, status="completed"), provider_id=provider)
        self.world.put_appointment("P1", a)
        event = AppointmentChanged("P1", aid, pid, STATUS_CHANGED, "completed", start, None, self.clock.now(), "staff")
        service.on_appointment_changed(self.ports, event)

    def sweep(self, at: datetime) -> None:
        self.clock.at = at
        reminders.sweep(self.reminders, at)

    def texts(self) -> list[str]:
        assert isinstance(self.reminders.sms, MemorySmsSender)
        return [s.text for s in self.reminders.sms.sent]

    def emails(self) -> list[str]:
        assert isinstance(self.reminders.email, MemoryEmailSender)
        return [e.text for e in self.reminders.email.sent]

    def survey_token(self) -> str:
        found = re.search(r"/survey/\?t=([A-Za-z0-9_.-]+)", "\n".join(self.texts() + self.emails()))
        assert found, self.texts()
        return found.group(1)


@pytest.fixture
def office() -> Office:
    o = Office(utc("2027-03-10T15:00"))
    o.patient("PAT-A", "+15555550121")
    return o


def test_a_completed_visit_sends_one_survey_link_after_the_practice_delay(office: Office) -> None:
    office.visit("A1", "PAT-A", utc("2027-03-10T14:00"))
    office.sweep(utc("2027-03-10T15:30"))
    assert office.texts() == []  # the delay is one hour
    office.sweep(utc("2027-03-10T16:01"))
    assert len(office.texts()) == 1 and "/survey/?t=" in office.texts()[0]
    office.visit("A1", "PAT-A", utc("2027-03-10T14:00"))  # the event delivered again
    office.sweep(utc("2027-03-10T17:01"))
    assert len(office.texts()) == 1


def test_a_patient_gets_at_most_one_survey_in_six_months(office: Office) -> None:
    office.visit("A1", "PAT-A", utc("2027-03-10T14:00"))
    office.clock.at = utc("2027-07-10T15:00")
    office.visit("A2", "PAT-A", utc("2027-07-10T14:00"))
    office.clock.at = utc("2027-09-11T15:00")
    office.visit("A3", "PAT-A", utc("2027-09-11T14:00"))
    touches = [t.id for t in office.rstore.all_touches("P1") if t.kind == "survey"]
    assert touches == ["APPT#A1#survey", "APPT#A3#survey"]


def test_a_patient_who_declined_feedback_messages_gets_no_survey(office: Office) -> None:
    none = {"sms": False, "email": False}
    office.rstore.save_prefs("P1", "PAT-A", ContactPrefs(channels={"feedback": none}), "PAT-A", office.clock.now())
    office.visit("A1", "PAT-A", utc("2027-03-10T14:00"))
    office.sweep(utc("2027-03-10T16:01"))
    assert office.texts() == [] and office.emails() == []
    assert [t.reason for t in office.rstore.all_touches("P1") if t.kind == "survey"] == ["no_channel"]


def test_a_survey_waits_for_the_sending_hours(office: Office) -> None:
    office.clock.at = utc("2027-03-11T02:30")  # 21:30 EST: the survey is due at 22:30, in quiet hours
    office.visit("A1", "PAT-A", utc("2027-03-11T00:00"))
    office.sweep(utc("2027-03-11T03:31"))
    assert office.texts() == []
    office.sweep(utc("2027-03-11T12:59"))
    assert office.texts() == []
    office.sweep(utc("2027-03-11T13:00"))  # 08:00 EST
    assert len(office.texts()) == 1


def test_every_answer_gets_the_review_links_and_low_scores_reach_the_inbox(office: Office) -> None:
    office.patient("PAT-B", "+15555550122")
    office.visit("A1", "PAT-A", utc("2027-03-10T14:00"))
    office.visit("B1", "PAT-B", utc("2027-03-10T14:00"), provider="DR2")
    office.sweep(utc("2027-03-10T16:01"))
    tokens = re.findall(r"/survey/\?t=([A-Za-z0-9_.-]+)", "\n".join(office.texts()))
    high = service.answer_survey(office.ports, tokens[0], {"score": 10})
    low = service.answer_survey(office.ports, tokens[1], {"score": 3, "comment": "  Waited 40 minutes. "})
    for answer in (high, low):
        assert [r["site"] for r in answer["review_links"]] == ["google", "yelp"]
    assert (high["follow_up"], low["follow_up"]) == (False, True)
    inbox = office.rstore.inbox("P1")
    assert [(e.kind, e.patient_ids) for e in inbox] == [("low_score", ("PAT-B",))]
    assert "Waited 40 minutes." in inbox[0].text


def test_a_reused_survey_link_is_refused_and_counts_nothing_twice(office: Office) -> None:
    office.visit("A1", "PAT-A", utc("2027-03-10T14:00"))
    office.sweep(utc("2027-03-10T16:01"))
    token = office.survey_token()
    service.answer_survey(office.ports, token, {"score": 9})
    with pytest.raises(ApiError) as again:
        service.answer_survey(office.ports, token, {"score": 0})
    assert (again.value.status, again.value.code) == (409, "already_answered")
    with pytest.raises(ApiError) as opened:
        service.open_survey(office.ports, token)
    assert opened.value.status == 409
    summary = service.summary(office.ports, "P1", 1)
    assert summary["total"]["responses"] == 1 and summary["total"]["nps"] == 100


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"score": 11}, "invalid_score"),
        ({"score": -1}, "invalid_score"),
        ({"score": 7.5}, "invalid_score"),
        ({"score": True}, "invalid_score"),
        ({}, "invalid_score"),
        ({"score": 8, "comment": "x" * 1001}, "comment_too_long"),
        ({"score": 8, "extra": 1}, "invalid_answer"),
    ],
)
def test_bad_answers_are_refused_and_nothing_is_stored(office: Office, body: dict[str, object], code: str) -> None:
    office.visit("A1", "PAT-A", utc("2027-03-10T14:00"))
    office.sweep(utc("2027-03-10T16:01"))
    with pytest.raises(ApiError) as refused:
        service.answer_survey(office.ports, office.survey_token(), body)
    assert (refused.value.status, refused.value.code) == (422, code)
    assert office.store.answer("P1", "A1") is None


def test_expired_and_forged_survey_links_are_clear_4xx(office: Office) -> None:
    office.visit("A1", "PAT-A", utc("2027-03-10T14:00"))
    office.sweep(utc("2027-03-10T16:01"))
    token = office.survey_token()
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    with pytest.raises(ApiError) as bad:
        service.answer_survey(office.ports, forged, {"score": 5})
    assert (bad.value.status, bad.value.code) == (404, "link_invalid")
    office.clock.at = utc("2027-04-10T16:02")
    with pytest.raises(ApiError) as late:
        service.answer_survey(office.ports, token, {"score": 5})
    assert (late.value.status, late.value.code) == (410, "link_expired")


def test_nps_and_average_by_month_and_provider() -> None:
    counters: dict[str, int] = {}
    for score, provider in ((10, "DR1"), (9, "DR1"), (7, "DR2"), (2, "DR2")):
        for k, v in model.answer_deltas(score, provider).items():
            counters[k] = counters.get(k, 0) + v
    rollup = model.rollup_from_counters("2027-03", counters).as_dict()
    assert (rollup["responses"], rollup["average"], rollup["nps"]) == (4, 7.0, 25)
    providers = {p["provider_id"]: (p["nps"], p["average"]) for p in rollup["by_provider"]}
    assert providers == {"DR1": (100, 9.5), "DR2": (-50, 4.5)}


def test_a_referral_counts_once_on_the_first_visit_and_the_referrer_is_thanked(office: Office) -> None:
    caller = PatientCaller("P1", "session", "PAT-A", ("PAT-A",))
    mine = service.my_referral(office.ports, caller)
    assert mine["url"].endswith(f"&ref={mine['code']}") and mine["rewards"] == {"enabled": False, "text": ""}
    assert service.check_referral(office.ports, "P1", mine["code"])["valid"] is True
    body = {"name": "Nia Newman", "phone": "(555) 555-0133", "reason": "cleaning", "referral_code": mine["code"]}
    assert service.request_visit(office.ports, "P1", body, "198.51.100.7") == {"received": True, "referred": True}
    inbox = office.rstore.inbox("P1")
    assert inbox[0].kind == "new_patient_request" and "+15555550133" in inbox[0].text

    office.patient("PAT-N", "+15555550133")  # staff made the record; the first visit is done
    office.visit("N1", "PAT-N", utc("2027-03-10T14:00"))
    office.visit("N1", "PAT-N", utc("2027-03-10T14:00"))  # delivered twice
    office.sweep(utc("2027-03-10T15:01"))
    thanks = [t for t in office.texts() if "referred" in t]
    assert len(thanks) == 1 and "Nia" not in thanks[0]
    board = service.referrals(office.ports, "P1")
    assert board["total"] == 1 and board["leaderboard"][0]["patient_id"] == "PAT-A"


def test_forged_referral_codes_and_bad_requests_are_refused(office: Office) -> None:
    with pytest.raises(ApiError) as forged:
        service.check_referral(office.ports, "P1", "ABCDEFGH")
    assert forged.value.status == 404
    body = {"name": "Nia", "phone": "+15555550133", "referral_code": "ABCDEFGH"}
    with pytest.raises(ApiError) as sent:
        service.request_visit(office.ports, "P1", body, "198.51.100.7")
    assert (sent.value.status, sent.value.code) == (404, "referral_not_found")
    for bad, code in (
        ({"name": "Nia"}, "contact_required"),
        ({"name": "Nia", "email": "not-an-email"}, "invalid_email"),
        ({"name": "Nia", "phone": "12"}, "invalid_phone"),
        ({"name": "", "phone": "+15555550133"}, "name_required"),
        ({"name": "Nia", "phone": "+15555550133", "reason": "x" * 501}, "reason_too_long"),
    ):
        with pytest.raises(ApiError) as refused:
            service.request_visit(office.ports, "P1", bad, "198.51.100.8")
        assert (refused.value.status, refused.value.code) == (422, code)
    assert office.rstore.inbox("P1") == []


def test_new_patient_requests_are_rate_limited_per_client(office: Office) -> None:
    for n in range(5):
        body = {"name": f"Person {n}", "email": f"p{n}@example.test"}
        service.request_visit(office.ports, "P1", body, "198.51.100.9")
    with pytest.raises(ApiError) as limited:
        service.request_visit(office.ports, "P1", {"name": "Six", "email": "p6@example.test"}, "198.51.100.9")
    assert limited.value.status == 429
    assert len(office.rstore.inbox("P1")) == 5


def test_invalid_new_patient_requests_do_not_spend_the_allowance_for_valid_ones(office: Office) -> None:
    for bad in ({"name": ""}, {"name": "Nia", "phone": "12"}, {"name": "Nia"}, {}, {"name": "Nia", "email": "x"}):
        with pytest.raises(ApiError) as refused:
            service.request_visit(office.ports, "P1", bad, "198.51.100.9")
        assert refused.value.status == 422
    sixth = service.request_visit(office.ports, "P1", {"name": "Nia", "phone": "+15555550133"}, "198.51.100.9")
    assert sixth["received"] is True
    assert len(office.rstore.inbox("P1")) == 1


def test_many_invalid_new_patient_requests_from_one_client_are_limited_apart(office: Office) -> None:
    for _ in range(service.PER_CLIENT_INVALID.limit):
        with pytest.raises(ApiError) as refused:
            service.request_visit(office.ports, "P1", {"name": ""}, "198.51.100.9")
        assert refused.value.status == 422
    with pytest.raises(ApiError) as limited:
        service.request_visit(office.ports, "P1", {"name": ""}, "198.51.100.9")
    assert limited.value.status == 429
    still = service.request_visit(office.ports, "P1", {"name": "Nia", "phone": "+15555550133"}, "198.51.100.9")
    assert still["received"] is True


def test_a_rate_limited_new_patient_request_says_how_many_seconds_to_wait(office: Office) -> None:
    office.clock.at = utc("2027-03-10T15:20")
    for n in range(5):
        service.request_visit(office.ports, "P1", {"name": f"Person {n}", "email": f"p{n}@example.test"}, "c1")
    with pytest.raises(ApiError) as limited:
        service.request_visit(office.ports, "P1", {"name": "Six", "email": "p6@example.test"}, "c1")
    assert (limited.value.status, limited.value.code) == (429, "rate_limited")
    assert limited.value.headers == {"Retry-After": "2400"}  # 40 minutes to the hour's window end


def test_settings_change_version_by_version_and_refuse_http_links(office: Office) -> None:
    saved = service.change_settings(
        office.ports, "P1", {"version": 1, "review_links": {"facebook": "https://fb.example.test/m"}}
    )
    assert saved["version"] == 2 and saved["rewards_enabled"] is False and "states" in saved["rewards_note"]
    with pytest.raises(ApiError) as stale:
        service.change_settings(office.ports, "P1", {"version": 1})
    assert stale.value.status == 409
    with pytest.raises(ApiError) as http:
        service.change_settings(office.ports, "P1", {"version": 2, "review_links": {"google": "http://g.example.test"}})
    assert http.value.status == 422


def test_a_guardian_session_gets_a_code_for_a_patient_it_manages_only(office: Office) -> None:
    caller = PatientCaller("P1", "session", "G1", ("PAT-A",))
    assert service.my_referral(office.ports, caller)["patient_id"] == "PAT-A"
    with pytest.raises(ApiError) as foreign:
        service.my_referral(office.ports, caller, "PAT-Z")
    assert foreign.value.status == 404


def test_months_back_and_before_clamp_at_month_ends() -> None:
    assert model.months_back("2027-02", 3) == ["2026-12", "2027-01", "2027-02"]
    assert model.months_before(utc("2027-08-31T10:00"), 6) == utc("2027-02-28T10:00")
    assert copy.copy(model.nps(0, 0, 0)) is None
    assert model.month_of(utc("2027-04-01T02:00"), "America/New_York") == "2027-03"
    assert model.months_before(utc("2027-03-10T00:00"), 0) + timedelta(0) == utc("2027-03-10T00:00")
