"""Stage settings, read from the environment that `.chalice/config.json` (or the local runner) sets.

Read on every call rather than at import: the chalice test client applies stage variables only
during a call, and nothing may be fixed before the environment is ready.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    table_name: str
    image_bucket: str
    sender_email: str
    cognito_user_pool_id: str
    cognito_client_id: str
    cognito_jwks_url: str
    web_base_url: str
    api_base_url: str
    local_outbox: bool

    @property
    def cognito_issuer(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.cognito_user_pool_id}"

    @property
    def jwks_url(self) -> str:
        # Locally the issuer is still the AWS address; the keys come from the embedded AWS.
        return self.cognito_jwks_url or f"{self.cognito_issuer}/.well-known/jwks.json"


def get_settings() -> Settings:
    env = os.environ
    return Settings(
        stage=env.get("STAGE", "local"),
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION", "us-east-1"),
        table_name=env.get("TABLE_NAME", "chairside"),
        image_bucket=env.get("IMAGE_BUCKET", "chairside-images"),
        sender_email=env.get("SENDER_EMAIL", "reminders@chairside.example.test"),
        cognito_user_pool_id=env.get("COGNITO_USER_POOL_ID", ""),
        cognito_client_id=env.get("COGNITO_CLIENT_ID", ""),
        cognito_jwks_url=env.get("COGNITO_JWKS_URL", ""),
        web_base_url=env.get("WEB_BASE_URL", "http://127.0.0.1:8080"),
        api_base_url=env.get("API_BASE_URL", "http://127.0.0.1:8000"),
        local_outbox=env.get("LOCAL_OUTBOX", "") == "1",
    )
