"""The reminder sweep when AWS fails part-way (moto, with failures injected below the app: tests/faults.py).

What the design guarantees, and these tests hold it to:
- at most once: no message ever goes out twice, whatever fails and whenever the process dies;
- nothing lost: every due touch ends sent, or visibly not sent (skipped with a reason, failed after
  ``MAX_SEND_ATTEMPTS`` refusals, or "unknown" when it was handed to the provider and the answer or the
  run was lost), and failed or unknown ones are "failed delivery" items in the staff inbox and metrics;
- retries are bounded: a refused send is tried at most ``MAX_SEND_ATTEMPTS`` times, a send whose outcome
  is unknown is never retried by the engine.

The generated matrix records every DynamoDB write one sweep makes in a small world (two reminders to
send, one visit moved behind the engine's back), then fails each of those writes in turn, in a fresh
world, and lets the next runs recover.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends

from chalicelib.adapters import messaging
from chalicelib.platform.deps import Deps
from chalicelib.reminders import service as service_module
from chalicelib.reminders.handlers import ports_for
from chalicelib.reminders.model import MAX_SEND_ATTEMPTS, Touch
from chalicelib.reminders.service import sweep_practice
from tests import factories
from tests.faults import (
    DYNAMODB_WRITES,
    THROTTLE,
    Faults,
    MetricsSeen,
    ProcessDied,
    Rule,
    condition_failure,
    conditional,
)
from tests.integration.test_reminder_sweep import Book, seed, utc

VISIT = utc("2027-04-20T14:00")  # 10:00 EDT
DUE = utc("2027-04-18T14:00")  # the 2-day touches
RECOVERY = [DUE + timedelta(minutes=m) for m in (6, 20, 50, 90)]  # past the lease and every retry backoff
TERMINAL = {"sent", "skipped", "failed", "unknown", "cancelled"}


@pytest.fixture(autouse=True)
def _no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(messaging, "RETRY_PAUSE_SECONDS", 0)


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch, api: Client) -> Faults:
    return Faults().install(monkeypatch)


@pytest.fixture
def metrics_seen(monkeypatch: pytest.MonkeyPatch) -> MetricsSeen:
    return MetricsSeen(monkeypatch)


def _outbox() -> list[tuple[str, str]]:
    """(message id, address) of every message moto accepted."""
    texts = [(mid, to) for mid, (to, _) in sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages.items()]
    mails = [
        (m.id, m.destinations["ToAddresses"][0]) for m in ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    ]
    return texts + mails


@dataclasses.dataclass
class World:
    deps: Deps
    practice_id: str
    book: Book
    outbox_before: frozenset[str] = frozenset()

    @property
    def ports(self) -> Any:
        return ports_for(self.deps)

    def run(self, at: datetime) -> BaseException | None:
        """One sweep of this practice at ``at``; what it died of, if it did."""
        self.book.clock.at = at
        try:
            sweep_practice(self.ports, self.practice_id, at)
        except BaseException as exc:  # a dying run is the point of these tests
            return exc
        return None

    def recover(self) -> None:
        for at in RECOVERY:
            assert self.run(at) is None

    def touches(self) -> list[Touch]:
        return self.ports.store.touches_with_prefix(self.practice_id, "")

    def sent_now(self) -> list[tuple[str, str]]:
        return [(mid, to) for mid, to in _outbox() if mid not in self.outbox_before]

    def inbox_kinds(self) -> list[tuple[str, tuple[str, ...]]]:
        return [(e.kind, e.patient_ids) for e in self.ports.store.inbox(self.practice_id)]


def make_world(deps: Deps, practice_id: str, phone: str = "+15555550123") -> World:
    """FA is texted, FB and FC are emailed; FC's visit is then moved without an event (a sweep finds it)."""
    practice = dataclasses.replace(factories.maple(), id=practice_id)
    deps.clock.at = utc("2027-04-01T15:00")  # type: ignore[attr-defined]
    seed(
        practice,
        factories.patient("FA", phone=phone, email="fa@example.test"),
        factories.patient("FB", phone="", email="fb@example.test"),
        factories.patient("FC", phone="", email="fc@example.test"),
    )
    book = Book(deps, practice)
    for aid, pid in (("AFA", "FA"), ("AFB", "FB"), ("AFC", "FC")):
        book.book(aid, pid, VISIT)
    world = World(deps, practice_id, book)
    for at in (utc("2027-04-13T14:00"), DUE - timedelta(minutes=1)):  # the 7-day emails, the daily jobs
        assert world.run(at) is None
    moved = book.get("AFC")
    moved.move(utc("2027-04-22T19:00"), utc("2027-04-22T20:00"), book.clock.now(), "staff-sub-1")
    book.save(moved)  # no event: the sweep is the first to see it
    world.outbox_before = frozenset(mid for mid, _ in _outbox())
    return world


