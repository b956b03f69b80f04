"""Reminder domain rules: offsets across DST (C02), quiet hours, daily jobs, policy, routing, SES classes (C12)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from chalicelib.reminders.model import (
    DAYS,
    EMAIL,
    HOURS,
    SMS,
    SOFT_BOUNCE_LIMIT,
    AddressState,
    ContactPrefs,
    Policy,
    PolicyError,
    SendingHours,
    appointment_verdict,
    classify_feedback,
    e164,
    next_daily_run,
    offset_instant,
    plan_reminders,
    policy_from_dict,
    prefs_from_dict,
    route_message,
    stored_forms,
    with_soft_bounce,
)

NY = "America/New_York"
DENVER = "America/Denver"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(at: datetime, zone: str = NY) -> str:
    return at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


# --- C02: offsets -----------------------------------------------------------------------------------

A1 = utc("2027-03-15T13:30")  # Mon 09:30 EDT, the day after spring forward
A4 = utc("2027-11-08T14:00")  # Mon 09:00 EST, the day after fall back


def test_a_two_day_touch_keeps_the_local_clock_time_across_spring_forward() -> None:
    due = offset_instant(A1, 2, DAYS, NY)
    assert due == utc("2027-03-13T14:30")
    assert local(due) == "2027-03-13 09:30 EST"
    assert due != A1 - timedelta(hours=48)  # 13:30Z would be 08:30 EST: wrong


def test_a_two_hour_touch_is_an_exact_duration() -> None:
    due = offset_instant(A1, 2, HOURS, NY)
    assert due == utc("2027-03-15T11:30")
    assert local(due) == "2027-03-15 07:30 EDT"


def test_a_two_day_touch_keeps_the_local_clock_time_across_fall_back() -> None:
    due = offset_instant(A4, 2, DAYS, NY)
    assert due == utc("2027-11-06T13:00")
    assert local(due) == "2027-11-06 09:00 EDT"


def test_the_booking_date_does_not_change_the_send_instants() -> None:
    policy = Policy()
    hours = SendingHours()
    # plan_reminders takes no booking date at all: the plan is a function of the visit alone.
    booked_in_est = plan_reminders(A1, "booked", policy, NY, hours, NY)
    booked_in_edt = plan_reminders(A1, "booked", policy, NY, hours, NY)
    assert [t.due for t in booked_in_est] == [t.due for t in booked_in_edt]
    assert [t.due for t in booked_in_est] == [utc("2027-03-08T14:30"), utc("2027-03-13T14:30"), utc("2027-03-15T12:00")]


def test_a_touch_in_quiet_hours_moves_to_the_next_opening() -> None:
    # A1 T-2h is 07:30 EDT: quiet; it moves to 08:00 EDT, still before the 09:30 visit.
    planned = {t.key: t.due for t in plan_reminders(A1, "booked", Policy(), NY, SendingHours(), NY)}
    assert planned["2h"] == utc("2027-03-15T12:00")
    assert local(planned["2h"]) == "2027-03-15 08:00 EDT"


def test_a_touch_that_would_move_past_the_visit_is_dropped() -> None:
    early = utc("2027-04-20T11:30")  # 07:30 EDT visit: T-2h 05:30 moves to 08:00, after the visit
    planned = {t.key for t in plan_reminders(early, "booked", Policy(), NY, SendingHours(), NY)}
    assert planned == {"7d", "2d"}


def test_quiet_hours_are_read_in_the_patients_zone_when_they_have_one() -> None:
    visit = utc("2027-04-20T14:00")  # 10:00 EDT; T-2h = 08:00 EDT = 05:00 in Los Angeles
    planned = {
        t.key: t.due for t in plan_reminders(visit, "booked", Policy(), NY, SendingHours(), "America/Los_Angeles")
    }
    assert "2h" not in planned  # 08:00 Pacific is 11:00 EDT: after the visit


def test_cancelled_requested_and_unknown_statuses_get_no_touches() -> None:
    for status in ("cancelled", "requested", "no_show", "reschedule_requested", "completed"):
        assert plan_reminders(A1, status, Policy(), NY, SendingHours(), NY) == []


def test_a_confirmed_visit_keeps_only_the_touches_meant_for_after_confirming() -> None:
    planned = plan_reminders(A1, "confirmed", Policy(), NY, SendingHours(), NY)
    assert [t.key for t in planned] == ["2h"]
    everything = plan_reminders(A1, "confirmed", Policy(continue_after_confirm=True), NY, SendingHours(), NY)
    assert [t.key for t in everything] == ["7d", "2d", "2h"]


# --- C02: practice-level daily jobs --------------------------------------------------------------------


def _runs(clock: time, start: datetime, end: datetime) -> list[datetime]:
    """Tick every minute like EventBridge; run when due; schedule the next run from the run."""
    runs = []
    next_run = next_daily_run(start, clock, NY)
    at = start
    while at <= end:
        if at >= next_run:
            runs.append(at)
            next_run = next_daily_run(at, clock, NY)
        at += timedelta(minutes=1)
    return runs


def test_the_0130_job_runs_once_on_the_fall_back_day_and_next_at_0630z() -> None:
    runs = _runs(time(1, 30), utc("2027-11-06T12:00"), utc("2027-11-08T12:00"))
    assert runs == [utc("2027-11-07T05:30"), utc("2027-11-08T06:30")]
    assert local(runs[0]) == "2027-11-07 01:30 EDT"
    assert local(runs[1]) == "2027-11-08 01:30 EST"


def test_the_0230_job_runs_once_on_the_spring_forward_day_at_0330_edt() -> None:
    runs = _runs(time(2, 30), utc("2027-03-13T12:00"), utc("2027-03-15T12:00"))
    assert runs == [utc("2027-03-14T07:30"), utc("2027-03-15T06:30")]
    assert local(runs[0]) == "2027-03-14 03:30 EDT"


# --- policy --------------------------------------------------------------------------------------------


def test_the_default_policy_is_seven_days_email_two_days_sms_two_hours_sms() -> None:
    policy = policy_from_dict({})
    assert [(t.key, t.offset, t.unit, t.channel) for t in policy.touches] == [
        ("7d", 7, DAYS, EMAIL),
        ("2d", 2, DAYS, SMS),
        ("2h", 2, HOURS, SMS),
    ]
    assert policy.sending_hours == SendingHours(time(8, 0), time(21, 0))
    assert policy.max_per_day == 1


@pytest.mark.parametrize(
    "raw",
    [
        {"touches": [{"offset": 0, "unit": "days", "channel": "sms"}]},
        {"touches": [{"offset": 2, "unit": "weeks", "channel": "sms"}]},
        {"touches": [{"offset": 2, "unit": "days", "channel": "fax"}]},
        {"touches": [{"key": "a", "offset": 2, "unit": "days", "channel": "sms"}] * 2},
        {"sending_hours": {"start": "21:00", "end": "08:00"}},
        {"sending_hours": {"start": "8am", "end": "21:00"}},
        {"templates": {"reminder.sms.en": "Reply YES to confirm {first_name}"}},
        {"templates": {"reminder.sms.en": "Hi {patient.ssn}"}},
        {"templates": {"nope.sms.en": "hi"}},
        {"surprise": True},
    ],
)
def test_a_policy_that_cannot_work_is_refused_with_a_reason(raw: dict[str, object]) -> None:
    with pytest.raises(PolicyError):
        policy_from_dict(raw)


def test_a_policy_round_trips_through_its_json_shape() -> None:
    policy = policy_from_dict({"touches": [{"offset": 3, "unit": "days", "channel": "email"}], "max_per_day": 2})
    assert policy_from_dict({k: v for k, v in policy.as_dict().items() if k != "version"}) == policy


# --- send-time checks ------------------------------------------------------------------------------------


def test_a_claimed_touch_of_a_moved_appointment_is_skipped() -> None:
    verdict = appointment_verdict(
        "reminder", A1, False, "booked", A1 + timedelta(days=2), Policy(), A1 - timedelta(days=2), SendingHours(), NY
    )
    assert (verdict.action, verdict.reason) == ("skip", "moved")


def test_a_touch_found_late_in_quiet_hours_is_retimed_not_sent_at_night() -> None:
    night = utc("2027-03-14T03:00")  # 23:00 EDT the day before
    verdict = appointment_verdict("reminder", A1, False, "booked", A1, Policy(), night, SendingHours(), NY)
    assert verdict.action == "retime"
    assert verdict.due == utc("2027-03-14T12:00")


def test_a_touch_whose_visit_has_started_is_skipped() -> None:
    verdict = appointment_verdict("reminder", A1, False, "booked", A1, Policy(), A1, SendingHours(), NY)
    assert verdict.reason == "visit_started"


# --- routing and preferences ----------------------------------------------------------------------------


def test_an_opted_out_number_falls_back_to_email() -> None:
    candidates = {
        SMS: [AddressState("+15555550123", SMS, sms_opt_out=True)],
        EMAIL: [AddressState("pat.b@example.test", EMAIL)],
    }
    route, notes = route_message(SMS, True, "appointment_reminders", ContactPrefs(), candidates)
    assert route is not None and route.channel == EMAIL
    assert notes == ("sms_opted_out",)


def test_a_suppressed_email_falls_back_to_sms_only_where_sms_is_consented() -> None:
    candidates = {
        SMS: [AddressState("+15555550123", SMS)],
        EMAIL: [AddressState("pat.b@example.test", EMAIL, email_suppressed=True)],
    }
    route, _ = route_message(EMAIL, True, "appointment_reminders", ContactPrefs(), candidates)
    assert route is not None and route.channel == SMS
    no_sms = ContactPrefs(channels={"appointment_reminders": {"sms": False}})
    route, notes = route_message(EMAIL, True, "appointment_reminders", no_sms, candidates)
    assert route is None and notes == ("email_suppressed", "sms_declined")


def test_preferences_keep_what_a_change_leaves_out() -> None:
    first = prefs_from_dict({"channels": {"recall": {"sms": False}}, "language": "es"})
    second = prefs_from_dict({"sending_hours": {"start": "09:00", "end": "18:00"}}, first)
    assert not second.allows("recall", SMS) and second.allows("recall", EMAIL)
    assert second.language == "es"
    assert second.sending_hours == SendingHours(time(9, 0), time(18, 0))


def test_a_lone_sending_hours_start_keeps_the_stored_end() -> None:
    stored = prefs_from_dict({"sending_hours": {"start": "07:00", "end": "12:00"}})
    changed = prefs_from_dict({"sending_hours": {"start": "09:00"}}, stored)
    assert changed.sending_hours == SendingHours(time(9, 0), time(12, 0))
    assert prefs_from_dict({"sending_hours": {"end": "18:00"}}, stored).sending_hours == SendingHours(
        time(7, 0), time(18, 0)
    )


def test_a_lone_sending_hours_start_with_no_stored_hours_is_refused() -> None:
    with pytest.raises(PolicyError, match="both start and end"):
        prefs_from_dict({"sending_hours": {"start": "09:00"}})
    with pytest.raises(PolicyError, match="both start and end"):
        policy_from_dict({"sending_hours": {"end": "18:00"}})


def test_a_lone_side_that_would_end_before_the_stored_start_is_refused() -> None:
    stored = prefs_from_dict({"sending_hours": {"start": "07:00", "end": "12:00"}})
    with pytest.raises(PolicyError):
        prefs_from_dict({"sending_hours": {"start": "13:00"}}, stored)


def test_numbers_in_any_stored_format_match_in_e164() -> None:
    assert e164("(555) 555-0123") == "+15555550123"
    assert "(555) 555-0123" in stored_forms("+15555550123")
    assert e164("not a number") == ""


# --- C12 classification ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "bounce", "status", "expected"),
    [
        ("Bounce", "Permanent", "5.1.1", "suppress"),
        ("Complaint", "", "", "suppress"),
        ("Bounce", "Transient", "4.2.2", "soft"),
        ("Bounce", "Transient", "5.4.4", "suppress"),
        ("Bounce", "Transient", "4.4.7", "soft"),
        ("Bounce", "Undetermined", "", "soft"),
        ("Delivery", "", "", "delivered"),
        ("Nonsense", "", "", "ignore"),
    ],
)
def test_ses_notices_are_classified_as_the_design_says(kind: str, bounce: str, status: str, expected: str) -> None:
    assert classify_feedback(kind, bounce, status).action == expected


def test_three_soft_bounces_suppress_an_address_and_two_do_not() -> None:
    state = AddressState("pat.b@example.test", EMAIL)
    for _ in range(SOFT_BOUNCE_LIMIT - 1):
        state = with_soft_bounce(state)
    assert not state.email_suppressed and state.soft_bounces == 2
    state = with_soft_bounce(state)
    assert state.email_suppressed and state.suppressed_reason == "soft_bounces"
