"""Sign-in rules: contacts, one-time codes, patient sessions, rate windows, code messages. Pure domain.

Only the stdlib and ``phonenumbers`` here. Every secret-derived value (code, contact, token, client
address) is stored as an HMAC-SHA256 under the token signing key, with a purpose label so a digest
made for one use can never stand in for another.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import phonenumbers

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5

SESSION_IDLE = timedelta(minutes=15)
SESSION_ABSOLUTE = timedelta(hours=12)
# last_seen is rewritten at most this often, so a busy page costs one write a minute, not one a request.
# The idle timeout is therefore between 14 and 15 minutes after the last request.
SESSION_TOUCH_EVERY = timedelta(seconds=60)

DEFAULT_REGION = "US"
SMS = "sms"
EMAIL = "email"

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_PRACTICE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SESSION_SECRET = re.compile(r"^[A-Za-z0-9_-]{40,64}$")
_CODE_NOISE = re.compile(r"[\s-]")


class InvalidContact(ValueError):
    """The text is neither a possible phone number nor an email address."""


class InvalidCode(ValueError):
    """The text is not six digits."""


class CredentialsRejected(Exception):
    """Staff directory: wrong username or password (never says which)."""


class ChallengeRequired(Exception):
    """Staff directory: the password was right but the account must finish a challenge first."""

    def __init__(self, challenge: str) -> None:
        super().__init__(challenge)
        self.challenge = challenge


class DirectoryBusy(Exception):
    """Staff directory: throttled; try again later."""


# --- contacts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    address: str  # E.164 phone or lower-cased email, the form contact links are stored in
    channel: str  # sms | email


def normalise_contact(raw: str, region: str = DEFAULT_REGION) -> Contact:
    """A typed phone number (any common format, ``region`` when no +country) or email address."""
    text = raw.strip()
    if not text or len(text) > 254:
        raise InvalidContact("enter a mobile number or an email address")
    if "@" in text:
        email = text.lower()
        if not _EMAIL.match(email):
            raise InvalidContact("that email address does not look right")
        return Contact(email, EMAIL)
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidContact("that phone number does not look right") from exc
    # "Possible", not "valid": validity tables lag real numbering plans (and reject the 555 test
    # range), and a number we do not hold is answered exactly like one we do anyway.
    if (
        number.extension
        or phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE
    ):
        raise InvalidContact("that phone number does not look right")
    return Contact(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), SMS)


def valid_practice_id(practice_id: str) -> bool:
    return bool(_PRACTICE_ID.match(practice_id))


# --- digests ----------------------------------------------------------------------------------


def _mac(key: bytes, purpose: str, *parts: str) -> str:
    message = "\x1f".join((purpose, *parts)).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def contact_digest(key: bytes, practice_id: str, address: str) -> str:
    return _mac(key, "contact", practice_id, address)


def client_digest(key: bytes, client: str) -> str:
    return _mac(key, "client", client)


def code_digest(key: bytes, practice_id: str, address: str, code: str) -> str:
    """Bound to the practice and contact, so one contact's code never verifies another's."""
    return _mac(key, "otp", practice_id, address, code)


def token_digest(key: bytes, token: str) -> str:
    return _mac(key, "session", token)


def same_digest(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


# --- one-time codes ---------------------------------------------------------------------------


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def clean_code(raw: str) -> str:
    """The six digits a person typed, forgiving spaces and dashes ("123 456")."""
    code = _CODE_NOISE.sub("", raw)
    if len(code) != CODE_DIGITS or not code.isascii() or not code.isdigit():
        raise InvalidCode(f"the code is {CODE_DIGITS} digits")
    return code


def epoch(at: datetime) -> int:
    if at.tzinfo is None:
        raise ValueError("times are UTC instants")
    return math.floor(at.timestamp())


@dataclass(frozen=True)
class OneTimeCode:
    """A pending code for one contact. Only its keyed digest is ever stored."""

    digest: str
    channel: str
    issued_at: int  # epoch seconds
    expires_at: int  # epoch seconds; the code is dead from this second on
    attempts: int = 0

    def is_expired(self, now: datetime) -> bool:
        return epoch(now) >= self.expires_at

    @property
    def is_exhausted(self) -> bool:
        return self.attempts >= MAX_ATTEMPTS

    @property
    def attempts_left(self) -> int:
        return max(0, MAX_ATTEMPTS - self.attempts)


def issue_code(key: bytes, practice_id: str, contact: Contact, now: datetime) -> tuple[str, OneTimeCode]:
    """A fresh code (to send) and what may be stored about it."""
    code = new_code()
    issued = epoch(now)
    return code, OneTimeCode(
        digest=code_digest(key, practice_id, contact.address, code),
        channel=contact.channel,
        issued_at=issued,
        expires_at=issued + int(CODE_TTL.total_seconds()),
    )


# Why a code was refused, as stable API error codes.
CODE_WRONG = "invalid_code"
CODE_EXPIRED = "code_expired"  # also: none was requested, or it was already used
CODE_EXHAUSTED = "code_exhausted"


def refusal(pending: OneTimeCode | None, now: datetime) -> str:
    """Why an attempt could not be counted against ``pending``."""
    if pending is None or pending.is_expired(now):
        return CODE_EXPIRED
    if pending.is_exhausted:
        return CODE_EXHAUSTED
    return CODE_EXPIRED


# --- sessions ---------------------------------------------------------------------------------


def new_session_token(practice_id: str) -> str:
    """``<practice id>.<random>``: the practice tells where the session lives, the rest is the secret."""
    if not valid_practice_id(practice_id):
        raise ValueError("practice ids are letters, digits, '-' and '_'")
    return f"{practice_id}.{secrets.token_urlsafe(32)}"


def session_practice(token: str) -> str | None:
    """The practice a token claims, or None for anything not shaped like our tokens."""
    practice_id, dot, secret = token.partition(".")
    if not dot or not valid_practice_id(practice_id) or not _SESSION_SECRET.match(secret):
        return None
    return practice_id


@dataclass(frozen=True)
class Session:
    """A signed-in contact. Stored under the token's digest, never the token."""

    id: str  # token digest
    practice_id: str
    holder_id: str
    patient_ids: tuple[str, ...]
    relations: dict[str, str] = field(default_factory=dict)  # patient id -> self | guardian
    started_at: int = 0  # epoch seconds
    last_seen: int = 0  # epoch seconds

    @property
    def expires_at(self) -> int:
        return session_expires_at(self.started_at, self.last_seen)

    def is_alive(self, now: datetime) -> bool:
        return epoch(now) < self.expires_at

    def needs_touch(self, now: datetime) -> bool:
        return epoch(now) - self.last_seen >= SESSION_TOUCH_EVERY.total_seconds()


