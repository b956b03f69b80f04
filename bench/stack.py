"""The local stack in a child process for the benches that drive it over HTTP (fuzz, races, load).

Same runner as the browser tests (tests/e2e/stack_process.py): the stack's process-wide settings
stay in the child, and the child exits when its stdin closes.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.e2e.support import ROOT, RunningStack, namespace


@contextlib.contextmanager
def running_stack(demo_patients: int = 200, start_seconds: float = 300, sessions: int = 0) -> Iterator[RunningStack]:
    with tempfile.TemporaryDirectory(prefix="chairside-bench-") as tmp:
        info_file, log_file = Path(tmp) / "stack.json", Path(tmp) / "stack.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        with log_file.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tests.e2e.stack_process", str(info_file), str(demo_patients), str(sessions)],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        assert proc.stdin is not None
        try:
            deadline = time.monotonic() + start_seconds
            while not info_file.exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the local stack did not start:\n{log_file.read_text(errors='replace')[-2000:]}"
                    )
                time.sleep(0.2)
            info = json.loads(info_file.read_text())
            yield RunningStack(
                api_url=info["api_url"],
                web_url=info["web_url"],
                outbox_url=info["outbox_url"],
                demo=namespace(info["demo"]),
                staff_users=namespace(info["staff_users"]),
                sessions=list(info.get("sessions", [])),
            )
        finally:
            if proc.poll() is None:
                proc.stdin.close()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
