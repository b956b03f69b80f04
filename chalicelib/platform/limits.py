"""Rate limits on the routes that make a message (email or SMS) go out.

A route that can send declares it with ``route(..., sends=SendLimit(...))``. The limit is counted once
per request, right after the caller is verified (``staff_caller`` / ``patient_caller`` call ``spend``;
a public route calls ``spend`` itself once its signed token is verified), so a forged credential never
spends anyone's allowance, and a request past the cap is a 429 before anything changes or is sent.
The counters are the sign-in limiter's (``identity.store.DynamoRates``): one conditional ADD per rule
and fixed window, in DynamoDB.

A message sent while a route that declared no ``sends`` is running is logged, counted
(``UndeclaredSend``) and remembered in ``UNDECLARED``; the integration tests fail on it, so a new
sending route cannot be left out. tests/integration/test_send_limits.py also classifies every route of
the table, and drives each declared one past its caps.
"""

from __future__ import annotations

import hashlib
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.identity.model import RateRule
from chalicelib.platform.errors import RetryLater
from chalicelib.platform.observability import logger, metrics

if TYPE_CHECKING:
    from chalicelib.platform.api import Operation


@dataclass(frozen=True)
class SendLimit:
    """How often one caller, and one practice in all, may call a route that sends.

    Both rules ``None``: the route is bounded another way, said in ``note`` (the sign-in code request
    has per-contact and per-client limits of its own; a Stripe event sends one receipt per payment).
    """

    per_caller: RateRule | None = None
    per_practice: RateRule | None = None
    note: str = ""

    @property
    def rules(self) -> tuple[tuple[RateRule, str], ...]:
        out: list[tuple[RateRule, str]] = []
        if self.per_caller is not None:
            out.append((self.per_caller, "caller"))
        if self.per_practice is not None:
            out.append((self.per_practice, "practice"))
        return tuple(out)


def limit(scope: str, per_caller: int, practice_per_hour: int, window: timedelta = timedelta(minutes=10)) -> SendLimit:
    return SendLimit(
        RateRule(f"send.{scope}", per_caller, window),
        RateRule(f"send.{scope}.all", practice_per_hour, timedelta(hours=1)),
    )


def bounded(note: str) -> SendLimit:
    return SendLimit(note=note)


class SendRateLimited(RetryLater):
    """A route that sends, past one of its caps."""


# The operation of the request being served, and whether its limit was spent (set by api.route).
_current: ContextVar[tuple[Operation, list[bool]] | None] = ContextVar("chairside_operation", default=None)
UNDECLARED: list[str] = []  # "METHOD /path" of routes that sent with no SendLimit (tests read and clear it)


def enter(op: Operation) -> Any:
    return _current.set((op, [False]))


def leave(token: Any) -> None:
    _current.reset(token)


def current() -> Operation | None:
    found = _current.get()
    return found[0] if found else None


def spend(practice_id: str, caller: str) -> None:
    """Count this request against the current route's send limits; 429 past a cap. Once per request."""
    found = _current.get()
    if found is None:
        return
    op, spent = found
    if op.sends is None or not op.sends.rules or spent[0]:
        return
    spent[0] = True
    from chalicelib.identity.store import DynamoRates
    from chalicelib.platform.deps import deps

    now = deps().clock.now()
    rates = deps().extras.get("send_rates") or DynamoRates()
    for rule, per in op.sends.rules:
        who = caller if per == "caller" else "practice"
        digest = hashlib.sha256(f"{op.method} {op.path}\x1f{who}".encode()).hexdigest()[:24]
        if not rates.hit(practice_id, rule.counter_key(digest, now), rule.limit, rule.window_end(now)):
            logger.info("send rate limited", extra={"practice_id": practice_id, "scope": rule.scope, "per": per})
            metrics.add_metric(name="SendRateLimited", unit="Count", value=1)
            wait = rule.retry_after(now)
            raise SendRateLimited(f"too many of these just now; try again in {max(1, wait // 60)} minute(s)", wait)


class Guarded:
    """An email or SMS sender that notices a message going out from a route with no send limit."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def send(self, message: Any) -> str:
        op = current()
        if op is not None and op.sends is None:
            UNDECLARED.append(f"{op.method} {op.path}")
            logger.error("a route with no send limit sent a message", extra={"route": f"{op.method} {op.path}"})
            metrics.add_metric(name="UndeclaredSend", unit="Count", value=1)
        return str(self.inner.send(message))

    def __getattr__(self, name: str) -> Any:  # the in-memory twins' ``sent`` lists, for tests
        return getattr(self.inner, name)
