"""The full demo practice (2,000 patients, ~12,500 appointments) through the importer, under moto in process.

Figures: wall time of the first load, DynamoDB requests it made (counted by a botocore ``before-call``
hook on pynamodb's clients), and the writes a second, identical load makes (0: imports are idempotent).
moto's DynamoDB is far slower per item than DynamoDB itself, so the seconds say more about moto and
this machine than about AWS; the request counts carry over.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import date

ANCHOR = date(2027, 3, 10)  # fixed, so request counts compare between runs
PATIENTS = 2000


def run() -> Iterator[tuple[str, str]]:
    saved = {k: os.environ.pop(k, None) for k in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE")}
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("TOKEN_SIGNING_KEY", "bench-signing-key-not-secret")  # the demo signs survey and feed links
    try:
        from moto import mock_aws

        from local.atomic_dynamodb import item_rollback_transactions

        item_rollback_transactions()  # moto would copy the whole table per transaction item
        with mock_aws():
            from chalicelib.imports.metering import DynamoRequests
            from chalicelib.platform.aws import reset_clients
            from chalicelib.platform.table import create_table
            from local.demo import load_demo

            reset_clients()
            create_table()
            started = time.perf_counter()
            with DynamoRequests() as first:
                load_demo(ANCHOR, patients=PATIENTS)
            seconds = time.perf_counter() - started
            with DynamoRequests() as rerun:
                load_demo(ANCHOR, patients=PATIENTS)
            reset_clients()
    finally:
        for key, value in saved.items():
            if value is not None:
                os.environ[key] = value
    yield "demo_import_seconds", f"{seconds:.1f}"
    yield "demo_import_ddb_requests", str(first.total)
    yield "demo_import_rerun_writes", str(rerun.writes)
