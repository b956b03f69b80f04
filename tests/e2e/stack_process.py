"""Runs the local stack in a child process for the browser tests.

The stack sets process-wide environment (AWS_ENDPOINT_URL, credentials, Cognito ids) and caches
clients; in the pytest process that would leak into every test that runs after it. In a child it
cannot. The child writes its addresses and demo sign-ins as JSON to INFO_FILE once everything
answers, then serves until its stdin closes (the parent finished, or died).

    python -m tests.e2e.stack_process INFO_FILE [demo_patients] [sessions]

``sessions``: demo adults get that many patient sessions at once, minted in the child as sign-in
would (the load test's simulated patients; sign-in itself is rate-limited per client, and every
request here comes from one address).
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


def mint_sessions(practice_id: str, count: int) -> list[dict[str, str]]:
    """``count`` sessions of active adult demo patients with an email, each for themself."""
    if count <= 0:
        return []
    import time
    from datetime import date

    from chalicelib.identity.model import Session, new_session_token, token_digest
    from chalicelib.identity.store import DynamoSessions
    from chalicelib.patients.store import PatientStore
    from chalicelib.platform.secrets import token_signing_key
    from chalicelib.reminders.store import ReminderStore

    adult = date.today().replace(year=date.today().year - 18)
    ids = list(ReminderStore().patient_ids(practice_id))
    people = [p for p in PatientStore().get_many(practice_id, ids) if p.active and p.email and p.birth_date]
    adults = [p for p in sorted(people, key=lambda p: p.id) if p.birth_date and p.birth_date <= adult]
    # A small practice has fewer adults than sessions wanted: then some people are signed in twice
    # (a phone and a laptop), each session its own.
    chosen = [adults[i % len(adults)] for i in range(count)] if adults else []
    now, out = int(time.time()), []
    for patient in chosen:
        token = new_session_token(practice_id)
        DynamoSessions().create(
            Session(
                id=token_digest(token_signing_key(), token),
                practice_id=practice_id,
                holder_id=patient.id,
                patient_ids=(patient.id,),
                relations={patient.id: "self"},
                started_at=now,
                last_seen=now,
            )
        )
        out.append({"token": token, "patient_id": patient.id})
    return out


def main() -> None:
    info_file = Path(sys.argv[1])
    demo_patients = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    sessions = int(sys.argv[3]) if len(sys.argv) > 3 else 0
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
            "sessions": mint_sessions(stack.demo.practice_id, sessions) if stack.demo else [],
            # This throwaway stack's own random key, so a test can mint a message's signed link as the
            # reminder engine would (tests/e2e/test_patient_links.py).
            "signing_key": os.environ.get("TOKEN_SIGNING_KEY", ""),
        }
        partial = info_file.with_suffix(".partial")
        partial.write_text(json.dumps(info))
        os.replace(partial, info_file)  # the parent never reads half a file
        sys.stdin.read()


if __name__ == "__main__":
    main()
