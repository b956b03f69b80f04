"""The pages keep session tokens in sessionStorage and send them only in Authorization headers: no page
address, request URL or Referer ever carries one, as a patient and as staff move around the pages."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.pages import PATIENT_SESSION_KEY, STAFF_SESSION_KEY, session_token, sign_in_staff
from tests.e2e.support import OpenPage, RunningStack

pytestmark = pytest.mark.e2e


class Seen:
    """Every URL the page loaded or asked for, with the headers of the API requests."""

    def __init__(self, page: Any, api_url: str) -> None:
        self.urls: list[str] = []
        self.referers: list[str] = []
        self.api_auth: list[str] = []
        self.api_url = api_url
        page.on("request", self._request)
        page.on("framenavigated", lambda frame: self.urls.append(frame.url))

    def _request(self, request: Any) -> None:
        self.urls.append(request.url)
        headers = request.headers
        if headers.get("referer"):
            self.referers.append(headers["referer"])
        if request.url.startswith(self.api_url) and request.method != "OPTIONS":
            self.api_auth.append(headers.get("authorization", ""))

    def assert_clean(self, token: str) -> None:
        assert token
        leaks = [u for u in self.urls + self.referers if token in u]
        assert not leaks, f"a session token in a URL: {leaks[:3]}"
        assert f"Bearer {token}" in self.api_auth, "the API was called without the session in Authorization"


def test_a_signed_in_patient_never_has_the_session_token_in_a_url(
    stack: RunningStack, open_page: OpenPage, patient_session: dict[str, Any]
) -> None:
    page = open_page("phone", session_storage=patient_session)
    seen = Seen(page, stack.api_url)
    page.goto(f"{stack.web_url}/patient/")
    expect(page.get_by_role("heading", name="Upcoming appointments")).to_be_visible()
    expect(page.locator("#appointments")).to_have_attribute("aria-busy", "false")
    page.reload()
    expect(page.locator("#appointments")).to_have_attribute("aria-busy", "false")
    seen.assert_clean(session_token(page, PATIENT_SESSION_KEY) or "")
    assert page.evaluate("localStorage.length") == 0


def test_staff_moving_between_sections_never_have_the_id_token_in_a_url(
    stack: RunningStack, open_page: OpenPage
) -> None:
    page = open_page("desktop")
    seen = Seen(page, stack.api_url)
    sign_in_staff(page, stack, "owner")
    for section in ("Patients", "Inbox", "Audit", "Settings", "Day sheet"):
        page.get_by_role("link", name=section).click()
        expect(page.get_by_role("heading", level=1)).to_be_visible()
    seen.assert_clean(session_token(page, STAFF_SESSION_KEY) or "")
    assert page.evaluate("localStorage.length") == 0
