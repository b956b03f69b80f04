"""AWS clients, built on first use and cached. Nothing talks to AWS at import time.

boto3 honours AWS_ENDPOINT_URL, so the same code reaches moto locally and AWS in Lambda.
"""

from __future__ import annotations

from functools import cache
from typing import Any

# Services whose sends are not idempotent: the SDK's own retries would resend a message whose answer
# was lost (a read timeout), so these clients make one attempt and the senders retry only what the
# provider refused (chalicelib/adapters/messaging.py).
SEND_SERVICES = frozenset({"sesv2", "sns"})
# Presigned image URLs must come from the one origin the pages' CSP allows in img-src,
# https://<bucket>.s3.<region>.amazonaws.com (infra/resources.yaml). Left alone, botocore signs them
# for the global https://<bucket>.s3.amazonaws.com, which that CSP refuses. With an AWS_ENDPOINT_URL
# (moto, locally) URLs stay path-style on that endpoint.
S3_ADDRESSING = {"addressing_style": "virtual", "us_east_1_regional_endpoint": "regional"}


@cache
def client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"}
        if service in SEND_SERVICES
        else {"max_attempts": 4, "mode": "standard"},
        signature_version="s3v4" if service == "s3" else None,
        connect_timeout=5,
        read_timeout=15 if service in SEND_SERVICES else 60,
        s3=S3_ADDRESSING if service == "s3" else None,
    )
    return boto3.client(service, config=config)


def reset_clients() -> None:
    """Forget cached clients (tests switch endpoints and credentials between runs)."""
    client.cache_clear()
