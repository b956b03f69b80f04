"""Staff password sign-in through Cognito (moto), and "who am I"."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.platform.deps import Deps
from chalicelib.platform.observability import logger
from chalicelib.practices.store import PracticeStore
from tests import factories
from tests.integration.conftest import STAFF_PASSWORD, StaffTokens

USERNAME = "front_desk.p1@example.test"


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(repr(record.__dict__) + (self.format(record) if record.exc_info else ""))


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    handler = _Records()
    logger._logger.addHandler(handler)
    yield handler.lines
    logger._logger.removeHandler(handler)


def _sign_in(api: Client, username: Any, password: Any) -> Any:
    body = json.dumps({"username": username, "password": password}).encode()
    return api.http.post("/staff/sign-in", headers={"Content-Type": "application/json"}, body=body)


def test_staff_sign_in_returns_a_verified_token_with_practice_and_role(
    api: Client, staff: StaffTokens, app_deps: Deps
) -> None:
    PracticeStore().put(factories.maple())
    staff.token("P1", "front_desk")  # creates the user
    response = _sign_in(api, USERNAME, STAFF_PASSWORD)
    assert response.status_code == 200, response.body
    body = response.json_body
    assert (body["practice_id"], body["role"]) == ("P1", "front_desk")
    assert body["expires_in"] > 0
    me = api.http.get("/staff/me", headers={"Authorization": f"Bearer {body['id_token']}"})
    assert me.status_code == 200, me.body
    assert me.json_body["practice"] == {"id": "P1", "name": "Maple Dental", "zone": "America/New_York"}
    assert me.json_body["role"] == "front_desk"
    assert me.json_body["user_id"]


def test_staff_sign_in_with_a_wrong_password_is_a_401_json_error(
    api: Client, staff: StaffTokens, app_deps: Deps, log_lines: list[str]
) -> None:
    staff.token("P1", "front_desk")
    wrong = _sign_in(api, USERNAME, "Wrong-password-9")
    nobody = _sign_in(api, "nobody@example.test", "Wrong-password-9")
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.headers["Content-Type"] == "application/json"
    assert wrong.json_body == nobody.json_body
    assert wrong.json_body["error"]["code"] == "invalid_credentials"
    logged = "\n".join(log_lines)
    for secret in ("Wrong-password-9", USERNAME, "nobody@example.test"):
        assert secret not in logged


@pytest.mark.parametrize(
    "body",
    [{"username": USERNAME}, {"username": "", "password": "x"}, {"username": 7, "password": ["x"]}, {"password": "x"}],
)
def test_staff_sign_in_without_both_fields_is_a_422(api: Client, app_deps: Deps, body: dict[str, Any]) -> None:
    response = api.http.post("/staff/sign-in", headers={"Content-Type": "application/json"}, body=json.dumps(body))
    assert response.status_code == 422
    assert response.json_body["error"]["code"] == "invalid_field"


def test_staff_me_needs_a_staff_token(api: Client, app_deps: Deps) -> None:
    assert api.http.get("/staff/me").status_code == 401
    assert api.http.get("/staff/me", headers={"Authorization": "Bearer P1.not-a-jwt"}).status_code == 401
