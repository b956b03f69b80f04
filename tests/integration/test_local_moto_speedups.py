"""The local stack's moto speed-ups (local/atomic_dynamodb.py) change no answer: table and index queries,
both directions, paged, give what moto's own query gives (``unsorted_queries``), and every item operation
answers what moto's serializer would write (``plain_json_item_answers``)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.core.responses import ActionResult
from moto.dynamodb.models.table import Table

from local import atomic_dynamodb


@pytest.fixture
def table(aws: None) -> Any:
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(
        TableName="speed",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("PK", "SK", "G", "GS")],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gsi1",
                "KeySchema": [{"AttributeName": "G", "KeyType": "HASH"}, {"AttributeName": "GS", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    rng = random.Random(7)
    rows = [(p, s) for p in ("A", "B", "C") for s in range(60)]
    rng.shuffle(rows)
    for p, s in rows:
        item = {"PK": {"S": p}, "SK": {"S": f"X#{s:03d}"}}
        if s % 2:
            item |= {"G": {"S": f"G{s % 3}"}, "GS": {"S": f"{s % 5}"}}  # index sort keys repeat
        client.put_item(TableName="speed", Item=item)
    return client


QUERIES: list[dict[str, Any]] = [
    {"KeyConditionExpression": "PK = :p", "ExpressionAttributeValues": {":p": {"S": "B"}}},
    {
        "KeyConditionExpression": "PK = :p AND begins_with(SK, :s)",
        "ExpressionAttributeValues": {":p": {"S": "A"}, ":s": {"S": "X#0"}},
        "ScanIndexForward": False,
    },
    {"IndexName": "gsi1", "KeyConditionExpression": "G = :g", "ExpressionAttributeValues": {":g": {"S": "G1"}}},
    {
        "IndexName": "gsi1",
        "KeyConditionExpression": "G = :g AND GS >= :s",
        "ExpressionAttributeValues": {":g": {"S": "G2"}, ":s": {"S": "2"}},
        "ScanIndexForward": False,
    },
]


def _pages(client: Any, query: dict[str, Any]) -> list[list[Any]]:
    pages, start = [], None
    while True:
        extra = {"ExclusiveStartKey": start} if start else {}
        answer = client.query(TableName="speed", Limit=7, **query, **extra)
        pages.append(answer["Items"])
        start = answer.get("LastEvaluatedKey")
        if not start:
            return pages


@pytest.fixture
def fast_queries() -> Iterator[Any]:
    """The patch for this test only: the rest of the suite runs on moto as it is."""
    installed = atomic_dynamodb._QUERY is not None
    atomic_dynamodb.unsorted_queries()
    original = atomic_dynamodb._QUERY
    yield original
    if not installed:
        Table.query = original  # type: ignore[method-assign]
        atomic_dynamodb._QUERY = None


@pytest.mark.parametrize("query", QUERIES, ids=range(len(QUERIES)))
def test_queries_answer_exactly_as_moto_does_page_by_page(table: Any, query: dict[str, Any], fast_queries: Any) -> None:
    fast = _pages(table, query)
    patched, Table.query = Table.query, fast_queries  # type: ignore[method-assign]
    try:
        slow = _pages(table, query)
    finally:
        Table.query = patched  # type: ignore[method-assign]
    assert fast == slow
    assert sum(len(p) for p in fast) > 7  # more than one page


def _item_answers(client: Any) -> list[Any]:
    """Every item operation once, with projections, return values, binary and nested attributes, a
    condition that fails, and pages; response metadata (request ids, retries) left out."""
    rich = {
        "PK": {"S": "R"},
        "SK": {"S": "X#rich"},
        "n": {"N": "12.50"},
        "b": {"B": b"\x00\xffbytes"},
        "bs": {"BS": [b"a", b"\x01"]},
        "ss": {"SS": ["x", "y"]},
        "ns": {"NS": ["1", "2.5"]},
        "l": {"L": [{"S": "one"}, {"N": "2"}, {"M": {"deep": {"BOOL": True}}}]},
        "m": {"M": {"k": {"S": "v"}, "z": {"NULL": True}, "e": {"S": "caf\u00e9"}}},
    }
    answers: list[Any] = []

    def keep(answer: dict[str, Any]) -> None:
        answers.append({k: v for k, v in answer.items() if k != "ResponseMetadata"})

    keep(client.put_item(TableName="speed", Item=rich))
    keep(client.put_item(TableName="speed", Item=rich | {"n": {"N": "13"}}, ReturnValues="ALL_OLD"))
    keep(client.get_item(TableName="speed", Key={"PK": {"S": "R"}, "SK": {"S": "X#rich"}}))
    keep(
        client.get_item(
            TableName="speed",
            Key={"PK": {"S": "R"}, "SK": {"S": "X#rich"}},
            ProjectionExpression="n, b, l[2].deep, m.#k",
            ExpressionAttributeNames={"#k": "k"},
        )
    )
    keep(
        client.update_item(
            TableName="speed",
            Key={"PK": {"S": "R"}, "SK": {"S": "X#rich"}},
            UpdateExpression="SET n = n + :one, m.k = :v",
            ExpressionAttributeValues={":one": {"N": "1"}, ":v": {"S": "w"}},
            ReturnValues="ALL_NEW",
        )
    )
    keep(
        client.batch_get_item(
            RequestItems={
                "speed": {
                    "Keys": [{"PK": {"S": "R"}, "SK": {"S": "X#rich"}}, {"PK": {"S": "A"}, "SK": {"S": "X#001"}}],
                    "ProjectionExpression": "PK, SK, b, ss",
                }
            }
        )
    )
    keep(
        client.transact_get_items(
            TransactItems=[{"Get": {"TableName": "speed", "Key": {"PK": {"S": "R"}, "SK": {"S": "X#rich"}}}}]
        )
    )
    keep(
        client.batch_write_item(
            RequestItems={
                "speed": [{"PutRequest": {"Item": {"PK": {"S": "W"}, "SK": {"S": f"X#{n}"}}}} for n in range(3)]
            }
        )
    )
    keep(
        client.transact_write_items(
            TransactItems=[{"Put": {"TableName": "speed", "Item": {"PK": {"S": "W"}, "SK": {"S": "X#t"}}}}]
        )
    )
    for query in QUERIES:
        answers.append(_pages(client, query | {"ProjectionExpression": "PK, SK, G"}))
    written = {"KeyConditionExpression": "PK = :p", "ExpressionAttributeValues": {":p": {"S": "W"}}}
    answers.append(_pages(client, written))
    try:
        client.put_item(TableName="speed", Item=rich, ConditionExpression="attribute_not_exists(PK)")
    except client.exceptions.ConditionalCheckFailedException as refused:
        answers.append(refused.response["Error"])
    keep(client.delete_item(TableName="speed", Key={"PK": {"S": "R"}, "SK": {"S": "X#rich"}}, ReturnValues="ALL_OLD"))
    keep(client.delete_item(TableName="speed", Key={"PK": {"S": "R"}, "SK": {"S": "X#gone"}}, ReturnValues="ALL_OLD"))
    for n in range(3):
        client.delete_item(TableName="speed", Key={"PK": {"S": "W"}, "SK": {"S": f"X#{n}"}})
    client.delete_item(TableName="speed", Key={"PK": {"S": "W"}, "SK": {"S": "X#t"}})
    return answers


def test_item_operations_answer_exactly_as_moto_does_with_plain_json_answers(
    table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    serialized: list[str] = []
    through_serializer = ActionResult.execute_result

    def counted(result: ActionResult, context: Any) -> Any:
        serialized.append(context.operation_model.name)
        return through_serializer(result, context)

    monkeypatch.setattr(ActionResult, "execute_result", counted)
    installed = atomic_dynamodb._SERIALIZED is not None
    atomic_dynamodb.plain_json_item_answers_off()
    try:
        slow = _item_answers(table)
        assert len(serialized) > 20
        serialized.clear()
        atomic_dynamodb.plain_json_item_answers()
        fast = _item_answers(table)
    finally:
        if not installed:
            atomic_dynamodb.plain_json_item_answers_off()
    assert serialized == []  # every answer above took the plain path
    assert fast == slow
    assert fast[2]["Item"]["b"] == {"B": b"\x00\xffbytes"}  # binary round-trips through base64
    assert fast[3]["Item"] == {
        "n": {"N": "13"},
        "b": {"B": b"\x00\xffbytes"},
        "l": {"L": [{"M": {"deep": {"BOOL": True}}}]},
        "m": {"M": {"k": {"S": "v"}}},
    }
