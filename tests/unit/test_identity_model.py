from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chalicelib.identity import model
from chalicelib.identity.model import (
    EMAIL,
    PER_CLIENT,
    PER_CONTACT,
    SMS,
    InvalidCode,
    InvalidContact,
    LinkView,
    Session,
    clean_code,
    code_message,
    epoch,
    new_code,
    new_session_token,
    normalise_contact,
    session_members,
    session_practice,
    upcoming_until,
)

NOW = datetime(2027, 3, 10, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize("typed", ["(555) 555-0121", "555-555-0121", "5555550121", "+1 555 555 0121", "1-555-555-0121"])
def test_a_us_phone_number_typed_any_common_way_becomes_e164(typed: str) -> None:
    assert normalise_contact(typed) == model.Contact("+15555550121", SMS)


def test_a_foreign_number_with_its_country_code_keeps_it() -> None:
    assert normalise_contact("+44 20 7946 0000").address == "+442079460000"


def test_an_email_address_is_lower_cased_and_trimmed() -> None:
    assert normalise_contact("  Ava.Test@Example.TEST ") == model.Contact("ava.test@example.test", EMAIL)


@pytest.mark.parametrize("typed", ["", "   ", "12", "555-0121", "not a contact", "a@b", "a b@example.test", "x" * 300])
def test_text_that_is_neither_a_phone_nor_an_email_is_rejected(typed: str) -> None:
    with pytest.raises(InvalidContact):
        normalise_contact(typed)


def test_codes_are_six_digits_with_leading_zeros_kept() -> None:
    codes = {new_code() for _ in range(500)}
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(codes) > 450


def test_a_typed_code_may_contain_spaces_or_a_dash() -> None:
    assert clean_code(" 123 456 ") == "123456"
    assert clean_code("123-456") == "123456"


@pytest.mark.parametrize("typed", ["12345", "1234567", "12345a", "١٢٣٤٥٦"])
def test_anything_but_six_ascii_digits_is_not_a_code(typed: str) -> None:
    with pytest.raises(InvalidCode):
        clean_code(typed)


def test_a_session_token_names_its_practice_and_nothing_else_parses() -> None:
    token = new_session_token("P1")
    assert session_practice(token) == "P1"
    assert session_practice("P1") is None
    assert session_practice("P1.short") is None
    assert session_practice("P#1." + token.split(".")[1]) is None
    with pytest.raises(ValueError, match="practice ids"):
        new_session_token("P.1")


def test_a_session_lives_15_idle_minutes_and_never_beyond_12_hours() -> None:
    start = epoch(NOW)
    fresh = Session("d", "P1", "H", ("H",), started_at=start, last_seen=start)
    assert fresh.is_alive(NOW + timedelta(minutes=14, seconds=59))
    assert not fresh.is_alive(NOW + timedelta(minutes=15))
    busy = Session("d", "P1", "H", ("H",), started_at=start, last_seen=start + 12 * 3600 - 60)
    assert busy.is_alive(NOW + timedelta(hours=11, minutes=59, seconds=59))
    assert not busy.is_alive(NOW + timedelta(hours=12))


def test_a_family_phone_is_held_by_the_parent_who_is_self_and_guardian_of_the_children() -> None:
    holder, ids, relations = session_members(
        [LinkView("K1", "guardian", "G1"), LinkView("MOM", "self", "MOM"), LinkView("K2", "guardian", "G1")]
    )
    assert holder == "MOM"
    assert ids == ("MOM", "K1", "K2")
    assert relations == {"MOM": "self", "K1": "guardian", "K2": "guardian"}


def test_rate_windows_are_fixed_and_the_key_changes_with_the_window() -> None:
    assert PER_CONTACT.limit == 5 and PER_CONTACT.window == timedelta(minutes=15)
    assert PER_CLIENT.limit == 20 and PER_CLIENT.window == timedelta(hours=1)
    key = PER_CONTACT.counter_key("abc", NOW)
    assert key == PER_CONTACT.counter_key("abc", NOW + timedelta(minutes=14, seconds=59))
    assert key != PER_CONTACT.counter_key("abc", NOW + timedelta(minutes=15))
    assert PER_CONTACT.retry_after(NOW + timedelta(minutes=5)) == 600


def test_the_code_message_names_the_practice_in_the_patients_language() -> None:
    en = code_message("en", "Maple Dental", "042917", SMS)
    es = code_message("es", "Maple Dental", "042917", SMS)
    mail = code_message("es", "Maple Dental", "042917", EMAIL)
    assert "042917" in en.text and "Maple Dental" in en.text and "10 minutes" in en.text
    assert "código" in es.text and "Maple Dental" in es.text
    assert mail.subject == "Su código de acceso de Maple Dental" and "042917" in mail.text
    assert code_message("fr", "Maple Dental", "1", SMS).text == code_message("en", "Maple Dental", "1", SMS).text


def test_upcoming_runs_twelve_months_even_from_a_leap_day() -> None:
    assert upcoming_until(NOW) == datetime(2028, 3, 10, 15, 0, tzinfo=UTC)
    assert upcoming_until(datetime(2028, 2, 29, tzinfo=UTC)) == datetime(2029, 2, 28, tzinfo=UTC)


def test_the_identity_model_imports_no_aws_web_or_payment_library() -> None:
    tree = ast.parse(Path(model.__file__).read_text())
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    roots = {name.split(".")[0] for name in imported}
    assert roots <= {
        "__future__",
        "hashlib",
        "hmac",
        "math",
        "re",
        "secrets",
        "collections",
        "dataclasses",
        "datetime",
        "phonenumbers",
    }, roots
