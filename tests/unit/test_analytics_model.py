"""Analytics definitions: exact values on small fixtures, zero denominators, ROI, aging."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from chalicelib.analytics.model import (
    C_CANCELLED,
    C_COMPLETED,
    C_CONFIRMED_BEFORE,
    C_LATE,
    C_NO_SHOW,
    C_SELF_CONFIRMED,
    C_TRACKED,
    PatientFacts,
    RoiInputs,
    account_state,
    aging_bucket,
    appointment_counters,
    cell_moved,
    measured_baseline,
    month_figures,
    months_ending,
    patient_cell,
    percent,
    recall_share,
    roi,
    status_at,
)
from chalicelib.appointments.model import Appointment, HistoryEntry
from chalicelib.billing.model import LedgerLine, balance_of
from chalicelib.platform.prices import PRICES

ZONE = "America/New_York"
VISIT = datetime(2027, 3, 15, 14, 0, tzinfo=UTC)  # 10:00 EDT on Monday 15 March
DAY_BEGINS = datetime(2027, 3, 15, 4, 0, tzinfo=UTC)  # local midnight (EDT)


def _appt(status: str, *history: tuple[datetime, str, str], start: datetime = VISIT) -> Appointment:
    return Appointment(
        id="A1",
        patient_id="PAT-A",
        provider_id="DR1",
        operatory_id="OP2",
        type_id="CLEAN",
        start=start,
        end=start + timedelta(hours=1),
        status=status,
        history=[HistoryEntry(at=at, action=action, by=by) for at, action, by in history],
    )


BOOKED_EARLY = (datetime(2027, 3, 1, 12, 0, tzinfo=UTC), "booked", "staff-1")


def test_a_visit_confirmed_by_text_the_day_before_counts_as_confirmed_before_its_day_and_without_a_call() -> None:
    a = _appt(
        "completed",
        BOOKED_EARLY,
        (datetime(2027, 3, 14, 15, 0, tzinfo=UTC), "booked->confirmed", "sms"),
        (datetime(2027, 3, 15, 13, 55, tzinfo=UTC), "confirmed->arrived", "staff-1"),
        (datetime(2027, 3, 15, 15, 0, tzinfo=UTC), "arrived->completed", "staff-1"),
    )
    assert appointment_counters(a, ZONE) == (
        "2027-03",
        {C_COMPLETED: 1, C_TRACKED: 1, C_CONFIRMED_BEFORE: 1, C_SELF_CONFIRMED: 1},
    )


def test_a_confirmation_on_the_morning_of_the_visit_is_not_before_its_day() -> None:
    a = _appt(
        "no_show",
        BOOKED_EARLY,
        (datetime(2027, 3, 15, 12, 0, tzinfo=UTC), "booked->confirmed", "staff-1"),  # 08:00 EDT, by phone
        (datetime(2027, 3, 15, 16, 0, tzinfo=UTC), "confirmed->no_show", "staff-1"),
    )
    assert appointment_counters(a, ZONE) == ("2027-03", {C_NO_SHOW: 1, C_TRACKED: 1})


def test_a_move_after_confirming_undoes_the_confirmation_for_the_day() -> None:
    a = _appt(
        "completed",
        BOOKED_EARLY,
        (datetime(2027, 3, 5, 12, 0, tzinfo=UTC), "booked->confirmed", "link:confirm"),
        (datetime(2027, 3, 10, 12, 0, tzinfo=UTC), "confirmed->booked", "patient:H1"),
        (datetime(2027, 3, 15, 15, 0, tzinfo=UTC), "booked->arrived", "staff-1"),
        (datetime(2027, 3, 15, 16, 0, tzinfo=UTC), "arrived->completed", "staff-1"),
    )
    assert status_at(a, DAY_BEGINS) == "booked"
    assert appointment_counters(a, ZONE)[1] == {C_COMPLETED: 1, C_TRACKED: 1, C_SELF_CONFIRMED: 1}


def test_history_imported_after_the_visit_counts_as_held_but_not_in_the_confirmation_rate() -> None:
    a = _appt("completed", (datetime(2027, 6, 1, tzinfo=UTC), "imported", "import"))
    assert appointment_counters(a, ZONE) == ("2027-03", {C_COMPLETED: 1})


def test_a_cancellation_23_hours_before_is_late_and_25_hours_before_is_not() -> None:
    late = _appt("cancelled", BOOKED_EARLY, (VISIT - timedelta(hours=23), "booked->cancelled", "patient:H1"))
    early = _appt("cancelled", BOOKED_EARLY, (VISIT - timedelta(hours=25), "booked->cancelled", "patient:H1"))
    assert appointment_counters(late, ZONE)[1] == {C_CANCELLED: 1, C_LATE: 1}
    assert appointment_counters(early, ZONE)[1] == {C_CANCELLED: 1}


def test_a_declined_request_is_not_a_cancellation_and_an_imported_cancellation_is_never_late() -> None:
    declined = _appt("cancelled", BOOKED_EARLY, (VISIT - timedelta(hours=2), "requested->cancelled", "staff-1"))
    imported = _appt("cancelled", (VISIT + timedelta(days=30), "imported", "import"))
    assert appointment_counters(declined, ZONE)[1] == {}
    assert appointment_counters(imported, ZONE)[1] == {C_CANCELLED: 1}


def test_a_visit_late_in_the_evening_belongs_to_its_local_month() -> None:
    a = _appt("completed", BOOKED_EARLY, start=datetime(2027, 4, 1, 1, 30, tzinfo=UTC))  # 31 March, 21:30 EDT
    assert appointment_counters(a, ZONE)[0] == "2027-03"


def test_rates_with_nothing_to_divide_by_are_none_not_zero() -> None:
    figures = month_figures("2027-03", {})
    assert figures["no_show_rate"] == {"numerator": 0, "denominator": 0, "percent": None}
    assert figures["confirmed_before_day"]["percent"] is None
    assert percent(13, 200) == "6.5"
    assert percent(1, 3) == "33.3"
    assert percent(2, 3) == "66.7"


def test_the_no_show_rate_is_no_shows_over_completed_and_no_shows() -> None:
    figures = month_figures("2027-03", {C_COMPLETED: 187, C_NO_SHOW: 13, C_CANCELLED: 20, C_LATE: 5})
    assert figures["no_show_rate"] == {"numerator": 13, "denominator": 200, "percent": "6.5"}
    assert (figures["cancellations"], figures["late_cancellations"]) == (20, 5)


def _facts(visits: dict[str, tuple[date, bool]], upcoming: dict[str, date]) -> PatientFacts:
    return PatientFacts(visits, upcoming)


def test_recall_share_counts_active_patients_holding_a_hygiene_visit_from_today_on() -> None:
    today = date(2027, 3, 10)
    cells: dict[str, dict[str, int]] = {}
    patients = [
        _facts({"v1": (date(2026, 10, 1), True)}, {"h1": date(2027, 4, 2)}),  # active, booked
        _facts({"v2": (date(2026, 12, 5), True)}, {"h2": date(2027, 3, 10)}),  # active, booked today
        _facts({"v3": (date(2026, 11, 1), False)}, {"h3": date(2027, 3, 9)}),  # active, booking passed
        _facts({"v4": (date(2027, 1, 8), True)}, {}),  # active, nothing booked
        _facts({"v5": (date(2025, 8, 1), True)}, {"h5": date(2027, 5, 1)}),  # seen 19 months ago: not active
        _facts({}, {"h6": date(2027, 5, 1)}),  # never seen: not active
    ]
    for facts in patients:
        for month, counters in cell_moved(PatientFacts(), facts).items():
            bucket = cells.setdefault(month, {})
            for k, v in counters.items():
                bucket[k] = bucket.get(k, 0) + v
    assert recall_share(cells, "2027-03", today) == {"numerator": 2, "denominator": 4, "percent": "50.0"}
    assert recall_share({}, "2027-03", today)["percent"] is None


def test_a_patient_moves_between_recall_cells_without_leaving_a_trace() -> None:
    before = _facts({"v1": (date(2026, 10, 1), True)}, {"h1": date(2027, 4, 2)})
    cancelled = Appointment(
        id="h1",
        patient_id="PAT-A",
        provider_id="DR1",
        operatory_id="",
        type_id="CLEAN",
        start=datetime(2027, 4, 2, 14, tzinfo=UTC),
        end=datetime(2027, 4, 2, 15, tzinfo=UTC),
        status="cancelled",
    )
    after = before.with_appointment(cancelled, ZONE, hygiene=True)
    assert after.next_hygiene is None
    assert cell_moved(before, after) == {"2026-10": {"hyg#2027-04-02": -1}}
    assert patient_cell(after) == ("2026-10", {"last_visit": 1})


def test_months_ending_counts_back_across_a_year() -> None:
    assert months_ending("2027-02", 4) == ["2026-11", "2026-12", "2027-01", "2027-02"]


def _line(lid: str, kind: str, cents: int, day: date, source: str = "staff") -> LedgerLine:
    return LedgerLine(id=lid, patient_id="PAT-A", kind=kind, amount_cents=cents, posted_on=day, source=source)


def test_payments_pay_the_oldest_charges_first_and_the_age_is_the_oldest_unpaid_charge() -> None:
    lines = [
        _line("1", "charge", 10000, date(2027, 1, 5)),
        _line("2", "charge", 5000, date(2027, 2, 1)),
        _line("3", "payment", 12000, date(2027, 2, 10), source="stripe"),
        _line("4", "insurance_payment", 1000, date(2027, 3, 1)),
        _line("5", "refund", 2000, date(2027, 3, 2), source="stripe"),
        _line("6", "insurance_estimate", 700, date(2027, 3, 2)),
    ]
    state = account_state(lines)
    assert state.balance_cents == 10000 + 5000 - 12000 - 1000 + 2000
    assert state.oldest_open == date(2027, 2, 1)
    assert state.months == {
        "2027-01": {"charged": 10000},
        "2027-02": {"charged": 5000, "collected": 12000, "collected_online": 12000},
        "2027-03": {"collected": 1000 - 2000, "collected_online": -2000},
    }
    assert aging_bucket(date(2027, 2, 1), date(2027, 3, 2)) is None  # 29 days
    assert aging_bucket(date(2027, 2, 1), date(2027, 3, 3)) == 30
    assert aging_bucket(date(2027, 1, 1), date(2027, 4, 1)) == 90


def test_a_credit_on_account_pays_later_charges_and_leaves_nothing_to_age() -> None:
    state = account_state([_line("1", "payment", 5000, date(2027, 1, 1)), _line("2", "charge", 3000, date(2027, 2, 1))])
    assert (state.balance_cents, state.oldest_open) == (-2000, None)
    assert state.totals() == {"owed": 0, "credit": 2000}


def _pending_with_insurance() -> list[LedgerLine]:
    """A ledger total of $92.49 while $120.00 waits on insurance: the patient owes nothing now."""
    return [
        _line("1", "charge", 21249, date(2027, 1, 5)),
        _line("2", "payment", 12000, date(2027, 1, 5)),
        replace(_line("3", "insurance_estimate", 12000, date(2027, 1, 5)), claim_id="C1"),
    ]


def test_outstanding_is_what_billing_says_is_owed_now_not_the_ledger_total() -> None:
    lines = _pending_with_insurance()
    state = account_state(lines)
    assert state.balance_cents == 9249
    assert balance_of(lines).owed_now_cents == 0
    assert state.owed_now_cents == 0
    assert state.totals() == {"owed": 0, "credit": 0}


def test_once_insurance_pays_its_claim_what_is_left_is_outstanding_as_billing_says() -> None:
    lines = [
        *_pending_with_insurance(),
        replace(_line("4", "insurance_payment", 8000, date(2027, 2, 1)), claim_id="C1"),
    ]
    state = account_state(lines)
    assert balance_of(lines).owed_now_cents == 1249
    assert state.totals() == {"owed": 1249, "credit": 0}


def test_the_measured_baseline_is_the_first_three_months_that_had_visits() -> None:
    history = [
        ("2025-03", {}),
        ("2025-04", {C_COMPLETED: 90, C_NO_SHOW: 10}),
        ("2025-05", {C_COMPLETED: 95, C_NO_SHOW: 5}),
        ("2025-06", {C_COMPLETED: 88, C_NO_SHOW: 12}),
        ("2025-07", {C_COMPLETED: 99, C_NO_SHOW: 1}),
    ]
    rate, months = measured_baseline(history)
    assert (rate, months) == (Fraction(27, 300), ["2025-04", "2025-05", "2025-06"])
    assert measured_baseline([("2025-03", {})]) == (None, [])


def test_roi_adds_recovered_production_online_collections_and_staff_time_and_takes_message_costs() -> None:
    period = {
        C_COMPLETED: 960,
        C_NO_SHOW: 40,  # 4 % now
        "collected_online": 123456,
        "email_sent": 1000,
        "sms_parts": 2000,
        "sms_inbound": 100,
        C_SELF_CONFIRMED: 300,
    }
    inputs = RoiInputs(
        baseline_no_show_bp=1000, production_per_visit_cents=20000, minutes_per_call=3, staff_hour_cents=2400
    )
    answer = roi(period, [], inputs, PRICES)
    # (10 % - 4 %) x 1000 visits = 60 visits x $200
    assert answer["recovered_visits"] == "60.0"
    assert answer["recovered_production_cents"] == 1_200_000
    # 1000 x 0.0001 + 2000 x (0.00581 + 0.003) + 100 x 0.00581 = 0.1 + 17.62 + 0.581 = 18.301 USD
    assert answer["message_cost_cents"] == 1830
    assert (answer["staff_minutes_saved"], answer["staff_time_value_cents"]) == (900, 36000)
    assert answer["net_cents"] == 1_200_000 + 123456 + 36000 - 1830
    assert answer["inputs"]["baseline_no_show_percent"] == "10.0"
    assert answer["inputs"]["current_no_show_percent"] == "4.0"
    assert answer["inputs"]["prices_usd"]["ses_email"] == str(Decimal("0.0001"))


def test_roi_without_visits_or_a_baseline_recovers_nothing_rather_than_guessing() -> None:
    answer = roi({}, [], RoiInputs(), PRICES)
    assert answer["recovered_visits"] == "0.0"
    assert answer["recovered_production_cents"] == 0
    assert answer["inputs"]["baseline_no_show_percent"] is None
    assert answer["net_cents"] == 0
