"""C14 (cases 1, 3, 6, 7): nobody reaches another patient's or practice's x-rays.

Every refusal is a 404 exactly like a missing id, signs nothing (the S3 presign calls are
counted), and leaves an ``access_denied`` event on an audit trail.
"""

from __future__ import annotations

import json

import pytest
from chalice.test import Client

from chalicelib.platform.deps import Deps
from tests.integration.conftest import StaffTokens
from tests.integration.test_images_support import PresignSpy, actions, bearer, seed, seed_xrays


@pytest.fixture
def world(api: Client, app_deps: Deps) -> Client:
    seed(app_deps)
    seed_xrays()
    return api


@pytest.fixture
def spy(world: Client, monkeypatch: pytest.MonkeyPatch) -> PresignSpy:
    return PresignSpy(monkeypatch)


def _denied(practice_id: str) -> list[tuple[str, str, str, str]]:
    return [a for a in actions(practice_id) if a[0] == "access_denied"]


def test_c14_1_pat_a_asking_for_pat_bs_xray_url_gets_404_no_presign_and_access_denied(
    world: Client, spy: PresignSpy
) -> None:
    foreign = world.http.get("/patient/images/XR-B1/url", headers=bearer("tok-pat-a"))
    missing = world.http.get("/patient/images/XR-NOPE/url", headers=bearer("tok-pat-a"))
    download = world.http.get("/patient/images/XR-B1/download", headers=bearer("tok-pat-a"))
    assert [r.status_code for r in (foreign, missing, download)] == [404, 404, 404]
    assert foreign.json_body == missing.json_body == {"error": {"code": "not_found", "message": "no such image"}}
    assert spy.calls == []
    assert sorted(_denied("P1")) == [
        ("access_denied", "patient", "", "image:XR-B1"),
        ("access_denied", "patient", "", "image:XR-B1"),
        ("access_denied", "patient", "", "image:XR-NOPE"),
    ]
    assert actions("P1", "PAT-B") == []  # nothing of PAT-B's was read


def test_c14_1_asking_the_gallery_for_another_patient_is_404(world: Client, spy: PresignSpy) -> None:
    answer = world.http.get("/patient/images?patient_id=PAT-B", headers=bearer("tok-pat-a"))
    assert answer.status_code == 404
    assert spy.calls == []
    assert _denied("P1") == [("access_denied", "patient", "", "patient:PAT-B")]


def test_c14_3_bulk_download_with_one_foreign_id_is_404_with_no_partial_result(world: Client, spy: PresignSpy) -> None:
    answer = world.http.post(
        "/patient/images/download",
        headers={**bearer("tok-pat-a"), "Content-Type": "application/json"},
        body=json.dumps({"ids": ["XR-A1", "XR-B1"]}),
    )
    assert answer.status_code == 404
    assert set(answer.json_body) == {"error"}
    assert spy.calls == []
    assert _denied("P1") == [("access_denied", "patient", "", "image:XR-B1")]
    assert [a for a in actions("P1", "PAT-A") if a[0] == "image.download"] == []


def test_c14_3_bulk_download_of_only_own_ids_answers_all_of_them(world: Client) -> None:
    answer = world.http.post(
        "/patient/images/download",
        headers={**bearer("tok-pat-a"), "Content-Type": "application/json"},
        body=json.dumps({"ids": ["XR-A1", "XR-A2"]}),
    )
    assert answer.status_code == 200
    assert [d["id"] for d in answer.json_body["downloads"]] == ["XR-A1", "XR-A2"]


def test_c14_6_p2_staff_asking_for_a_p1_xray_get_404_either_way(
    world: Client, staff: StaffTokens, spy: PresignSpy
) -> None:
    p2 = staff.headers("P2", "owner")
    assert world.http.get("/practices/P1/images/XR-A1/url", headers=p2).status_code == 404
    assert world.http.get("/practices/P2/images/XR-A1/url", headers=p2).status_code == 404
    assert world.http.get("/practices/P1/patients/PAT-A/images", headers=p2).status_code == 404
    assert world.http.get("/practices/P2/patients/PAT-A/images", headers=p2).status_code == 404
    assert spy.calls == []
    assert sorted(_denied("P2")) == [
        ("access_denied", "staff", "", "image:XR-A1"),
        ("access_denied", "staff", "", "image:XR-A1@practice:P1"),
    ]
    assert not [a for a in actions("P1", "PAT-A") if a[0] in {"image.view", "image.list"}]


def test_c14_6_p1_clinical_staff_can_view_the_same_xray(world: Client, staff: StaffTokens) -> None:
    answer = world.http.get("/practices/P1/images/XR-A1/url", headers=staff.headers("P1", "clinical"))
    assert answer.status_code == 200
    assert "X-Amz-Signature=" in answer.json_body["url"]


def test_c14_7_guardian_gets_a_linked_childs_xray_and_404_for_an_unlinked_minors(
    world: Client, spy: PresignSpy
) -> None:
    linked = world.http.get("/patient/images/XR-K1/url", headers=bearer("tok-g1"))
    assert linked.status_code == 200
    assert linked.json_body["image"]["patient_id"] == "K1"
    signed_for_child = len(spy.calls)
    assert signed_for_child > 0
    unlinked = world.http.get("/patient/images/XR-K3/url", headers=bearer("tok-g1"))
    assert unlinked.status_code == 404
    assert len(spy.calls) == signed_for_child
    assert _denied("P1") == [("access_denied", "patient", "", "image:XR-K3")]
    gallery = world.http.get("/patient/images", headers=bearer("tok-g1")).json_body
    assert [i["id"] for i in gallery["images"]] == ["XR-K1"]


def test_without_a_session_every_patient_image_route_is_401(world: Client, spy: PresignSpy) -> None:
    assert world.http.get("/patient/images").status_code == 401
    assert world.http.get("/patient/images/XR-A1/url", headers=bearer("expired")).status_code == 401
    assert spy.calls == []
