"""The load test's tiny version: a few simulated patients for a few seconds on a stack of their own
(bench/load.py runs fifty for a minute). Every request answers what its step expects: no 5xx, no 429,
no transport failure. Timings are not asserted (they are figures: `make bench`)."""

from __future__ import annotations

import pytest

from bench.load import run_load
from bench.stack import running_stack

pytestmark = pytest.mark.e2e


def test_a_few_patients_browsing_booking_cancelling_and_paying_for_a_few_seconds_get_no_errors() -> None:
    with running_stack(demo_patients=30, sessions=3) as stack:
        staff = stack.staff_sign_in("owner")["id_token"]
        report = run_load(
            stack.api_url, stack.practice_id, stack.sessions, staff, users=3, seconds=10, think=(0.05, 0.3)
        )
    assert not report.errors, "\n".join(report.errors[:20])
    steps = {key.split()[0] for key in report.by_step}
    assert {"me", "schedule", "availability", "book", "cancel", "pay"} <= steps, report.by_step
