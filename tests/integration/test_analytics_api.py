"""Analytics and worklists against moto: roll-ups kept on write, exact past DynamoDB's 1 MB pages, money
figures only for money roles, worklists from indexes, 4xx for bad input."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from chalice.test import Client

from chalicelib.appointments.model import Appointment, HistoryEntry
from chalicelib.appointments.store import AppointmentItem, appointment_item
from chalicelib.imports.metering import DynamoRequests
from chalicelib.inbox.service import new_item
from chalicelib.inbox.store import InboxStore
from chalicelib.patients.store import PatientStore
from chalicelib.platform.clock import FixedClock
from chalicelib.platform.deps import Deps
from chalicelib.practices.store import PracticeStore, appointment_type_item, provider_item
from tests import factories
from tests.integration.conftest import StaffTokens

NOW = datetime(2027, 3, 10, 15, 0, tzinfo=UTC)  # the clock fixture: Wednesday, 10:00 EST
ZONE = "America/New_York"


def _seed() -> None:
    PracticeStore().put(factories.maple())
    PracticeStore().put(factories.birch())
    provider_item("P1", factories.provider("DR1")).save()
    appointment_type_item("P1", factories.cleaning()).save()
    for n in range(4):
        PatientStore().put("P1", factories.patient(f"PAT-{n}", phone=f"+1555555013{n}"))


def _appointment(aid: str, pid: str, start: datetime, status: str, note: str = "") -> Appointment:
    a = factories.appointment(aid, pid, start, status="booked")
    a.history = [HistoryEntry(at=start - timedelta(days=20), action="booked", by="staff-1")]
    if status != "booked":
        a.history.append(HistoryEntry(at=start + timedelta(hours=1), action=f"booked->{status}", by="staff-1"))
    return dataclasses.replace(a, status=status, note=note)


def _save(appointments: list[Appointment]) -> None:
    with AppointmentItem.batch_write() as batch:
        for a in appointments:
            item = appointment_item("P1", ZONE, a)
            item.version = 1
            batch.save(item)


def _get(api: Client, path: str, headers: dict[str, str]) -> Any:
    return api.http.get(path, headers=headers)


def _post(api: Client, path: str, headers: dict[str, str], body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body or {}).encode()
    return api.http.post(path, headers={"Content-Type": "application/json", **headers}, body=data)


def _feb(figures: dict[str, Any]) -> dict[str, Any]:
    return next(m for m in figures["trend"] if m["month"] == "2027-02")


def test_counts_stay_exact_past_one_dynamodb_page_and_a_second_back_fill_changes_nothing(
    api: Client, staff: StaffTokens, app_deps: Deps
) -> None:
    _seed()
    start = datetime(2027, 2, 1, 14, tzinfo=UTC)
    bulky = "x" * 2000  # ~2.5 KB items: 600 of them are more than one 1 MB page
    visits = [
        _appointment(
            f"A{n:04d}",
            f"PAT-{n % 4}",
            start + timedelta(minutes=5 * n),
            "no_show" if n % 10 == 0 else "completed",
            bulky,
        )
        for n in range(600)
    ]
    _save(visits)
    owner = staff.headers("P1", "owner")
    with DynamoRequests() as counted:
        first = _post(api, "/practices/P1/analytics/backfill", owner)
    assert first.status_code == 200, first.body
    assert first.json_body["appointments"] == 600
    assert counted.by_operation["Query"] >= 2  # the appointments came in more than one page
    again = _post(api, "/practices/P1/analytics/backfill", owner)
    assert again.json_body["appointments_changed"] == 0
    summary = _get(api, "/practices/P1/analytics/summary", owner).json_body
    feb = _feb(summary)
    assert (feb["completed"], feb["no_shows"]) == (540, 60)
    assert feb["no_show_rate"] == {"numerator": 60, "denominator": 600, "percent": "10.0"}
    assert feb["confirmed_before_day"] == {"numerator": 0, "denominator": 600, "percent": "0.0"}
    assert summary["recall_share"] == {"numerator": 0, "denominator": 4, "percent": "0.0"}


def test_a_staff_no_show_is_counted_once_when_it_happens_and_the_event_repeated_adds_nothing(
    api: Client, staff: StaffTokens, app_deps: Deps
) -> None:
    _seed()
    visit = _appointment("A1", "PAT-0", datetime(2027, 2, 15, 15, tzinfo=UTC), "booked")
    appointment_item("P1", ZONE, visit).save()
    desk = staff.headers("P1", "front_desk")
    marked = _post(api, "/practices/P1/appointments/A1/no-show", desk)
    assert marked.status_code == 200, marked.body
    _post(api, "/practices/P1/appointments/A1/no-show", desk)  # the same action twice changes nothing
    from chalicelib.analytics.handlers import tally_appointments

    tally_appointments(app_deps, "P1", ["A1"])  # as a re-delivered event would
    feb = _feb(_get(api, "/practices/P1/analytics/summary", desk).json_body)
    assert (feb["no_shows"], feb["completed"]) == (1, 0)


def test_the_front_desk_sees_no_money_and_the_owner_sees_collections_outstanding_and_roi(
    api: Client, staff: StaffTokens, app_deps: Deps
) -> None:
    _seed()
    owner = staff.headers("P1", "owner")
    for body in (
        {"kind": "charge", "amount": "150.00", "posted_on": "2027-01-05"},
        {"kind": "payment", "amount": "40.00", "posted_on": "2027-02-02"},
    ):
        posted = _post(api, "/practices/P1/patients/PAT-1/ledger", owner, body)
        assert posted.status_code in (200, 201), posted.body
    money = _get(api, "/practices/P1/analytics/summary", owner).json_body
    assert money["outstanding"] == {"owed_cents": 11000, "credit_cents": 0}
    assert _feb(money)["collections_cents"] == 4000
    assert _feb(money)["online_collections_cents"] == 0
    assert "method" in money["roi"] and money["roi"]["inputs"]["production_per_visit_cents"] == 20000
    desk = staff.headers("P1", "front_desk")
    plain = _get(api, "/practices/P1/analytics/summary", desk)
    assert plain.status_code == 200
    assert "cents" not in plain.body.decode() and "roi" not in plain.json_body
    assert _get(api, "/practices/P1/analytics/roi", desk).status_code == 403
    assert _get(api, "/practices/P1/analytics/roi", owner).json_body["roi"]["net_cents"] == 0
    balances = _get(api, "/practices/P1/worklists/balances", desk).json_body
    assert [(r["patient_id"], r["balance_cents"], r["bucket"]) for r in balances["rows"]] == [("PAT-1", 11000, 60)]
    assert balances["rows"][0]["link"] == "#patients/PAT-1"


def test_outstanding_agrees_with_the_staff_ledger_balance_when_insurance_is_pending(
    api: Client, staff: StaffTokens, app_deps: Deps
) -> None:
    _seed()
    owner = staff.headers("P1", "owner")
    for body in (
        {"kind": "charge", "amount": "212.49", "posted_on": "2027-01-05"},
        {"kind": "payment", "amount": "120.00", "posted_on": "2027-01-05"},
        {"kind": "insurance_estimate", "amount": "120.00", "posted_on": "2027-01-05", "claim_id": "C1"},
    ):
        posted = _post(api, "/practices/P1/patients/PAT-1/ledger", owner, body)
        assert posted.status_code in (200, 201), posted.body
    account = _get(api, "/practices/P1/patients/PAT-1/ledger", owner).json_body
    money = _get(api, "/practices/P1/analytics/summary", owner).json_body
    assert (account["balance"]["total_cents"], account["balance"]["owed_now_cents"]) == (9249, 0)
    assert money["outstanding"]["owed_cents"] == account["balance"]["owed_now_cents"]


def test_roi_inputs_are_versioned_practice_settings(api: Client, staff: StaffTokens, app_deps: Deps) -> None:
    _seed()
    owner = staff.headers("P1", "owner")
    current = _get(api, "/practices/P1/settings", owner).json_body
    assert current["analytics"]["baseline_no_show_bp"] is None
    changed = api.http.put(
        "/practices/P1/settings",
        headers={"Content-Type": "application/json", **owner},
        body=json.dumps({"version": current["version"], "analytics": {"baseline_no_show_bp": 1200}}).encode(),
    )
    assert changed.status_code == 200, changed.body
    roi = _get(api, "/practices/P1/analytics/roi", owner).json_body["roi"]
    assert (roi["inputs"]["baseline_no_show_percent"], roi["inputs"]["baseline_source"]) == ("12.0", "setting")
    refused = api.http.put(
        "/practices/P1/settings",
        headers={"Content-Type": "application/json", **owner},
        body=json.dumps({"version": current["version"] + 1, "analytics": {"minutes_per_call": -1}}).encode(),
    )
    assert refused.status_code == 422


def test_worklists_show_tomorrows_unconfirmed_visits_overdue_recall_and_unanswered_inbox_items(
    api: Client, staff: StaffTokens, app_deps: Deps
) -> None:
    _seed()
    tomorrow = datetime(2027, 3, 11, 15, tzinfo=UTC)
    _save(
        [
            _appointment("T1", "PAT-0", tomorrow, "booked"),
            _appointment("T2", "PAT-1", tomorrow + timedelta(hours=1), "confirmed"),
            _appointment("OLD", "PAT-2", datetime(2026, 7, 1, 14, tzinfo=UTC), "completed"),
            _appointment("RECENT", "PAT-3", datetime(2027, 1, 20, 15, tzinfo=UTC), "completed"),
        ]
    )
    owner = staff.headers("P1", "owner")
    _post(api, "/practices/P1/analytics/backfill", owner)
    InboxStore().add("P1", new_item("sms_reply", NOW - timedelta(hours=2), "+15555550130", ("PAT-0",), "running late"))
    desk = staff.headers("P1", "front_desk")
    unconfirmed = _get(api, "/practices/P1/worklists/unconfirmed", desk).json_body
    assert unconfirmed["date"] == "2027-03-11"
    assert [(r["appointment_id"], r["link"]) for r in unconfirmed["rows"]] == [("T1", "#day/2027-03-11")]
    recall = _get(api, "/practices/P1/worklists/recall", desk).json_body
    assert [(r["patient_id"], r["due"]) for r in recall["rows"]] == [("PAT-2", "2027-01-01")]
    inbox = _get(api, "/practices/P1/worklists/inbox", desk).json_body
    assert [(r["kind"], r["patient_id"], r["link"]) for r in inbox["rows"]] == [("sms_reply", "PAT-0", "#inbox")]


def test_worklists_page_with_cursors_and_refuse_made_up_ones(api: Client, staff: StaffTokens, app_deps: Deps) -> None:
    _seed()
    _save([_appointment(f"V{n}", f"PAT-{n}", datetime(2026, 6, 1 + n, 14, tzinfo=UTC), "completed") for n in range(4)])
    owner = staff.headers("P1", "owner")
    _post(api, "/practices/P1/analytics/backfill", owner)
    seen: list[str] = []
    cursor = ""
    for _ in range(10):
        page = _get(api, f"/practices/P1/worklists/recall?limit=3&cursor={cursor}", owner).json_body
        seen += [r["patient_id"] for r in page["rows"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ["PAT-3", "PAT-2", "PAT-1", "PAT-0"]
    for bad in ("cursor=not-a-cursor", "limit=0", "limit=x", "cursor=" + "a" * 2100):
        answer = _get(api, f"/practices/P1/worklists/recall?{bad}", owner)
        assert answer.status_code == 422, (bad, answer.body)
    assert _get(api, "/practices/P1/worklists/unconfirmed?date=tomorrow", owner).status_code == 422


def test_imported_history_is_counted_in_the_import_path_and_a_reimport_counts_nothing_again(
    api: Client, staff: StaffTokens, app_deps: Deps
) -> None:
    _seed()
    owner = staff.headers("P1", "owner")
    patients = (
        "PatNum,LName,FName,Birthdate,WirelessPhone,Email\n101,Rivera,Jordan,1985-03-02,(555) 555-0150,j@example.test\n"
    )
    visits = (
        "AptNum,PatNum,AptDateTime,Length,ProvNum,Op,AptType,IsHygiene,AptStatus\n"
        "9001,101,2026-09-14 09:00,60,3,3,Cleaning,1,Complete\n"
        "9002,101,2027-02-15 09:00,60,3,3,Cleaning,1,Broken\n"
        "9003,101,2027-02-16 09:00,60,3,3,Cleaning,1,Cancelled\n"
        "9004,101,2027-04-12 09:00,60,3,3,Cleaning,1,Scheduled\n"
    )
    for kind, body in (("patients_csv", patients), ("appointments_csv", visits), ("appointments_csv", visits)):
        made = api.http.post(
            f"/practices/P1/imports?kind={kind}", headers={"Content-Type": "text/csv", **owner}, body=body.encode()
        )
        assert made.status_code == 200, made.body
    summary = _get(api, "/practices/P1/analytics/summary", owner).json_body
    assert (_feb(summary)["no_shows"], _feb(summary)["cancellations"], _feb(summary)["late_cancellations"]) == (1, 1, 0)
    sept = next(m for m in summary["trend"] if m["month"] == "2026-09")
    assert sept["completed"] == 1
    assert summary["recall_share"] == {"numerator": 1, "denominator": 1, "percent": "100.0"}


def test_reminders_sent_opt_outs_bounces_and_texts_received_are_counted_once_each(
    api: Client, app_deps: Deps, staff: StaffTokens
) -> None:
    from tests.integration.test_reminder_sweep import Book, seed, tick, utc
    from tests.integration.test_ses_feedback import deliver, notice

    assert isinstance(app_deps.clock, FixedClock)
    app_deps.clock.at = utc("2027-04-01T15:00")
    seed(
        factories.maple(),
        factories.patient("PAT-A"),
        factories.patient("PAT-B", phone="(555) 555-0123", email="pat.b@example.test"),
    )
    Book(app_deps, factories.maple()).book("R1", "PAT-A", utc("2027-04-20T14:00"))
    tick(api, app_deps, utc("2027-04-13T14:00"))  # the 7-day email
    tick(api, app_deps, utc("2027-04-18T14:00"))  # the 2-day text
    tick(api, app_deps, utc("2027-04-18T14:01"))  # nothing left: nothing counted again
    for message_id in ("in-1", "in-1", "in-2"):  # SNS delivers at least once; STOP twice is one opt-out
        body = {
            "originationNumber": "+15555550121",
            "destinationNumber": "+15555550100",
            "messageBody": "STOP",
            "inboundMessageId": message_id,
        }
        api.lambda_.invoke("inbound_sms", api.events.generate_sns_event(message=json.dumps(body)))
    for _ in range(2):
        deliver(api, notice("Bounce", "m-1", bounce_type="Permanent", status="5.1.1"))
    owner = staff.headers("P1", "owner")
    april = next(
        m for m in _get(api, "/practices/P1/analytics/summary", owner).json_body["trend"] if m["month"] == "2027-04"
    )
    assert april["messages"]["email"] == {"sent": 1, "failed": 0, "bounced": 1, "opted_out": 0}
    assert april["messages"]["sms"] == {"sent": 1, "failed": 0, "bounced": 0, "opted_out": 1}
    assert april["sms_parts"] >= 1 and april["sms_inbound"] == 2


def test_an_account_tally_written_before_owed_now_was_kept_reads_its_positive_balance_as_owed(app_deps: Deps) -> None:
    from chalicelib.analytics.store import AnalyticsStore, _key, _table
    from chalicelib.platform.aws import client

    item = {**_key("P1", "TALLY#ACCOUNT#PAT-1"), "patient_id": {"S": "PAT-1"}, "balance": {"N": "9249"}}
    client("dynamodb").put_item(TableName=_table(), Item={**item, "rev": {"N": "3"}, "months": {"S": "{}"}})
    stored = AnalyticsStore().account("P1", "PAT-1")
    assert stored.state is not None and stored.state.owed_now_cents == 9249  # what it added to the totals
