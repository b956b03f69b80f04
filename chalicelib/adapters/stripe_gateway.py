"""Stripe behind a small interface, and an in-memory twin for service tests.

``import stripe`` happens inside the methods: the API handler's cold start never pays for it. Every
create call carries an idempotency key. Stripe's own errors become four kinds the service can explain
to a person: declined, unavailable (network, rate limit), rejected (the request itself) and not configured.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.platform.secrets import stripe_secret_key, stripe_webhook_secret

TIMEOUT_SECONDS = 10  # API Gateway gives up at 29 s; Stripe's client would wait 80
WEBHOOK_TOLERANCE_SECONDS = 300


@dataclass(frozen=True)
class CreatedIntent:
    id: str
    client_secret: str
    amount_cents: int
    status: str


@dataclass(frozen=True)
class ConfirmedIntent:
    id: str
    status: str  # succeeded | processing | requires_action (3-D Secure: finish with Stripe.js) | ...
    amount_cents: int
    metadata: dict[str, str]


@dataclass(frozen=True)
class CreatedRefund:
    id: str
    payment_intent_id: str
    amount_cents: int
    status: str


class GatewayError(Exception):
    kind = "unavailable"

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class CardDeclined(GatewayError):
    kind = "declined"


class GatewayUnavailable(GatewayError):
    kind = "unavailable"


class GatewayRejected(GatewayError):
    kind = "rejected"


class GatewayNotConfigured(GatewayError):
    kind = "not_configured"


class IntentNotFound(GatewayError):
    """No such PaymentIntent, or the client secret is not its own."""

    kind = "not_found"


class SignatureInvalid(Exception):
    """The webhook body does not carry a valid, recent Stripe signature for our secret."""


class PaymentGateway(Protocol):
    @property
    def publishable_key(self) -> str: ...

    def create_intent(
        self, *, amount_cents: int, currency: str, metadata: Mapping[str, str], idempotency_key: str
    ) -> CreatedIntent: ...

    def refund(
        self, *, payment_intent_id: str, amount_cents: int, metadata: Mapping[str, str], idempotency_key: str
    ) -> CreatedRefund: ...

    def confirm_card(self, *, payment_intent_id: str, client_secret: str, card_token: str) -> ConfirmedIntent:
        """Confirm with a card token from Stripe.js ``createToken``, if ``client_secret`` is the intent's own."""
        ...

    def verify_event(self, raw: bytes, signature: str | None) -> dict[str, Any]:
        """The event as plain data, if ``raw`` is signed with our webhook secret; else SignatureInvalid."""
        ...


