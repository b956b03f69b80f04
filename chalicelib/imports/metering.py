"""Counting the DynamoDB requests pynamodb makes, with a botocore event hook.

pynamodb builds one botocore client per model connection (a subclass may hold its own), each with its
own copy of the session's event emitter; so the hook is registered on the client of every table model
and removed on exit. ``before-call`` fires once per API call, before any retry or stub answers it.
The command line reports the figure (requests cost money); the benchmark and tests count writes with it.
"""

from __future__ import annotations

from collections import Counter
from types import TracebackType
from typing import Any

WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
_EVENT = "before-call.dynamodb"


def _table_models() -> list[type[Any]]:
    from chalicelib.platform.table import TableItem

    found: list[type[Any]] = [TableItem]
    for cls in found:
        found.extend(c for c in cls.__subclasses__() if c not in found)
    return found


class DynamoRequests:
    """``with DynamoRequests() as counted: ...``, then ``counted.total``, ``.writes`` and ``.by_operation``."""

    def __init__(self) -> None:
        self.by_operation: Counter[str] = Counter()
        self._emitters: list[Any] = []

    def _count(self, model: Any = None, **_: Any) -> None:
        self.by_operation[getattr(model, "name", "?")] += 1

    def __enter__(self) -> DynamoRequests:
        from chalicelib.platform.aws import client as raw_client

        seen: set[int] = set()
        # The low-level client (feedback and analytics roll-ups write through it) and every model's.
        clients = [raw_client("dynamodb")] + [m._get_connection().connection.client for m in _table_models()]
        for client in clients:
            if id(client) in seen:
                continue
            seen.add(id(client))
            client.meta.events.register(_EVENT, self._count, unique_id=f"chairside-count-{id(self)}")
            self._emitters.append(client.meta.events)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for emitter in self._emitters:
            emitter.unregister(_EVENT, self._count, unique_id=f"chairside-count-{id(self)}")
        self._emitters.clear()

    @property
    def total(self) -> int:
        return sum(self.by_operation.values())

    @property
    def writes(self) -> int:
        return sum(n for op, n in self.by_operation.items() if op in WRITE_OPERATIONS)
