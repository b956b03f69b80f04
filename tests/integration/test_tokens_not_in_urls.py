"""Credentials never travel in URLs: only single-purpose signed links do (generated from the route table).

- No operation reads a credential from the query string; a token in a path is a signed-link route's own
  capability (public, classified "signed-link" in the isolation matrix), never a session.
- Every GET route, called by a signed-in patient and by staff: no answer puts the caller's bearer token
  in a redirect or echoes it in its body.
- The one redirect (an SMS short link) lands on the patient page with a single-purpose action link, which
  the page exchanges through the API; the short token itself is not passed on.
(The pages' side, sessionStorage and Authorization headers only: tests/e2e/test_tokens_not_in_urls.py.)
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from chalice.test import Client

import app as _app  # noqa: F401 - registers every route
from chalicelib.appointments import links
from chalicelib.platform.api import OPERATIONS
from chalicelib.platform.secrets import token_signing_key
from chalicelib.reminders import shortlink
from tests.integration.conftest import StaffTokens, UserPool
from tests.integration.test_isolation_matrix import CLASSES, NOW, World, _build_world, _path

CREDENTIAL_NAMES = {"token", "session", "access_token", "id_token", "auth", "authorization", "jwt", "key", "code"}


def test_no_operation_takes_a_credential_in_its_query_string() -> None:
    found = sorted(
        f"{op.method} {op.path} ?{name}" for op in OPERATIONS.values() for name in op.query if name in CREDENTIAL_NAMES
    )
    assert not found, found


def test_a_token_in_a_path_is_only_ever_a_public_signed_link() -> None:
    for op in OPERATIONS.values():
        if "{token}" in op.path:
            assert op.auth == "public" and CLASSES.get(op.path) == "signed-link", f"{op.method} {op.path}"


@pytest.fixture
def world(api: Client, staff: StaffTokens, pool: UserPool) -> World:
    return _build_world(staff, pool)


GETS = sorted(k for k, op in OPERATIONS.items() if op.method == "GET" and op.auth != "public")


@pytest.mark.parametrize("key", GETS, ids=lambda k: k[1])
def test_no_answer_puts_the_callers_token_in_a_url_or_echoes_it(
    key: tuple[str, str], api: Client, world: World
) -> None:
    op = OPERATIONS[key]
    headers = world.staff_home if op.auth == "staff" else {"Authorization": f"Bearer {world.owner}"}
    token = headers["Authorization"].removeprefix("Bearer ")
    answer = api.http.get(_path(op, world.own_ids), headers=headers)
    body = answer.body.decode("utf-8", "replace") if isinstance(answer.body, bytes) else str(answer.body)
    assert token not in body, f"{op.path} echoed the caller's token"
    assert not 300 <= answer.status_code < 400 or token not in answer.headers.get("Location", "")


def test_the_sms_short_link_redirects_with_a_single_purpose_link_in_the_fragment_not_itself(
    api: Client, world: World
) -> None:
    key = token_signing_key()
    short = shortlink.make(key, links.RESCHEDULE, "P1", "A-OWN", NOW.replace(day=15))
    answer = api.http.get(f"/l/{short}")
    assert answer.status_code == 302
    location = answer.headers["Location"]
    parts = urlsplit(location)
    assert set(parse_qs(parts.query)) == {"practice"}, location  # the query reaches server logs; the fragment does not
    fragment = parse_qs(parts.fragment)
    assert set(fragment) == {"link"}, location
    assert short not in location and world.owner not in location
    claims = links.read_link(key, fragment["link"][0], NOW)  # a signed action link, for one appointment and action
    assert (claims.action, claims.appointment_id) == (links.RESCHEDULE, "A-OWN")
    assert re.fullmatch(r"[A-Za-z0-9._~-]+", fragment["link"][0])
