"""The staff dashboard, as the front desk uses it."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.pages import STAFF_SESSION_KEY, day_heading, session_token, sign_in_staff, staff_storage, when_parts
from tests.e2e.support import OpenPage, RunningStack, http_json

pytestmark = pytest.mark.e2e

CONFIRMED = {"confirmed", "arrived", "completed"}
UNCONFIRMED = {"requested", "booked"}


def day_sheet(stack: RunningStack, token: str, day: str | None = None) -> dict[str, Any]:
    query = f"?date={day}" if day else ""
    status, sheet = http_json("GET", f"{stack.api_url}/practices/{stack.practice_id}/day{query}", token=token)
    assert status == 200, sheet
    return dict(sheet)


def assert_page_shows(page: Page, sheet: dict[str, Any]) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text(day_heading(sheet["date"]))
    rows = sorted(sheet["appointments"], key=lambda a: a["start"])
    expect(page.locator(".summary [data-count=total] dd")).to_have_text(str(len(rows)))
    expect(page.locator(".summary [data-count=confirmed] dd")).to_have_text(
        str(sum(a["status"] in CONFIRMED for a in rows))
    )
    expect(page.locator(".summary [data-count=unconfirmed] dd")).to_have_text(
        str(sum(a["status"] in UNCONFIRMED for a in rows))
    )
    if not rows:
        expect(page.get_by_role("heading", name="No appointments on this day")).to_be_visible()
        return
    expect(page.locator("tbody tr")).to_have_count(len(rows))
    for appt in rows:
        row = page.locator(f'tr[data-appointment-id="{appt["id"]}"]')
        _, clock = when_parts(appt["local_label"])  # "9:30 AM EDT": the row shows "9:30 AM"
        expect(row.locator(".col-time time")).to_have_text(clock.rsplit(" ", 1)[0])
        if appt.get("patient"):
            expect(row.locator(".patient-name")).to_have_text(appt["patient"]["name"])
        expect(row.locator(".badge")).to_be_visible()


def test_the_staff_dashboard_signs_in_and_shows_todays_appointments(stack: RunningStack, open_page: OpenPage) -> None:
    page = open_page("desktop")
    sign_in_staff(page, stack)
    token = session_token(page, STAFF_SESSION_KEY)
    assert token, "the ID token is kept in sessionStorage"
    assert page.evaluate("localStorage.length") == 0

    assert_page_shows(page, day_sheet(stack, token))
    expect(page.get_by_text("Times in")).to_contain_text("(E")  # the zone is named: EST or EDT


def test_the_staff_dashboard_shows_a_chosen_days_appointments(stack: RunningStack, open_page: OpenPage) -> None:
    page = open_page("desktop")
    sign_in_staff(page, stack)
    token = session_token(page, STAFF_SESSION_KEY)
    assert token
    today = day_sheet(stack, token)["date"]
    # The first of the next two weeks' days that has appointments (the demo books most weekdays).
    start = date.fromisoformat(today)
    busy = next(
        sheet
        for sheet in (day_sheet(stack, token, (start + timedelta(days=n)).isoformat()) for n in range(1, 15))
        if sheet["appointments"]
    )

    page.get_by_label("Date", exact=True).fill(busy["date"])
    assert_page_shows(page, busy)
    assert f"date={busy['date']}" in page.url, "the chosen day survives a reload"

    page.get_by_role("button", name="Next day").click()
    following = (date.fromisoformat(busy["date"]) + timedelta(days=1)).isoformat()
    assert_page_shows(page, day_sheet(stack, token, following))
    expect(page.get_by_role("button", name="Next day")).to_be_focused()

    page.get_by_role("button", name="Previous day").click()
    assert_page_shows(page, busy)


def test_a_wrong_staff_password_is_explained_and_clears_the_password(stack: RunningStack, open_page: OpenPage) -> None:
    page = open_page("phone")
    page.goto(f"{stack.web_url}/staff/")
    page.get_by_label("Email").fill(stack.staff().username)
    page.get_by_label("Password", exact=True).fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("don't match an account")
    expect(page.get_by_label("Password", exact=True)).to_have_value("")
    assert session_token(page, STAFF_SESSION_KEY) is None


def test_signing_out_drops_the_staff_token(stack: RunningStack, open_page: OpenPage) -> None:
    page = open_page("tablet")
    sign_in_staff(page, stack)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="You're signed out")).to_be_visible()
    assert session_token(page, STAFF_SESSION_KEY) is None


def test_a_staff_session_signs_out_after_fifteen_minutes_idle(stack: RunningStack, open_page: OpenPage) -> None:
    page = open_page("desktop")
    page.clock.install()
    sign_in_staff(page, stack)

    page.clock.fast_forward("10:00")
    expect(page.locator(".summary")).to_be_visible()  # ten quiet minutes: still signed in

    page.clock.fast_forward("05:30")
    expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("signed out after 15 minutes without activity")
    assert session_token(page, STAFF_SESSION_KEY) is None


def test_a_rejected_staff_token_returns_to_sign_in_with_a_message(stack: RunningStack, open_page: OpenPage) -> None:
    forged = staff_storage(
        {"id_token": "not.a.token", "practice_id": stack.practice_id, "role": "front_desk", "expires_in": 3600},
        "someone@example.test",
    )
    page = open_page("phone", session_storage=forged)
    page.goto(f"{stack.web_url}/staff/")
    expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Your session has ended")).to_be_visible()
