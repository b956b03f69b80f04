"""The practice's booking policy: defaults, and each bad setting falling back on its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.appointments.policy import INSTANT, REQUEST, BookingPolicy, policy_from


def test_a_practice_without_settings_books_instantly_with_the_defaults() -> None:
    policy = policy_from({})
    assert policy == BookingPolicy()
    assert policy.mode == INSTANT
    assert policy.change_notice_hours == 24
    assert policy.min_notice_minutes == 120
    assert policy.horizon_days == 365


def test_settings_override_the_defaults_and_bad_values_fall_back_one_by_one() -> None:
    policy = policy_from(
        {
            "booking": {
                "mode": REQUEST,
                "change_notice_hours": 48,
                "max_online_reschedules": -1,
                "horizon_days": "lots",
                "waitlist_batch_size": 0,
                "online_type_ids": ["CLEAN"],
                "slot_step_minutes": True,
            }
        }
    )
    assert policy.mode == REQUEST
    assert policy.change_notice_hours == 48
    assert policy.max_online_reschedules == 2
    assert policy.horizon_days == 365
    assert policy.waitlist_batch_size == 3
    assert policy.slot_step_minutes == 0
    assert policy.type_is_online("CLEAN") and not policy.type_is_online("EMERG")


def test_online_changes_stop_at_the_notice_period() -> None:
    policy = BookingPolicy(change_notice_hours=24)
    start = datetime(2027, 4, 20, 14, tzinfo=UTC)
    assert policy.can_change_online(start, start - timedelta(hours=24))
    assert not policy.can_change_online(start, start - timedelta(hours=23, minutes=59))
    assert policy.change_deadline(start) == start - timedelta(hours=24)


def test_the_slot_step_is_the_type_length_unless_set() -> None:
    assert BookingPolicy().step_for(45) == 45
    assert BookingPolicy(slot_step_minutes=15).step_for(45) == 15