def session_expires_at(started_at: int, last_seen: int) -> int:
    return min(last_seen + int(SESSION_IDLE.total_seconds()), started_at + int(SESSION_ABSOLUTE.total_seconds()))


@dataclass(frozen=True)
class LinkView:
    """What sign-in needs from a contact link (see chalicelib.patients.model.ContactLink)."""

    patient_id: str
    relation: str
    holder_id: str


def session_members(links: Iterable[LinkView]) -> tuple[str, tuple[str, ...], dict[str, str]]:
    """(holder id, patient ids, relation per patient) for the links of one contact.

    A family phone can be a patient's own and a guardian's for the children; the holder is then
    the patient, and "self" wins over "guardian" for a patient reached both ways.
    """
    relations: dict[str, str] = {}
    holder = ""
    for link in sorted(links, key=lambda x: (x.relation != "self", x.holder_id, x.patient_id)):
        holder = holder or link.holder_id
        relations.setdefault(link.patient_id, link.relation)
    return holder, tuple(relations), relations


def upcoming_until(now: datetime) -> datetime:
    """The end of the "upcoming" window: the same instant twelve months on (Feb 29 -> Feb 28)."""
    try:
        return now.replace(year=now.year + 1)
    except ValueError:
        return now.replace(year=now.year + 1, day=28)


# --- rate limits ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateRule:
    """At most ``limit`` hits per fixed window (aligned to the epoch) for one key."""

    scope: str
    limit: int
    window: timedelta

    @property
    def seconds(self) -> int:
        return int(self.window.total_seconds())

    def window_start(self, now: datetime) -> int:
        return epoch(now) // self.seconds * self.seconds

    def counter_key(self, digest: str, now: datetime) -> str:
        return f"{self.scope}#{digest}#{self.window_start(now)}"

    def window_end(self, now: datetime) -> int:
        return self.window_start(now) + self.seconds

    def retry_after(self, now: datetime) -> int:
        return max(1, self.window_end(now) - epoch(now))


PER_CONTACT = RateRule("contact", 5, timedelta(minutes=15))
PER_CLIENT = RateRule("client", 20, timedelta(hours=1))


# --- messages ---------------------------------------------------------------------------------

_TEXTS = {
    "en": {
        "sms": "{code} is your {practice} sign-in code. It expires in {minutes} minutes. Do not share it.",
        "subject": "Your {practice} sign-in code",
        "body": (
            "Your {practice} sign-in code is {code}.\n\n"
            "It expires in {minutes} minutes. If you did not ask for it, you can ignore this email.\n"
        ),
    },
    "es": {
        "sms": "{code} es su código de acceso de {practice}. Vence en {minutes} minutos. No lo comparta.",
        "subject": "Su código de acceso de {practice}",
        "body": (
            "Su código de acceso de {practice} es {code}.\n\n"
            "Vence en {minutes} minutos. Si usted no lo pidió, puede ignorar este correo.\n"
        ),
    },
}


@dataclass(frozen=True)
class CodeMessage:
    subject: str  # email only
    text: str


def code_message(language: str, practice_name: str, code: str, channel: str) -> CodeMessage:
    texts = _TEXTS.get(language, _TEXTS["en"])
    values = {"code": code, "practice": practice_name, "minutes": int(CODE_TTL.total_seconds() // 60)}
    if channel == SMS:
        return CodeMessage("", texts["sms"].format(**values))
    return CodeMessage(texts["subject"].format(**values), texts["body"].format(**values))
