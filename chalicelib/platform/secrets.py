"""Secrets: from SSM Parameter Store (through powertools, cached) in AWS; from the environment locally."""

from __future__ import annotations

import os


def token_signing_key() -> bytes:
    """Key for patient sessions and signed links. Never logged, never in config files for prod."""
    direct = os.environ.get("TOKEN_SIGNING_KEY")
    if direct:
        return direct.encode()
    name = os.environ.get("TOKEN_SIGNING_KEY_PARAM")
    if not name:
        raise RuntimeError("TOKEN_SIGNING_KEY or TOKEN_SIGNING_KEY_PARAM must be set")
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_parameter(name, decrypt=True, max_age=300)
    return str(value).encode()