def _two_day(world: World) -> dict[str, Touch]:
    return {t.patient_id: t for t in world.touches() if t.key == "2d" and t.planned_start == VISIT}


def assert_at_most_once_and_nothing_lost(world: World, label: str) -> None:
    sent = world.sent_now()
    addresses = [to for _, to in sent]
    assert len(addresses) == len(set(addresses)), f"{label}: a reminder went out twice: {addresses}"
    touches = _two_day(world)
    by_patient = {"FA": "+15555550123", "FB": "fb@example.test"}
    ids = {mid for mid, _ in sent}
    for pid, address in by_patient.items():
        t = touches[pid]
        assert t.status in {"sent", "unknown"}, f"{label}: {pid}'s reminder ended {t.status} ({t.reason})"
        if t.status == "sent":
            assert t.provider_message_id in ids, f"{label}: {pid} sent without the provider's id recorded"
            assert addresses.count(address) == 1
        else:
            assert ("delivery_failed", (pid,)) in world.inbox_kinds(), f"{label}: {pid} unknown but staff not told"
    assert touches["FC"].status == "skipped" and touches["FC"].reason == "moved", label
    replanned = [t for t in world.touches() if t.patient_id == "FC" and t.planned_start == utc("2027-04-22T19:00")]
    assert {t.key for t in replanned} >= {"2d", "2h"}, f"{label}: the moved visit lost its reminders"
    open_past = [t for t in world.touches() if t.status not in TERMINAL and t.due <= RECOVERY[-1]]
    assert not open_past, f"{label}: touches left open: {[(t.id, t.status) for t in open_past]}"


def _sweep_writes(app_deps: Deps, faults: Faults) -> list[tuple[str, dict[str, Any]]]:
    world = make_world(app_deps, "FCLEAN")
    faults.calls.clear()
    assert world.run(DUE) is None
    writes = faults.writes()
    assert_at_most_once_and_nothing_lost(world, "no faults")
    return writes


def _each_write(
    app_deps: Deps, faults: Faults, inject: Callable[[Faults, int, str, dict[str, Any]], Rule | None]
) -> list[str]:
    writes = _sweep_writes(app_deps, faults)
    assert len(writes) >= 8, [op for op, _ in writes]  # claims, sending marks, outcomes, re-plan, batch, watermark
    tried = []
    for n, (operation, params) in enumerate(writes, start=1):
        world = make_world(app_deps, f"F{n:03d}")
        faults.calls.clear()
        rule = inject(faults, n, operation, params)
        if rule is None:
            continue
        died = world.run(DUE)
        faults.clear()
        assert rule.fired == 1, f"write {n} ({operation}) was not reached: the sweep's writes changed order"
        label = f"write {n} ({operation}) failing{'' if died is None else ', run died'}"
        world.recover()
        assert_at_most_once_and_nothing_lost(world, label)
        tried.append(label)
    return tried


def test_a_throttled_write_at_any_point_of_a_sweep_loses_nothing_and_sends_nothing_twice(
    app_deps: Deps, faults: Faults
) -> None:
    def inject(f: Faults, n: int, _operation: str, _params: dict[str, Any]) -> Rule:
        code, status = THROTTLE["dynamodb"]
        return f.refuse("dynamodb", DYNAMODB_WRITES, code, status, at={n})

    tried = _each_write(app_deps, faults, inject)
    assert len(tried) >= 8, tried


def test_a_failed_condition_at_any_conditional_write_of_a_sweep_loses_nothing_and_sends_nothing_twice(
    app_deps: Deps, faults: Faults
) -> None:
    """A failed condition means another writer got there first. Creating a touch is left out: its
    condition (absent) can only fail for a touch that exists, which an injected error cannot fake."""

    def inject(f: Faults, n: int, operation: str, params: dict[str, Any]) -> Rule | None:
        expression = str(params.get("ConditionExpression", ""))
        if not conditional(params) or expression.startswith("attribute_not_exists"):
            return None
        code, status = condition_failure(operation)
        return f.refuse("dynamodb", DYNAMODB_WRITES, code, status, at={n})

    tried = _each_write(app_deps, faults, inject)
    assert len(tried) >= 5, tried


# --- SES and SNS failing part-way --------------------------------------------------------------------


