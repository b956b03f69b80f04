"""AWS clients, built on first use and cached. Nothing talks to AWS at import time.

boto3 honours AWS_ENDPOINT_URL, so the same code reaches moto locally and AWS in Lambda.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": 4, "mode": "standard"},
        signature_version="s3v4" if service == "s3" else None,
    )
    return boto3.client(service, config=config)


def reset_clients() -> None:
    """Forget cached clients (tests switch endpoints and credentials between runs)."""
    client.cache_clear()
