"""The sweep's batched writes on moto: claims in one transaction, a group's outcomes in one, and the
per-touch fallbacks when a condition cancels the transaction (another sweep got there first)."""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.analytics.store import AnalyticsStore
from chalicelib.reminders.model import CLAIMED, EMAIL, REMINDER, SENDING, SENT, Touch
from chalicelib.reminders.store import ReminderStore
from tests.faults import Faults

NOW = datetime(2027, 4, 18, 14, 0, tzinfo=UTC)
LEASE = NOW + timedelta(minutes=5)
OTHER_LEASE = NOW + timedelta(minutes=4)


@pytest.fixture
def faults(aws: None, monkeypatch: pytest.MonkeyPatch) -> Faults:
    return Faults().install(monkeypatch)


def _touches(store: ReminderStore, n: int) -> list[Touch]:
    made = [
        Touch(
            practice_id="PB",
            id=f"APPT#A{k}#reminder#2d#20270420T140000Z",
            kind=REMINDER,
            key="2d",
            subject_id=f"A{k}",
            patient_id=f"PAT-{k}",
            due=NOW - timedelta(minutes=1),
            channel=EMAIL,
            planned_start=NOW + timedelta(days=2),
            created_at=NOW - timedelta(days=3),
        )
        for k in range(n)
    ]
    assert store.create_touches(made) == n
    return made


def _stored(store: ReminderStore, touch: Touch) -> Touch:
    return next(t for t in store.touches_with_prefix("PB", f"APPT#{touch.subject_id}#"))


def test_a_batch_claim_cancelled_because_one_touch_was_taken_leaves_the_others_claimed_by_us_once(
    faults: Faults,
) -> None:
    store = ReminderStore()
    touches = _touches(store, 5)
    theirs = store.claim([copy.deepcopy(touches[2])], NOW, OTHER_LEASE)  # a concurrent sweep took one
    assert [t.id for t in theirs] == [touches[2].id]
    faults.calls.clear()

    ours = store.claim([copy.deepcopy(t) for t in touches], NOW, LEASE)

    assert sorted(t.id for t in ours) == sorted(t.id for i, t in enumerate(touches) if i != 2)
    assert faults.count("dynamodb", "TransactWriteItems") == 1, "the batch was tried as one transaction"
    assert faults.count("dynamodb", "UpdateItem") == 5, "then each touch by itself"
    for i, t in enumerate(touches):
        stored = _stored(store, t)
        assert (stored.status, stored.attempts) == (CLAIMED, 1), "claimed once, by exactly one sweep"
        assert stored.claimed_until == (OTHER_LEASE if i == 2 else LEASE)
    assert store.claim([copy.deepcopy(t) for t in touches], NOW, LEASE + timedelta(minutes=1)) == []


def test_a_batch_claim_nobody_contends_is_one_transaction(faults: Faults) -> None:
    store = ReminderStore()
    touches = _touches(store, 3)
    faults.calls.clear()
    assert len(store.claim(touches, NOW, LEASE)) == 3
    assert [(s, o) for s, o, _ in faults.calls] == [("dynamodb", "TransactWriteItems")]
    assert [t.attempts for t in touches] == [1, 1, 1]


def _sent(t: Touch, provider_id: str) -> Touch:
    return dataclasses.replace(
        t,
        status=SENT,
        claimed_until=None,
        sent_at=NOW,
        sent_channel=EMAIL,
        sent_to=f"{t.patient_id.lower()}@example.test",
        provider_message_id=provider_id,
    )


def test_a_group_whose_record_transaction_is_cancelled_records_each_outcome_by_itself_and_counts_it_once(
    faults: Faults,
) -> None:
    store = ReminderStore()
    touches = store.claim(_touches(store, 3), NOW, LEASE)
    assert [t.id for t in store.begin_sends(touches)] == [t.id for t in touches]
    for t in touches:
        assert _stored(store, t).status == SENDING
    # Another writer settled the middle one first (its outcome is recorded and counted already).
    assert store.finish(_sent(touches[1], "m-1"), LEASE)
    faults.calls.clear()

    settled = store.finish_many([(_sent(t, f"m-{i}"), LEASE) for i, t in enumerate(touches)])

    assert [t.id for t in settled] == [touches[1].id]
    assert faults.count("dynamodb", "TransactWriteItems") == 4, "the group's, then one per touch"
    assert [_stored(store, t).provider_message_id for t in touches] == ["m-0", "m-1", "m-2"]
    assert {_stored(store, t).status for t in touches} == {SENT}
    assert AnalyticsStore().months("PB", ["2027-04"])["2027-04"].get("email_sent") == 3, "each outcome counted once"


def test_a_group_mark_cancelled_because_one_claim_was_lost_marks_the_rest(faults: Faults) -> None:
    store = ReminderStore()
    touches = store.claim(_touches(store, 3), NOW, LEASE)
    stale = dataclasses.replace(touches[0], claimed_until=OTHER_LEASE)  # not our lease: someone else's claim
    marked = store.begin_sends([stale, touches[1], touches[2]])
    assert [t.id for t in marked] == [touches[1].id, touches[2].id]
    assert [_stored(store, t).status for t in touches] == [CLAIMED, SENDING, SENDING]
