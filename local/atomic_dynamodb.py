"""moto's DynamoDB made atomic per request, as DynamoDB is.

moto applies a transaction item by item with no lock and rolls a failed one back by restoring a copy
of the whole table taken when it began. Under concurrent requests (ThreadedMotoServer serves each in
its own thread) two requests can both pass a condition, one can erase the other's write, or the copy
fails with "dictionary changed size during iteration". Handling one DynamoDB request at a time gives
back what DynamoDB guarantees and nothing more: callers still interleave between requests (read,
validate, transact), which is where a race in our code would show.
"""

from __future__ import annotations

import base64
import json
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


_QUERY: Any = None


def unsorted_queries() -> None:
    """moto's query walks ``Table.all_items()``, which sorts the *whole table* by its keys, and then
    sorts what matched again: by the range key within the one partition of a table query, by the
    index's keys and the table's (a total order) for an index query. The first sort changes nothing
    in the answer and is most of a query's time on the demo's table; this skips it for queries, not
    scans (idempotent; local stack and benchmarks only)."""
    global _QUERY  # noqa: PLW0603 - one patch per process
    from moto.dynamodb.models.table import Table

    if _QUERY is not None:
        return
    original = Table.query

    def every_item(table: Any) -> list[Any]:
        if table.range_key_attr:
            return [item for hash_set in table.items.values() for item in hash_set.values()]
        return list(table.items.values())

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        self.all_items = lambda: every_item(self)  # this call only: the instance attribute shadows the method
        try:
            return original(self, *args, **kwargs)
        finally:
            del self.all_items

    _QUERY = original
    Table.query = query  # type: ignore[method-assign]


_SERIALIZED: Any = None
# Item reads and writes: their answers are items in DynamoDB's own JSON, which moto already holds as such.
_PLAIN_JSON_ACTIONS = frozenset(
    {
        "GetItem",
        "BatchGetItem",
        "Query",
        "Scan",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)


def _wire_value(value: Any) -> str:
    """A binary attribute goes on the wire base64-encoded, as moto's serializer and DynamoDB send it."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(type(value).__name__)


def plain_json_item_answers() -> None:
    """moto answers every DynamoDB request through a generic serializer that walks botocore's shape
    model for each attribute of each item (about 5 us an attribute): three quarters of a 100-item
    BatchGetItem's time. An item operation's answer is already DynamoDB JSON, so it is written with
    ``json.dumps`` (bytes base64-encoded, as the serializer does); errors and every other operation
    keep moto's serializer, and so does anything ``json.dumps`` cannot write. Also, moto's projection
    converts the whole item once per projected path; it is converted once per item (idempotent; local
    stack and benchmarks only; tests/integration/test_local_moto_speedups.py checks that no answer changes)."""
    global _SERIALIZED  # noqa: PLW0603 - one patch per process
    import moto.dynamodb.models.dynamo_type as dynamo_type
    from moto.core.responses import ActionResult
    from moto.dynamodb.responses import DynamoHandler

    if _SERIALIZED is not None:
        return
    original = DynamoHandler.serialized

    def serialized(self: DynamoHandler, action_result: ActionResult) -> Any:
        result = action_result.result
        if self._get_action() in _PLAIN_JSON_ACTIONS and isinstance(result, dict):
            try:
                body = json.dumps(result, default=_wire_value)
            except TypeError:
                return original(self, action_result)
            headers = {"Content-Type": "application/x-amz-json-1.0", **self.response_headers}
            return 200, headers, body
        return original(self, action_result)

    def project(self: Any, projection_expressions: list[list[str]]) -> Any:
        whole = self.to_regular_json()
        result: dict[str, Any] = {}
        for path in projection_expressions:
            dynamo_type.merge_dicts(result, dynamo_type.find_nested_key(path, whole))
        return dynamo_type.Item(
            hash_key=self.hash_key, range_key=self.range_key, attrs=dynamo_type.serializer.serialize(result)["M"]
        )

    _SERIALIZED = ("serialized" in vars(DynamoHandler), original, dynamo_type.Item.project)
    DynamoHandler.serialized = serialized  # type: ignore[method-assign,assignment]
    dynamo_type.Item.project = project  # type: ignore[method-assign]


def plain_json_item_answers_off() -> None:
    """Undo ``plain_json_item_answers`` (for tests that compare both)."""
    global _SERIALIZED  # noqa: PLW0603
    import moto.dynamodb.models.dynamo_type as dynamo_type
    from moto.dynamodb.responses import DynamoHandler

    if _SERIALIZED is None:
        return
    own, original, project = _SERIALIZED
    if own:
        DynamoHandler.serialized = original  # type: ignore[method-assign]
    else:
        del DynamoHandler.serialized
    dynamo_type.Item.project = project  # type: ignore[method-assign]
    _SERIALIZED = None
