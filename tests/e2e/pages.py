"""What the browser tests do the way a person would: sign in, read what the pages show."""

from __future__ import annotations

import json
import time
from datetime import date
from typing import Any

from playwright.sync_api import Page, expect

from tests.e2e.support import RunningStack

PATIENT_EMAIL = "patient@example.test"
PATIENT_PHONE = "+15555550123"
GUARDIAN_EMAIL = "guardian@example.test"

PATIENT_SESSION_KEY = "chairside.patient.session"
STAFF_SESSION_KEY = "chairside.staff.session"
STAFF_ACTIVITY_KEY = "chairside.staff.lastActive"


def sign_in_patient(page: Page, stack: RunningStack, contact: str, typed: str | None = None) -> None:
    """From the patient page's first screen to the appointment list, with the code from the outbox."""
    page.goto(f"{stack.web_url}/patient/")
    before = stack.outbox_ids()
    page.get_by_label("Mobile number or email").fill(typed or contact)
    page.get_by_role("button", name="Send me a code").click()
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    code = stack.wait_for_new_code(contact, before)
    page.get_by_label("6-digit code").fill(code)
    page.get_by_label("6-digit code").press("Enter")
    expect(page.get_by_role("heading", name="Upcoming appointments")).to_be_visible()
    expect(page.locator("#appointments")).to_have_attribute("aria-busy", "false")


def session_token(page: Page, key: str) -> str | None:
    raw = page.evaluate(f"sessionStorage.getItem({key!r})")
    if not raw:
        return None
    return str(json.loads(raw)["token"])


def sign_in_staff(page: Page, stack: RunningStack, role: str = "front_desk") -> None:
    user = stack.staff(role)
    page.goto(f"{stack.web_url}/staff/")
    page.get_by_label("Email").fill(user.username)
    page.get_by_label("Password", exact=True).fill(user.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".summary")).to_be_visible()


def staff_storage(answer: dict[str, Any], username: str) -> dict[str, Any]:
    """sessionStorage as the dashboard leaves it after signing in (to open it already signed in)."""
    now_ms = int(time.time() * 1000)
    return {
        STAFF_SESSION_KEY: {
            "token": answer["id_token"],
            "practiceId": answer["practice_id"],
            "role": answer["role"],
            "username": username,
            "expiresAt": now_ms + int(answer["expires_in"]) * 1000,
        },
        STAFF_ACTIVITY_KEY: now_ms,
    }


def day_heading(day: str) -> str:
    """The day sheet's heading for an ISO day, e.g. "Monday, March 15, 2027"."""
    d = date.fromisoformat(day)
    return f"{d:%A}, {d:%B} {d.day}, {d.year}"


def when_parts(local_label: str) -> tuple[str, str]:
    """("Monday, March 15, 2027", "9:30 AM EDT") from the API's local_label."""
    day, _, clock = local_label.rpartition(" at ")
    return day, clock
