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


class _NoTableCopy:
    """Stands in for the ``copy`` module inside moto's DynamoDB models: a Table is not copied."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        return value if isinstance(value, Table) else self.real.deepcopy(value, memo)


_TRANSACT: Any = None


def item_rollback_transactions() -> None:
    """moto backs up the *whole table* once per item of a TransactWriteItems call, to roll a failed one
    back; on a table of the demo's size that is seconds per transaction. This keeps the all-or-nothing
    behaviour by saving only the items the transaction names and putting them back on failure
    (idempotent; local stack and benchmarks only)."""
    global _TRANSACT  # noqa: PLW0603 - one patch per process
    import copy

    import moto.dynamodb.models as models

    if _TRANSACT is not None:
        return
    original = models.DynamoDBBackend.transact_write_items

    def transact(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved: list[tuple[str, dict[str, Any], Any]] = []
        for entry in transact_items:
            op_type, op = next(iter(entry.items()))
            name = op.get("TableName")
            if not name or name not in self.tables:
                continue
            table = self.tables[name]
            if op_type == "Put":
                attrs = op["Item"]
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            current = self.get_item(name, key)
            saved.append((name, key, copy.deepcopy(current.to_json()["Attributes"]) if current else None))
        try:
            original(self, transact_items)
        except Exception:
            for name, key, attrs in reversed(saved):
                if attrs is not None:
                    self.put_item(name, attrs)
                elif self.get_item(name, key) is not None:
                    self.delete_item(name, key)
            raise

    models.copy = _NoTableCopy(copy)  # type: ignore[assignment]
    _TRANSACT = original
    models.DynamoDBBackend.transact_write_items = transact  # type: ignore[method-assign]
