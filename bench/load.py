"""A bounded load test on loopback against the local stack: simulated patients for a fixed time.

Each simulated patient has a session of its own (minted by the stack child: sign-in is rate-limited
per client, and every request here comes from one address), arrives at a random moment of the first
seconds and visits the page again and again until the time is up, reading each answer for a few
seconds (``THINK``) as a person would: who it is, its upcoming appointments, the free slots of a week;
every other visit it books one of those slots and cancels it again (at most ``BOOKINGS`` times, inside
the per-person limit on changes), on the others it starts a card payment of its balance, which creates
a PaymentIntent in localstripe. It stops by itself: no request starts after the time is up.

A request is an error when it ends in a 5xx, a 429, a transport failure or any other status than the
ones its step expects (a booking may also lose its slot to another simulated patient: 409 slot_taken).

Figures: ``load_requests`` (requests made), ``load_errors`` (goal 0), ``load_p95_ms`` (95th percentile
of request latency, every kind together), plus ``load_users``, ``load_seconds`` and ``load_rps``. The
tiny version runs in tests/e2e/test_load.py. A thread pool, not locust: locust brings gevent, which
patches sockets and threads process-wide, and the driver needs nothing but HTTP.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

USERS = int(os.environ.get("CHAIRSIDE_BENCH_LOAD_USERS", "50"))
SECONDS = float(os.environ.get("CHAIRSIDE_BENCH_LOAD_SECONDS", "60"))
# The local stack's practice. moto's DynamoDB query reads a whole partition (every key of a practice
# shares one), so on this one process a request's time grows with the practice's history: the load
# test's practice is a small one, so the figures are about the app and its concurrency, not moto.
PATIENTS = int(os.environ.get("CHAIRSIDE_BENCH_LOAD_PATIENTS", "60"))
BOOKINGS = 2  # book-and-cancel cycles per simulated patient at most (the per-person change limit is 10/hour)
THINK = (8.0, 20.0)  # seconds a person reads a page before the next click
TIMEOUT = 60


@dataclass
class LoadReport:
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    by_step: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, step: str, status: int, ms: float, ok: bool, detail: str = "") -> None:
        with self.lock:
            self.requests += 1
            self.latencies_ms.append(ms)
            self.by_step[f"{step} {status}"] += 1
            if not ok:
                self.errors.append(f"{step} -> {status} {detail[:200]}")

    @property
    def p95_ms(self) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _call(
    method: str, url: str, token: str = "", body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any, float]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        request.add_header(k, v)
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:
            raw, status = resp.read(), resp.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    except OSError as exc:  # refused, reset, timed out
        return 0, {"transport": type(exc).__name__}, (time.perf_counter() - started) * 1000
    ms = (time.perf_counter() - started) * 1000
    try:
        return status, json.loads(raw) if raw else None, ms
    except ValueError:
        return status, raw[:200], ms


class Patient:
    """One simulated patient: its session, a bookable type, and what it has done so far."""

    def __init__(
        self, api: str, practice_id: str, session: dict[str, str], type_id: str, seed: int, think: tuple[float, float]
    ) -> None:
        self.api = api
        self.practice_id = practice_id
        self.token = session["token"]
        self.patient_id = session["patient_id"]
        self.type_id = type_id
        self.rng = random.Random(seed)
        self.think = think
        self.bookings = 0

    def step(self, report: LoadReport, name: str, method: str, path: str, expect: set[int], body: Any = None) -> Any:
        status, answer, ms = _call(method, f"{self.api}{path}", self.token, body)
        report.add(name, status, ms, status in expect, json.dumps(answer, default=str) if status not in expect else "")
        return answer if status in expect else None

    def reads(self, deadline: float) -> bool:
        """Reads the page for a while, as a person does between two clicks; False once time is up."""
        time.sleep(max(0.0, min(self.rng.uniform(*self.think), deadline - time.monotonic())))
        return time.monotonic() < deadline

    def visit(self, report: LoadReport, n: int, first_day: date, deadline: float) -> None:
        """One visit to the page: who am I, what is coming up, free times; sometimes book one and cancel
        it again, sometimes start paying the balance. Stops between any two requests once time is up."""
        self.step(report, "me", "GET", "/patient/me", {200})
        if not self.reads(deadline):
            return
        self.step(report, "schedule", "GET", "/patient/schedule?when=upcoming", {200})
        if not self.reads(deadline):
            return
        day = first_day + timedelta(days=self.rng.randrange(0, 21))
        query = f"date={day.isoformat()}&days=7&type_id={self.type_id}"
        free = self.step(report, "availability", "GET", f"/practices/{self.practice_id}/availability?{query}", {200})
        slots = [s for d in (free or {}).get("days", []) for s in d.get("slots", [])]
        if slots and self.bookings < BOOKINGS and n % 2 == 0:
            if not self.reads(deadline):
                return
            self.bookings += 1
            slot = self.rng.choice(slots)
            body = {
                "patient_id": self.patient_id,
                "type_id": self.type_id,
                "provider_id": slot["provider"]["id"],
                "start": slot["start"],
            }
            booked = self.step(report, "book", "POST", "/patient/appointments", {201, 409}, body)
            if booked and booked.get("id") and self.reads(deadline):
                self.step(report, "cancel", "POST", f"/patient/appointments/{booked['id']}/cancel", {200}, {})
        if n % 2 == 1 and self.reads(deadline):
            self.step(report, "pay", "POST", "/patient/payments", {201}, {})
        self.reads(deadline)


def run_load(
    api: str,
    practice_id: str,
    sessions: list[dict[str, str]],
    staff_token: str,
    users: int = USERS,
    seconds: float = SECONDS,
    seed: int = 20270310,
    think: tuple[float, float] = THINK,
) -> LoadReport:
    """``users`` simulated patients (one session each) for ``seconds``; setup is not counted. No new
    request starts after ``seconds``; one in flight then ends within ``TIMEOUT``."""
    assert len(sessions) >= users, f"{users} users need as many sessions, the stack minted {len(sessions)}"
    status, booking, _ = _call("GET", f"{api}/public/practices/{practice_id}/booking")
    assert status == 200, booking
    type_id = next(t["id"] for t in booking["types"] if t["category"] != "hygiene")
    today = date.today()
    for patient_id in dict.fromkeys(s["patient_id"] for s in sessions[:users]):
        charge = {"kind": "charge", "amount": "45.00", "posted_on": today.isoformat()}  # something to pay
        path = f"{api}/practices/{practice_id}/patients/{patient_id}/ledger"
        status, answer, _ = _call("POST", path, staff_token, charge)
        assert status == 201, answer
    people = [Patient(api, practice_id, s, type_id, seed + i, think) for i, s in enumerate(sessions[:users])]
    report = LoadReport()
    started = time.monotonic()
    deadline = started + seconds

    def simulate(p: Patient) -> None:
        time.sleep(p.rng.uniform(0, think[1]))  # people do not all arrive in the same instant
        n = 0
        while time.monotonic() < deadline:
            p.visit(report, n, today + timedelta(days=7), deadline)
            n += 1

    with ThreadPoolExecutor(max_workers=users) as pool:
        for future in [pool.submit(simulate, p) for p in people]:
            future.result()
    report.seconds = time.monotonic() - started
    return report


def run() -> Iterator[tuple[str, str]]:
    from bench.stack import running_stack

    with running_stack(demo_patients=PATIENTS, sessions=USERS) as stack:
        staff = stack.staff_sign_in("owner")["id_token"]
        report = run_load(stack.api_url, stack.practice_id, stack.sessions, staff, USERS, SECONDS)
    for line in report.errors[:20]:
        print(f"# {line}", flush=True)
    yield "load_users", str(USERS)
    yield "load_seconds", f"{report.seconds:.0f}"
    yield "load_requests", str(report.requests)
    yield "load_errors", str(len(report.errors))
    yield "load_p95_ms", f"{report.p95_ms:.0f}"
    yield "load_rps", f"{report.requests / report.seconds:.1f}" if report.seconds else "0"
