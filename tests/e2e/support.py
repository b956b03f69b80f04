"""Helpers for the browser tests: the running stack as the tests see it, screenshots, layout checks."""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORTS = {
    "phone": {"width": 360, "height": 740},
    "tablet": {"width": 768, "height": 1024},
    "desktop": {"width": 1280, "height": 800},
}
# Screenshots for people to look at (nothing compares them).
SHOTS = Path(os.environ.get("CHAIRSIDE_SHOTS", "/tmp/shots"))
STACK_START_SECONDS = 300
EXPECT_SECONDS = 20
LOCAL_HOSTS = {"127.0.0.1", "localhost"}

# open_page("phone" | "tablet" | "desktop", session_storage=None) -> playwright Page
OpenPage = Callable[..., Any]


# --- the stack ---------------------------------------------------------------------------------


def http_json(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    """A JSON call from the test itself (not the browser): (status, parsed body or None)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw else None


@dataclass
class RunningStack:
    """What the tests need from a LocalStack running in a child process."""

    api_url: str
    web_url: str
    outbox_url: str
    demo: Any
    staff_users: list[Any] = field(default_factory=list)
    sessions: list[dict[str, str]] = field(default_factory=list)  # minted patient sessions (stack_process.py)
    signing_key: str = ""  # the stack's link signing key (a random one per run), to mint message links

    def outbox(self) -> list[dict[str, Any]]:
        _, data = http_json("GET", f"{self.web_url}/outbox.json")
        return list(data["messages"])

    def latest_code(self, contact: str, timeout: float = 15.0) -> str:
        """The newest 6-digit code sent to a phone or email (waits briefly for it to arrive)."""
        deadline = time.monotonic() + timeout
        while True:
            for item in self.outbox():
                if item["to"] == contact:
                    found = re.search(r"\b(\d{6})\b", item["body"])
                    if found:
                        return found.group(1)
            if time.monotonic() > deadline:
                raise LookupError(f"no code has been sent to {contact}")
            time.sleep(0.2)

    def wait_for_new_code(self, contact: str, after: set[str], timeout: float = 15.0) -> str:
        """A code in a message to ``contact`` whose id is not in ``after`` (the outbox ids seen before)."""
        deadline = time.monotonic() + timeout
        while True:
            for item in self.outbox():
                if item["to"] == contact and item["id"] not in after:
                    found = re.search(r"\b(\d{6})\b", item["body"])
                    if found:
                        return found.group(1)
            if time.monotonic() > deadline:
                raise LookupError(f"no new code has been sent to {contact}")
            time.sleep(0.2)

    def outbox_ids(self) -> set[str]:
        return {str(m["id"]) for m in self.outbox()}

    @property
    def practice_id(self) -> str:
        return str(getattr(self.demo, "practice_id", "maple"))

    def staff(self, role: str = "front_desk") -> Any:
        return next(u for u in self.staff_users if u.role == role)

    def patient_sign_in(self, contact: str) -> dict[str, Any]:
        """Sign a contact in through the API (a code by the outbox); the verify answer."""
        before = self.outbox_ids()
        status, _ = http_json(
            "POST", f"{self.api_url}/patient/auth/code", {"practice_id": self.practice_id, "contact": contact}
        )
        assert status == 202, status
        code = self.wait_for_new_code(contact, before)
        status, answer = http_json(
            "POST",
            f"{self.api_url}/patient/auth/verify",
            {"practice_id": self.practice_id, "contact": contact, "code": code},
        )
        assert status == 200, answer
        return dict(answer)

    def staff_sign_in(self, role: str = "front_desk") -> dict[str, Any]:
        user = self.staff(role)
        status, answer = http_json(
            "POST", f"{self.api_url}/staff/sign-in", {"username": user.username, "password": user.password}
        )
        assert status == 200, answer
        return dict(answer)


def namespace(value: Any) -> Any:
    if isinstance(value, dict):
        return SimpleNamespace(**{k: namespace(v) for k, v in value.items()})
    if isinstance(value, list):
        return [namespace(v) for v in value]
    return value


@dataclass
class PageWatch:
    """What a page did that it must not: reach another host, throw, or log."""

    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)


def shoot(page: Any, name: str) -> Path:
    """A full-page screenshot in SHOTS (for people to look at; nothing compares them)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def no_horizontal_scroll(page: Any) -> tuple[int, int]:
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    return int(width), int(inner)
