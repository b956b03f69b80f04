"""Scheduled jobs run by the one-minute EventBridge tick (and by the local runner's timer).

A capability registers a job with ``@scheduled("name")``; one job failing does not stop the others.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from chalicelib.platform.observability import logger, metrics

Job = Callable[[datetime], None]
JOBS: dict[str, Job] = {}
TimeLeft = Callable[[], float]
_TIME_LEFT: ContextVar[TimeLeft | None] = ContextVar("chairside_job_time_left", default=None)


def time_left() -> float:
    """Seconds the running scheduled invocation has left before its Lambda is stopped (infinite outside
    one: a test, a script, the local runner). Long jobs stop starting new work in good time, so a timeout
    never cuts them off in the middle of a send."""
    left = _TIME_LEFT.get()
    return math.inf if left is None else left()


def lambda_time_left(context: Any) -> TimeLeft | None:
    """The Lambda context's countdown when running in Lambda; None elsewhere (chalice's local and test
    contexts count down from a made-up 3 seconds, which is no deadline to honour)."""
    if not os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or context is None:
        return None
    return lambda: context.get_remaining_time_in_millis() / 1000


def scheduled(name: str) -> Callable[[Job], Job]:
    def register(job: Job) -> Job:
        JOBS[name] = job
        return job

    return register


def run_all(now: datetime, left: TimeLeft | None = None) -> dict[str, str]:
    """Every job once; ``left`` (seconds this invocation has left) is what ``time_left`` answers meanwhile."""
    outcome: dict[str, str] = {}
    token = _TIME_LEFT.set(left)
    try:
        for name, job in JOBS.items():
            try:
                job(now)
                outcome[name] = "ok"
            except Exception:
                logger.exception("scheduled job failed", extra={"job": name})
                metrics.add_metric(name="JobFailed", unit="Count", value=1)
                outcome[name] = "failed"
    finally:
        _TIME_LEFT.reset(token)
    return outcome
