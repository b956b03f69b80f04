"""Deployment figures: package size, the monthly AWS cost of one practice, and partition heat at scale.

- ``package_zip_mb``: the function zip ``make package`` writes (dependencies ride in one layer;
  ``package_layer_mb`` is that layer without the runtime's boto3/botocore). Packages first if out/ is empty.
- Cost: the demo practice (2,000 patients, local/demo.py) gives the measured counts: appointments a
  month, and how its patients can be reached (phone, email, through a guardian). The default touch
  policy turns them into emails and texts; ``USAGE`` below turns them into requests. Unit prices come
  from chalicelib/platform/prices.py only. SMS is reported apart: it dominates and depends on consent.
- ``hottest_partition_share``: 1,000 such practices' peak minute (08:00 local, when touches held by quiet
  hours go out, staff open the day sheet and patients answer) laid on the table's PK, GSI1PK and GSI2PK
  values; the hottest key's load over DynamoDB's per-partition limits (1,000 WCU/s, 3,000 RCU/s).
  Sweep work is counted as one burst second (the sweep runs a practice's touches back to back);
  everything else spreads over the minute.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from chalicelib.platform.prices import PRICES

ROOT = Path(__file__).resolve().parents[1]
ANCHOR = date(2027, 3, 10)
PATIENTS = 2000
PRACTICES = 1000
WORKDAYS_PER_MONTH = 21
MINUTES_PER_MONTH = 30 * 24 * 60
WCU_LIMIT, RCU_LIMIT = 1000.0, 3000.0

# Assumptions per event (stated here so docs/cost.md can quote them). Item sizes are under 1 KB.
USAGE = {
    "tick_ddb_reads": 6,  # practices list, practice, policy, sweep state, due bucket, daily-job state
    "tick_ddb_writes": 1,  # watermark
    "tick_lambda_seconds": 0.3,
    "touch_ddb_reads": 3,  # appointment, patient, contact links
    "touch_ddb_writes": 4,  # claim, "sending" mark, outcome with the provider id, touch plan on (re)book
    "patient_sessions_per_appointment": 1.5,
    "requests_per_patient_session": 8,
    "staff_page_loads_per_workday": 40,
    "requests_per_staff_page": 4,
    "api_ddb_reads_per_request": 4,
    "api_ddb_writes_per_request": 1,  # audit events, sessions, counters
    "api_lambda_seconds": 0.12,
    "confirm_reply_share": 0.4,  # SMS reminders answered with C/YES
    "sms_parts_per_message": 1.3,  # links and the opt-out line push some texts past 160 characters
    "recall_messages_per_patient_month": 0.25,
    "images_per_appointment": 0.3,
    "image_mb": 2.0,
    "stored_image_gb": 10.0,  # a few years of x-rays
    "table_gb": 1.0,
    "site_mb_per_session": 0.3,
    "log_gb_month": 0.5,
    "alarms": 9,
    "lambda_memory_gb": 0.5,
}


def package_sizes() -> dict[str, float]:
    sizes = ROOT / "out" / "package.json"
    if not sizes.exists():
        from infra import package

        package.main(["package", "out"])
    return dict(json.loads(sizes.read_text()))


def demo_counts() -> dict[str, float]:
    """Measured on the demo bundle: appointments a month and how patients are reached."""
    from local.demo import demo_bundle

    bundle, _ = demo_bundle(ANCHOR, patients=PATIENTS)
    resources = [e["resource"] for e in bundle["entry"]]
    telecom: dict[str, set[str]] = {}
    for r in resources:
        if r["resourceType"] == "Patient":
            telecom[f"Patient/{r['id']}"] = {t["system"] for t in r.get("telecom", [])}
    for r in resources:
        if r["resourceType"] == "RelatedPerson":
            child = r["patient"]["reference"]
            if not telecom.get(child):
                telecom[child] = {t["system"] for t in r.get("telecom", [])}
    start, end = ANCHOR - timedelta(days=365), ANCHOR
    appointments = 0
    early = 0  # start before 10:00 local: the 2-hour touch is held by quiet hours until 08:00
    phone = email = 0
    for r in resources:
        if r["resourceType"] != "Appointment" or r["status"] == "cancelled":
            continue
        when = datetime.fromisoformat(r["start"])
        if not start <= when.date() < end:
            continue
        appointments += 1
        early += when.hour < 10
        patient = next(
            p["actor"]["reference"] for p in r["participant"] if p["actor"]["reference"].startswith("Patient/")
        )
        phone += "phone" in telecom.get(patient, set())
        email += "email" in telecom.get(patient, set())
    return {
        "appointments_month": appointments / 12,
        "early_share": early / max(appointments, 1),
        "phone_share": phone / max(appointments, 1),
        "email_share": email / max(appointments, 1),
    }


def monthly_usage(counts: dict[str, float]) -> dict[str, float]:
    """Requests and messages of one practice in a month, from the demo counts and the default touches
    (7 days by email, 2 days by SMS else email, 2 hours by SMS)."""
    u = USAGE
    appts = counts["appointments_month"]
    phone, email = counts["phone_share"], counts["email_share"]
    emails = appts * (email + (1 - phone) * email) + PATIENTS * u["recall_messages_per_patient_month"] * email
    texts = appts * (phone * 2 + (1 - email) * phone)
    texts += PATIENTS * u["recall_messages_per_patient_month"] * (1 - email) * phone
    touches = emails + texts
    inbound = appts * phone * u["confirm_reply_share"]
    api = appts * u["patient_sessions_per_appointment"] * u["requests_per_patient_session"]
    api += WORKDAYS_PER_MONTH * u["staff_page_loads_per_workday"] * u["requests_per_staff_page"]
    return {
        "emails": emails,
        "sms_out_parts": texts * u["sms_parts_per_message"],
        "sms_in_parts": inbound,
        "api_requests": api,
        "ticks": MINUTES_PER_MONTH,
        "ddb_reads": MINUTES_PER_MONTH * u["tick_ddb_reads"]
        + touches * u["touch_ddb_reads"]
        + api * u["api_ddb_reads_per_request"]
        + inbound * 3,
        "ddb_writes": MINUTES_PER_MONTH * u["tick_ddb_writes"]
        + touches * u["touch_ddb_writes"]
        + api * u["api_ddb_writes_per_request"]
        + inbound * 4,
        "events": inbound + emails * 0.02 + appts * u["images_per_appointment"],  # SNS/S3-triggered invocations
        "images": appts * u["images_per_appointment"],
        "site_sessions": appts * u["patient_sessions_per_appointment"],
    }


def monthly_cost(usage: dict[str, float]) -> dict[str, Decimal]:
    p, u = PRICES, USAGE

    def d(x: float) -> Decimal:
        return Decimal(str(round(x, 6)))

    mem = d(u["lambda_memory_gb"])
    invocations = d(usage["api_requests"] + usage["ticks"] + usage["events"])
    gb_seconds = mem * (
        d(usage["api_requests"] * u["api_lambda_seconds"])
        + d(usage["ticks"] * u["tick_lambda_seconds"])
        + d(usage["events"] * 0.5)
    )
    lines = {
        "api_gateway": d(usage["api_requests"]) * p["apigw_rest_request"],
        "lambda": invocations * p["lambda_request"] + gb_seconds * p["lambda_gb_second"],
        "dynamodb": d(usage["ddb_reads"]) * p["ddb_read_unit"]
        + d(usage["ddb_writes"]) * p["ddb_write_unit"]
        + d(u["table_gb"]) * (p["ddb_storage_gb_month"] + p["ddb_pitr_gb_month"]),
        "ses": d(usage["emails"]) * p["ses_email"],
        "s3": d(u["stored_image_gb"]) * p["s3_gb_month"]
        + d(usage["images"] * 3) * p["s3_put"]
        + d(usage["site_sessions"] * 4) * p["s3_get"],
        "cloudfront": d(usage["site_sessions"] * u["site_mb_per_session"] / 1024) * p["cloudfront_gb"]
        + d(usage["site_sessions"] * 12 + usage["api_requests"]) * p["cloudfront_request"],
        "kms": p["kms_key_month"] + d(usage["ticks"] * 0.05 + usage["images"] * 4) * p["kms_request"],
        "cloudwatch": d(u["alarms"]) * p["cloudwatch_alarm_month"]
        + d(u["log_gb_month"]) * (p["cloudwatch_logs_ingest_gb"] + p["cloudwatch_logs_store_gb_month"] * 6),
    }
    lines["total_excl_sms"] = sum(lines.values(), Decimal(0))
    lines["sms"] = (
        d(usage["sms_out_parts"]) * (p["sms_outbound_part"] + p["sms_carrier_fee_part"])
        + d(usage["sms_in_parts"]) * p["sms_inbound_part"]
        + p["sms_number_month"]
    )
    return lines


def peak_minute_heat(counts: dict[str, float], practices: int = PRACTICES) -> tuple[str, float]:
    """(hottest key, its share of a partition's limit) for ``practices`` practices' peak minute."""
    appts_day = counts["appointments_month"] / WORKDAYS_PER_MONTH
    touches = math.ceil(appts_day * counts["early_share"] * counts["phone_share"]) + math.ceil(appts_day / 8)
    replies = math.ceil(touches * USAGE["confirm_reply_share"])
    burst_w: defaultdict[str, float] = defaultdict(float)  # within one second
    burst_r: defaultdict[str, float] = defaultdict(float)
    spread_w: defaultdict[str, float] = defaultdict(float)  # over the minute
    spread_r: defaultdict[str, float] = defaultdict(float)
    day = ANCHOR.isoformat()
    for n in range(practices):
        pk = f"PRACTICE#{n}"
        burst_r["GSI1:PRACTICES"] += max(1, practices // 8) / practices  # the list of practices, ~0.5 KB each
        burst_r[f"GSI1:{pk}#DUE#{day}"] += math.ceil(touches / 4) + 1
        for t in range(touches):
            burst_w[f"PK:{pk}"] += USAGE["touch_ddb_writes"]
            burst_r[f"PK:{pk}"] += USAGE["touch_ddb_reads"]
            burst_w[f"GSI1:{pk}#DUE#{day}"] += 1  # the claim removes the touch from its due bucket
            burst_w[f"GSI2:{pk}#PATIENT#{t}"] += 1
        for r in range(replies):
            spread_r[f"GSI1:CONTACT#+1555{n:04d}{r:03d}"] += 1
            spread_w[f"PK:{pk}"] += 4  # confirm: appointment + touch in one transaction (2x)
            spread_w[f"GSI1:{pk}#DAY#{day}"] += 1
        spread_r[f"GSI1:{pk}#DAY#{day}"] += 5 * math.ceil(appts_day / 4)  # five staff open the day sheet
        for s in range(20):  # patients opening the page
            spread_r[f"PK:{pk}"] += 2
            spread_r[f"GSI2:{pk}#PATIENT#{s}"] += 1
            spread_w[f"PK:{pk}"] += 1  # audit event
        spread_w["GSI1:WAITLIST#OFFERS#OPEN"] += 0.2  # offers opened or closed
    spread_r["GSI1:WAITLIST#OFFERS#OPEN"] += 1 * math.ceil(practices * 0.2 / 8)  # the minute job's query
    shares: dict[str, float] = defaultdict(float)
    for key in set(burst_w) | set(burst_r) | set(spread_w) | set(spread_r):
        wcu = burst_w.get(key, 0.0) + spread_w.get(key, 0.0) / 60
        rcu = burst_r.get(key, 0.0) + spread_r.get(key, 0.0) / 60
        shares[key] = max(wcu / WCU_LIMIT, rcu / RCU_LIMIT)
    key = max(shares, key=lambda k: shares[k])
    return key, shares[key]


def run() -> Iterator[tuple[str, str]]:
    sizes = package_sizes()
    yield "package_zip_mb", f"{sizes['function_zip_mb']:.2f}"
    yield "package_layer_mb", f"{sizes['layer_zip_mb']:.2f}"
    counts = demo_counts()
    usage = monthly_usage(counts)
    cost = monthly_cost(usage)
    yield "demo_appointments_per_month", f"{counts['appointments_month']:.0f}"
    yield "demo_emails_per_month", f"{usage['emails']:.0f}"
    yield "demo_sms_parts_per_month", f"{usage['sms_out_parts'] + usage['sms_in_parts']:.0f}"
    yield "cost_usd_per_practice_month_excl_sms", f"{cost['total_excl_sms']:.2f}"
    yield "cost_usd_per_practice_month_sms", f"{cost['sms']:.2f}"
    key, share = peak_minute_heat(counts)
    yield "hottest_partition_key", key.split("#")[0] + ("#..." if "#" in key else "")
    yield "hottest_partition_share", f"{share:.4f}"


def cost_lines() -> dict[str, Any]:
    """Every cost line, for docs/cost.md."""
    counts = demo_counts()
    usage = monthly_usage(counts)
    return {"counts": counts, "usage": usage, "cost": {k: f"{v:.2f}" for k, v in monthly_cost(usage).items()}}


if __name__ == "__main__":
    for name, value in run():
        print(f"{name}: {value}")
    print(json.dumps(cost_lines(), indent=2, default=str))
