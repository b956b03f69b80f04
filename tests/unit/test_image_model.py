from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest

from chalicelib.images.model import (
    DICOM,
    JPEG,
    MIB,
    PNG,
    READY,
    Image,
    ImageRuleBroken,
    download_filename,
    image_ids,
    image_settings,
    incoming_key,
    new_image_id,
    original_key,
    parse_incoming_key,
    preview_key,
    share_request,
    sniff,
    thumb_key,
    upload_request,
    url_lifetime,
)

TODAY = date(2027, 3, 10)
GOOD = {"patient_id": "PAT-A", "kind": "bitewing", "taken_on": "2027-03-09", "content_type": DICOM, "size": 1000}


def _image(**changes: object) -> Image:
    base = {
        "id": "0123456789abcdef0123456789abcdef",
        "patient_id": "PAT-A",
        "kind": "panoramic",
        "taken_on": date(2027, 3, 1),
        "content_type": DICOM,
        "status": READY,
        "created_at": datetime(2027, 3, 1, tzinfo=UTC),
    }
    return Image(**{**base, **changes})  # type: ignore[arg-type]


def test_image_ids_are_128_random_bits_and_never_repeat() -> None:
    ids = {new_image_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_object_keys_hold_the_practice_and_image_id_and_nothing_about_the_patient() -> None:
    image_id = new_image_id()
    keys = [
        incoming_key("P1", image_id),
        original_key("P1", image_id),
        preview_key("P1", image_id),
        thumb_key("P1", image_id),
    ]
    assert keys == [
        f"incoming/P1/{image_id}",
        f"images/P1/{image_id}/original",
        f"images/P1/{image_id}/preview",
        f"images/P1/{image_id}/thumb",
    ]
    assert not any("PAT" in k for k in keys)


def test_a_key_cannot_be_built_from_an_id_with_path_characters() -> None:
    with pytest.raises(ValueError):
        incoming_key("P1", "../P2/x")
    with pytest.raises(ValueError):
        original_key("P1/..", "abc")


def test_an_upload_key_parses_back_and_every_other_key_is_ignored() -> None:
    assert parse_incoming_key("incoming/P1/abc123") == ("P1", "abc123")
    for other in ["images/P1/abc/original", "incoming/P1", "incoming/P1/abc/x", "incoming/P1/a b", "xincoming/P1/a"]:
        assert parse_incoming_key(other) is None


def test_a_complete_upload_request_is_accepted_and_its_type_normalised() -> None:
    wanted = upload_request({**GOOD, "content_type": " Image/PNG "}, TODAY, 50 * MIB)
    assert (wanted.patient_id, wanted.kind, wanted.taken_on, wanted.content_type, wanted.size) == (
        "PAT-A",
        "bitewing",
        date(2027, 3, 9),
        PNG,
        1000,
    )


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"content_type": "image/gif"}, "unsupported_type"),
        ({"content_type": "text/html"}, "unsupported_type"),
        ({"content_type": None}, "unsupported_type"),
        ({"size": 50 * MIB + 1}, "too_large"),
        ({"size": 0}, "invalid_size"),
        ({"size": "12"}, "invalid_size"),
        ({"size": True}, "invalid_size"),
        ({"kind": "selfie"}, "invalid_kind"),
        ({"taken_on": "2027-03-12"}, "invalid_taken_on"),
        ({"taken_on": "09/03/2027"}, "invalid_taken_on"),
        ({"taken_on": "2027-02-30"}, "invalid_taken_on"),
        ({"patient_id": "../PAT-B"}, "invalid_patient_id"),
        ({"patient_id": 7}, "invalid_patient_id"),
    ],
)
def test_a_bad_upload_request_is_refused_with_a_code_that_says_why(change: dict[str, object], code: str) -> None:
    with pytest.raises(ImageRuleBroken) as refused:
        upload_request({**GOOD, **change}, TODAY, 50 * MIB)
    assert refused.value.code == code


def test_the_size_cap_is_exactly_the_configured_bytes() -> None:
    assert upload_request({**GOOD, "size": 50 * MIB}, TODAY, 50 * MIB).size == 50 * MIB


def test_a_url_lives_the_configured_time_unless_the_signing_credentials_end_sooner() -> None:
    assert url_lifetime(300, None) == 300
    assert url_lifetime(300, 3600.0) == 300
    assert url_lifetime(300, 120.9) == 120
    assert url_lifetime(300, 0.5) == 0
    assert url_lifetime(300, -10) == 0


def test_url_lifetime_settings_default_to_five_minutes_and_stay_within_a_few_minutes() -> None:
    assert image_settings({}).url_seconds == 300
    assert image_settings({}).max_bytes == 50 * MIB
    assert image_settings({"IMAGE_URL_SECONDS": "86400"}).url_seconds == 900
    assert image_settings({"IMAGE_URL_SECONDS": "1"}).url_seconds == 30
    assert image_settings({"IMAGE_URL_SECONDS": "soon"}).url_seconds == 300
    assert image_settings({"IMAGE_MAX_BYTES": "1048576", "IMAGE_KMS_KEY_ID": "alias/x"}).max_bytes == MIB


def test_sniffing_names_dicom_png_and_jpeg_by_their_bytes_and_nothing_else() -> None:
    assert sniff(b"\0" * 128 + b"DICM" + b"\2\0") == DICOM
    assert sniff(b"\x89PNG\r\n\x1a\n....") == PNG
    assert sniff(b"\xff\xd8\xff\xe0JFIF") == JPEG
    assert sniff(b"<html><script>") is None
    assert sniff(b"DICM" + b"\0" * 200) is None  # DICM must follow the 128-byte preamble


def test_a_download_filename_tells_kind_and_date_and_holds_no_name() -> None:
    assert download_filename(_image()) == "panoramic-2027-03-01-01234567.dcm"
    assert download_filename(_image(content_type=JPEG, kind="intraoral_photo")).endswith(".jpg")


def test_a_list_of_image_ids_is_non_empty_bounded_and_deduplicated() -> None:
    assert image_ids(["a", "b", "a"], 5) == ("a", "b")
    for bad in [[], "a", None, [1], ["a"] * 6 + ["b"] * 0 + list("bcdef")]:
        with pytest.raises(ImageRuleBroken):
            image_ids(bad, 5)


def test_a_share_lasts_seven_days_by_default_and_thirty_at_most() -> None:
    assert share_request({"image_ids": ["a"]}).days == 7
    assert share_request({"image_ids": ["a"], "days": 30, "note": "  Dr. Oak,\n ortho "}).note == "Dr. Oak, ortho"
    for bad in [{"days": 31}, {"days": 0}, {"days": "7"}, {"note": "x" * 121}, {"image_ids": []}]:
        with pytest.raises(ImageRuleBroken):
            share_request({"image_ids": ["a"], **bad})
