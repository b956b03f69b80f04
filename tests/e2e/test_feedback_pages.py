"""The feedback pages as people use them on a phone: answering the post-visit survey, sharing a
referral link, and the friend asking for a first visit on the public practice page."""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.support import OpenPage, RunningStack, http_json, no_horizontal_scroll, shoot

pytestmark = pytest.mark.e2e


def test_a_patient_answers_the_survey_on_a_phone_and_is_offered_the_review_links(
    stack: RunningStack, open_page: OpenPage
) -> None:
    link = urllib.parse.urlsplit(stack.demo.survey_url)
    assert link.query, "the demo has an unanswered survey for the showcase patient"
    page = open_page("phone")
    page.goto(f"{stack.web_url}/survey/?{link.query}")
    expect(page.get_by_text("How likely are you to recommend")).to_be_visible()
    width, inner = no_horizontal_scroll(page)
    assert width <= inner
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("alert")).to_contain_text("Pick a number")
    page.locator("label[for=score-9]").click()
    page.get_by_label("Anything you would like to tell us?").fill("Quick and friendly.")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("heading", name="Thank you for your feedback!")).to_be_visible()
    expect(page.locator(".review-list a")).to_have_count(3)
    expect(page.locator(".review-list a[data-site=google]")).to_have_attribute("href", re.compile(r"^https://"))
    shoot(page, "survey-thanks-phone")

    page.reload()
    expect(page.get_by_text("already been answered")).to_be_visible()


def test_the_survey_speaks_spanish(stack: RunningStack, open_page: OpenPage) -> None:
    page = open_page("phone")
    page.goto(f"{stack.web_url}/survey/?t=not-a-token&lang=es")
    expect(page.get_by_text("no es válido")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "es")


def test_a_referral_link_leads_a_friend_to_the_new_patient_request_page(
    stack: RunningStack, open_page: OpenPage, patient_session: dict[str, Any], staff_answer: dict[str, Any]
) -> None:
    patient = open_page("phone", session_storage=patient_session)
    patient.goto(f"{stack.web_url}/patient/?practice={stack.practice_id}")
    patient.get_by_role("link", name="Refer a friend").click()
    expect(patient).to_have_url(re.compile(r"/refer/"))
    code = patient.locator("#referral-code")
    expect(code).to_have_text(re.compile(r"^[A-Z2-7]{8}$"))
    for via in ("sms", "email", "facebook", "x", "whatsapp"):
        expect(patient.locator(f"a[data-via={via}]")).to_be_visible()
    url = patient.locator("#referral-link").input_value()
    assert f"ref={code.inner_text()}" in url
    shoot(patient, "refer-phone")

    friend = open_page("phone")
    friend.goto(f"{stack.web_url}/practice/?{urllib.parse.urlsplit(url).query}")
    expect(friend.get_by_text("A friend invited you")).to_be_visible()
    friend.get_by_role("button", name="Send request").click()
    expect(friend.get_by_role("alert")).to_contain_text("Tell us your name")
    friend.get_by_label("Your name").fill("Nia Newman")
    friend.get_by_label("Mobile phone").fill("(555) 555-0188")
    friend.get_by_label("Reason for the visit").fill("A check-up")
    friend.get_by_role("button", name="Send request").click()
    expect(friend.get_by_text("We received your request")).to_be_visible()
    expect(friend.get_by_role("heading", name=stack.demo.practice_name)).to_be_visible()
    shoot(friend, "new-patient-request-sent-phone")

    token = staff_answer["id_token"]
    status, inbox = http_json("GET", f"{stack.api_url}/practices/{stack.practice_id}/reminders/inbox", token=token)
    assert status == 200
    mine = [e for e in inbox["items"] if e["kind"] == "new_patient_request" and "+15555550188" in e["text"]]
    assert len(mine) == 1 and code.inner_text() in mine[0]["text"]


def test_the_embed_snippet_puts_a_request_button_on_another_page(stack: RunningStack, open_page: OpenPage) -> None:
    page = open_page("desktop")
    page.goto(f"{stack.web_url}/outbox/")
    page.evaluate(
        """([src, practice]) => new Promise((resolve) => {
            const s = document.createElement('script');
            s.src = src; s.dataset.practice = practice; s.onload = resolve;
            document.body.appendChild(s);
        })""",
        [f"{stack.web_url}/practice/embed.js", stack.practice_id],
    )
    button = page.locator("a.chairside-request")
    expect(button).to_have_text("Request an appointment")
    href = button.get_attribute("href") or ""
    assert href.startswith(f"{stack.web_url}/practice/?practice={stack.practice_id}") and href.endswith("#request")


@pytest.mark.parametrize("module", ["/survey/strings.js", "/refer/strings.js", "/practice/strings.js"])
def test_every_feedback_page_has_every_string_in_both_languages(
    module: str, stack: RunningStack, open_page: OpenPage
) -> None:
    page = open_page("desktop")
    page.goto(f"{stack.web_url}/outbox/")
    keys = page.evaluate(
        """async (module) => {
            const { STRINGS } = await import(module);
            const flat = (node, prefix = '') => Object.entries(node).flatMap(([k, v]) =>
                typeof v === 'string' ? [prefix + k] : flat(v, `${prefix}${k}.`));
            return Object.fromEntries(Object.entries(STRINGS).map(([lang, table]) => [lang, flat(table).sort()]));
        }""",
        module,
    )
    assert set(keys) == {"en", "es"} and keys["es"] == keys["en"]