def _email_world(app_deps: Deps, practice_id: str, emails: int = 4, texts: int = 1) -> tuple[World, list[str]]:
    """``emails`` patients reminded by email and ``texts`` by SMS, all due at DUE; their addresses."""
    practice = dataclasses.replace(factories.maple(), id=practice_id)
    app_deps.clock.at = utc("2027-04-01T15:00")  # type: ignore[attr-defined]
    people = [factories.patient(f"E{n}", phone="", email=f"e{n}@example.test") for n in range(emails)]
    people += [factories.patient(f"T{n}", phone=f"+1555555013{n}", email=f"t{n}@example.test") for n in range(texts)]
    seed(practice, *people)
    book = Book(app_deps, practice)
    for p in people:
        book.book(f"A-{p.id}", p.id, VISIT)
    world = World(app_deps, practice_id, book)
    for at in (utc("2027-04-13T14:10"), DUE - timedelta(minutes=1)):
        assert world.run(at) is None
    world.outbox_before = frozenset(mid for mid, _ in _outbox())
    return world, [p.phone or p.email for p in people]


def _statuses(world: World) -> dict[str, str]:
    return {t.patient_id: t.status for t in world.touches() if t.key == "2d"}


@pytest.mark.parametrize(
    ("service", "operation", "kind"),
    [
        ("sesv2", "SendEmail", "throttle"),
        ("sesv2", "SendEmail", "server_error"),
        ("sns", "Publish", "throttle"),
        ("sns", "Publish", "server_error"),
    ],
)
def test_a_provider_throttling_or_failing_part_way_through_a_sweep_delays_the_rest_and_sends_each_once(
    app_deps: Deps, faults: Faults, metrics_seen: MetricsSeen, service: str, operation: str, kind: str
) -> None:
    emails, texts = (4, 1) if service == "sesv2" else (1, 4)
    world, addresses = _email_world(app_deps, f"PW-{service}-{kind}", emails, texts)
    ok_before = faults.count(service, operation)
    getattr(faults, kind)(service, operation, at=set(range(2, 10_000)))  # the first goes out, then it refuses
    faults.calls.clear()
    assert world.run(DUE) is None
    tries = faults.count(service, operation)
    # The one refused send was tried SEND_TRIES times; the rest of that channel waited, no call made.
    assert tries == 1 + messaging.SEND_TRIES, (ok_before, tries)
    after_first = _statuses(world)
    assert list(after_first.values()).count("sent") >= 1
    assert "failed" not in after_first.values() and "unknown" not in after_first.values()
    assert metrics_seen.total("ReminderSendErrors") == 1
    faults.clear()
    world.recover()
    sent = [to for _, to in world.sent_now()]
    assert sorted(sent) == sorted(addresses), "each reminder exactly once, none lost"
    assert set(_statuses(world).values()) == {"sent"}


def test_a_send_the_provider_keeps_refusing_fails_after_three_attempts_and_staff_see_it(
    app_deps: Deps, faults: Faults, metrics_seen: MetricsSeen, api: Client, staff: Any
) -> None:
    world, _ = _email_world(app_deps, "P1", emails=1, texts=0)
    faults.calls.clear()
    faults.throttle("sesv2", "SendEmail")  # every time
    for at in [DUE, *[DUE + timedelta(minutes=m) for m in range(1, 120)]]:
        assert world.run(at) is None
    assert faults.count("sesv2", "SendEmail") == MAX_SEND_ATTEMPTS * messaging.SEND_TRIES  # bounded
    assert _statuses(world)["E0"] == "failed"
    assert world.sent_now() == []
    assert ("delivery_failed", ("E0",)) in world.inbox_kinds()
    assert metrics_seen.total("RemindersGaveUp") == 1
    history = api.http.get("/practices/P1/appointments/A-E0/reminders", headers=staff.headers("P1")).json_body
    assert {t["rule"]: t["status"] for t in history["touches"]}["2d"] == "failed"
    inbox = api.http.get("/practices/P1/inbox", headers=staff.headers("P1")).json_body
    assert any(i["kind"] == "delivery_failed" and i["patient_ids"] == ["E0"] for i in inbox["items"]), inbox


def test_an_answer_lost_after_the_provider_accepted_is_never_resent_and_shows_as_unknown(
    app_deps: Deps, faults: Faults, metrics_seen: MetricsSeen
) -> None:
    world, addresses = _email_world(app_deps, "PW-lost", emails=2)
    faults.lose_answer("sesv2", "SendEmail", at={1})
    assert world.run(DUE) is None
    for at in [*RECOVERY, DUE + timedelta(hours=5)]:
        assert world.run(at) is None
    sent = [to for _, to in world.sent_now()]
    assert sorted(sent) == sorted(addresses), "the lost one went out once (moto has it), not twice"
    statuses = _statuses(world)
    assert sorted(statuses.values()) == ["sent", "sent", "unknown"], statuses
    unknown = next(pid for pid, status in statuses.items() if status == "unknown")
    assert ("delivery_failed", (unknown,)) in world.inbox_kinds()
    assert metrics_seen.total("RemindersOutcomeUnknown") == 1


