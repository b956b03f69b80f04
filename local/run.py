"""`make run`: start the local stack, print where everything is, and stop it all on Ctrl-C."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from types import FrameType

from local.stack import LocalStack, PortBusy, StackOptions


def _port(name: str, default: int) -> int:
    raw = os.environ.get(f"CHAIRSIDE_{name}_PORT", str(default))
    if not raw.isdigit():
        sys.exit(f"CHAIRSIDE_{name}_PORT must be a port number, not {raw!r}")
    return int(raw)


def options_from_env() -> StackOptions:
    patients = os.environ.get("CHAIRSIDE_DEMO_PATIENTS", "2000")
    from chalicelib.imports.cli import ProgressLine

    return StackOptions(
        progress=ProgressLine(sys.stdout),
        api_port=_port("API", 8000),
        web_port=_port("WEB", 8080),
        moto_port=_port("MOTO", 5000),
        stripe_port=_port("STRIPE", 8420),
        demo_patients=int(patients) if patients.isdigit() and int(patients) > 0 else None,
    )


def banner(stack: LocalStack) -> str:
    practice = getattr(stack.demo, "practice_id", "")
    lines = [
        "",
        "Chairside is running locally.",
        "",
        f"  Patient page     {stack.web_url}/patient/" + (f"?practice={practice}" if practice else ""),
        f"  Staff dashboard  {stack.web_url}/staff/",
        f"  Outbox           {stack.outbox_url}   (every email and SMS the stack 'sent')",
        f"  API              {stack.api_url}   (OpenAPI: {stack.api_url}/openapi.json)",
        f"  AWS (moto)       {stack.moto_url}",
        f"  Stripe (local)   {stack.stripe_url}",
        "",
    ]
    if stack.demo is not None:
        lines.append(f"Demo practice: {practice}")
        lines.append(
            "  Staff sign-ins (password for all: " + (stack.staff_users[0].password if stack.staff_users else "") + ")"
        )
        lines.extend(f"    {u.role:<11} {u.username}" for u in stack.staff_users)
        lines.append("  Patient sign-ins (the code arrives in the Outbox):")
        for label, contact in getattr(stack.demo, "showcase", {}).items():
            lines.append(f"    {label:<11} {contact}")
        survey = getattr(stack.demo, "survey_url", "")
        if survey:
            lines.append(f"  Post-visit survey (showcase patient): {survey}")
        texts_off = getattr(stack.demo, "texts_off", None)
        if texts_off is not None:
            lines.append(f"    {'texts off':<11} {texts_off.email}  (texted STOP: see Contact preferences)")
    lines += ["", "Scheduled handlers run every minute. Press Ctrl-C to stop everything.", ""]
    return "\n".join(lines)


def main() -> int:
    stopping = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    stack = LocalStack(options_from_env())
    started = time.monotonic()
    print("Starting the local stack (embedded AWS, local Stripe, demo practice)...", flush=True)
    try:
        stack.start()
    except PortBusy as exc:
        print(f"Cannot start: {exc}", file=sys.stderr)
        return 2
    print(banner(stack) + f"(ready in {time.monotonic() - started:.1f}s)", flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        print("Stopping...", flush=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