class StripeGateway:
    """The real Stripe API (or localstripe, when ``api_base`` points at it)."""

    def __init__(
        self,
        *,
        secret_key: Callable[[], str] = stripe_secret_key,
        webhook_secret: Callable[[], str] = stripe_webhook_secret,
        publishable_key: str = "",
        api_base: str = "",
        attach_token_card: bool = False,
    ) -> None:
        self._secret_key = secret_key
        self._attach_token_card = attach_token_card
        self._webhook_secret = webhook_secret
        self._publishable_key = publishable_key
        self._api_base = api_base
        self._client: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls) -> StripeGateway:
        base = os.environ.get("STRIPE_API_BASE", "")
        # A custom base is localstripe (local stack, tests): it confirms only with the token's card attached.
        return cls(
            publishable_key=os.environ.get("STRIPE_PUBLISHABLE_KEY", ""), api_base=base, attach_token_card=bool(base)
        )

    @property
    def publishable_key(self) -> str:
        return self._publishable_key

    def _stripe(self) -> Any:
        with self._lock:
            if self._client is None:
                import stripe

                try:
                    key = self._secret_key()
                except RuntimeError as exc:
                    raise GatewayNotConfigured("card payments are not set up", "not_configured") from exc
                self._client = stripe.StripeClient(
                    key,
                    base_addresses={"api": self._api_base} if self._api_base else None,
                    http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS),
                    max_network_retries=2,  # safe: every create carries an idempotency key
                )
            return self._client

    def create_intent(
        self, *, amount_cents: int, currency: str, metadata: Mapping[str, str], idempotency_key: str
    ) -> CreatedIntent:
        params = {
            "amount": amount_cents,
            "currency": currency,
            # Card only: localstripe rejects automatic_payment_methods, and the page uses the Card Element.
            "payment_method_types": ["card"],
            "metadata": dict(metadata),
        }
        intent = self._call(
            lambda c: c.v1.payment_intents.create(params=params, options={"idempotency_key": idempotency_key})
        )
        data = intent.to_dict()
        return CreatedIntent(str(data["id"]), str(data["client_secret"]), int(data["amount"]), str(data["status"]))

    def refund(
        self, *, payment_intent_id: str, amount_cents: int, metadata: Mapping[str, str], idempotency_key: str
    ) -> CreatedRefund:
        params = {"payment_intent": payment_intent_id, "amount": amount_cents, "metadata": dict(metadata)}
        refund = self._call(lambda c: c.v1.refunds.create(params=params, options={"idempotency_key": idempotency_key}))
        data = refund.to_dict()
        return CreatedRefund(
            str(data["id"]),
            str(data.get("payment_intent") or payment_intent_id),
            int(data["amount"]),
            str(data["status"]),
        )

    def confirm_card(self, *, payment_intent_id: str, client_secret: str, card_token: str) -> ConfirmedIntent:
        intent = self._call(lambda c: c.v1.payment_intents.retrieve(payment_intent_id)).to_dict()
        if not hmac.compare_digest(str(intent.get("client_secret", "")), client_secret):
            raise IntentNotFound("no such payment", "not_found")
        if self._attach_token_card:
            # localstripe: confirm takes no payment_method_data, but the token's card can be attached first.
            card = self._call(lambda c: c.v1.tokens.retrieve(card_token)).to_dict()["card"]["id"]
            self._call(lambda c: c.v1.payment_intents.update(payment_intent_id, params={"payment_method": card}))
            params: dict[str, Any] = {}
        else:
            params = {"payment_method_data": {"type": "card", "card": {"token": card_token}}}
        done = self._call(lambda c: c.v1.payment_intents.confirm(payment_intent_id, params=params)).to_dict()
        return ConfirmedIntent(
            str(done["id"]),
            str(done["status"]),
            int(done["amount"]),
            {str(k): str(v) for k, v in (done.get("metadata") or {}).items()},
        )

    def verify_event(self, raw: bytes, signature: str | None) -> dict[str, Any]:
        import stripe

        try:
            secret = self._webhook_secret()
        except RuntimeError as exc:
            raise SignatureInvalid("no webhook secret is configured") from exc
        try:
            event = stripe.Webhook.construct_event(raw, signature, secret, tolerance=WEBHOOK_TOLERANCE_SECONDS)
        except (stripe.SignatureVerificationError, ValueError, UnicodeDecodeError) as exc:
            raise SignatureInvalid(type(exc).__name__) from exc
        data = event.to_dict()
        if not isinstance(data, dict):
            raise SignatureInvalid("not an event")
        return data

    def _call(self, request: Callable[[Any], Any]) -> Any:
        import stripe

        client = self._stripe()
        try:
            return request(client)
        except stripe.CardError as exc:
            raise CardDeclined(exc.user_message or "the card was declined", exc.code or "card_declined") from exc
        except (stripe.AuthenticationError, stripe.PermissionError) as exc:
            raise GatewayNotConfigured("card payments are not set up correctly", "not_configured") from exc
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                raise IntentNotFound("no such payment", "not_found") from exc
            raise GatewayRejected(
                exc.user_message or "the payment provider refused the request", exc.code or ""
            ) from exc
        except stripe.IdempotencyError as exc:
            raise GatewayRejected(
                exc.user_message or "the payment provider refused the request", exc.code or ""
            ) from exc
        except stripe.StripeError as exc:  # connection, rate limit, Stripe's own trouble
            raise GatewayUnavailable("the payment provider cannot be reached", exc.code or "") from exc


