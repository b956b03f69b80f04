"""A patient shares x-rays with another dentist through a time-limited, revocable link."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from chalice.test import Client

from chalicelib.platform import signed
from chalicelib.platform.clock import FixedClock
from chalicelib.platform.deps import Deps
from chalicelib.platform.settings import get_settings
from tests.integration.test_images_support import PresignSpy, actions, bearer, seed, seed_xrays

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def world(api: Client, app_deps: Deps) -> Client:
    seed(app_deps)
    seed_xrays()
    return api


def _share(api: Client, token: str, body: dict[str, Any]) -> Any:
    return api.http.post("/patient/shares", headers={**bearer(token), **JSON}, body=json.dumps(body))


def _open(api: Client, token: object) -> Any:
    return api.http.post("/public/shares/open", headers=JSON, body=json.dumps({"token": token}))


def test_a_patient_shares_x_rays_with_another_dentist_who_opens_them_and_each_open_is_audited(
    world: Client, clock: FixedClock
) -> None:
    made = _share(world, "tok-pat-a", {"image_ids": ["XR-A1", "XR-A2"], "days": 14, "note": "Dr. Oak, ortho"})
    assert made.status_code == 201, made.body
    share, token = made.json_body["share"], made.json_body["token"]
    assert share["image_ids"] == ["XR-A1", "XR-A2"]
    assert share["expires_at"] == "2027-03-24T15:00:00Z"
    assert share["link"] == f"{get_settings().web_base_url}/patient/shared.html#{token}"

    clock.advance(days=2)
    opened = _open(world, token)
    assert opened.status_code == 200
    body = opened.json_body
    assert body["practice"]["name"] == "Maple Dental"
    assert body["note"] == "Dr. Oak, ortho"
    assert [i["id"] for i in body["images"]] == ["XR-A1", "XR-A2"]
    first = body["images"][0]
    assert requests.get(first["view_url"], timeout=10).content.startswith(b"\x89PNG")
    assert requests.get(first["download_url"], timeout=10).content[128:132] == b"DICM"
    assert "X-Amz-Expires=300" in first["view_url"]

    opens = [a for a in actions("P1", "PAT-A") if a[0] == "image.share_open"]
    assert sorted(opens) == [
        ("image.share_open", "anonymous", "PAT-A", "image:XR-A1"),
        ("image.share_open", "anonymous", "PAT-A", "image:XR-A2"),
    ]


def test_the_share_page_gets_the_practice_and_its_zone_and_of_the_patient_only_the_name(world: Client) -> None:
    token = _share(world, "tok-pat-a", {"image_ids": ["XR-A1"], "days": 7}).json_body["token"]
    body = _open(world, token).json_body
    # The zone shows the link's expiry in the practice's time; contacts and birth date never leave.
    assert body["practice"] == {"name": "Maple Dental", "phone": "+15555550100", "zone": "America/New_York"}
    assert set(body["patient"]) == {"name"}
    assert set(body) == {"practice", "patient", "note", "link_expires_at", "images", "expires_at"}
    assert body["link_expires_at"] == "2027-03-17T15:00:00Z"


def test_a_revoked_link_stops_opening_and_signs_nothing(
    world: Client, monkeypatch: pytest.MonkeyPatch, clock: FixedClock
) -> None:
    made = _share(world, "tok-pat-a", {"image_ids": ["XR-A1"]}).json_body
    revoked = world.http.delete(f"/patient/shares/{made['share']['id']}", headers=bearer("tok-pat-a"))
    assert revoked.status_code == 200
    assert revoked.json_body["share"]["revoked_at"] == "2027-03-10T15:00:00Z"
    assert revoked.json_body["share"]["open"] is False
    spy = PresignSpy(monkeypatch)
    refused = _open(world, made["token"])
    assert (refused.status_code, refused.json_body["error"]["code"]) == (410, "link_revoked")
    assert spy.calls == []
    assert ("image.share_revoke", "patient", "PAT-A", f"share:{made['share']['id']}") in actions("P1", "PAT-A")


def test_an_expired_link_answers_410(world: Client, clock: FixedClock) -> None:
    token = _share(world, "tok-pat-a", {"image_ids": ["XR-A1"], "days": 1}).json_body["token"]
    clock.advance(days=1)
    refused = _open(world, token)
    assert (refused.status_code, refused.json_body["error"]["code"]) == (410, "link_expired")


def test_a_forged_or_foreign_purpose_token_answers_404(world: Client) -> None:
    token = _share(world, "tok-pat-a", {"image_ids": ["XR-A1"]}).json_body["token"]
    payload, _, mac = token.partition(".")
    other_purpose = signed.sign(b"test-signing-key-not-secret", "appointment-action", {"p": "P1", "s": "x"}, None)
    for forged in [f"{payload}.{mac[:-2]}AA", other_purpose, "x" * 5000, 7, None, ""]:
        refused = _open(world, forged)
        assert refused.status_code == 404, forged
        assert refused.json_body["error"]["code"] == "invalid_link"


def test_nobody_can_share_or_revoke_what_is_not_theirs(world: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = PresignSpy(monkeypatch)
    assert _share(world, "tok-pat-a", {"image_ids": ["XR-A1", "XR-B1"]}).status_code == 404
    share_id = _share(world, "tok-pat-a", {"image_ids": ["XR-A1"]}).json_body["share"]["id"]
    assert world.http.delete(f"/patient/shares/{share_id}", headers=bearer("tok-pat-b")).status_code == 404
    assert world.http.get("/patient/shares", headers=bearer("tok-pat-b")).json_body == {"shares": []}
    assert spy.calls == []


def test_the_patient_sees_their_links_again_with_the_same_address(world: Client) -> None:
    made = _share(world, "tok-pat-a", {"image_ids": ["XR-A2"]}).json_body
    listed = world.http.get("/patient/shares", headers=bearer("tok-pat-a")).json_body["shares"]
    assert [(s["id"], s["open"], s["link"]) for s in listed] == [(made["share"]["id"], True, made["share"]["link"])]


@pytest.mark.parametrize(
    ("body", "status"),
    [({"image_ids": []}, 422), ({"image_ids": ["XR-A1"], "days": 90}, 422), ({"image_ids": "XR-A1"}, 422)],
)
def test_a_bad_share_request_is_a_clear_4xx(world: Client, body: dict[str, Any], status: int) -> None:
    assert _share(world, "tok-pat-a", body).status_code == status
