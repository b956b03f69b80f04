"""Field normalisers shared by the FHIR and CSV parsers. Pure: no AWS or web imports.

Each raises ``FieldError`` with a reason that names the problem, never the value: reasons end up
in reports, run records and logs, which must not carry patient data.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from email_validator import EmailNotValidError, validate_email

DEFAULT_REGION = "US"

# 555-0100..555-0199 in every NANP area is reserved for fiction: phonenumbers calls it invalid,
# yet demos and tests must use it (and nothing else), so it is accepted explicitly.
_FICTIONAL_NANP = re.compile(r"^\d{3}55501\d\d$")

_LANGUAGES = {
    "en": "en",
    "eng": "en",
    "english": "en",
    "es": "es",
    "spa": "es",
    "spanish": "es",
    "español": "es",
    "espanol": "es",
}


class FieldError(ValueError):
    """A value that cannot be imported; the message says why without repeating the value."""


def phone_e164(raw: str, label: str = "phone", region: str = DEFAULT_REGION) -> str:
    """The number in E.164, or FieldError. Empty input gives ""."""
    text = raw.strip()
    if not text:
        return ""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise FieldError(f"{label} is not a phone number") from exc
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason == phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY:
        raise FieldError(f"{label} has no area code")
    if reason != phonenumbers.ValidationResult.IS_POSSIBLE:
        raise FieldError(f"{label} has the wrong number of digits")
    national = phonenumbers.national_significant_number(number)
    fictional = number.country_code == 1 and bool(_FICTIONAL_NANP.match(national))
    if not (fictional or phonenumbers.is_valid_number(number)):
        raise FieldError(f"{label} is not a valid number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def email_address(raw: str, label: str = "email") -> str:
    """The address lower-cased, or FieldError. Empty input gives ""."""
    text = raw.strip()
    if not text:
        return ""
    try:
        # test_environment admits the reserved .test domain that demos and fixtures use; deliverability
        # is never checked here (no DNS from an import).
        checked = validate_email(text, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise FieldError(f"{label} is not a valid email address") from exc
    return checked.normalized.lower()


def zone_name(raw: str, label: str = "time zone") -> str:
    """An IANA zone name zoneinfo knows, or FieldError. Empty input gives ""."""
    text = raw.strip()
    if not text:
        return ""
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise FieldError(f"{label} is not a known IANA time zone") from exc
    return text


def language_code(raw: str) -> str | None:
    """'en' or 'es' for the spellings exports use (ISO 639-1/-2, English names); None if unsupported."""
    text = raw.strip().lower().replace("_", "-")
    if not text:
        return "en"
    return _LANGUAGES.get(text) or _LANGUAGES.get(text.split("-")[0])


_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y", "%Y/%m/%d")


def birth_date(raw: str, label: str = "birth date", today: date | None = None) -> date | None:
    """A calendar date in ISO or US order; "" and Open Dental's 0001-01-01 mean unknown."""
    text = raw.strip()
    if not text or text.startswith(("0001-01-01", "01/01/0001")):
        return None
    text = text.split(" ")[0].split("T")[0]  # some exports append a midnight time
    for fmt in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a calendar date, no instant
        except ValueError:
            continue
        if today is not None and parsed > today:
            raise FieldError(f"{label} is in the future")
        return parsed
    raise FieldError(f"{label} is not a date (use YYYY-MM-DD or MM/DD/YYYY)")


_DATETIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %I:%M:%S %p",
)


def local_datetime(raw: str, zone: str, label: str = "date and time") -> datetime:
    """A UTC instant from a local wall-clock time in ``zone`` (or from a time with an explicit offset).

    A wall-clock time that does not exist (skipped by a DST change) is refused rather than guessed;
    an ambiguous one (repeated hour) takes its first occurrence.
    """
    text = raw.strip()
    if not text:
        raise FieldError(f"{label} is empty")
    try:
        aware = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        aware = None
    if aware is not None and aware.tzinfo is not None:
        return aware.astimezone(UTC)
    naive = aware
    if naive is None:
        for fmt in _DATETIME_FORMATS:
            try:
                naive = datetime.strptime(text, fmt)  # noqa: DTZ007 - zone applied below
                break
            except ValueError:
                continue
    if naive is None:
        raise FieldError(f"{label} is not a date and time (use YYYY-MM-DD HH:MM)")
    tz = ZoneInfo(zone)
    local = naive.replace(tzinfo=tz, fold=0)
    instant = local.astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) != naive:
        raise FieldError(f"{label} does not exist in {zone} (skipped by a daylight-saving change)")
    return instant
