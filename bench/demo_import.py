"""The full demo practice (2,000 patients, ~12,500 appointments) through the importer, under moto in process.

Figures: wall time of the first load, DynamoDB requests it made (counted by a botocore ``before-call``
hook on pynamodb's clients), and the writes a second, identical load makes (0: imports are idempotent).
moto's DynamoDB is far slower per item than DynamoDB itself, so the seconds say more about moto and
this machine than about AWS; the request counts carry over.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date

ANCHOR = date(2027, 3, 10)  # fixed, so request counts compare between runs
PATIENTS = 2000


def run() -> Iterator[tuple[str, str]]:
    from bench.moto_aws import in_process_aws

    with in_process_aws():
        from chalicelib.imports.metering import DynamoRequests
        from chalicelib.platform.table import create_table
        from local.demo import load_demo

        create_table()
        started = time.perf_counter()
        with DynamoRequests() as first:
            load_demo(ANCHOR, patients=PATIENTS)
        seconds = time.perf_counter() - started
        with DynamoRequests() as rerun:
            load_demo(ANCHOR, patients=PATIENTS)
    yield "demo_import_seconds", f"{seconds:.1f}"
    yield "demo_import_ddb_requests", str(first.total)
    yield "demo_import_rerun_writes", str(rerun.writes)
