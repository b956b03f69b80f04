"""Browser-test fixtures: the local stack (in a child process), Debian's Chromium, and pages that
may reach nothing but the stack.

Every page opened through ``open_page`` fails its test if it tried to load anything from another
host, threw an uncaught error, or wrote to the console (the pages never log, so a log line could
only be a leak).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.pages import PATIENT_EMAIL, PATIENT_SESSION_KEY, staff_storage
from tests.e2e.support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    EXPECT_SECONDS,
    LOCAL_HOSTS,
    ROOT,
    STACK_START_SECONDS,
    VIEWPORTS,
    OpenPage,
    PageWatch,
    RunningStack,
    namespace,
)
from tests.log_leaks import stack_log_leaks

DEMO_PATIENTS = 200


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    workdir = tmp_path_factory.mktemp("stack")
    info_file, log_file = workdir / "stack.json", workdir / "stack.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONUNBUFFERED"] = "1"
    with log_file.open("wb") as log:
        # Output goes to a file, never a pipe nobody reads (a full pipe would stall the stack).
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.stack_process", str(info_file), str(DEMO_PATIENTS)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    assert proc.stdin is not None
    try:
        deadline = time.monotonic() + STACK_START_SECONDS
        while not info_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log_file.read_text(errors="replace")[-4000:]
                pytest.fail(f"the local stack did not start (exit {proc.poll()}):\n{tail}")
            time.sleep(0.2)
        info = json.loads(info_file.read_text())
        yield RunningStack(
            api_url=info["api_url"],
            web_url=info["web_url"],
            outbox_url=info["outbox_url"],
            demo=namespace(info["demo"]),
            staff_users=namespace(info["staff_users"]),
            signing_key=info.get("signing_key", ""),
        )
    finally:
        if proc.poll() is None:
            proc.stdin.close()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
    # Everything the stack printed while the browser tests ran: no demo patient's data in it.
    demo = json.loads(info_file.read_text())["demo"] if info_file.exists() else None
    if demo:
        found = stack_log_leaks(log_file.read_text(errors="replace"), demo["anchor"], demo["seed"], DEMO_PATIENTS)
        assert not found, "patient data in the local stack's output:\n" + "\n".join(found[:20])


@pytest.fixture(scope="session")
def patient_session(stack: RunningStack) -> dict[str, Any]:
    """sessionStorage of one signed-in showcase patient, shared (code requests are rate-limited)."""
    answer = stack.patient_sign_in(PATIENT_EMAIL)
    return {PATIENT_SESSION_KEY: {"token": answer["token"], "practiceId": stack.practice_id}}


@pytest.fixture(scope="session")
def staff_answer(stack: RunningStack) -> dict[str, Any]:
    return stack.staff_sign_in()


@pytest.fixture
def staff_session(stack: RunningStack, staff_answer: dict[str, Any]) -> dict[str, Any]:
    """sessionStorage of a front-desk user who signed in (and was last active) just now."""
    return staff_storage(staff_answer, stack.staff().username)


# --- the browser -------------------------------------------------------------------------------


def _counts_as_a_log(msg: Any) -> bool:
    """A console line the pages wrote. localstripe's Stripe.js stand-in (local and tests only) announces
    itself and each call it fakes; those lines are its own, never ours, and carry nothing of the patient's."""
    return msg.type in {"log", "info", "debug"} and not str(msg.text).startswith("localstripe: ")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium` (Debian's chromium package)")
    from playwright.sync_api import expect, sync_playwright

    # The embedded AWS answers some reads in seconds on a busy machine; waits are generous, never sleeps.
    expect.set_options(timeout=EXPECT_SECONDS * 1000)

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser: Any) -> Iterator[OpenPage]:
    """open_page("phone") -> a fresh page (own context, so own sessionStorage) at that viewport.

    ``session_storage`` pre-seeds sessionStorage on every navigation of the page's origin.
    """
    contexts: list[tuple[Any, PageWatch]] = []

    def make(viewport: str = "phone", session_storage: dict[str, Any] | None = None) -> Any:
        context = browser.new_context(viewport=VIEWPORTS[viewport], locale="en-US", timezone_id="America/Chicago")
        context.set_default_timeout(EXPECT_SECONDS * 1000)
        watch = PageWatch()

        def guard(route: Any) -> None:
            url = route.request.url
            host = urllib.parse.urlsplit(url).hostname or ""
            if url.startswith(("data:", "blob:", "about:")) or host in LOCAL_HOSTS:
                route.continue_()
            else:
                watch.blocked.append(url)
                route.abort()

        context.route("**/*", guard)
        if session_storage:
            seed = json.dumps({k: json.dumps(v) for k, v in session_storage.items()})
            context.add_init_script(
                f"for (const [k, v] of Object.entries({seed})) {{"
                " if (!sessionStorage.getItem(k)) sessionStorage.setItem(k, v); }"
            )
        page = context.new_page()
        page.on("pageerror", lambda exc: watch.errors.append(str(exc)))
        page.on("console", lambda msg: watch.logs.append(msg.text) if _counts_as_a_log(msg) else None)
        contexts.append((context, watch))
        return page

    yield make
    problems = []
    for context, watch in contexts:
        context.close()
        if watch.blocked:
            problems.append(f"requests to other hosts: {watch.blocked}")
        if watch.errors:
            problems.append(f"uncaught page errors: {watch.errors}")
        if watch.logs:
            problems.append(f"console output (the pages never log): {len(watch.logs)} line(s)")
    assert not problems, "; ".join(problems)
