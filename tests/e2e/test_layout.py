"""Every page fits a phone, a tablet and a desktop without sideways scrolling; screenshots for people."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import VIEWPORTS, OpenPage, RunningStack, no_horizontal_scroll, shoot

pytestmark = pytest.mark.e2e


def patient_sign_in(page: Page, stack: RunningStack, _: Any) -> None:
    page.goto(f"{stack.web_url}/patient/")
    expect(page.get_by_label("Mobile number or email")).to_be_visible()


def patient_home(page: Page, stack: RunningStack, _: Any) -> None:
    page.goto(f"{stack.web_url}/patient/")
    expect(page.locator(".appt").first).to_be_visible()


def staff_sign_in(page: Page, stack: RunningStack, _: Any) -> None:
    page.goto(f"{stack.web_url}/staff/")
    expect(page.get_by_label("Password", exact=True)).to_be_visible()


def staff_day(page: Page, stack: RunningStack, _: Any) -> None:
    page.goto(f"{stack.web_url}/staff/")
    expect(page.locator(".summary")).to_be_visible()


def outbox(page: Page, stack: RunningStack, _: Any) -> None:
    page.goto(stack.outbox_url)
    expect(page.locator(".message").first).to_be_visible()


PAGES: dict[str, tuple[Callable[[Page, RunningStack, Any], None], str | None]] = {
    "patient-sign-in": (patient_sign_in, None),
    "patient-home": (patient_home, "patient"),
    "staff-sign-in": (staff_sign_in, None),
    "staff-day": (staff_day, "staff"),
    "outbox": (outbox, None),
}


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_renders_without_horizontal_scrolling(
    name: str,
    viewport: str,
    stack: RunningStack,
    open_page: OpenPage,
    patient_session: dict[str, Any],
    staff_session: dict[str, Any],
) -> None:
    show, signed_in_as = PAGES[name]
    storage = {"patient": patient_session, "staff": staff_session}.get(signed_in_as or "")
    page = open_page(viewport, session_storage=storage)
    show(page, stack, None)
    page.wait_for_load_state("networkidle")

    width, inner = no_horizontal_scroll(page)
    shoot(page, f"{name}-{viewport}")
    assert width <= inner, f"{name} is {width}px wide in a {inner}px {viewport} viewport"


@pytest.mark.parametrize("name", ["patient-sign-in", "staff-sign-in"])
def test_every_control_on_the_sign_in_pages_is_a_44px_touch_target(  # links inside sentences excepted
    name: str, stack: RunningStack, open_page: OpenPage
) -> None:
    page = open_page("phone")
    PAGES[name][0](page, stack, None)
    small = page.evaluate(
        """() => [...document.querySelectorAll('main button, main input:not([type=checkbox]), main a.btn')]
              .filter((el) => el.offsetParent !== null)
              .map((el) => [el.textContent.trim() || el.id, Math.round(el.getBoundingClientRect().height)])
              .filter(([, height]) => height < 44)"""
    )
    assert small == []
