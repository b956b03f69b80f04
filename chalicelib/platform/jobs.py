"""Scheduled jobs run by the one-minute EventBridge tick (and by the local runner's timer).

A capability registers a job with ``@scheduled("name")``; one job failing does not stop the others.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from chalicelib.platform.observability import logger, metrics

Job = Callable[[datetime], None]
JOBS: dict[str, Job] = {}


def scheduled(name: str) -> Callable[[Job], Job]:
    def register(job: Job) -> Job:
        JOBS[name] = job
        return job

    return register


def run_all(now: datetime) -> dict[str, str]:
    outcome: dict[str, str] = {}
    for name, job in JOBS.items():
        try:
            job(now)
            outcome[name] = "ok"
        except Exception:
            logger.exception("scheduled job failed", extra={"job": name})
            metrics.add_metric(name="JobFailed", unit="Count", value=1)
            outcome[name] = "failed"
    return outcome
