"""AWS unit prices (USD, us-east-1, on-demand, list prices as of 2025; no free tier counted).

The one place these live: ``make bench`` (bench/deploy.py) multiplies them by measured counts for
docs/cost.md, and the dashboard's ROI page is to read the same figures. Decimal strings, never
floats: these are fractions of a cent. Update the date and the numbers together.
Stdlib only, so any layer may import it.
"""

from __future__ import annotations

from decimal import Decimal

AS_OF = "2025-06"
REGION = "us-east-1"

PRICES: dict[str, Decimal] = {
    # API Gateway REST API, first 333 M requests a month, per request.
    "apigw_rest_request": Decimal("0.0000035"),
    # Lambda x86: per request and per GB-second.
    "lambda_request": Decimal("0.0000002"),
    "lambda_gb_second": Decimal("0.0000166667"),
    # DynamoDB on-demand (Nov 2024 prices): per write / read request unit; storage and PITR per GB-month.
    "ddb_write_unit": Decimal("0.000000625"),
    "ddb_read_unit": Decimal("0.000000125"),
    "ddb_storage_gb_month": Decimal("0.25"),
    "ddb_pitr_gb_month": Decimal("0.20"),
    # SES outbound, per message.
    "ses_email": Decimal("0.0001"),
    # S3 Standard: per GB-month, per PUT/POST, per GET.
    "s3_gb_month": Decimal("0.023"),
    "s3_put": Decimal("0.000005"),
    "s3_get": Decimal("0.0000004"),
    # CloudFront, North America: per GB out and per HTTPS request.
    "cloudfront_gb": Decimal("0.085"),
    "cloudfront_request": Decimal("0.000001"),
    # KMS: a customer key per month, per request (DynamoDB and S3 bucket keys cache data keys).
    "kms_key_month": Decimal("1.00"),
    "kms_request": Decimal("0.000003"),
    # CloudWatch: a standard alarm per month; logs ingested and stored per GB.
    "cloudwatch_alarm_month": Decimal("0.10"),
    "cloudwatch_logs_ingest_gb": Decimal("0.50"),
    "cloudwatch_logs_store_gb_month": Decimal("0.03"),
    # AWS End User Messaging SMS to US numbers from a toll-free number, per message part:
    # AWS's price plus the average carrier pass-through fee; inbound parts; the number's lease.
    "sms_outbound_part": Decimal("0.00581"),
    "sms_carrier_fee_part": Decimal("0.00300"),
    "sms_inbound_part": Decimal("0.00581"),
    "sms_number_month": Decimal("2.00"),
}


def price(name: str) -> Decimal:
    return PRICES[name]
