"""The local outbox: where a developer reads the sign-in code the local stack "sent"."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.pages import GUARDIAN_EMAIL, PATIENT_EMAIL, PATIENT_PHONE
from tests.e2e.support import OpenPage, RunningStack, http_json, shoot
from tests.e2e.test_accessibility import serious_violations

pytestmark = pytest.mark.e2e


def request_code(stack: RunningStack, contact: str) -> str:
    before = stack.outbox_ids()
    status, _ = http_json(
        "POST", f"{stack.api_url}/patient/auth/code", {"practice_id": stack.practice_id, "contact": contact}
    )
    assert status == 202
    return stack.wait_for_new_code(contact, before)


def test_the_outbox_lists_the_sign_in_email_newest_first(stack: RunningStack, open_page: OpenPage) -> None:
    request_code(stack, GUARDIAN_EMAIL)
    code = request_code(stack, PATIENT_EMAIL)

    page = open_page("desktop")
    page.goto(stack.outbox_url)
    messages = page.locator(".message")
    expect(messages.first).to_be_visible()
    recipients = messages.locator(".message-to").all_inner_texts()
    newest_to_patient = next(i for i, to in enumerate(recipients) if PATIENT_EMAIL in to)
    newest_to_guardian = next(i for i, to in enumerate(recipients) if GUARDIAN_EMAIL in to)
    assert newest_to_patient < newest_to_guardian, "the later email is listed first"

    email = messages.nth(newest_to_patient)
    expect(email).to_have_attribute("data-channel", "email")
    expect(email.locator(".channel")).to_have_text("Email")
    expect(email.locator(".message-subject")).to_contain_text("sign-in code")
    expect(email.locator(".code-value")).to_have_text(code)
    expect(email.locator(".message-body")).to_contain_text(code)
    expect(email.locator(".message-id code")).not_to_be_empty()
    shoot(page, "outbox-sign-in-email-desktop")


def test_the_outbox_shows_a_new_text_message_without_a_reload(stack: RunningStack, open_page: OpenPage) -> None:
    page = open_page("phone")
    page.goto(stack.outbox_url)
    expect(page.locator(".count")).not_to_be_empty()

    code = request_code(stack, PATIENT_PHONE)
    newest = page.locator(".message").first
    expect(newest.locator(".message-to")).to_contain_text(PATIENT_PHONE, timeout=10_000)
    expect(newest).to_have_attribute("data-channel", "sms")
    expect(newest.locator(".code-value")).to_have_text(code)


def test_links_in_message_bodies_are_clickable_and_nothing_else_becomes_markup(
    stack: RunningStack, open_page: OpenPage
) -> None:
    page = open_page("desktop")
    page.goto(stack.outbox_url)
    expect(page.locator(".count")).not_to_be_empty()
    rendered = page.evaluate(
        """async () => {
            const { linkify, bodyText } = await import('/outbox/text.js');
            const box = document.createElement('div');
            const body = 'Confirm: https://example.test/c?t=abc. <b>not bold</b> <img src=x onerror=alert(1)>';
            box.append(...linkify(body));
            const html = bodyText({ body: '<p>Hi <a href="https://example.test/pay">Pay now</a></p>' });
            return {
                links: [...box.querySelectorAll('a')].map((a) => a.getAttribute('href')),
                elements: box.querySelectorAll('*').length,
                text: box.textContent,
                html,
            };
        }"""
    )
    assert rendered["links"] == ["https://example.test/c?t=abc"], "trailing punctuation stays out of the link"
    assert rendered["elements"] == 1, "only the link is an element; the rest stays text"
    assert "<b>not bold</b>" in rendered["text"]
    assert rendered["html"] == "Hi Pay now (https://example.test/pay)"


def test_a_patient_text_typed_in_the_outbox_reaches_the_inbound_sms_handler(
    stack: RunningStack, open_page: OpenPage
) -> None:
    """HELP by the outbox's form: the practice answers with its name and phone, as it would to a real phone."""
    page = open_page("desktop")
    page.goto(stack.outbox_url)
    expect(page.locator(".count")).not_to_be_empty()
    before = stack.outbox_ids()
    page.get_by_label("Patient's phone").fill(PATIENT_PHONE)
    page.get_by_label("Message", exact=True).fill("HELP")
    page.get_by_role("button", name="Send text").click()
    expect(page.locator(".reply-result")).to_have_text("Handled as: help")
    answer = next(m for m in stack.outbox() if m["id"] not in before and m["to"] == PATIENT_PHONE)
    assert "Maple Dental" in answer["body"] and "555" in answer["body"], answer["body"]
    expect(page.locator(".message").first.locator(".message-to")).to_contain_text(PATIENT_PHONE)
    assert serious_violations(page) == []
    page.get_by_label("Patient's phone").fill("")
    page.locator(".message").first.get_by_role("button", name="Reply").click()
    expect(page.get_by_label("Patient's phone")).to_have_value(PATIENT_PHONE)
    expect(page.get_by_label("Message", exact=True)).to_be_focused()
    shoot(page, "outbox-text-the-practice-desktop")


def test_other_texts_go_to_the_staff_inbox_and_a_text_needs_a_sender_and_words(stack: RunningStack) -> None:
    status, answer = http_json(
        "POST", f"{stack.web_url}/outbox/reply", {"from": PATIENT_PHONE, "text": "Is there parking nearby?"}
    )
    assert (status, answer["outcome"]) == (200, "other"), answer
    token = str(stack.staff_sign_in()["id_token"])
    status, inbox = http_json("GET", f"{stack.api_url}/practices/{stack.practice_id}/inbox", token=token)
    assert status == 200
    assert any("parking" in item.get("text", "") for item in inbox["items"]), inbox
    for bad in ({"from": PATIENT_PHONE}, {"text": "C"}, {"from": " ", "text": "C"}):
        status, answer = http_json("POST", f"{stack.web_url}/outbox/reply", bad)
        assert status == 422 and answer["error"]["code"] == "invalid", (bad, answer)
