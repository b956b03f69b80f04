"""Message templates: the carrier-keyword lint (C11), zone-named local times (R01), SMS length, email footer."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from chalicelib.reminders.templates import (
    DEFAULTS,
    KIND_TEMPLATES,
    REPLIES,
    format_when,
    lint,
    render,
    sample_facts,
    sms_segments,
)


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_no_template_tells_patients_to_reply_a_carrier_keyword(name: str) -> None:
    assert lint(DEFAULTS[name]) == []


@pytest.mark.parametrize(
    "text",
    [
        "Reply CANCEL to cancel your visit",
        "reply stop to cancel",
        "Text START to rebook",
        "Reply YES to confirm",
        "Responda CANCELAR para cancelar",
        "Send us 'cancel' if you cannot come",
        "To cancel, reply with the word CANCEL",
    ],
)
def test_the_lint_catches_carrier_keywords_used_for_appointment_actions(text: str) -> None:
    assert lint(text)


def test_the_lint_lets_reply_c_to_confirm_through() -> None:
    assert lint("Reply C to confirm. Reschedule: https://x.example.test/r") == []


@pytest.mark.parametrize("kind", KIND_TEMPLATES)
@pytest.mark.parametrize("language", ["en", "es"])
def test_every_rendered_message_says_the_same_in_sms_and_email_and_names_the_zone(kind: str, language: str) -> None:
    facts = sample_facts(kind, language)
    sms = render(facts, "sms")
    email = render(facts, "email")
    if kind not in ("recall", "instalment"):  # these name a day, not a time
        assert "EDT" in sms.text and "EDT" in email.text
        assert "UTC" not in sms.text + email.text
    assert sms_segments(sms.text) <= 2, (len(sms.text), sms.text)
    assert sms.text.isascii() or all(ord(c) < 0x250 for c in sms.text)


@pytest.mark.parametrize("language", ["en", "es"])
def test_reply_texts_fit_in_one_segment(language: str) -> None:
    for kind in REPLIES:
        text = render(sample_facts(kind, language), "sms").text
        assert sms_segments(text) == 1, text


def test_spanish_sms_stays_in_the_gsm_alphabet() -> None:
    text = render(sample_facts("reminder", "es", when=datetime(2027, 5, 15, 16, 0, tzinfo=UTC)), "sms").text
    assert "sabado" in text  # "sábado" without the accent GSM-7 lacks
    assert sms_segments(text) <= 2


def test_r01_a_denver_visit_reads_830_am_mst_and_never_utc() -> None:
    at = datetime(2027, 1, 12, 15, 30, tzinfo=UTC)
    assert format_when(at, "America/Denver", "en") == "Tuesday, January 12, 8:30 AM MST"
    for channel in ("sms", "email"):
        text = render(sample_facts("reminder", "en", when=at, zone="America/Denver"), channel).text
        assert "8:30 AM" in text and "MST" in text
        assert "15:30" not in text and "3:30 PM" not in text and "UTC" not in text


def test_c03_the_moved_touch_names_the_new_day_in_full() -> None:
    at = datetime(2027, 4, 22, 19, 0, tzinfo=UTC)
    text = render(sample_facts("reminder", "en", when=at), "sms").text
    assert "Thursday, April 22, 3:00 PM" in text


def test_an_email_ends_with_the_practice_address_and_an_unsubscribe_link() -> None:
    email = render(sample_facts("reminder", "en"), "email")
    assert "1 Maple Way, Springfield, NY 10001" in email.text
    assert "Unsubscribe: https://api.example.test/public/unsubscribe/" in email.text
    assert '<a href="https://api.example.test/public/unsubscribe/' in email.html


@pytest.mark.parametrize("kind", KIND_TEMPLATES)
@pytest.mark.parametrize("language", ["en", "es"])
def test_only_texts_ask_for_a_reply_of_c_and_emails_point_to_the_confirm_link(kind: str, language: str) -> None:
    facts = sample_facts(kind, language)
    email = render(facts, "email")
    for words in ("Reply C", "Responda C"):
        assert words not in email.text and words not in email.html
    if "{confirm_line}" in DEFAULTS[f"{kind}.sms.{language}"]:
        reply_c = "Reply C to confirm." if language == "en" else "Responda C para confirmar."
        assert reply_c in render(facts, "sms").text
        assert ("confirm with the link" if language == "en" else "confirme con el enlace") in email.text


def test_a_confirmed_patient_is_not_asked_to_confirm() -> None:
    facts = sample_facts("reminder", "en", confirmed=True)
    assert "Reply C" not in render(facts, "sms").text
    assert "You're confirmed." in render(facts, "sms").text
    assert "Confirm:" not in render(facts, "email").text


def test_a_practice_override_replaces_only_its_template() -> None:
    overrides = {"reminder.sms.en": "{practice_name}: {first_name}, {when}. {confirm_line}"}
    facts = sample_facts("reminder", "en")
    assert render(facts, "sms", overrides).text.startswith("Maple Family Dental: Maximiliano, Wednesday")
    assert render(facts, "email", overrides).subject.startswith("Reminder: Maple Family Dental")


@pytest.mark.parametrize("language", ["en", "es"])
def test_an_instalment_message_says_the_practice_the_amount_the_day_which_instalment_and_the_pay_link(
    language: str,
) -> None:
    facts = sample_facts("instalment", language, amount_cents=5, due_on=date(2027, 12, 3))
    sms, email = render(facts, "sms"), render(facts, "email")
    of = "2 of 3" if language == "en" else "2 de 3"
    day = "December 3" if language == "en" else "3 de diciembre"
    for text in (sms.text, email.text):
        assert "Maple Family Dental" in text and "(555) 555-0100" in text
        assert "$0.05" in text and of in text and day in text and facts.pay_url in text
    assert ("Friday" if language == "en" else "viernes") in email.text
    assert sms_segments(sms.text) <= 2
    assert "1 Maple Way" in email.text and facts.unsubscribe_url in email.text


def test_the_instalment_templates_pass_the_carrier_keyword_lint_and_take_overrides() -> None:
    names = [n for n in DEFAULTS if n.startswith("instalment.")]
    assert len(names) == 6  # sms, email subject and email, in English and Spanish
    assert all(lint(DEFAULTS[n]) == [] for n in names)
    overrides = {"instalment.sms.en": "{practice_name}: {amount} due {due_date}, {instalment}. {pay_url}"}
    text = render(sample_facts("instalment", "en"), "sms", overrides).text
    assert text.startswith("Maple Family Dental: $1,234.56 due September 29, 2 of 3. https://")
