"""The desk sections of the staff dashboard, as the front desk uses them."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.pages import STAFF_SESSION_KEY, session_token, sign_in_staff
from tests.e2e.support import OpenPage, RunningStack, http_json

pytestmark = pytest.mark.e2e


def _sheet(stack: RunningStack, token: str, day: str | None = None) -> dict[str, Any]:
    query = f"?date={day}" if day else ""
    status, sheet = http_json("GET", f"{stack.api_url}/practices/{stack.practice_id}/day{query}", token=token)
    assert status == 200, sheet
    return dict(sheet)


def _arrivable(stack: RunningStack, token: str) -> tuple[str, dict[str, Any]]:
    """A day in the next two weeks and one of its booked or confirmed appointments with a named patient."""
    start = date.fromisoformat(_sheet(stack, token)["date"])
    for n in range(15):
        day = (start + timedelta(days=n)).isoformat()
        for appt in _sheet(stack, token, day)["appointments"]:
            if appt["status"] in {"booked", "confirmed"} and (appt.get("patient") or {}).get("name"):
                return day, appt
    raise AssertionError("the demo practice has no booked visit in the next two weeks")


def test_the_front_desk_finds_a_patient_by_name_and_marks_an_arrival(stack: RunningStack, open_page: OpenPage) -> None:
    page = open_page("desktop")
    sign_in_staff(page, stack, "front_desk")
    token = session_token(page, STAFF_SESSION_KEY)
    assert token
    day, appt = _arrivable(stack, token)
    name = appt["patient"]["name"]
    family = name.split()[-1]

    page.get_by_role("link", name="Patients").click()
    page.get_by_label("Find a patient").fill(family)
    page.get_by_role("button", name="Search").click()
    match = page.get_by_role("link", name=name).first
    expect(match).to_be_visible()
    match.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.get_by_role("heading", name="Appointments")).to_be_visible()

    page.get_by_role("link", name="Day sheet").click()
    page.get_by_label("Date", exact=True).fill(day)
    row = page.locator(f'tr[data-appointment-id="{appt["id"]}"]')
    expect(row).to_be_visible()
    row.get_by_role("button", name=f"Arrived: {name}").click()
    expect(row.locator(".badge")).to_have_text("Arrived")
    status, after = http_json(
        "GET", f"{stack.api_url}/practices/{stack.practice_id}/appointments/{appt['id']}", token=token
    )
    assert status == 200 and after["status"] == "arrived"


def test_front_desk_staff_see_no_audit_or_settings_sections(stack: RunningStack, open_page: OpenPage) -> None:
    page = open_page("phone")
    sign_in_staff(page, stack, "front_desk")
    nav = page.get_by_role("navigation", name="Dashboard sections")
    expect(nav.get_by_role("link", name="Inbox")).to_be_visible()
    expect(nav.get_by_role("link", name="Audit log")).to_have_count(0)
    expect(nav.get_by_role("link", name="Settings")).to_have_count(0)
    nav.get_by_role("link", name="Inbox").click()
    expect(page.get_by_role("heading", level=1, name="Inbox")).to_be_visible()


def test_an_owner_browses_the_audit_log_and_sees_the_settings(stack: RunningStack, open_page: OpenPage) -> None:
    page = open_page("desktop")
    sign_in_staff(page, stack, "owner")
    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", level=1, name="Audit log")).to_be_visible()
    expect(page.locator(".audit-table tbody tr").first).to_be_visible()
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Opening hours")).to_be_visible()
    expect(page.locator("details.preview").first).to_be_visible()
