"""Secrets: from SSM Parameter Store (through powertools, cached) in AWS; from the environment locally."""

from __future__ import annotations

import os


def _secret(direct_env: str, param_env: str) -> str:
    """The value of ``direct_env`` if set (local, tests), else the SSM parameter named by ``param_env``."""
    direct = os.environ.get(direct_env)
    if direct:
        return direct
    name = os.environ.get(param_env)
    if not name:
        raise RuntimeError(f"{direct_env} or {param_env} must be set")
    from aws_lambda_powertools.utilities import parameters

    return str(parameters.get_parameter(name, decrypt=True, max_age=300))


def token_signing_key() -> bytes:
    """Key for patient sessions and signed links. Never logged, never in config files for prod."""
    return _secret("TOKEN_SIGNING_KEY", "TOKEN_SIGNING_KEY_PARAM").encode()


def stripe_secret_key() -> str:
    """Stripe API secret key (sk_...). Locally any sk_test_ value: localstripe accepts it."""
    return _secret("STRIPE_SECRET_KEY", "STRIPE_SECRET_KEY_PARAM")


def stripe_webhook_secret() -> str:
    """The signing secret of the Stripe webhook endpoint (whsec_...)."""
    return _secret("STRIPE_WEBHOOK_SECRET", "STRIPE_WEBHOOK_SECRET_PARAM")