# --- the in-memory twin -------------------------------------------------------------------------


def sign_webhook(raw: bytes, secret: str, timestamp: int | None = None) -> str:
    """A Stripe-Signature header for ``raw`` (tests, and the twin below)."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + raw, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


@dataclass
class FakeGateway:
    """Remembers every call; replays the first answer for a repeated idempotency key, as Stripe does."""

    webhook_secret: str = "whsec_test_fake"  # noqa: S105 - a test value
    publishable_key: str = "pk_test_fake"
    fail_with: GatewayError | None = None
    confirm_status: str = "succeeded"  # what confirming answers (requires_action: a 3-D Secure step is left)
    intents: list[dict[str, Any]] = field(default_factory=list)
    refunds: list[dict[str, Any]] = field(default_factory=list)
    _by_key: dict[str, Any] = field(default_factory=dict)

    def create_intent(
        self, *, amount_cents: int, currency: str, metadata: Mapping[str, str], idempotency_key: str
    ) -> CreatedIntent:
        if self.fail_with is not None:
            raise self.fail_with
        if idempotency_key in self._by_key:
            replay: CreatedIntent = self._by_key[idempotency_key]
            return replay
        pid = f"pi_fake_{len(self.intents) + 1:04d}"
        self.intents.append(
            {
                "id": pid,
                "amount": amount_cents,
                "currency": currency,
                "metadata": dict(metadata),
                "key": idempotency_key,
            }
        )
        created = CreatedIntent(pid, f"{pid}_secret_fake", amount_cents, "requires_payment_method")
        self._by_key[idempotency_key] = created
        return created

    def refund(
        self, *, payment_intent_id: str, amount_cents: int, metadata: Mapping[str, str], idempotency_key: str
    ) -> CreatedRefund:
        if self.fail_with is not None:
            raise self.fail_with
        if idempotency_key in self._by_key:
            replay: CreatedRefund = self._by_key[idempotency_key]
            return replay
        rid = f"re_fake_{len(self.refunds) + 1:04d}"
        self.refunds.append(
            {"id": rid, "payment_intent": payment_intent_id, "amount": amount_cents, "key": idempotency_key}
        )
        created = CreatedRefund(rid, payment_intent_id, amount_cents, "succeeded")
        self._by_key[idempotency_key] = created
        return created

    def confirm_card(self, *, payment_intent_id: str, client_secret: str, card_token: str) -> ConfirmedIntent:
        if self.fail_with is not None:
            raise self.fail_with
        intent = next((i for i in self.intents if i["id"] == payment_intent_id), None)
        if intent is None or client_secret != f"{payment_intent_id}_secret_fake":
            raise IntentNotFound("no such payment", "not_found")
        intent["confirmed_with"] = card_token
        return ConfirmedIntent(payment_intent_id, self.confirm_status, intent["amount"], dict(intent["metadata"]))

    def verify_event(self, raw: bytes, signature: str | None) -> dict[str, Any]:
        """The same check Stripe's library makes: v1 HMAC over "<t>.<raw>", within 300 s of now."""
        parts = dict(p.split("=", 1) for p in (signature or "").split(",") if "=" in p)
        try:
            t = int(parts.get("t", ""))
        except ValueError as exc:
            raise SignatureInvalid("no timestamp") from exc
        expected = sign_webhook(raw, self.webhook_secret, t).split("v1=", 1)[1]
        if not hmac.compare_digest(parts.get("v1", ""), expected) or abs(time.time() - t) > WEBHOOK_TOLERANCE_SECONDS:
            raise SignatureInvalid("bad signature")
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise SignatureInvalid("not JSON") from exc
        if not isinstance(data, dict):
            raise SignatureInvalid("not an event")
        return data
