"""Races the other race tests do not cover: many sweeps of one minute, many deliveries of one Stripe
event, and waitlist offers accepted at the same moment. Each has one outcome however the threads
interleave. (Booking races: test_booking_races.py.) Full sizes run in bench/races.py.

moto's DynamoDB is not thread-safe; ``atomic_dynamodb_requests`` makes it handle one request at a
time, as DynamoDB serialises conflicting writes. The threads still interleave between requests.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.platform.deps import Deps
from chalicelib.reminders.handlers import ports_for
from chalicelib.reminders.service import sweep
from local.atomic_dynamodb import atomic_dynamodb_requests
from tests import factories
from tests.integration.billing_world import BillingWorld, make_world
from tests.integration.conftest import StaffTokens
from tests.integration.test_reminder_sweep import Book, seed, sent_emails, sent_texts, utc
from tests.integration.test_stripe_webhook import C06, payments, stored_events


def at_once(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads released together; their results (or exceptions)."""
    gate = threading.Barrier(count)
    results: list[Any] = [None] * count

    def one(i: int) -> None:
        gate.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # collected and asserted on by the caller
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    with atomic_dynamodb_requests():
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return results


def test_twenty_sweeps_of_the_same_minute_send_each_reminder_exactly_once(api: Client, app_deps: Deps) -> None:
    app_deps.clock.at = utc("2027-03-01T15:00")  # type: ignore[attr-defined]
    patients = [factories.patient(f"PAT-{n}", phone=f"+155555501{n:02d}") for n in range(10, 16)]
    seed(factories.maple(), *patients)
    book = Book(app_deps, factories.maple())
    for n, p in enumerate(patients):
        book.book(f"A{n}", p.id, utc(f"2027-03-15T{13 + n}:30"))
    due = utc("2027-03-14T23:00")  # every touch up to here is due in this one minute's catch-up
    app_deps.clock.at = due  # type: ignore[attr-defined]
    outcomes = at_once(20, lambda _i: sweep(ports_for(app_deps), due))
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    sent = Counter(to for to, _ in sent_texts()) + Counter(m.destinations["ToAddresses"][0] for m in sent_emails())
    assert sent, "the sweep sent nothing: the fixture's touches were not due"
    assert max(sent.values()) == 1, f"a reminder went out twice: {sent}"
    again = Counter(to for to, _ in sent_texts())
    sweep(ports_for(app_deps), due)
    assert Counter(to for to, _ in sent_texts()) == again


@pytest.fixture
def billing(api: Client, app_deps: Deps, staff: StaffTokens, monkeypatch: pytest.MonkeyPatch) -> BillingWorld:
    return make_world(api, app_deps, staff.headers("P1", "front_desk"), monkeypatch)


def test_fifty_deliveries_of_one_signed_event_at_once_credit_the_ledger_once(billing: BillingWorld) -> None:
    billing.charge("PAT-A", "125.00", invoice="INV-1001")
    outcomes = at_once(50, lambda _i: billing.deliver(C06))
    statuses = Counter(getattr(o, "status_code", type(o).__name__) for o in outcomes)
    assert statuses == {200: 50}, statuses
    results = Counter(o.json_body["outcome"] for o in outcomes)
    assert results["applied"] == 1, results
    assert payments(billing, "PAT-A") == [(12500, "pi_test_001")]
    assert stored_events() == ["evt_test_001"]
    assert len(billing.email.sent) == 1


@pytest.fixture
def waitlist(app_deps: Deps, monkeypatch: pytest.MonkeyPatch) -> Any:
    from tests.integration.test_booking_api import copy_tables_once_per_transaction
    from tests.integration.test_booking_api import seed as seed_booking

    copy_tables_once_per_transaction(monkeypatch)
    return seed_booking(app_deps)


def test_two_offers_of_one_freed_time_accepted_at_the_same_moment_book_it_once(api: Client, waitlist: Any) -> None:
    from tests.integration.test_booking_api import book, patient, post
    from tests.integration.test_waitlist_api import WINDOW, token_in

    freed = book(api, "tok-a", "2027-04-20T14:00:00Z").json_body
    for token, pid in (("tok-b", "PAT-B"), ("tok-c", "PAT-C")):
        assert post(api, "/patient/waitlist", patient(token), {"patient_id": pid, **WINDOW}).status_code == 201
        waitlist.clock.advance(seconds=1)
    post(api, f"/patient/appointments/{freed['id']}/cancel", patient("tok-a"), {})
    links = [token_in(m.text) for m in waitlist.sms.sent if "earlier time opened" in m.text]
    assert len(links) == 2
    outcomes = at_once(2, lambda i: post(api, f"/a/{links[i]}", {}))
    statuses = sorted(getattr(o, "status_code", type(o).__name__) for o in outcomes)
    assert statuses == [200, 409], [getattr(o, "body", o) for o in outcomes]
    day = api.http.get("/patient/appointments", headers=patient("tok-b")).json_body
    booked_b = [a for a in day.get("appointments", []) if a.get("status") == "booked"]
    booked_c = api.http.get("/patient/appointments", headers=patient("tok-c")).json_body.get("appointments", [])
    assert len(booked_b) + len([a for a in booked_c if a.get("status") == "booked"]) == 1
