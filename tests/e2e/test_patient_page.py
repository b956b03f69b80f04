"""The patient page, as a patient or a parent uses it on their phone."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.pages import (
    GUARDIAN_EMAIL,
    PATIENT_EMAIL,
    PATIENT_PHONE,
    PATIENT_SESSION_KEY,
    session_token,
    sign_in_patient,
    when_parts,
)
from tests.e2e.support import OpenPage, RunningStack, http_json, no_horizontal_scroll, shoot

pytestmark = pytest.mark.e2e


def test_a_demo_patient_signs_in_with_the_emailed_code_on_a_phone_and_sees_their_upcoming_appointments(
    stack: RunningStack, open_page: OpenPage
) -> None:
    page = open_page("phone")
    sign_in_patient(page, stack, PATIENT_EMAIL)

    token = session_token(page, PATIENT_SESSION_KEY)
    assert token, "the session token is kept in sessionStorage"
    assert page.evaluate("localStorage.length") == 0, "nothing is kept in localStorage"

    status, answer = http_json("GET", f"{stack.api_url}/patient/schedule?when=upcoming", token=token)
    assert status == 200
    appointments = [a for a in answer["appointments"] if a["status"] != "cancelled"]
    assert appointments, "the showcase patient has upcoming appointments"
    expect(page.locator(".appt")).to_have_count(len(appointments))
    for appt in appointments:
        card = page.locator(f'.appt[data-appointment-id="{appt["id"]}"]')
        day, clock = when_parts(appt["local_label"])
        # The browser runs in Chicago; the card shows the practice's local day, time and named zone.
        expect(card).to_contain_text(day)
        expect(card).to_contain_text(clock)
        expect(card.locator(".badge")).to_be_visible()
    expect(page.get_by_text("Times are in the practice's time zone")).to_be_visible()
    width, inner = no_horizontal_scroll(page)
    assert width <= inner
    shoot(page, "patient-home-signed-in-phone")


def test_a_guardian_sees_both_childrens_appointments(stack: RunningStack, open_page: OpenPage) -> None:
    page = open_page("tablet")
    sign_in_patient(page, stack, GUARDIAN_EMAIL)
    token = session_token(page, PATIENT_SESSION_KEY)

    _, me = http_json("GET", f"{stack.api_url}/patient/me", token=token)
    children = [p["name"] for p in me["patients"] if p["relation"] == "guardian"]
    assert len(children) == 2, "the showcase guardian has two children"
    _, answer = http_json("GET", f"{stack.api_url}/patient/schedule?when=upcoming", token=token)
    upcoming = [a for a in answer["appointments"] if a["status"] != "cancelled"]
    assert {a["patient"]["name"] for a in upcoming} >= set(children)

    expect(page.locator(".appt")).to_have_count(len(upcoming))
    for name in children:
        expect(page.locator(".appt-person", has_text=name).first).to_be_visible()
        expect(page.locator(".people")).to_contain_text(name)
    shoot(page, "patient-home-guardian-tablet")


def test_a_wrong_code_shows_a_friendly_error_and_stays_on_the_code_step(
    stack: RunningStack, open_page: OpenPage
) -> None:
    page = open_page("phone")
    page.goto(f"{stack.web_url}/patient/")
    before = stack.outbox_ids()
    # Keyboard only, and the number typed the way people write it.
    contact = page.get_by_label("Mobile number or email")
    contact.focus()
    page.keyboard.type("(555) 555-0123")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    expect(page.get_by_label("6-digit code")).to_be_focused()

    real = stack.wait_for_new_code(PATIENT_PHONE, before)
    wrong = f"{(int(real) + 1) % 1_000_000:06d}"
    page.keyboard.type(wrong)
    page.keyboard.press("Enter")

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("That code didn't work")
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    expect(page.get_by_label("6-digit code")).to_have_attribute("aria-invalid", "true")
    assert session_token(page, PATIENT_SESSION_KEY) is None
    width, inner = no_horizontal_scroll(page)
    assert width <= inner
    shoot(page, "patient-wrong-code-phone")


def test_an_empty_contact_is_explained_before_anything_is_sent(stack: RunningStack, open_page: OpenPage) -> None:
    page = open_page("phone")
    page.goto(f"{stack.web_url}/patient/")
    page.get_by_role("button", name="Send me a code").click()
    expect(page.get_by_role("alert")).to_contain_text("Enter the mobile number or email address")
    expect(page.get_by_label("Mobile number or email")).to_be_focused()


def test_an_ended_session_returns_the_patient_to_sign_in_with_a_message(
    stack: RunningStack, open_page: OpenPage
) -> None:
    stale = {PATIENT_SESSION_KEY: {"token": f"{stack.practice_id}.{'x' * 43}", "practiceId": stack.practice_id}}
    page = open_page("phone", session_storage=stale)
    page.goto(f"{stack.web_url}/patient/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Your session has ended")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)


def test_the_patient_page_switches_to_spanish(stack: RunningStack, open_page: OpenPage) -> None:
    page = open_page("phone")
    page.goto(f"{stack.web_url}/patient/")
    page.get_by_role("button", name="Language: Español").click()
    expect(page.get_by_role("heading", name="Iniciar sesión")).to_be_visible()
    expect(page.get_by_label("Celular o correo electrónico")).to_be_visible()
    assert page.evaluate("document.documentElement.lang") == "es"


def test_the_practice_comes_from_the_page_address_when_given(stack: RunningStack, open_page: OpenPage) -> None:
    page = open_page("phone")
    page.goto(f"{stack.web_url}/patient/?practice=no-such-practice")
    expect(page.get_by_role("alert")).to_contain_text("We couldn't find this practice")


def test_a_patient_with_no_upcoming_appointments_is_offered_the_practice_phone(
    stack: RunningStack, open_page: OpenPage, patient_session: dict[str, Any]
) -> None:
    page = open_page("phone", session_storage=patient_session)
    page.route("**/patient/schedule*", lambda route: route.fulfill(json={"appointments": []}))
    page.goto(f"{stack.web_url}/patient/")
    expect(page.get_by_role("heading", name="No upcoming appointments")).to_be_visible()
    _, practice = http_json("GET", f"{stack.api_url}/public/practices/{stack.practice_id}")
    call = page.get_by_role("link", name="Call ")
    expect(call).to_have_attribute("href", f"tel:{practice['phone']}")
    shoot(page, "patient-home-empty-phone")


@pytest.mark.parametrize(
    ("status", "body", "shown"),
    [
        (503, '{"error": {"code": "unavailable", "message": "try later"}}', "The practice's system is busy"),
        (500, "<html>Internal Server Error</html>", "Something went wrong on our side"),
        (429, '{"error": {"code": "rate_limited", "message": "slow down"}}', "wait a few minutes"),
    ],
)
def test_an_api_failure_is_explained_in_plain_words_with_a_way_to_retry(
    status: int, body: str, shown: str, stack: RunningStack, open_page: OpenPage, patient_session: dict[str, Any]
) -> None:
    page = open_page("phone", session_storage=patient_session)
    failing = {"on": True}

    def answer(route: Any) -> None:
        if failing["on"]:
            route.fulfill(status=status, body=body, headers={"Access-Control-Allow-Origin": "*"})
        else:
            route.continue_()

    page.route("**/patient/schedule*", answer)
    page.goto(f"{stack.web_url}/patient/")
    expect(page.get_by_role("alert")).to_contain_text(shown)

    failing["on"] = False
    page.get_by_role("button", name="Try again").click()
    expect(page.locator(".appt").first).to_be_visible()
