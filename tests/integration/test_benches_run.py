"""`make bench` keeps working: the in-process benches run at a small size and print every figure.

They run in a child process, as `make bench` runs them: their moto patches and environment stay there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _figures(*names: str, **env: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CHAIRSIDE_BENCH_", "TOKEN_"))}
    done = subprocess.run(
        [sys.executable, "-m", "bench", *names],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    pairs = (line.partition(": ") for line in done.stdout.splitlines() if ": " in line)
    return {name: value for name, _, value in pairs}


def test_the_reminder_and_dashboard_benches_run_and_print_their_figures() -> None:
    figures = _figures(
        "reminders",
        "dashboard",
        CHAIRSIDE_BENCH_REMINDER_TOUCHES="40",
        CHAIRSIDE_BENCH_DASHBOARD_PATIENTS="30",
    )
    assert figures["reminder_touches"] == "40"
    assert figures["reminder_sent"].startswith("40 (28 sms, 12 email"), figures["reminder_sent"]
    assert figures["reminder_scans"] == "0"
    assert float(figures["reminder_ddb_requests_per_sent"]) <= 3
    for ratio in ("reminder_sweep_ratio_to_floor", "reminder_reads_ratio_to_floor"):
        assert float(figures[ratio]) > 0, ratio
    assert float(figures["reminder_reads_ratio_to_floor"]) < float(figures["reminder_sweep_ratio_to_floor"])
    assert 0 < float(figures["reminder_sweep_dynamodb_share"]) < 1
    outside = float(figures["reminder_sweep_ratio_to_floor_outside_dynamodb"])
    assert 0 < outside < float(figures["reminder_sweep_ratio_to_floor"])
    assert figures["dashboard_scans"] == "0"
    assert figures["dashboard_counts_exact"] == "true"
    assert int(figures["dashboard_ddb_requests_12mo"]) <= 40


def test_an_unknown_bench_name_is_refused_with_the_list_of_names() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "no-such-bench"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert "unknown bench no-such-bench" in done.stderr and "reminders" in done.stderr
