"""The local stack's moto speed-up (local/atomic_dynamodb.py ``unsorted_queries``) changes no answer:
table and index queries, both directions, paged, give what moto's own query gives."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
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
