"""The SMS provider's own opt-out list (SNS). Numbers that texted STOP to any of the account's numbers
are on it; a publish to one of them is silently dropped, so we ask before sending."""

from __future__ import annotations

from chalicelib.adapters.messaging import provider_call
from chalicelib.platform.aws import client


class SnsOptOuts:
    """The SNS client makes no retries of its own (see chalicelib/platform/aws.py); throttled answers
    are retried here, a bounded number of times, like a send's."""

    def is_opted_out(self, number: str) -> bool:
        answer = provider_call(lambda: client("sns").check_if_phone_number_is_opted_out(phoneNumber=number))
        return bool(answer["isOptedOut"])

    def opt_in(self, number: str) -> None:
        provider_call(lambda: client("sns").opt_in_phone_number(phoneNumber=number))
