"""moto in this process, for the benches that need no local stack (demo import, dashboard, reminder sweep)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

SIGNING_KEY = "bench-signing-key-not-secret"  # the demo and the sweep sign links
_CLEARED = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE")


@contextmanager
def in_process_aws(**env: str) -> Iterator[None]:
    """Every AWS call inside goes to moto in this process: endpoints and profile cleared, a region and a
    signing key unless set, ``env`` on top; the environment is put back exactly afterwards. moto rolls a
    failed transaction back from the items it names, since it would copy the whole table per transaction
    item, a cost DynamoDB does not have (the figures would measure moto, not our code); likewise a query does
    not sort the whole table before it looks at one partition, and an item operation's answer is written as
    the DynamoDB JSON it already is, not attribute by attribute through a shape walker (all three patches
    are the local stack's own)."""
    names = {*_CLEARED, "AWS_DEFAULT_REGION", "TOKEN_SIGNING_KEY", *env}
    saved = {name: os.environ.get(name) for name in names}
    for name in _CLEARED:
        os.environ.pop(name, None)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("TOKEN_SIGNING_KEY", SIGNING_KEY)
    os.environ.update(env)
    try:
        from moto import mock_aws

        from chalicelib.platform.aws import reset_clients
        from local.atomic_dynamodb import item_rollback_transactions, plain_json_item_answers, unsorted_queries

        item_rollback_transactions()
        unsorted_queries()
        plain_json_item_answers()
        with mock_aws():
            reset_clients()
            try:
                yield
            finally:
                reset_clients()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
