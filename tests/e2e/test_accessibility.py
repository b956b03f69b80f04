"""An automated accessibility check (axe-core, vendored in tests/e2e/vendor/axe-core) on the patient
page's sign-in, home and booking steps: no serious or critical violation of WCAG 2.1 A/AA rules.

axe cannot judge everything (reading order, wording, focus order across steps); the focus and
live-region behaviour is asserted in the flow tests themselves.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import OpenPage, RunningStack, shoot

pytestmark = pytest.mark.e2e

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def serious_violations(page: Page, exclude: tuple[str, ...] = ()) -> list[str]:
    """Run axe on the page as it is now; each serious or critical violation as one readable line.

    ``exclude``: selectors of parts that are not ours to judge (Stripe's Card Element: in production an
    iframe Stripe labels itself; in tests localstripe's stand-in, which draws bare inputs)."""
    if not page.evaluate("typeof window.axe === 'object'"):
        # Through the DevTools protocol, not a <script> tag: the pages' CSP refuses inline script (as it should).
        page.evaluate(f"() => {{ {AXE.read_text()}\n}}")
    result: dict[str, Any] = page.evaluate(
        """async ([tags, exclude]) => {
            const options = { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] };
            const context = exclude.length ? { exclude: exclude.map((s) => [s]) } : document;
            const r = await window.axe.run(context, options);
            return { violations: r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                     nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) })) };
        }""",
        [TAGS, list(exclude)],
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes']}"
        for v in result["violations"]
        if v["impact"] in {"serious", "critical"}
    ]


def test_the_sign_in_and_code_steps_have_no_serious_accessibility_violations(
    stack: RunningStack, open_page: OpenPage
) -> None:
    page = open_page("phone")
    page.goto(f"{stack.web_url}/patient/")
    expect(page.get_by_label("Mobile number or email")).to_be_visible()
    assert serious_violations(page) == []
    page.get_by_role("button", name="Send me a code").click()  # the empty-field error state
    expect(page.get_by_role("alert")).to_be_visible()
    assert serious_violations(page) == []


@pytest.mark.parametrize("lang", ["en", "es"])
def test_the_home_page_has_no_serious_accessibility_violations(
    lang: str, stack: RunningStack, open_page: OpenPage, patient_session: dict[str, Any]
) -> None:
    page = open_page("phone", session_storage=patient_session)
    page.goto(f"{stack.web_url}/patient/?lang={lang}")
    expect(page.locator(".appt").first).to_be_visible()
    expect(page.locator("#appointments")).to_have_attribute("aria-busy", "false")
    assert serious_violations(page) == []
    page.locator(".appt").first.locator("button[aria-expanded]").click()  # the cancel form open
    page.locator("details#past summary").click()  # past visits open
    expect(page.locator(".past-body")).to_have_attribute("aria-busy", "false")
    assert serious_violations(page) == []
    shoot(page, f"patient-home-a11y-{lang}-phone")


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_every_booking_step_has_no_serious_accessibility_violations(
    viewport: str, stack: RunningStack, open_page: OpenPage, patient_session: dict[str, Any]
) -> None:
    page = open_page(viewport, session_storage=patient_session)
    page.goto(f"{stack.web_url}/patient/")
    page.get_by_role("button", name="Book an appointment").click()
    expect(page.get_by_role("heading", name="What do you need?")).to_be_visible()
    assert serious_violations(page) == [], "type step"

    page.get_by_role("radio", name=re.compile(r"^Exam\b")).check()
    page.get_by_role("button", name="Next").click()
    expect(page.locator(".day-btn").first).to_be_visible()
    assert serious_violations(page) == [], "day step"

    page.locator(".day-btn").first.click()
    expect(page.locator(".slot-btn").first).to_be_visible()
    assert serious_violations(page) == [], "time step"
    shoot(page, f"patient-book-time-{viewport}")

    page.locator(".slot-btn").first.click()
    expect(page.get_by_role("heading", name="Check and confirm")).to_be_visible()
    assert serious_violations(page) == [], "review step"
    shoot(page, f"patient-book-review-{viewport}")
