"""Scheduled jobs: one failing does not stop the others, and each sees the time its invocation has left."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.platform import jobs


@pytest.fixture
def only(monkeypatch: pytest.MonkeyPatch) -> dict[str, jobs.Job]:
    registered: dict[str, jobs.Job] = {}
    monkeypatch.setattr(jobs, "JOBS", registered)
    return registered


class Context:
    def __init__(self, millis: int) -> None:
        self.millis = millis

    def get_remaining_time_in_millis(self) -> int:
        return self.millis


NOW = datetime(2027, 4, 18, 14, 0, tzinfo=UTC)


def test_a_job_sees_the_time_its_invocation_has_left_and_nothing_outside_it(only: dict[str, jobs.Job]) -> None:
    seen: list[float] = []
    only["first"] = lambda now: seen.append(jobs.time_left())
    context = Context(42_500)
    assert jobs.run_all(NOW, jobs.lambda_time_left(context)) == {"first": "ok"}
    assert seen == [math.inf]  # not in Lambda: no deadline
    assert jobs.time_left() == math.inf


def test_in_lambda_a_job_sees_the_context_countdown(only: dict[str, jobs.Job], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "chairside-prod-tick")
    context = Context(42_500)
    seen: list[float] = []

    def job(now: datetime) -> None:
        seen.append(jobs.time_left())
        context.millis = 12_000
        seen.append(jobs.time_left())

    only["sweep"] = job
    jobs.run_all(NOW, jobs.lambda_time_left(context))
    assert seen == [42.5, 12.0]
    assert jobs.time_left() == math.inf  # after the run, back to none


def test_one_job_failing_does_not_stop_the_others(only: dict[str, Any]) -> None:
    ran: list[str] = []

    def broken(now: datetime) -> None:
        raise RuntimeError("boom")

    only["broken"] = broken
    only["after"] = lambda now: ran.append("after")
    assert jobs.run_all(NOW) == {"broken": "failed", "after": "ok"}
    assert ran == ["after"]
