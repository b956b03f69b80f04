"""moto's DynamoDB made atomic per request, as DynamoDB is.

moto applies a transaction item by item with no lock and rolls a failed one back by restoring a copy
of the whole table taken when it began. Under concurrent requests (ThreadedMotoServer serves each in
its own thread) two requests can both pass a condition, one can erase the other's write, or the copy
fails with "dictionary changed size during iteration". Handling one DynamoDB request at a time gives
back what DynamoDB guarantees and nothing more: callers still interleave between requests (read,
validate, transact), which is where a race in our code would show.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_LOCK = threading.RLock()
_ORIGINAL: Any = None


def install() -> None:
    """Serialise moto's DynamoDB request handling in this process (idempotent)."""
    global _ORIGINAL  # noqa: PLW0603 - one patch per process
    from moto.dynamodb.responses import DynamoHandler

    if _ORIGINAL is not None:
        return
    original = DynamoHandler.call_action

    def one_at_a_time(self: DynamoHandler) -> Any:
        with _LOCK:
            return original(self)

    _ORIGINAL = original
    DynamoHandler.call_action = one_at_a_time  # type: ignore[method-assign]


def uninstall() -> None:
    global _ORIGINAL  # noqa: PLW0603
    from moto.dynamodb.responses import DynamoHandler

    if _ORIGINAL is None:
        return
    DynamoHandler.call_action = _ORIGINAL  # type: ignore[method-assign]
    _ORIGINAL = None


@contextmanager
def atomic_dynamodb_requests() -> Iterator[None]:
    """For threaded tests: atomic requests while the block runs (left installed if it already was)."""
    already = _ORIGINAL is not None
    install()
    try:
        yield
    finally:
        if not already:
            uninstall()
