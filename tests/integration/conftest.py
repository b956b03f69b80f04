"""Integration fixtures: moto in process, the table and resources, a Cognito pool, the app's test client."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib.platform import deps as deps_module
from chalicelib.platform.auth import StaffTokenVerifier
from chalicelib.platform.aws import reset_clients
from chalicelib.platform.clock import FixedClock
from chalicelib.platform.deps import Deps
from chalicelib.platform.settings import get_settings
from local.bootstrap import StaffUser, UserPool, add_staff_user, create_resources, create_user_pool, sign_in

ROOT = Path(__file__).resolve().parents[2]
STAFF_PASSWORD = "Test-password-1"


def moto_public_jwks(_url: str) -> dict[str, Any]:
    """moto signs Cognito tokens with a fixed key pair it ships; its JWKS is what AWS would serve."""
    packed = resources.files("moto.cognitoidp").joinpath("resources/jwks-public.json.gz").read_bytes()
    return dict(json.loads(gzip.decompress(packed)))


@pytest.fixture(autouse=True)
def _every_route_that_sends_declares_a_send_limit() -> Iterator[None]:
    """A message that goes out while a route with no ``sends=`` runs fails the test that made it
    (chalicelib/platform/limits.py): a new sending route cannot be left without a rate limit."""
    from chalicelib.platform import limits

    limits.UNDECLARED.clear()
    yield
    found = sorted(set(limits.UNDECLARED))
    limits.UNDECLARED.clear()
    assert not found, f"these routes sent a message but declare no send limit (route(..., sends=...)): {found}"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with mock_aws():
        reset_clients()
        create_resources()
        yield
    reset_clients()


@pytest.fixture
def pool(aws: None, monkeypatch: pytest.MonkeyPatch) -> UserPool:
    created = create_user_pool()
    monkeypatch.setenv("COGNITO_USER_POOL_ID", created.pool_id)
    monkeypatch.setenv("COGNITO_CLIENT_ID", created.client_id)
    return created


class StaffTokens:
    """Makes staff users on demand and returns their real (moto-signed) ID tokens."""

    def __init__(self, pool: UserPool) -> None:
        self.pool = pool
        self.made: set[str] = set()

    def token(self, practice_id: str, role: str = "owner") -> str:
        username = f"{role}.{practice_id.lower()}@example.test"
        if username not in self.made:
            add_staff_user(self.pool, StaffUser(username, STAFF_PASSWORD, practice_id, role))
            self.made.add(username)
        return sign_in(self.pool, username, STAFF_PASSWORD)

    def headers(self, practice_id: str, role: str = "owner") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(practice_id, role)}"}


@pytest.fixture
def staff(pool: UserPool) -> StaffTokens:
    return StaffTokens(pool)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2027, 3, 10, 15, 0, tzinfo=UTC))


@pytest.fixture
def app_deps(pool: UserPool, clock: FixedClock) -> Iterator[Deps]:
    settings = get_settings()
    d = Deps(clock=clock)
    d._staff_verifier = StaffTokenVerifier(
        settings.cognito_issuer, pool.client_id, settings.jwks_url, fetch_jwks=moto_public_jwks
    )
    deps_module.use(d)
    yield d
    deps_module.use(None)


@pytest.fixture
def api(app_deps: Deps) -> Iterator[Client]:
    from app import app

    with Client(app, stage_name="test", project_dir=str(ROOT)) as client:
        yield client
