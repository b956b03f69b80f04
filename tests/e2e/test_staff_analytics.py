"""Analytics and worklists in the staff dashboard: charts drawn under the pages' CSP, ROI with its method
for owners, no money for the front desk, worklists that link to where staff act, no serious axe finding."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.pages import STAFF_SESSION_KEY, day_heading, session_token, sign_in_staff
from tests.e2e.support import OpenPage, RunningStack, http_json, no_horizontal_scroll, shoot
from tests.e2e.test_accessibility import serious_violations

pytestmark = pytest.mark.e2e

# Collects CSP violations from the first script on, so a chart library that needed inline style or
# script would fail the test.
CSP_WATCH = (
    "window.__csp = [];"
    " document.addEventListener('securitypolicyviolation',"
    " (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
)


def _open(open_page: OpenPage, viewport: str) -> Page:
    page = open_page(viewport)
    page.context.add_init_script(CSP_WATCH)
    return page


def _charts_drawn(page: Page) -> list[bool]:
    """For every chart canvas: Chart.js owns it and it has painted pixels."""
    return list(
        page.evaluate(
            """() => [...document.querySelectorAll('.chart-box canvas')].map((c) => {
                if (!window.Chart || !window.Chart.getChart(c) || !c.width || !c.height) return false;
                const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) return true;
                return false;
            })"""
        )
    )


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_an_owner_sees_the_charts_drawn_and_the_roi_with_its_method(
    viewport: str, stack: RunningStack, open_page: OpenPage
) -> None:
    page = _open(open_page, viewport)
    sign_in_staff(page, stack, "owner")
    page.get_by_role("navigation", name="Dashboard sections").get_by_role("link", name="Analytics").click()
    expect(page.get_by_role("heading", level=1, name="Analytics")).to_be_focused()
    expect(page.locator(".analytics-body")).to_have_attribute("aria-busy", "false")
    expect(page.locator(".chart-box canvas")).to_have_count(6)  # five trends and, for owners, collections
    assert all(_charts_drawn(page))
    assert page.evaluate("window.__csp") == []
    tiles = page.locator("#analytics-tiles")
    expect(tiles.get_by_text("No-show rate", exact=True)).to_be_visible()
    expect(
        tiles.get_by_text("No-show rate = no-shows ÷ (completed + no-shows), by the month of the visit.")
    ).to_be_visible()
    expect(page.get_by_role("heading", name="Return on investment")).to_be_visible()
    expect(page.locator("#roi-net")).to_have_text(lambda_money())
    expect(page.get_by_role("heading", name="Method")).to_be_visible()
    expect(
        page.get_by_text("Recovered visits = (baseline no-show rate − current no-show rate) × visits held.")
    ).to_be_visible()
    expect(page.get_by_text("Unit prices (USD)")).to_be_visible()
    page.locator("#chart-noshow-title + .chart-box + details summary").click()  # the chart's numbers as a table
    expect(page.locator("#chart-noshow-title ~ details table tbody tr")).to_have_count(12)
    # months read as months with their year ("Jan 2027"), never as a day ("Jan 27")
    expect(page.locator("#chart-noshow-title ~ details table tbody tr th").first).to_have_text(MONTH_EN)
    expect(page.get_by_text(re.compile(r"^Figures for "))).to_have_text(
        re.compile(rf"^Figures for {MONTH_EN.pattern[1:-1]} to {MONTH_EN.pattern[1:-1]}\.$")
    )
    width, inner = no_horizontal_scroll(page)
    assert width <= inner
    shoot(page, f"staff-analytics-owner-{viewport}")
    page.get_by_role("button", name="Language: Español").click()
    expect(page.get_by_text(re.compile(r"^Cifras de "))).to_have_text(
        re.compile(rf"^Cifras de {MONTH_ES.pattern[1:-1]} a {MONTH_ES.pattern[1:-1]}\.$")
    )


MONTH_EN = re.compile(r"^[A-Z][a-z]{2} 20\d\d$")
MONTH_ES = re.compile(r"^[a-z]{3,4}\.? 20\d\d$")  # "ene 2027", "sept 2027"


def lambda_money() -> Any:
    return re.compile(r"^-?\$[\d,]+\.\d{2}$")


def test_the_front_desk_sees_the_figures_but_no_money(stack: RunningStack, open_page: OpenPage) -> None:
    page = _open(open_page, "tablet")
    sign_in_staff(page, stack, "front_desk")
    page.get_by_role("link", name="Analytics").click()
    expect(page.locator(".analytics-body")).to_have_attribute("aria-busy", "false")
    expect(page.locator(".chart-box canvas")).to_have_count(5)
    assert all(_charts_drawn(page))
    expect(page.get_by_role("heading", name="Return on investment")).to_have_count(0)
    expect(page.get_by_role("heading", name="Money")).to_have_count(0)
    assert "$" not in page.locator("main").inner_text()
    assert serious_violations(page) == []
    shoot(page, "staff-analytics-front-desk-tablet")


def _book_tomorrow(stack: RunningStack, token: str) -> tuple[str, str]:
    """A visit tomorrow at 07:05 local (before opening, so it is free), booked and not confirmed."""
    status, settings = http_json("GET", f"{stack.api_url}/practices/{stack.practice_id}/settings", token=token)
    assert status == 200, settings
    zone = ZoneInfo(settings["zone"])
    today = datetime.now(zone).date()
    tomorrow = today + timedelta(days=1)
    start = datetime.combine(tomorrow, time(7, 5), zone).astimezone(ZoneInfo("UTC"))
    body = {
        "patient_id": stack.demo.patient.patient_ids[0],
        "type_id": settings["appointment_types"][0]["id"],
        "provider_id": settings["providers"][0]["id"],
        "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "outside_hours": True,
    }
    status, made = http_json("POST", f"{stack.api_url}/practices/{stack.practice_id}/appointments", body, token=token)
    assert status in (200, 201), made
    return made["id"], tomorrow.isoformat()


def test_worklists_show_tomorrows_unconfirmed_visits_and_link_to_the_day_sheet(
    stack: RunningStack, open_page: OpenPage
) -> None:
    page = _open(open_page, "phone")
    sign_in_staff(page, stack, "owner")
    token = session_token(page, STAFF_SESSION_KEY)
    assert token
    appointment_id, tomorrow = _book_tomorrow(stack, token)
    page.get_by_role("link", name="Worklists").click()
    expect(page.get_by_role("heading", level=1, name="Worklists")).to_be_focused()
    card = page.locator("#worklist-unconfirmed")
    row = card.locator(f'tr[data-appointment-id="{appointment_id}"]')
    expect(row).to_be_visible()
    for title in ("Overdue for recall, nothing booked", "Open balances past 30 days", "Unanswered inbox items"):
        expect(page.get_by_role("heading", name=title)).to_be_visible()
    assert serious_violations(page) == []
    width, inner = no_horizontal_scroll(page)
    assert width <= inner
    shoot(page, "staff-worklists-owner-phone")
    row.get_by_role("link", name="Open the day sheet").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(day_heading(tomorrow))
    expect(page.locator(f'tr[data-appointment-id="{appointment_id}"]')).to_be_visible()
    assert page.evaluate("window.__csp") == []


def test_analytics_has_no_serious_accessibility_violations_for_an_owner(
    stack: RunningStack, open_page: OpenPage
) -> None:
    page = _open(open_page, "desktop")
    sign_in_staff(page, stack, "owner")
    page.get_by_role("link", name="Analytics").click()
    expect(page.locator(".analytics-body")).to_have_attribute("aria-busy", "false")
    page.locator(".chart-numbers summary").first.click()
    assert serious_violations(page) == []
