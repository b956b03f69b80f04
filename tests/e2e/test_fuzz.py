"""Schemathesis against /openapi.json on the local stack, as a demo patient and as demo staff: no
5xx, and every 4xx is a JSON error. A few hundred generated requests; `make bench` (bench/fuzz.py)
sends well over a thousand."""

from __future__ import annotations

from bench.fuzz import credentials_for, fuzz
from tests.e2e.support import RunningStack

EXAMPLES_PER_OPERATION = 2


def test_generated_requests_to_every_operation_get_no_5xx_and_only_json_errors(stack: RunningStack) -> None:
    report = fuzz(
        stack.api_url, credentials_for(stack), stack.practice_id, examples=EXAMPLES_PER_OPERATION, shared_stack=True
    )
    assert report.cases >= 150, report.by_status
    assert not report.server_errors, "\n".join(report.server_errors[:20])
    assert not report.non_json_errors, "\n".join(report.non_json_errors[:20])
    assert report.by_status.get(200, 0) + report.by_status.get(201, 0) > 0, "nothing got past validation"
