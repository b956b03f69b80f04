"""Email (SES v2) and SMS (SNS) senders behind small interfaces, with in-memory twins for tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from chalicelib.platform.aws import client


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
        return str(client("sesv2").send_email(**kwargs)["MessageId"])


class SnsSmsSender:
    def send(self, message: Sms) -> str:
        attributes = {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}}
        if message.origination:
            attributes["AWS.MM.SMS.OriginationNumber"] = {"DataType": "String", "StringValue": message.origination}
        resp = client("sns").publish(PhoneNumber=message.to, Message=message.text, MessageAttributes=attributes)
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
