"""Analytics services over the in-memory roll-up store: counting once, whatever runs twice."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta

from chalicelib.analytics import service
from chalicelib.analytics.memory import MemoryRollups
from chalicelib.analytics.model import RoiInputs
from chalicelib.appointments.model import Appointment, HistoryEntry
from chalicelib.billing.model import LedgerLine
from chalicelib.platform.prices import PRICES

P = "P1"
ZONE = "America/New_York"
HYGIENE = {"CLEAN"}
BOOKED_AT = datetime(2027, 1, 2, 12, tzinfo=UTC)


def _appt(aid: str, pid: str, start: datetime, status: str = "booked", type_id: str = "CLEAN") -> Appointment:
    return Appointment(
        id=aid,
        patient_id=pid,
        provider_id="DR1",
        operatory_id="OP2",
        type_id=type_id,
        start=start,
        end=start + timedelta(hours=1),
        status=status,
        history=[HistoryEntry(at=BOOKED_AT, action="booked", by="staff-1")],
    )


def _move(a: Appointment, to: str, at: datetime, by: str = "staff-1") -> Appointment:
    b = copy.deepcopy(a)
    b.history.append(HistoryEntry(at=at, action=f"{b.status}->{to}", by=by))
    b.status = to
    return b


def _tally(store: MemoryRollups, *ids: str) -> service.Tallied:
    return service.tally_ids(store, P, ZONE, HYGIENE, list(ids))


def test_an_event_applied_twice_counts_once() -> None:
    store = MemoryRollups()
    a = _appt("A1", "PAT-A", datetime(2027, 2, 10, 15, tzinfo=UTC))
    store.put_appointment(_move(a, "no_show", datetime(2027, 2, 10, 17, tzinfo=UTC)))
    assert _tally(store, "A1").changed == 1
    assert _tally(store, "A1").changed == 0
    assert store.months(P, ["2027-02"])["2027-02"] == {"no_show": 1, "held_tracked": 1}


def test_a_status_corrected_by_an_import_moves_the_count_instead_of_adding_one() -> None:
    store = MemoryRollups()
    a = _appt("A1", "PAT-A", datetime(2027, 2, 10, 15, tzinfo=UTC))
    no_show = _move(a, "no_show", datetime(2027, 2, 10, 17, tzinfo=UTC))
    store.put_appointment(no_show)
    _tally(store, "A1")
    store.put_appointment(_move(no_show, "completed", datetime(2027, 2, 11, tzinfo=UTC), by="import"))
    _tally(store, "A1")
    _tally(store, "A1")
    assert store.months(P, ["2027-02"])["2027-02"] == {"completed": 1, "held_tracked": 1, "last_visit": 1}


def test_a_tally_from_a_stale_read_is_put_right_by_the_newer_changes_own_tally() -> None:
    store = MemoryRollups()
    a = _appt("A1", "PAT-A", datetime(2027, 2, 10, 15, tzinfo=UTC))
    store.put_appointment(_move(a, "cancelled", datetime(2027, 2, 10, 3, tzinfo=UTC)))
    stale = store.appointments(P, ["A1"])
    store.put_appointment(_move(a, "no_show", datetime(2027, 2, 10, 17, tzinfo=UTC)))  # the stored state moved on
    service.tally(store, P, ZONE, HYGIENE, stale)
    _tally(store, "A1")  # the newer change's event
    assert store.months(P, ["2027-02"])["2027-02"] == {"no_show": 1, "held_tracked": 1}


def test_a_writer_that_lost_the_race_for_the_patient_retries_from_fresh_reads() -> None:
    store = MemoryRollups()
    store.put_appointment(_move(_appt("A1", "PAT-A", datetime(2027, 2, 10, 15, tzinfo=UTC)), "no_show", BOOKED_AT))
    store.put_appointment(_move(_appt("A2", "PAT-A", datetime(2027, 2, 11, 15, tzinfo=UTC)), "completed", BOOKED_AT))
    read_before = store.facts(P, ["PAT-A"])
    _tally(store, "A2")  # another writer moves the patient's item on
    fresh = store.facts
    answers = iter([read_before])  # our first read is stale; later reads are fresh
    store.facts = lambda practice_id, ids: next(answers, None) or fresh(practice_id, ids)  # type: ignore[method-assign]
    service.tally(store, P, ZONE, HYGIENE, store.appointments(P, ["A1", "A2"]))
    assert store.months(P, ["2027-02"])["2027-02"] == {"no_show": 1, "completed": 1, "held_tracked": 2, "last_visit": 1}


def test_the_back_fill_counts_every_appointment_across_pages_once_however_often_it_runs() -> None:
    store = MemoryRollups()
    start = datetime(2027, 2, 1, 15, tzinfo=UTC)
    for n in range(10):  # the memory store pages by 3
        status = "no_show" if n % 5 == 0 else "completed"
        store.put_appointment(_move(_appt(f"A{n:02d}", f"PAT-{n % 4}", start + timedelta(days=n)), status, start))
    first = service.backfill_appointments(store, P, ZONE, HYGIENE)
    again = service.backfill_appointments(store, P, ZONE, HYGIENE)
    assert (first.seen, first.changed, again.changed) == (10, 10, 0)
    counters = store.months(P, ["2027-02"])["2027-02"]
    assert (counters["completed"], counters["no_show"]) == (8, 2)
    assert counters["last_visit"] == 4  # each of the 4 patients has a completed visit that month


def test_booking_and_cancelling_a_hygiene_visit_moves_the_patient_in_and_out_of_the_recall_share() -> None:
    store = MemoryRollups()
    seen = _move(_appt("V1", "PAT-A", datetime(2026, 11, 3, 15, tzinfo=UTC)), "completed", BOOKED_AT)
    store.put_appointment(seen)
    nxt = _appt("H1", "PAT-A", datetime(2027, 5, 4, 14, tzinfo=UTC))
    store.put_appointment(nxt)
    _tally(store, "V1", "H1")
    view = service.View(P, ZONE, date(2027, 3, 10), False, RoiInputs(), lambda months: [], PRICES)
    assert service.dashboard(store, view)["recall_share"]["percent"] == "100.0"
    store.put_appointment(_move(nxt, "cancelled", datetime(2027, 3, 1, tzinfo=UTC)))
    _tally(store, "H1")
    _tally(store, "H1")
    assert service.dashboard(store, view)["recall_share"] == {"numerator": 0, "denominator": 1, "percent": "0.0"}


def test_overdue_recall_lists_patients_due_with_nothing_booked_and_skips_booked_ones() -> None:
    store = MemoryRollups()
    for pid, day in (("LATE", datetime(2026, 6, 1, 14, tzinfo=UTC)), ("BOOKED", datetime(2026, 6, 2, 14, tzinfo=UTC))):
        store.put_appointment(_move(_appt(f"V-{pid}", pid, day), "completed", day))
    store.put_appointment(_appt("H-BOOKED", "BOOKED", datetime(2027, 4, 1, 14, tzinfo=UTC)))
    store.put_appointment(
        _move(_appt("V-FRESH", "FRESH", datetime(2027, 1, 5, 15, tzinfo=UTC)), "completed", BOOKED_AT)
    )
    _tally(store, "V-LATE", "V-BOOKED", "H-BOOKED", "V-FRESH")
    page = service.overdue_recall(store, P, date(2027, 3, 10), 6, "", 50)
    assert [(r.patient_id, r.detail["due"]) for r in page.rows] == [("LATE", "2026-12-01")]


def test_an_account_refreshed_twice_counts_its_money_once_and_ages_its_balance() -> None:
    store = MemoryRollups()
    store.add_line(LedgerLine("L1", "PAT-A", "charge", 15000, date(2027, 1, 4)))
    store.add_line(LedgerLine("L2", "PAT-A", "payment", 5000, date(2027, 1, 20), source="stripe"))
    assert service.refresh_accounts(store, P, ["PAT-A", "PAT-A"]) == 1
    assert service.refresh_accounts(store, P, ["PAT-A"]) == 0
    store.add_line(LedgerLine("L3", "PAT-A", "payment", 2500, date(2027, 2, 2)))
    service.refresh_accounts(store, P, ["PAT-A"])
    assert store.months(P, ["2027-01", "2027-02"]) == {
        "2027-01": {"charged": 15000, "collected": 5000, "collected_online": 5000},
        "2027-02": {"collected": 2500},
    }
    assert store.totals(P) == {"owed": 7500}
    rows = service.open_balances(store, P, date(2027, 3, 10), "", 50).rows
    assert [(r.patient_id, r.detail["balance_cents"], r.detail["bucket"]) for r in rows] == [("PAT-A", 7500, 60)]


def test_the_dashboard_outstanding_leaves_out_what_is_pending_with_insurance() -> None:
    store = MemoryRollups()
    store.add_line(LedgerLine("L1", "PAT-A", "charge", 21249, date(2027, 1, 4)))
    store.add_line(LedgerLine("L2", "PAT-A", "payment", 12000, date(2027, 1, 4)))
    store.add_line(LedgerLine("L3", "PAT-A", "insurance_estimate", 12000, date(2027, 1, 4), claim_id="C1"))
    service.refresh_accounts(store, P, ["PAT-A"])
    view = service.View(P, ZONE, date(2027, 3, 10), True, RoiInputs(), lambda months: [], PRICES)
    assert service.dashboard(store, view)["outstanding"] == {"owed_cents": 0, "credit_cents": 0}
    store.add_line(LedgerLine("L4", "PAT-A", "insurance_payment", 8000, date(2027, 3, 1), claim_id="C1"))
    service.refresh_accounts(store, P, ["PAT-A"])
    assert service.dashboard(store, view)["outstanding"] == {"owed_cents": 1249, "credit_cents": 0}


def test_money_figures_stay_out_of_the_answer_for_roles_without_money() -> None:
    store = MemoryRollups()
    store.add_line(LedgerLine("L1", "PAT-A", "payment", 5000, date(2027, 3, 1), source="stripe"))
    service.refresh_accounts(store, P, ["PAT-A"])
    view = service.View(P, ZONE, date(2027, 3, 10), False, RoiInputs(), lambda months: [], PRICES)
    answer = service.dashboard(store, view)
    text = repr(answer)
    assert "roi" not in answer and "outstanding" not in answer and "cents" not in text
    money = service.dashboard(store, service.View(P, ZONE, date(2027, 3, 10), True, RoiInputs(), lambda m: [], PRICES))
    assert money["trend"][-1]["online_collections_cents"] == 5000
    assert money["roi"]["online_collections_cents"] == 5000
