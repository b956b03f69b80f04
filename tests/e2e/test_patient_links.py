"""A message's signed link opens a one-task view on the patient page, with no sign-in: confirm, cancel,
reschedule. The token rides in the address's fragment and leaves the address bar once read; a forged
one says the link is not valid. Each test books its own visit through the API and mints the link the
reminder engine would send for it (the waitlist offer's link is covered at the API in
tests/integration/test_waitlist_api.py)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from chalicelib.appointments import links
from tests.e2e.support import OpenPage, RunningStack, http_json, no_horizontal_scroll, shoot
from tests.e2e.test_accessibility import serious_violations
from tests.e2e.test_patient_appointments import book_by_api, schedule, submit, token_of

pytestmark = pytest.mark.e2e


def mint(stack: RunningStack, appointment: dict[str, Any], action: str, sent: datetime | None = None) -> str:
    """The signed link a reminder or notice sent at ``sent`` (now) would carry for this visit and action."""
    assert stack.signing_key, "the local stack did not share its signing key"
    start = datetime.fromisoformat(appointment["start"].replace("Z", "+00:00"))
    return links.action_token(
        stack.signing_key.encode(), stack.practice_id, appointment["id"], action, start, sent or datetime.now(UTC)
    )


def open_link(stack: RunningStack, open_page: OpenPage, token: str, old_style: bool = False) -> Page:
    page = open_page("phone")
    where = f"&link={token}" if old_style else f"#link={token}"
    page.goto(f"{stack.web_url}/patient/?practice={stack.practice_id}{where}")
    expect(page.locator("#main")).to_have_attribute("aria-busy", "false")
    return page


def status_of(stack: RunningStack, session: dict[str, Any], appointment_id: str) -> dict[str, Any]:
    return next(a for a in schedule(stack, token_of(session)) if a["id"] == appointment_id)


def test_a_reminder_confirm_link_confirms_and_a_second_open_says_already_confirmed(
    stack: RunningStack, open_page: OpenPage, patient_session: dict[str, Any]
) -> None:
    booked = book_by_api(stack, patient_session, pick=3)
    token = mint(stack, booked, links.CONFIRM)
    page = open_link(stack, open_page, token)

    expect(page.get_by_role("heading", name="Confirm your appointment")).to_be_focused()
    assert "link=" not in page.url and token not in page.url  # taken out of the address bar once read
    expect(page.locator("#link-when")).to_contain_text(booked["local_label"].rpartition(" at ")[0].split(", ")[1])
    assert no_horizontal_scroll(page)[0] <= no_horizontal_scroll(page)[1]
    assert serious_violations(page) == []
    shoot(page, "patient-link-confirm-phone")
    submit(page, "Confirm my appointment", page.locator("#link-done").filter(has_text="You're confirmed for"))
    expect(page.locator("#link-done")).to_be_focused()
    assert serious_violations(page) == []
    assert status_of(stack, patient_session, booked["id"])["status"] == "confirmed"

    again = open_link(stack, open_page, token)
    expect(again.locator("#link-state")).to_contain_text("You're already confirmed")
    expect(again.get_by_role("button", name="Confirm my appointment")).to_have_count(0)
    expect(again.get_by_role("button", name="Sign in for everything else")).to_be_visible()


def test_a_cancel_link_cancels_after_the_patient_says_yes(
    stack: RunningStack, open_page: OpenPage, patient_session: dict[str, Any]
) -> None:
    booked = book_by_api(stack, patient_session, pick=4)
    page = open_link(stack, open_page, mint(stack, booked, links.CANCEL))

    expect(page.get_by_role("heading", name="Cancel your appointment")).to_be_focused()
    expect(page.get_by_text("Do you want to cancel this appointment?")).to_be_visible()
    assert status_of(stack, patient_session, booked["id"])["status"] != "cancelled"  # opening changes nothing
    page.get_by_label("Reason (optional)").fill("Out of town that week")
    submit(page, "Yes, cancel my appointment", page.locator("#link-done").filter(has_text="is cancelled"))
    expect(page.get_by_role("button", name="Book another visit")).to_be_visible()
    assert status_of(stack, patient_session, booked["id"])["status"] == "cancelled"

    page.get_by_role("button", name="Book another visit").click()  # no session here: sign in first, told why
    expect(page.get_by_text("Sign in to book your next visit.")).to_be_visible()


def test_a_reschedule_link_moves_the_visit_to_the_chosen_time(
    stack: RunningStack, open_page: OpenPage, patient_session: dict[str, Any]
) -> None:
    booked = book_by_api(stack, patient_session, pick=5)
    page = open_link(stack, open_page, mint(stack, booked, links.RESCHEDULE))

    expect(page.get_by_role("heading", name="Choose a new time")).to_be_visible()
    days = page.locator("#link-slots .day-btn")
    expect(days.first).to_be_visible(timeout=60_000)
    days.nth(1).click()
    expect(days.nth(1)).to_have_attribute("aria-pressed", "true")
    chosen = page.locator("#link-slots input[type=radio]").last
    start = chosen.get_attribute("value")
    assert start and start != booked["start"]
    chosen.check()
    assert serious_violations(page) == []
    shoot(page, "patient-link-reschedule-phone")
    submit(page, "Move my appointment", page.locator("#link-done").filter(has_text="moved to"))
    assert status_of(stack, patient_session, booked["id"])["start"] == start


def test_a_forged_link_says_the_link_is_not_valid_and_offers_sign_in(stack: RunningStack, open_page: OpenPage) -> None:
    page = open_link(stack, open_page, "v1.forged.not-a-real-signature", old_style=True)  # as links already sent

    expect(page.get_by_role("alert")).to_contain_text("This link is not valid")
    assert "link=" not in page.url
    assert serious_violations(page) == []
    page.get_by_role("button", name="Sign in for everything else").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_an_expired_link_says_so_in_spanish_when_the_page_is_in_spanish(
    stack: RunningStack, open_page: OpenPage, patient_session: dict[str, Any]
) -> None:
    booked = book_by_api(stack, patient_session, pick=6)
    token = mint(stack, booked, links.CONFIRM, sent=datetime.now(UTC) - timedelta(days=400))
    page = open_page("phone")
    page.goto(f"{stack.web_url}/patient/?practice={stack.practice_id}&lang=es#link={token}")

    expect(page.get_by_role("alert")).to_contain_text("Este enlace venció")
    expect(page.get_by_role("button", name="Iniciar sesión para todo lo demás")).to_be_visible()
    assert page.url.endswith("lang=es")  # the practice and language stay, the token goes
    assert serious_violations(page) == []


def test_a_book_again_link_opens_the_booking_steps_for_a_signed_in_patient(
    stack: RunningStack, open_page: OpenPage, patient_session: dict[str, Any]
) -> None:
    page = open_page("phone", session_storage=patient_session)
    page.goto(f"{stack.web_url}/patient/?practice={stack.practice_id}#book=1")

    expect(page.get_by_role("heading", name="Book an appointment", exact=True)).to_be_visible()
    assert "book=" not in page.url


def test_a_waitlist_offer_link_takes_the_freed_time(
    stack: RunningStack, open_page: OpenPage, patient_session: dict[str, Any]
) -> None:
    token = token_of(patient_session)
    freed = book_by_api(stack, patient_session, pick=7)
    day = freed["local_start"][:10]
    _, me = http_json("GET", f"{stack.api_url}/patient/me", token=token)
    patient_id = next(p["id"] for p in me["patients"] if p["relation"] == "self")
    status, entry = http_json(
        "POST",
        f"{stack.api_url}/patient/waitlist",
        {"patient_id": patient_id, "type_id": freed["type_id"], "earliest": day, "latest": day},
        token=token,
    )
    assert status == 201, entry
    before = stack.outbox_ids()
    status, answer = http_json("POST", f"{stack.api_url}/patient/appointments/{freed['id']}/cancel", {}, token=token)
    assert status == 200, answer

    offer = wait_for_offer(stack, before)
    page = open_page("phone")
    page.goto(offer)
    expect(page.get_by_role("heading", name="An earlier time opened up")).to_be_visible()
    assert serious_violations(page) == []
    submit(page, "Take this time", page.locator("#link-done").filter(has_text="The time is yours"))
    booked = [a for a in schedule(stack, token) if a["start"] == freed["start"] and a["status"] != "cancelled"]
    assert [a["patient_id"] for a in booked] == [patient_id]


def wait_for_offer(stack: RunningStack, before: set[str]) -> str:
    """The patient-page address in the first new waitlist offer in the outbox."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for m in stack.outbox():
            if str(m["id"]) not in before and "#link=" in m["body"] and "earlier time" in m["body"]:
                found = re.search(r"https?://\S+#link=[A-Za-z0-9._~-]+", m["body"])
                if found:
                    return found.group(0)
        time.sleep(0.5)
    raise AssertionError("no waitlist offer reached the outbox")