def test_the_email_client_itself_never_retries_a_send_whose_answer_was_lost(app_deps: Deps, api: Client) -> None:
    """Below the app: the SDK's own retry would resend after a read timeout; the client makes one attempt."""
    from botocore.exceptions import ReadTimeoutError

    from chalicelib.platform.aws import client

    world, addresses = _email_world(app_deps, "PW-sdk", emails=1, texts=0)
    attempts: list[str] = []

    def lose(event_name: str = "", **_: Any) -> None:
        if event_name.endswith(".SendEmail"):
            attempts.append("SendEmail")
            raise ReadTimeoutError(endpoint_url="https://email.injected")

    ses = client("sesv2")
    # Registered on "before-send" itself, last: moto's handler there answers (accepts the mail) first.
    ses.meta.events.register_last("before-send", lose)
    try:
        assert world.run(DUE) is None
    finally:
        ses.meta.events.unregister("before-send", lose)
    assert attempts == ["SendEmail"]
    assert [to for _, to in world.sent_now()] == addresses
    assert _statuses(world)["E0"] == "unknown"


@pytest.mark.parametrize(("service", "operation"), [("sesv2", "SendEmail"), ("sns", "Publish")])
def test_a_process_killed_between_the_provider_accepting_and_the_record_never_sends_again(
    app_deps: Deps,
    faults: Faults,
    metrics_seen: MetricsSeen,
    api: Client,
    staff: Any,
    service: str,
    operation: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With groups of one message (the default: each marked "sending" and recorded by itself), only the killed
    one is left unknown; with larger groups, see the test after this one."""
    assert service_module.SEND_GROUP == 1
    world, addresses = _email_world(app_deps, "P1", emails=2, texts=2)
    faults.die_after(service, operation, at={1})
    died = world.run(DUE)
    assert isinstance(died, ProcessDied)
    faults.clear()
    assert world.run(DUE + timedelta(minutes=1)) is None  # its lease still runs: left alone, nothing sent
    assert world.run(DUE + timedelta(minutes=6)) is None  # the lease is over: unknown, never resent
    for at in [*RECOVERY, DUE + timedelta(hours=5)]:
        assert world.run(at) is None
    sent = [to for _, to in world.sent_now()]
    assert sorted(sent) == sorted(addresses), "the killed one once (moto has it), the rest once"
    statuses = _statuses(world)
    assert sorted(statuses.values()) == ["sent", "sent", "sent", "unknown"], statuses
    unknown = next(pid for pid, status in statuses.items() if status == "unknown")
    assert metrics_seen.total("RemindersOutcomeUnknown") == 1
    history = api.http.get(f"/practices/P1/appointments/A-{unknown}/reminders", headers=staff.headers("P1")).json_body
    assert {t["rule"]: t["status"] for t in history["touches"]}["2d"] == "unknown"
    inbox = api.http.get("/practices/P1/inbox", headers=staff.headers("P1")).json_body
    assert any(i["kind"] == "delivery_failed" and i["patient_ids"] == [unknown] for i in inbox["items"]), inbox


@pytest.mark.parametrize(("service", "operation"), [("sesv2", "SendEmail"), ("sns", "Publish")])
def test_a_process_killed_mid_group_leaves_that_group_unknown_and_sends_none_of_it_again(
    app_deps: Deps,
    faults: Faults,
    metrics_seen: MetricsSeen,
    service: str,
    operation: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a group of 25 configured, the four touches go in one group, marked "sending" together: after the
    kill nobody can tell which of them went out, so every one ends unknown (staff told for each), none is
    sent again, the rest of the practice's sweeps go on."""
    monkeypatch.setattr(service_module, "SEND_GROUP", 25)
    world, addresses = _email_world(app_deps, "PG", emails=2, texts=2)
    faults.die_after(service, operation, at={1})
    assert isinstance(world.run(DUE), ProcessDied)
    faults.clear()
    sent_at_kill = [to for _, to in world.sent_now()]
    assert world.run(DUE + timedelta(minutes=1)) is None  # its lease still runs: left alone
    for at in [DUE + timedelta(minutes=6), *RECOVERY, DUE + timedelta(hours=5)]:
        assert world.run(at) is None
    sent = [to for _, to in world.sent_now()]
    assert sent == sent_at_kill, "nothing of the killed group went out again"
    assert len(sent) == len(set(sent)) and set(sent) <= set(addresses)
    assert sorted(_statuses(world).values()) == ["unknown"] * 4
    assert metrics_seen.total("RemindersOutcomeUnknown") == 4
    told = [patients for kind, patients in world.inbox_kinds() if kind == "delivery_failed"]
    assert sorted(told) == [("E0",), ("E1",), ("T0",), ("T1",)]
