"""Email (SES v2) and SMS (SNS) senders behind small interfaces, with in-memory twins for tests.

A send ends in one of three ways, and callers must tell them apart:
- it returns the provider's message id: accepted;
- it raises ``SendRefused``: the provider answered with an error (throttled, rejected, its own 5xx) or
  could not be reached at all, so the message did not go out and trying again later is safe;
- it raises ``SendOutcomeUnknown``: the request may have reached the provider and the answer was lost
  (a read timeout, a dropped connection). It may have gone out; resending could send it twice.
The SES and SNS clients make no automatic retries (chalicelib/platform/aws.py): the SDK would resend
after a lost answer too. These adapters retry only what the provider itself refused as throttled or
failed, a bounded number of times.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.platform.aws import client

SEND_TRIES = 3  # per message: the first try and two retries of a throttled or failed answer
RETRY_PAUSE_SECONDS = 0.2  # doubled each retry, with jitter
RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "LimitExceededException",
        "InternalFailure",
        "InternalError",
        "InternalErrorException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
    }
)


class SendRefused(Exception):
    """The message did not go out (the provider said no, or was never reached); a later retry is safe."""

    def __init__(self, code: str, throttled: bool = False) -> None:
        super().__init__(code)
        self.code = code
        self.throttled = throttled


class SendOutcomeUnknown(Exception):
    """The request may have reached the provider; whether the message went out is not known."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def provider_call(call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one provider request, retrying only answers that say it was not accepted; map the rest."""
    from botocore.exceptions import ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as NeverConnected

    for attempt in range(SEND_TRIES):
        try:
            return call()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "ClientError"))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            retryable = code in RETRYABLE_CODES or status >= 500 or status == 429
            if not retryable or attempt == SEND_TRIES - 1:
                raise SendRefused(code, throttled=retryable) from exc
        except NeverConnected as exc:  # no connection was made (DNS, refused, connect timeout): nothing was sent
            if attempt == SEND_TRIES - 1:
                raise SendRefused(type(exc).__name__, throttled=True) from exc
        except HTTPClientError as exc:  # read timeout, connection dropped: maybe sent, never retried
            raise SendOutcomeUnknown(type(exc).__name__) from exc
        time.sleep(RETRY_PAUSE_SECONDS * 2**attempt * random.uniform(0.5, 1.0))  # noqa: S311 - jitter
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    html: str = ""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Sms:
    to: str  # E.164
    text: str
    origination: str = ""  # the practice's number, when it has one


class EmailSender(Protocol):
    def send(self, message: Email) -> str: ...


class SmsSender(Protocol):
    def send(self, message: Sms) -> str: ...


class SesEmailSender:
    def __init__(self, sender: str, configuration_set: str = "") -> None:
        self.sender = sender
        self.configuration_set = configuration_set

    def send(self, message: Email) -> str:
        body: dict[str, dict[str, str]] = {"Text": {"Data": message.text, "Charset": "UTF-8"}}
        if message.html:
            body["Html"] = {"Data": message.html, "Charset": "UTF-8"}
        simple: dict[str, object] = {"Subject": {"Data": message.subject, "Charset": "UTF-8"}, "Body": body}
        if message.headers:
            simple["Headers"] = [{"Name": k, "Value": v} for k, v in message.headers.items()]
        kwargs: dict[str, object] = {
            "FromEmailAddress": self.sender,
            "Destination": {"ToAddresses": [message.to]},
            "Content": {"Simple": simple},
        }
        if self.configuration_set:
            kwargs["ConfigurationSetName"] = self.configuration_set
        return str(provider_call(lambda: client("sesv2").send_email(**kwargs))["MessageId"])


class SnsSmsSender:
    def send(self, message: Sms) -> str:
        attributes = {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}}
        if message.origination:
            attributes["AWS.MM.SMS.OriginationNumber"] = {"DataType": "String", "StringValue": message.origination}
        resp = provider_call(
            lambda: client("sns").publish(PhoneNumber=message.to, Message=message.text, MessageAttributes=attributes)
        )
        return str(resp["MessageId"])


class MemoryEmailSender:
    def __init__(self) -> None:
        self.sent: list[Email] = []

    def send(self, message: Email) -> str:
        self.sent.append(message)
        return f"email-{len(self.sent)}"


class MemorySmsSender:
    def __init__(self) -> None:
        self.sent: list[Sms] = []

    def send(self, message: Sms) -> str:
        self.sent.append(message)
        return f"sms-{len(self.sent)}"
