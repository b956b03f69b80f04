"""`make run` as a newcomer meets it: the runner process, its URLs, Ctrl-C, a busy port."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _runner_env(**ports: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CHAIRSIDE_"))}
    env.update({f"CHAIRSIDE_{name.upper()}_PORT": str(port) for name, port in ports.items()})
    env["CHAIRSIDE_DEMO_PATIENTS"] = "0"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_the_runner_prints_its_urls_serves_them_and_ctrl_c_stops_everything() -> None:
    ports = {"api": _free_port(), "web": _free_port(), "moto": _free_port(), "stripe": _free_port()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "local.run"],
        cwd=ROOT,
        env=_runner_env(**ports),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 60
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "Press Ctrl-C" in line or proc.poll() is not None:
                break
        out = "".join(lines)
        assert "Press Ctrl-C" in out, out
        for label in ("Patient page", "Staff dashboard", "Outbox", "API"):
            assert label in out
        api = re.search(r"API\s+(http://127\.0\.0\.1:\d+)", out)
        assert api is not None
        with urllib.request.urlopen(f"{api.group(1)}/health") as resp:
            assert json.loads(resp.read()) == {"status": "ok"}
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['web']}/config.js") as resp:
            assert api.group(1) in resp.read().decode()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(0.5)
    assert not any(_listening(p) for p in ports.values()), "something the runner started is still listening"


def test_a_busy_port_gives_a_clear_message_and_starts_nothing() -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        busy = blocker.getsockname()[1]
        others = {"web": _free_port(), "moto": _free_port(), "stripe": _free_port()}
        result = subprocess.run(
            [sys.executable, "-m", "local.run"],
            cwd=ROOT,
            env=_runner_env(api=busy, **others),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 2
    assert f"port {busy} (api) is already in use" in result.stderr
    assert not any(_listening(p) for p in others.values())
