"""One 12-month analytics load of the demo practice (2,000 patients, 18 months of history imported
through the importer, roll-ups computed in the import path), under moto in process.

Figures:
- ``dashboard_ddb_requests_12mo``: DynamoDB requests of one owner's analytics load (the summary route's
  reads: practice, settings, month roll-ups, feedback roll-ups, totals), counted with a botocore
  ``before-call`` hook on every DynamoDB client (goal <= 40: it reads months, never appointments);
- ``dashboard_scans``: Scan calls anywhere in the import, the roll-ups and the load (goal 0);
- ``dashboard_appointments_counted``: visits the roll-ups hold for the 12 months shown, which must equal
  the demo's own count of completed visits and no-shows in those months (``dashboard_counts_exact``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

ANCHOR = date(2027, 3, 10)
PATIENTS = int(os.environ.get("CHAIRSIDE_BENCH_DASHBOARD_PATIENTS", "2000"))


def run() -> Iterator[tuple[str, str]]:
    from bench.moto_aws import in_process_aws

    with in_process_aws():
        from chalicelib.analytics.model import months_ending
        from chalicelib.analytics.routes import summary_for
        from chalicelib.imports.metering import DynamoRequests
        from chalicelib.platform import deps as deps_module
        from chalicelib.platform.auth import StaffCaller
        from chalicelib.platform.clock import FixedClock
        from chalicelib.platform.table import create_table
        from local.demo import PRACTICE_ID, ZONE, demo_bundle, load_demo

        create_table()
        with DynamoRequests() as everything:
            load_demo(ANCHOR, patients=PATIENTS)
            now = datetime.combine(ANCHOR, time(12), ZoneInfo(ZONE))
            deps_module.use(deps_module.Deps(clock=FixedClock(now)))
            owner = StaffCaller(PRACTICE_ID, "bench-owner", "owner", "owner@maple.example.test")
            with DynamoRequests() as load:
                answer = summary_for(owner, PRACTICE_ID)
        deps_module.use(None)
    shown = set(months_ending(ANCHOR.strftime("%Y-%m"), 12))
    bundle, _ = demo_bundle(ANCHOR, patients=PATIENTS)
    expected = 0
    for entry in bundle["entry"]:
        r = entry["resource"]
        if r["resourceType"] == "Appointment" and r["status"] in ("fulfilled", "noshow"):
            local = datetime.fromisoformat(r["start"]).astimezone(ZoneInfo(ZONE))
            expected += local.strftime("%Y-%m") in shown
    counted = sum(m["completed"] + m["no_shows"] for m in answer["trend"])
    yield "dashboard_ddb_requests_12mo", str(load.total)
    yield "dashboard_scans", str(everything.by_operation["Scan"])
    yield "dashboard_appointments_counted", str(counted)
    yield "dashboard_counts_exact", json.dumps(counted == expected)
