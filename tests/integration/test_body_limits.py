"""Every route caps its request body (generated from the route table, so a new route cannot be left out).

A body one byte over the route's ``max_body`` (64 KB unless the route says otherwise) is a JSON 413
``payload_too_large`` before the view runs: nothing is changed or sent, whoever calls.
"""

from __future__ import annotations

import pytest
from chalice.test import Client

import app as _app  # noqa: F401 - registers every route
from chalicelib.platform.api import MAX_JSON_BYTES, OPERATIONS, size
from tests.integration.conftest import StaffTokens, UserPool
from tests.integration.test_isolation_matrix import World, _build_world, _outbox_size, _path

WITH_BODY = sorted(k for k, op in OPERATIONS.items() if op.method in {"POST", "PUT", "PATCH", "DELETE"})


@pytest.fixture
def world(api: Client, staff: StaffTokens, pool: UserPool) -> World:
    return _build_world(staff, pool)


def _headers(world: World, auth: str, content_type: str) -> dict[str, str]:
    if auth == "staff":
        return {**world.staff_home, "Content-Type": content_type}
    if auth == "patient":
        return {"Authorization": f"Bearer {world.owner}", "Content-Type": content_type}
    return {"Content-Type": content_type}


@pytest.mark.parametrize("key", WITH_BODY, ids=lambda k: f"{k[0]} {k[1]}")
def test_a_body_over_the_routes_cap_is_a_json_413_and_changes_nothing(
    key: tuple[str, str], api: Client, world: World
) -> None:
    op = OPERATIONS[key]
    filler = b'{"x": "' + b"a" * op.max_body + b'"}' if op.body_type == "application/json" else b"a" * (op.max_body + 1)
    before = _outbox_size()
    answer = api.http.request(
        op.method, _path(op, world.own_ids), headers=_headers(world, op.auth, op.body_type), body=filler
    )
    assert answer.status_code == 413, (answer.status_code, answer.body[:300])
    error = answer.json_body["error"]
    assert error["code"] == "payload_too_large" and error["message"]
    assert _outbox_size() == before


def test_the_default_cap_is_64_kb_and_larger_caps_are_the_files_and_stripe_events() -> None:
    larger = {f"{op.method} {op.path}": size(op.max_body) for op in OPERATIONS.values() if op.max_body > MAX_JSON_BYTES}
    assert size(MAX_JSON_BYTES) == "64 KB"
    assert larger == {
        "POST /practices/{practice_id}/imports": "2 MB",
        "POST /practices/{practice_id}/ledger/import": "2 MB",
        "POST /stripe/webhook": "512 KB",
    }


def test_the_413_names_the_limit_in_words(api: Client, world: World) -> None:
    answer = api.http.post(
        "/patient/waitlist",
        headers=_headers(world, "patient", "application/json"),
        body=b'{"note": "' + b"a" * MAX_JSON_BYTES + b'"}',
    )
    assert answer.status_code == 413
    assert answer.json_body["error"]["message"] == "the request body is over the 64 KB limit"


JSON_BODIES = [k for k in WITH_BODY if OPERATIONS[k].body_type == "application/json" and OPERATIONS[k].body is not None]
TOO_DEEP = b'{"x": ' + b"[" * 5000 + b"]" * 5000 + b"}"  # 10 KB, under every cap; Python's parser gives up


@pytest.mark.parametrize("key", JSON_BODIES, ids=lambda k: f"{k[0]} {k[1]}")
def test_json_nested_too_deep_is_a_4xx_json_error_and_changes_nothing(
    key: tuple[str, str], api: Client, world: World
) -> None:
    op = OPERATIONS[key]
    before = _outbox_size()
    answer = api.http.request(
        op.method, _path(op, world.own_ids), headers=_headers(world, op.auth, op.body_type), body=TOO_DEEP
    )
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.body[:300])
    assert answer.json_body["error"]["code"] and answer.json_body["error"]["message"]
    assert _outbox_size() == before
