"""Injected AWS failures for the fault tests, without botocore's Stubber.

``Faults`` wraps ``botocore.client.BaseClient._make_api_call``, which every boto3 client and pynamodb's
client go through, above moto. A rule picks calls by service, operation and an optional predicate on
the parameters, counts them, and on the calls it is told to (``at``: the n-th matching call, 1-based,
or every one) does one of:

- ``refuse``: raise the ``ClientError`` AWS would (throttling, a 5xx, a failed condition) without making
  the call: nothing happened on the AWS side. This is the error that surfaces after the SDK's retries.
- ``lose_answer``: make the call (moto applies it: the message is accepted), then raise a read timeout,
  as when the answer is lost on the way back.
- ``die_after``: make the call, then raise ``ProcessDied``, which nothing in the app catches: the
  Lambda was killed between the provider accepting a message and the app recording it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError, ReadTimeoutError

DYNAMODB_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
THROTTLE = {
    "dynamodb": ("ProvisionedThroughputExceededException", 400),
    "sesv2": ("TooManyRequestsException", 429),
    "sns": ("Throttling", 400),
}
SERVER_ERROR = {
    "dynamodb": ("InternalServerError", 500),
    "sesv2": ("InternalFailure", 500),
    "sns": ("InternalError", 500),
}


class ProcessDied(BaseException):
    """The process was killed here: not an ``Exception``, so no handler in the app catches it."""


@dataclass
class Rule:
    service: str
    operations: frozenset[str]
    action: str  # refuse | lose_answer | die_after
    code: str = ""
    status: int = 400
    at: set[int] | None = None  # which matching calls (1-based); None: every one
    when: Callable[[dict[str, Any]], bool] | None = None
    matched: int = 0
    fired: int = 0

    def applies(self, service: str, operation: str, params: dict[str, Any]) -> bool:
        if service != self.service or operation not in self.operations:
            return False
        return self.when is None or self.when(params)


@dataclass
class Faults:
    rules: list[Rule] = field(default_factory=list)
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # every call made, in order

    def install(self, monkeypatch: pytest.MonkeyPatch) -> Faults:
        original = BaseClient._make_api_call
        faults = self

        def make_api_call(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            service = client.meta.service_model.service_name
            faults.calls.append((service, operation_name, api_params))
            for rule in faults.rules:
                if not rule.applies(service, operation_name, api_params):
                    continue
                rule.matched += 1
                if rule.at is not None and rule.matched not in rule.at:
                    continue
                rule.fired += 1
                if rule.action == "refuse":
                    response: dict[str, Any] = {
                        "Error": {"Code": rule.code, "Message": "injected"},
                        "ResponseMetadata": {"HTTPStatusCode": rule.status},
                    }
                    if rule.code == "TransactionCanceledException":
                        # The last item's condition failed (in a booking, a time lock someone else took).
                        items = api_params.get("TransactItems", [])
                        response["CancellationReasons"] = [{"Code": "None"}] * (len(items) - 1) + [
                            {"Code": "ConditionalCheckFailed"}
                        ]
                    raise ClientError(response, operation_name)  # type: ignore[arg-type]
                answer = original(client, operation_name, api_params)
                if rule.action == "lose_answer":
                    raise ReadTimeoutError(endpoint_url=f"https://{service}.injected")
                if rule.action == "die_after":
                    raise ProcessDied(f"{service}.{operation_name}")
                return answer
            return original(client, operation_name, api_params)

        monkeypatch.setattr(BaseClient, "_make_api_call", make_api_call)
        return self

    def add(self, rule: Rule) -> Rule:
        self.rules.append(rule)
        return rule

    def refuse(
        self,
        service: str,
        operations: str | frozenset[str],
        code: str,
        status: int = 400,
        at: set[int] | None = None,
        when: Callable[[dict[str, Any]], bool] | None = None,
    ) -> Rule:
        ops = frozenset({operations}) if isinstance(operations, str) else operations
        return self.add(Rule(service, ops, "refuse", code, status, at, when))

    def throttle(self, service: str, operations: str | frozenset[str], at: set[int] | None = None) -> Rule:
        code, status = THROTTLE[service]
        return self.refuse(service, operations, code, status, at)

    def server_error(self, service: str, operations: str | frozenset[str], at: set[int] | None = None) -> Rule:
        code, status = SERVER_ERROR[service]
        return self.refuse(service, operations, code, status, at)

    def lose_answer(self, service: str, operation: str, at: set[int] | None = None) -> Rule:
        return self.add(Rule(service, frozenset({operation}), "lose_answer", at=at))

    def die_after(self, service: str, operation: str, at: set[int] | None = None) -> Rule:
        return self.add(Rule(service, frozenset({operation}), "die_after", at=at))

    def clear(self) -> None:
        self.rules.clear()

    def count(self, service: str, operation: str) -> int:
        return sum(1 for s, o, _ in self.calls if (s, o) == (service, operation))

    def writes(self) -> list[tuple[str, dict[str, Any]]]:
        return [(o, p) for s, o, p in self.calls if s == "dynamodb" and o in DYNAMODB_WRITES]


def conditional(params: dict[str, Any]) -> bool:
    """Whether a DynamoDB write carries a condition (only those can fail one)."""
    return "ConditionExpression" in params or "TransactItems" in params


def condition_failure(operation: str) -> tuple[str, int]:
    if operation == "TransactWriteItems":
        return "TransactionCanceledException", 400
    return "ConditionalCheckFailedException", 400


class MetricsSeen:
    """Powertools metrics the code added (the provider itself is disabled in tests)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from chalicelib.platform.observability import metrics

        self.added: list[tuple[str, float]] = []
        original = metrics.add_metric

        def add_metric(name: str, unit: Any, value: float, *args: Any, **kwargs: Any) -> None:
            self.added.append((name, value))
            original(name=name, unit=unit, value=value, *args, **kwargs)  # noqa: B026

        monkeypatch.setattr(metrics, "add_metric", add_metric)

    def total(self, name: str) -> float:
        return sum(v for n, v in self.added if n == name)
