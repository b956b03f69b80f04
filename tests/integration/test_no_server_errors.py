"""Bad input never causes a 500: every declared route, fed garbage, answers a 4xx JSON error.

Generated from the route table, so a new route is covered as soon as it is declared.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from chalice.test import Client

import app as _app  # noqa: F401 - registers every route before parametrisation
from chalicelib.platform.api import OPERATIONS, Operation
from chalicelib.platform.deps import Deps
from chalicelib.practices.store import PracticeStore
from tests import factories
from tests.integration.conftest import StaffTokens

ODD_IDS = ["P1", "x" * 300, "..%2F..%2Fetc", "%00", "Ü", "0"]
ODD_BODIES: list[bytes] = [
    b"",
    b"not json",
    b"[]",
    b"null",
    b'{"a": 1}',
    json.dumps({"practice_id": 7, "contact": ["x"], "code": {"a": 1}, "username": None, "password": 3}).encode(),
    json.dumps({"practice_id": "P1", "contact": "x" * 5000, "code": "1" * 50}).encode(),
    b'{"unterminated": ',
]


def _paths(op: Operation) -> list[str]:
    names = re.findall(r"{([^}]+)}", op.path)
    paths = []
    for odd in ODD_IDS:
        path = op.path
        for name in names:
            path = path.replace("{" + name + "}", "P1" if name == "practice_id" and odd != "P1" else odd)
        paths.append(path)
    return paths


def _call(api: Client, method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
    return api.http.request(method, path, headers={"Content-Type": "application/json", **headers}, body=body)


@pytest.mark.parametrize("key", sorted(OPERATIONS), ids=lambda k: f"{k[0]} {k[1]}")
def test_garbage_input_to_a_route_gets_a_json_4xx_never_a_500(
    key: tuple[str, str], api: Client, staff: StaffTokens, app_deps: Deps
) -> None:
    PracticeStore().put(factories.maple())
    op = OPERATIONS[key]
    headers = staff.headers("P1", "owner") if op.auth == "staff" else {}
    bodies = ODD_BODIES if op.method in {"POST", "PUT", "PATCH"} else [b""]
    for path in _paths(op):
        for body in bodies:
            response = _call(api, op.method, path, headers, body)
            assert response.status_code < 500, (op.method, path, body[:60], response.body[:300])
            if response.status_code >= 400:
                error = json.loads(response.body)["error"]
                assert error["code"] and error["message"], (path, response.body)
