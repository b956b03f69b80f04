"""Cold-import cost of the API handler, against boto3's as the floor, in fresh interpreters.

Both are measured in the same run so the ratio holds across machines.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = 7

_PROBE = "import time; t = time.perf_counter(); import {module}; print((time.perf_counter() - t) * 1000)"


def _import_ms(module: str) -> float:
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "PYTHONDONTWRITEBYTECODE": "1"}
    samples = []
    for _ in range(RUNS):
        out = subprocess.run(
            [sys.executable, "-X", "frozen_modules=on", "-c", _PROBE.format(module=module)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        samples.append(float(out.stdout.strip()))
    return statistics.median(samples)


def run() -> Iterator[tuple[str, str]]:
    app_ms = _import_ms("app")
    boto3_ms = _import_ms("boto3")
    yield "import_app_ms", f"{app_ms:.1f}"
    yield "import_boto3_ms", f"{boto3_ms:.1f}"
    yield "import_ratio", f"{app_ms / boto3_ms:.2f}"
