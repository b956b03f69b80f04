"""The local stack sends the pages' security headers and the API's no-store, over real HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from tests.e2e.support import RunningStack


def _headers(url: str, token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers


def test_the_pages_forbid_inline_script_and_framing(stack: RunningStack) -> None:
    for page in ("/patient/", "/staff/", "/patient/app.js"):
        status, headers = _headers(f"{stack.web_url}{page}")
        assert status == 200, page
        csp = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp, csp
        assert "script-src 'self'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "Strict-Transport-Security" not in headers  # plain HTTP locally; CloudFront adds it


def test_patient_data_and_errors_from_the_api_are_never_stored(
    stack: RunningStack, patient_session: dict[str, Any]
) -> None:
    token = next(iter(patient_session.values()))["token"]
    for path, expected in (("/patient/me", 200), ("/patient/appointments", 200), ("/patient/me", 401)):
        status, headers = _headers(f"{stack.api_url}{path}", token if expected == 200 else None)
        assert status == expected, path
        assert headers["Cache-Control"] == "no-store", path


def test_an_unknown_route_is_a_json_404_that_echoes_no_token(stack: RunningStack) -> None:
    for path, token in (("/no-such-route", None), ("/patient/../nope", "maple.secret-session-token")):
        request = urllib.request.Request(f"{stack.api_url}{path}")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            urllib.request.urlopen(request, timeout=30)
            raise AssertionError(f"{path} answered 2xx")
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read().decode()
        assert status == 404, (path, status, body)
        assert json.loads(body) == {"error": {"code": "not_found", "message": "there is no such route"}}
        assert "secret-session-token" not in body
