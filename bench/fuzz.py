"""Schema-driven fuzzing with schemathesis against /openapi.json on the local stack.

Every operation in the route table gets generated requests (path, query and body from the schema),
sent with the credentials its security asks for: a demo patient's session or a demo staff member's
ID token. Path ids are mostly the demo practice's (so the calls get past "no such practice") and
otherwise whatever the generator made.

Figures: ``fuzz_cases`` (requests sent), ``fuzz_5xx`` (goal 0) and ``fuzz_non_json_4xx`` (4xx
answers that are not ``{"error": {"code", "message"}}``, goal 0). The fast version runs in
tests/e2e/test_fuzz.py.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

EXAMPLES = int(os.environ.get("CHAIRSIDE_BENCH_FUZZ_EXAMPLES", "12"))
# Writes that change practice-wide settings; the fast test (sharing its stack with the browser
# tests) sends them to made-up practices only. The bench has a stack of its own.
SIGN_OUT = "/patient/auth/sign-out"
PRACTICE_WIDE_WRITES = ("/reminders/policy", "/closures", "/days/", "/imports", "/ledger/import")


@dataclass
class FuzzReport:
    cases: int = 0
    server_errors: list[str] = field(default_factory=list)
    non_json_errors: list[str] = field(default_factory=list)
    by_status: dict[int, int] = field(default_factory=dict)


def _security(operation: Any) -> str:
    if str(operation.path) == SIGN_OUT:
        return "public"  # signed in, it would end the session every later patient call uses
    raw = operation.definition.raw
    names = {name for requirement in raw.get("security", []) for name in requirement}
    if "staffToken" in names:
        return "staff"
    if "patientSession" in names:
        return "patient"
    return "public"


def _is_json_error(text: str) -> bool:
    try:
        error = json.loads(text)["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(error, dict) and bool(error.get("code")) and bool(error.get("message"))


def fuzz(
    api_url: str,
    credentials: dict[str, dict[str, str]],
    practice_id: str,
    examples: int = EXAMPLES,
    shared_stack: bool = False,
    seed: int = 20261203,
) -> FuzzReport:
    """Fuzz every operation; ``credentials`` maps "staff"/"patient"/"public" to headers."""
    import requests
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings

    schema = schemathesis.openapi.from_url(f"{api_url}/openapi.json")
    report = FuzzReport()
    rng = random.Random(seed)
    session = requests.Session()

    def check(case: Any, kind: str, keep_away: bool) -> None:
        params = case.path_parameters
        if params and "practice_id" in params and not keep_away and rng.random() < 0.7:
            params["practice_id"] = practice_id
        response = case.call(base_url=api_url, session=session, headers=credentials.get(kind, {}), timeout=30)
        report.cases += 1
        report.by_status[response.status_code] = report.by_status.get(response.status_code, 0) + 1
        label = f"{case.method} {case.formatted_path} -> {response.status_code}"
        if response.status_code >= 500:
            report.server_errors.append(f"{label} {response.text[:200]}")
        elif response.status_code >= 400 and not _is_json_error(response.text):
            report.non_json_errors.append(f"{label} {response.text[:200]}")

    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]
        kind = _security(operation)
        path = str(operation.path)
        method = str(operation.method).upper()
        keep_away = shared_stack and method != "GET" and any(p in path for p in PRACTICE_WIDE_WRITES)
        run_operation = settings(
            max_examples=examples,
            database=None,
            deadline=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )(given(case=operation.as_strategy())(_bind(check, kind, keep_away)))
        run_operation()
    return report


def _bind(check: Any, kind: str, keep_away: bool) -> Any:
    """A one-argument test for hypothesis's @given (it refuses defaults and partials)."""

    def one(case: Any) -> None:
        check(case, kind, keep_away)

    return one


def credentials_for(stack: Any) -> dict[str, dict[str, str]]:
    """Headers for each security scheme: the showcase patient and a front-desk user."""
    from local.demo import SHOWCASE_PATIENT_EMAIL

    patient = stack.patient_sign_in(SHOWCASE_PATIENT_EMAIL)
    staff = stack.staff_sign_in("owner")
    return {
        "patient": {"Authorization": f"Bearer {patient['token']}"},
        "staff": {"Authorization": f"Bearer {staff['id_token']}"},
        "public": {},
    }


def run() -> Iterator[tuple[str, str]]:
    from bench.stack import running_stack

    with running_stack(demo_patients=200) as stack:
        report = fuzz(stack.api_url, credentials_for(stack), stack.practice_id, examples=EXAMPLES)
    for line in (report.server_errors + report.non_json_errors)[:20]:
        print(f"# {line}", flush=True)
    yield "fuzz_cases", str(report.cases)
    yield "fuzz_5xx", str(len(report.server_errors))
    yield "fuzz_non_json_4xx", str(len(report.non_json_errors))
