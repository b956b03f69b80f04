"""The SMS provider's own opt-out list (SNS). Numbers that texted STOP to any of the account's numbers
are on it; a publish to one of them is silently dropped, so we ask before sending."""

from __future__ import annotations

from chalicelib.platform.aws import client


class SnsOptOuts:
    def is_opted_out(self, number: str) -> bool:
        return bool(client("sns").check_if_phone_number_is_opted_out(phoneNumber=number)["isOptedOut"])

    def opt_in(self, number: str) -> None:
        client("sns").opt_in_phone_number(phoneNumber=number)
