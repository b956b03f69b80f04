"""Runs the local stack in a child process for the browser tests.

The stack sets process-wide environment (AWS_ENDPOINT_URL, credentials, Cognito ids) and caches
clients; in the pytest process that would leak into every test that runs after it. In a child it
cannot. The child writes its addresses and demo sign-ins as JSON to INFO_FILE once everything
answers, then serves until its stdin closes (the parent finished, or died).

    python -m tests.e2e.stack_process INFO_FILE [demo_patients]
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

from local.stack import LocalStack, StackOptions


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def main() -> None:
    info_file = Path(sys.argv[1])
    demo_patients = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    options = StackOptions(
        api_port=0, web_port=0, moto_port=0, stripe_port=0, demo_patients=demo_patients, tick_seconds=60
    )
    with LocalStack(options) as stack:
        info = {
            "api_url": stack.api_url,
            "web_url": stack.web_url,
            "outbox_url": stack.outbox_url,
            "demo": _plain(stack.demo),
            "staff_users": _plain(stack.staff_users),
        }
        partial = info_file.with_suffix(".partial")
        partial.write_text(json.dumps(info))
        os.replace(partial, info_file)  # the parent never reads half a file
        sys.stdin.read()


if __name__ == "__main__":
    main()
