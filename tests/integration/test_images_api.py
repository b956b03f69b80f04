"""Images through the API against moto S3 and DynamoDB: upload, processing, viewing, audit."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from chalice.test import Client
from PIL import Image as Picture

from chalicelib.images.files import bucket_cors_rules
from chalicelib.images.model import DICOM, JPEG, PNG
from chalicelib.platform.aws import client
from chalicelib.platform.deps import Deps
from chalicelib.platform.settings import get_settings
from tests.integration.conftest import StaffTokens
from tests.integration.test_images_support import (
    PresignSpy,
    actions,
    bearer,
    ct_small,
    jpeg_photo,
    processed_image,
    seed,
)

ROOT = Path(__file__).resolve().parents[2]
MB50 = 50 * 1024 * 1024


@pytest.fixture
def world(api: Client, app_deps: Deps) -> Client:
    seed(app_deps)
    return api


def _start(api: Client, staff: StaffTokens, data: bytes, content_type: str = DICOM, role: str = "clinical") -> Any:
    body = {"patient_id": "PAT-A", "kind": "bitewing", "taken_on": "2027-03-09", "content_type": content_type}
    return api.http.post(
        "/practices/P1/images",
        headers={**staff.headers("P1", role), "Content-Type": "application/json"},
        body=json.dumps({**body, "size": len(data)}),
    )


def _post_file(upload: dict[str, Any], data: bytes, content_type: str) -> int:
    response = requests.post(
        upload["url"], data=upload["fields"], files={"file": ("scan", data, content_type)}, timeout=10
    )
    return response.status_code


def _s3_event(api: Client, key: str, bucket: str | None = None) -> Any:
    event = api.events.generate_s3_event(bucket or get_settings().image_bucket, key, "ObjectCreated:Post")
    return api.lambda_.invoke("process_image_upload", event).payload


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _keys() -> list[str]:
    listed = client("s3").list_objects_v2(Bucket=get_settings().image_bucket)
    return sorted(o["Key"] for o in listed.get("Contents", []))


# --- upload and processing --------------------------------------------------------------------


def test_staff_upload_an_x_ray_by_presigned_post_and_its_patient_then_views_and_downloads_it(
    world: Client, staff: StaffTokens
) -> None:
    data = ct_small()
    started = _start(world, staff, data)
    assert started.status_code == 201, started.body
    image, upload = started.json_body["image"], started.json_body["upload"]
    assert image["status"] == "awaiting_upload"
    assert _post_file(upload, data, DICOM) in {200, 201, 204}
    assert _s3_event(world, upload["fields"]["key"]) == {"processed": 1}

    listed = world.http.get("/patient/images", headers=bearer("tok-pat-a")).json_body
    assert [(i["id"], i["kind"], i["taken_on"], i["width"]) for i in listed["images"]] == [
        (image["id"], "bitewing", "2027-03-09", 128)
    ]
    thumb = requests.get(listed["images"][0]["thumbnail_url"], timeout=10)
    assert thumb.content.startswith(b"\x89PNG")

    view = world.http.get(f"/patient/images/{image['id']}/url", headers=bearer("tok-pat-a")).json_body
    signed = _query(view["url"])
    assert (signed["X-Amz-Algorithm"], signed["X-Amz-Expires"]) == ("AWS4-HMAC-SHA256", "300")
    assert signed["response-content-type"] == PNG
    shown = requests.get(view["url"], timeout=10)
    assert Picture.open(io.BytesIO(shown.content)).size == (128, 128)

    download = world.http.get(f"/patient/images/{image['id']}/download", headers=bearer("tok-pat-a")).json_body
    assert download["filename"] == f"bitewing-2027-03-09-{image['id'][:8]}.dcm"
    fetched = requests.get(download["url"], timeout=10)
    assert fetched.content == data
    assert fetched.headers["content-disposition"] == f'attachment; filename="{download["filename"]}"'

    # The clock is frozen, so the events share one instant: compare them as a set.
    assert {a for a in actions("P1", "PAT-A") if a[0].startswith("image.")} == {
        ("image.upload", "staff", "PAT-A", f"image:{image['id']}"),
        ("image.list", "patient", "PAT-A", "images"),
        ("image.view", "patient", "PAT-A", f"image:{image['id']}"),
        ("image.download", "patient", "PAT-A", f"image:{image['id']}"),
    }


def test_stored_objects_are_kms_encrypted_under_keys_without_patient_data(world: Client, staff: StaffTokens) -> None:
    ready = processed_image("0f" * 16, "PAT-A", ct_small())
    assert ready.status == "ready"
    keys = _keys()
    assert keys == [f"images/P1/{ready.id}/original", f"images/P1/{ready.id}/preview", f"images/P1/{ready.id}/thumb"]
    for key in keys:
        head = client("s3").head_object(Bucket=get_settings().image_bucket, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms"
        assert "PAT" not in key


def test_the_upload_policy_pins_the_key_the_type_the_size_cap_and_kms_encryption(
    world: Client, staff: StaffTokens
) -> None:
    upload = _start(world, staff, b"x" * 100).json_body["upload"]
    fields = upload["fields"]
    policy = json.loads(base64.b64decode(fields["policy"]))
    conditions = policy["conditions"]
    assert {"key": fields["key"]} in conditions
    assert {"bucket": get_settings().image_bucket} in conditions
    assert ["content-length-range", 1, MB50] in conditions
    assert {"Content-Type": DICOM} in conditions
    assert {"x-amz-server-side-encryption": "aws:kms"} in conditions
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    signed_at = datetime.strptime(fields["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    expires = datetime.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert timedelta(seconds=590) <= expires - signed_at <= timedelta(seconds=600)
    assert fields["key"].startswith("incoming/P1/") and "PAT" not in fields["key"]
    assert upload["max_bytes"] == MB50


def test_front_desk_cannot_upload_and_another_practices_staff_get_404(world: Client, staff: StaffTokens) -> None:
    assert _start(world, staff, b"x", role="front_desk").status_code == 403
    other = world.http.post(
        "/practices/P1/images",
        headers={**staff.headers("P2", "owner"), "Content-Type": "application/json"},
        body=json.dumps({"patient_id": "PAT-A", "kind": "other", "taken_on": "2027-03-01", "content_type": PNG}),
    )
    assert other.status_code == 404


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"content_type": "image/gif"}, 415, "unsupported_type"),
        ({"size": MB50 + 1}, 413, "too_large"),
        ({"kind": "selfie"}, 422, "invalid_kind"),
        ({"taken_on": "2031-01-01"}, 422, "invalid_taken_on"),
        ({"patient_id": "PAT-Z"}, 404, "not_found"),  # a P2 patient
    ],
)
def test_a_bad_upload_request_is_a_clear_json_4xx_and_no_url_is_minted(
    world: Client, staff: StaffTokens, monkeypatch: pytest.MonkeyPatch, change: dict[str, Any], status: int, code: str
) -> None:
    headers = {**staff.headers("P1", "clinical"), "Content-Type": "application/json"}
    spy = PresignSpy(monkeypatch)
    body = {"patient_id": "PAT-A", "kind": "bitewing", "taken_on": "2027-03-09", "content_type": PNG, "size": 10}
    response = world.http.post("/practices/P1/images", headers=headers, body=json.dumps({**body, **change}))
    assert response.status_code == status
    assert response.json_body["error"]["code"] == code
    assert spy.calls == []


def test_a_png_uploaded_as_dicom_is_recorded_failed_and_its_patient_never_sees_it(
    world: Client, staff: StaffTokens
) -> None:
    fake = jpeg_photo()
    image_id = _start(world, staff, fake).json_body["image"]["id"]
    client("s3").put_object(Bucket=get_settings().image_bucket, Key=f"incoming/P1/{image_id}", Body=fake)
    assert _s3_event(world, f"incoming/P1/{image_id}") == {"processed": 1}
    listed = world.http.get("/practices/P1/patients/PAT-A/images", headers=staff.headers("P1", "clinical")).json_body
    assert [(i["id"], i["status"], i["failure"], i["thumbnail_url"]) for i in listed["images"]] == [
        (image_id, "failed", "type_mismatch", None)
    ]
    assert world.http.get("/patient/images", headers=bearer("tok-pat-a")).json_body["images"] == []
    assert world.http.get(f"/patient/images/{image_id}/url", headers=bearer("tok-pat-a")).status_code == 404
    assert _keys() == []  # the bad bytes are not kept


def test_the_processing_function_ignores_other_buckets_other_prefixes_and_repeats(
    world: Client, staff: StaffTokens
) -> None:
    ready = processed_image("ab" * 16, "PAT-A", ct_small())
    assert _s3_event(world, f"incoming/P1/{ready.id}", bucket="someone-elses") == {"processed": 0}
    assert _s3_event(world, f"images/P1/{ready.id}/original") == {"processed": 0}
    assert _s3_event(world, f"incoming/P1/{ready.id}") == {"processed": 1}  # a repeat: nothing changes
    assert world.http.get(f"/patient/images/{ready.id}/url", headers=bearer("tok-pat-a")).status_code == 200


def test_outside_the_local_stage_the_uploaded_call_only_reports_the_state(world: Client, staff: StaffTokens) -> None:
    data = ct_small()
    upload = _start(world, staff, data).json_body
    _post_file(upload["upload"], data, DICOM)
    answer = world.http.post(
        f"/practices/P1/images/{upload['image']['id']}/uploaded", headers=staff.headers("P1", "clinical")
    )
    assert (answer.status_code, answer.json_body["image"]["status"]) == (200, "awaiting_upload")


@pytest.fixture
def local_api(app_deps: Deps) -> Iterator[Client]:
    from app import app

    seed(app_deps)
    with Client(app, stage_name="local", project_dir=str(ROOT)) as local:
        yield local


def test_locally_the_uploaded_call_runs_the_same_processing_the_bucket_event_runs_in_aws(
    local_api: Client, staff: StaffTokens
) -> None:
    data = ct_small()
    upload = _start(local_api, staff, data).json_body
    assert _post_file(upload["upload"], data, DICOM) in {200, 201, 204}
    answer = local_api.http.post(
        f"/practices/P1/images/{upload['image']['id']}/uploaded", headers=staff.headers("P1", "clinical")
    )
    assert answer.status_code == 200
    assert (answer.json_body["image"]["status"], answer.json_body["image"]["width"]) == ("ready", 128)


# --- URL lifetimes ----------------------------------------------------------------------------


def test_view_urls_never_outlive_credentials_that_expire_sooner(world: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.credentials import RefreshableCredentials

    ready = processed_image("cd" * 16, "PAT-A", ct_small())
    soon = (datetime.now(UTC) + timedelta(seconds=100)).isoformat()
    metadata = {"access_key": "AKIDTEST", "secret_key": "secret", "token": "session", "expiry_time": soon}
    expiring = RefreshableCredentials.create_from_metadata(metadata, lambda: metadata, "test")
    monkeypatch.setattr(client("s3")._request_signer, "_credentials", expiring)
    view = world.http.get(f"/patient/images/{ready.id}/url", headers=bearer("tok-pat-a")).json_body
    lifetime = int(_query(view["url"])["X-Amz-Expires"])
    assert 90 <= lifetime <= 100


def test_session_expiry_in_the_environment_also_caps_url_lifetime(
    world: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready = processed_image("ef" * 16, "PAT-A", ct_small())
    monkeypatch.setenv("AWS_SESSION_EXPIRATION", (datetime.now(UTC) + timedelta(seconds=61)).isoformat())
    view = world.http.get(f"/patient/images/{ready.id}/url", headers=bearer("tok-pat-a")).json_body
    assert 50 <= int(_query(view["url"])["X-Amz-Expires"]) <= 61


def test_when_the_credentials_have_run_out_nothing_is_signed_and_the_answer_says_try_again(
    world: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready = processed_image("12" * 16, "PAT-A", ct_small())
    monkeypatch.setenv("AWS_SESSION_EXPIRATION", (datetime.now(UTC) - timedelta(seconds=5)).isoformat())
    spy = PresignSpy(monkeypatch)
    answer = world.http.get(f"/patient/images/{ready.id}/url", headers=bearer("tok-pat-a"))
    assert (answer.status_code, answer.json_body["error"]["code"]) == (503, "try_again")
    assert spy.calls == []


# --- bucket -----------------------------------------------------------------------------------


def test_the_bucket_cors_rules_let_the_site_upload_and_nobody_else(aws: None) -> None:
    rules = bucket_cors_rules("https://smile.example.test/")
    assert rules == [
        {
            "AllowedOrigins": ["https://smile.example.test"],
            "AllowedMethods": ["POST", "GET", "HEAD"],
            "AllowedHeaders": ["*"],
            "ExposeHeaders": ["ETag"],
            "MaxAgeSeconds": 3000,
        }
    ]
    bucket = get_settings().image_bucket
    client("s3").put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
    stored = client("s3").get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert stored[0]["AllowedOrigins"] == ["https://smile.example.test"]


def test_the_local_bootstrap_gives_the_bucket_the_cors_rules_for_the_site_origin(aws: None) -> None:
    stored = client("s3").get_bucket_cors(Bucket=get_settings().image_bucket)["CORSRules"]
    (rule,) = bucket_cors_rules(get_settings().web_base_url)
    assert [(r["AllowedOrigins"], sorted(r["AllowedMethods"])) for r in stored] == [
        (rule["AllowedOrigins"], sorted(rule["AllowedMethods"]))
    ]


def test_the_local_demo_gives_a_patient_two_x_rays_and_a_photo_all_viewable(world: Client) -> None:
    from chalicelib.images.demo import load_demo

    made = load_demo("P1", ["PAT-A"])
    listed = world.http.get("/patient/images", headers=bearer("tok-pat-a")).json_body["images"]
    assert sorted(i["id"] for i in listed) == sorted(made)
    assert sorted(i["kind"] for i in listed) == ["bitewing", "intraoral_photo", "periapical"]
    assert all(i["thumbnail_url"] for i in listed)


def test_image_urls_come_from_the_bucket_origin_the_production_csp_allows(world: Client) -> None:
    """Presigned URLs are virtual-hosted on the regional endpoint: botocore's default (the global
    <bucket>.s3.amazonaws.com) is not what the CloudFront CSP's img-src names, so images would not show."""
    from tests.unit.test_infra_template import RESOURCES

    processed_image("XR-A1", "PAT-A", ct_small())
    view = world.http.get("/patient/images/XR-A1/url", headers=bearer("tok-pat-a")).json_body
    settings = get_settings()
    policy = RESOURCES["SiteHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    csp = str(policy["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Sub"])
    bucket_name = str(RESOURCES["ImageBucket"]["Properties"]["BucketName"]["Sub"])
    img_src = next(d.split()[1:] for d in csp.split(";") if d.split()[:1] == ["img-src"])
    bucket_origins = [o for o in img_src if "amazonaws.com" in o]
    assert len(bucket_origins) == 1, img_src  # the bucket, and nothing wider
    allowed = bucket_origins[0].replace(bucket_name, settings.image_bucket).replace("${AWS::Region}", settings.region)
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(view["url"]))
    assert origin == allowed
    assert requests.get(view["url"], timeout=10).content.startswith(b"\x89PNG")


def test_the_upload_url_is_on_the_bucket_origin_the_production_csp_lets_the_pages_post_to(
    world: Client, staff: StaffTokens
) -> None:
    """The staff card posts the file straight to S3 from the browser: connect-src must name that origin."""
    from tests.unit.test_infra_template import RESOURCES

    started = _start(world, staff, jpeg_photo(), JPEG)
    assert started.status_code == 201, started.body
    policy = RESOURCES["SiteHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    csp = str(policy["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Sub"])
    bucket_name = str(RESOURCES["ImageBucket"]["Properties"]["BucketName"]["Sub"])
    connect_src = next(d.split()[1:] for d in csp.split(";") if d.split()[:1] == ["connect-src"])
    (bucket_origin,) = [o for o in connect_src if "amazonaws.com" in o]
    settings = get_settings()
    allowed = bucket_origin.replace(bucket_name, settings.image_bucket).replace("${AWS::Region}", settings.region)
    assert "{0.scheme}://{0.netloc}".format(urlsplit(started.json_body["upload"]["url"])) == allowed
