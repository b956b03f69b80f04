"""Shared test setup: fake AWS credentials and region before anything imports the app or a model."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    TABLE_NAME="chairside-test",
    TOKEN_SIGNING_KEY="test-signing-key-not-secret",
    POWERTOOLS_METRICS_DISABLED="true",
)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)

_REAL_ENVIRON = os.environ


@pytest.fixture(autouse=True)
def _real_os_environ_after_each_test() -> Iterator[None]:
    """chalice.test.Client swaps ``os.environ`` for a patched dict during a call and swaps it back after;
    calls from several threads at once (the race tests) can leave one call's patched dict in place, and
    a later test would read that call's variables. Put the real mapping back after every test."""
    yield
    os.environ = _REAL_ENVIRON  # noqa: B003 (restoring the very object, not clearing it)
