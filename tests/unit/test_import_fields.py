from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from chalicelib.imports import fields
from chalicelib.imports.fields import FieldError
from chalicelib.imports.model import internal_id


@pytest.mark.parametrize("raw", ["(555) 555-0123", "555-555-0123", "+1 555 555 0123", "555.555.0123 x12"])
def test_us_phone_numbers_in_any_common_format_become_e164(raw: str) -> None:
    assert fields.phone_e164(raw) == "+15555550123"


def test_a_real_foreign_number_keeps_its_country() -> None:
    assert fields.phone_e164("+44 20 7946 0958") == "+442079460958"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("call me", "is not a phone number"),
        ("555-0123", "has no area code"),
        ("12", "wrong number of digits"),
        ("+1 123 456 7890", "is not a valid number"),
    ],
)
def test_a_phone_that_cannot_be_dialled_says_why_without_repeating_it(raw: str, reason: str) -> None:
    with pytest.raises(FieldError) as caught:
        fields.phone_e164(raw, "HmPhone")
    assert reason in str(caught.value)
    assert str(caught.value).startswith("HmPhone")
    assert raw not in str(caught.value)


def test_emails_are_validated_and_lower_cased_without_a_dns_lookup() -> None:
    assert fields.email_address("  Ava.Test@Example.TEST ") == "ava.test@example.test"
    with pytest.raises(FieldError, match="not a valid email"):
        fields.email_address("ava@")


def test_unknown_time_zones_are_refused() -> None:
    assert fields.zone_name("America/Chicago") == "America/Chicago"
    with pytest.raises(FieldError, match="not a known IANA time zone"):
        fields.zone_name("Mars/Olympus")


def test_local_times_become_utc_instants_in_the_given_zone() -> None:
    assert fields.local_datetime("2027-07-01 09:30", "America/New_York") == datetime(2027, 7, 1, 13, 30, tzinfo=UTC)
    assert fields.local_datetime("01/15/2027 9:30 AM", "America/New_York") == datetime(2027, 1, 15, 14, 30, tzinfo=UTC)
    assert fields.local_datetime("2027-07-01T09:30:00-06:00", "America/New_York") == datetime(
        2027, 7, 1, 15, 30, tzinfo=UTC
    )


def test_a_local_time_skipped_by_daylight_saving_is_refused_not_guessed() -> None:
    with pytest.raises(FieldError, match="does not exist"):
        fields.local_datetime("2027-03-14 02:30", "America/New_York")


def test_birth_dates_read_iso_and_us_order_and_treat_open_dentals_zero_date_as_unknown() -> None:
    assert fields.birth_date("1990-04-02") == date(1990, 4, 2)
    assert fields.birth_date("04/02/1990") == date(1990, 4, 2)
    assert fields.birth_date("0001-01-01") is None
    with pytest.raises(FieldError, match="in the future"):
        fields.birth_date("2090-01-01", today=date(2027, 1, 1))


def test_languages_accept_the_spellings_exports_use() -> None:
    assert [fields.language_code(x) for x in ("eng", "Spanish", "es-MX", "", "fr")] == ["en", "es", "es", "en", None]


def test_internal_ids_depend_on_source_system_entity_and_source_id_only() -> None:
    one = internal_id("csv", "patient", "17")
    assert one == internal_id("csv", "patient", "17")
    assert one.startswith("pat_")
    assert len({one, internal_id("fhir", "patient", "17"), internal_id("csv", "guardian", "17")}) == 3
