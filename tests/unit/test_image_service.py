"""Image use cases on in-memory twins: uploads, processing, viewing, downloads, shares, audit."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from chalicelib.audit.service import Auditor, MemoryAuditLog
from chalicelib.images.memory import MemoryImageFiles, MemoryImageStore
from chalicelib.images.model import (
    AWAITING_UPLOAD,
    DICOM,
    FAILED,
    JPEG,
    PNG,
    READY,
    TYPE_MISMATCH,
    Image,
    ImageSettings,
    Rendition,
    UploadRejected,
    incoming_key,
    original_key,
    preview_key,
    thumb_key,
)
from chalicelib.images.service import Gone, ImageService, SigningUnavailable
from chalicelib.patients.model import Patient
from chalicelib.platform.auth import PatientCaller
from chalicelib.platform.clock import FixedClock
from chalicelib.platform.errors import ApiError, NotFound
from chalicelib.practices.model import Practice
from tests import factories

NOW = datetime(2027, 3, 10, 15, 0, tzinfo=UTC)
KEY = b"unit-test-key"
PAT_A = PatientCaller("P1", "sess-a", "PAT-A", ("PAT-A",))
GUARDIAN = PatientCaller("P1", "sess-g", "G1", ("K1", "K2"))


class Patients:
    def __init__(self, *ids: str) -> None:
        self.ids = set(ids)

    def get(self, practice_id: str, patient_id: str) -> Patient | None:
        return factories.patient(patient_id) if practice_id == "P1" and patient_id in self.ids else None


class Practices:
    def get(self, practice_id: str) -> Practice | None:
        return factories.maple() if practice_id == "P1" else None


def fake_render(declared: str, data: bytes) -> Rendition:
    if data.startswith(b"bad"):
        raise UploadRejected(TYPE_MISMATCH)
    preview = b"png-preview" if declared == DICOM else None
    return Rendition(declared, 64, 48, b"thumb", PNG if declared == DICOM else JPEG, preview, PNG if preview else "")


class World:
    def __init__(self, seconds_left: float | None = None) -> None:
        self.clock = FixedClock(NOW)
        self.store = MemoryImageStore()
        self.files = MemoryImageFiles(seconds_left)
        self.log = MemoryAuditLog()
        self.service = ImageService(
            store=self.store,
            files=self.files,
            auditor=Auditor(self.log, self.clock),
            settings=ImageSettings(),
            patients=Patients("PAT-A", "PAT-B", "K1", "K2", "K3"),
            practices=Practices(),
            signing_key=lambda: KEY,
            render=fake_render,
        )

    def ready_image(self, image_id: str, patient_id: str, content_type: str = DICOM, taken: int = 1) -> Image:
        image = Image(image_id, patient_id, "bitewing", date(2027, 3, taken), content_type, AWAITING_UPLOAD, NOW)
        self.store.create("P1", image)
        self.files.write(incoming_key("P1", image_id), b"checked-bytes", content_type)
        assert self.service.process_upload("P1", image_id, NOW) == "ready"
        found = self.store.get("P1", image_id)
        assert found is not None
        return found

    def actions(self, action: str | None = None) -> list[tuple[str, str, str]]:
        return [(e.action, e.patient_id, e.record) for _, e in self.log.events if action is None or e.action == action]

    def minted(self) -> int:
        return len(self.files.signed)


@pytest.fixture
def world() -> World:
    w = World()
    w.ready_image("XR-A1", "PAT-A", taken=1)
    w.ready_image("XR-A2", "PAT-A", content_type=JPEG, taken=5)
    w.ready_image("XR-B1", "PAT-B")
    w.ready_image("XR-K1", "K1")
    w.ready_image("XR-K3", "K3")
    w.log.events.clear()
    w.files.signed.clear()
    return w


UPLOAD = {"patient_id": "PAT-A", "kind": "panoramic", "taken_on": "2027-03-10", "content_type": DICOM, "size": 4096}


# --- upload ---------------------------------------------------------------------------------


def test_staff_starting_an_upload_get_a_presigned_post_for_a_random_key_and_a_pending_record() -> None:
    w = World()
    ticket = w.service.start_upload("P1", "staff-1", dict(UPLOAD), NOW)
    assert ticket.image.status == AWAITING_UPLOAD and ticket.image.uploaded_by == "staff-1"
    assert w.files.signed == [
        {"op": "post", "key": f"incoming/P1/{ticket.image.id}", "expires_in": 600, "max_bytes": 50 * 1024 * 1024}
    ]
    assert ticket.expires_at == NOW + timedelta(seconds=600)
    assert w.store.get("P1", ticket.image.id) == ticket.image
    assert w.actions() == [("image.upload", "PAT-A", f"image:{ticket.image.id}")]


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"content_type": "image/gif"}, 415, "unsupported_type"),
        ({"size": 50 * 1024 * 1024 + 1}, 413, "too_large"),
        ({"kind": "selfie"}, 422, "invalid_kind"),
        ({"patient_id": "PAT-NOPE"}, 404, "not_found"),
    ],
)
def test_a_bad_upload_is_a_clear_4xx_with_no_record_and_nothing_signed(
    change: dict[str, object], status: int, code: str
) -> None:
    w = World()
    with pytest.raises(ApiError) as refused:
        w.service.start_upload("P1", "staff-1", {**UPLOAD, **change}, NOW)
    assert (refused.value.status, refused.value.code) == (status, code)
    assert w.minted() == 0
    assert w.store.images == {}


def test_an_upload_window_never_outlives_the_signing_credentials() -> None:
    w = World(seconds_left=90)
    assert w.service.start_upload("P1", "staff-1", dict(UPLOAD), NOW).expires_at == NOW + timedelta(seconds=90)
    assert w.files.signed[0]["expires_in"] == 90


# --- processing -----------------------------------------------------------------------------


def test_a_good_upload_becomes_ready_and_the_checked_bytes_are_what_is_served() -> None:
    w = World()
    ready = w.ready_image("abc", "PAT-A")
    assert (ready.status, ready.width, ready.height, ready.preview_type, ready.processed_at) == (
        READY,
        64,
        48,
        PNG,
        NOW,
    )
    assert w.files.objects[original_key("P1", "abc")] == (b"checked-bytes", DICOM)
    assert w.files.objects[preview_key("P1", "abc")] == (b"png-preview", PNG)
    assert w.files.objects[thumb_key("P1", "abc")] == (b"thumb", PNG)
    assert incoming_key("P1", "abc") not in w.files.objects


def test_an_upload_that_is_not_what_it_says_is_recorded_failed_removed_and_never_shown() -> None:
    w = World()
    w.store.create("P1", Image("bad1", "PAT-A", "bitewing", date(2027, 3, 1), PNG, AWAITING_UPLOAD, NOW))
    w.files.write(incoming_key("P1", "bad1"), b"bad bytes", PNG)
    assert w.service.process_upload("P1", "bad1", NOW) == f"failed:{TYPE_MISMATCH}"
    failed = w.store.get("P1", "bad1")
    assert failed is not None and (failed.status, failed.failure) == (FAILED, TYPE_MISMATCH)
    assert w.files.objects == {}
    assert w.service.gallery(PAT_A, None, NOW).images == []
    with pytest.raises(NotFound):
        w.service.view(PAT_A, "bad1", NOW)


def test_processing_the_same_event_twice_changes_nothing_the_second_time() -> None:
    w = World()
    first = w.ready_image("abc", "PAT-A")
    assert w.service.process_upload("P1", "abc", NOW + timedelta(minutes=1)) == "ignored"
    assert w.store.get("P1", "abc") == first


def test_a_second_post_to_an_upload_key_after_processing_is_discarded_not_served() -> None:
    w = World()
    w.ready_image("abc", "PAT-A")
    w.files.write(incoming_key("P1", "abc"), b"<html>swapped</html>", DICOM)
    assert w.service.process_upload("P1", "abc", NOW) == "ignored"
    assert incoming_key("P1", "abc") not in w.files.objects
    assert w.files.objects[original_key("P1", "abc")][0] == b"checked-bytes"


def test_an_event_for_an_upload_nobody_asked_for_is_removed() -> None:
    w = World()
    w.files.write(incoming_key("P1", "stray"), b"x", PNG)
    assert w.service.process_upload("P1", "stray", NOW) == "ignored"
    assert w.files.objects == {}


# --- viewing --------------------------------------------------------------------------------


def test_the_gallery_lists_ready_images_of_the_callers_patients_newest_first_with_thumbnails(world: World) -> None:
    gallery = world.service.gallery(PAT_A, None, NOW)
    assert [m.image.id for m in gallery.images] == ["XR-A2", "XR-A1"]
    assert all(m.thumb_url.startswith("https://bucket.example.test/images/P1/") for m in gallery.images)
    assert gallery.expires_at == NOW + timedelta(minutes=5)
    assert world.actions() == [("image.list", "PAT-A", "images")]


def test_a_full_view_of_a_dicom_shows_its_png_preview_for_five_minutes(world: World) -> None:
    minted, expires_at = world.service.view(PAT_A, "XR-A1", NOW)
    assert minted.url.startswith("https://bucket.example.test/images/P1/XR-A1/preview?")
    assert expires_at == NOW + timedelta(seconds=300)
    assert {s["expires_in"] for s in world.files.signed} == {300}
    assert world.actions() == [("image.view", "PAT-A", "image:XR-A1")]


def test_a_download_is_the_original_as_an_attachment_and_is_audited(world: World) -> None:
    (one,), _ = world.service.download(PAT_A, ["XR-A1"], NOW)
    assert one.filename == "bitewing-2027-03-01-XR-A1.dcm"
    assert world.files.signed == [
        {"op": "get", "key": "images/P1/XR-A1/original", "expires_in": 300, "download_name": one.filename}
    ]
    assert world.actions() == [("image.download", "PAT-A", "image:XR-A1")]


def test_a_foreign_image_is_404_like_a_missing_one_signs_nothing_and_records_access_denied(world: World) -> None:
    for image_id in ["XR-B1", "XR-NOPE", "../etc"]:
        with pytest.raises(NotFound) as refused:
            world.service.view(PAT_A, image_id, NOW)
        assert refused.value.message == "no such image"
    assert world.minted() == 0
    assert world.actions() == [
        ("access_denied", "", "image:XR-B1"),
        ("access_denied", "", "image:XR-NOPE"),
        ("access_denied", "", "image:invalid"),
    ]


def test_a_bulk_download_with_one_foreign_id_is_404_with_no_partial_result(world: World) -> None:
    with pytest.raises(NotFound):
        world.service.download(PAT_A, ["XR-A1", "XR-B1"], NOW)
    assert world.minted() == 0
    assert world.actions() == [("access_denied", "", "image:XR-B1")]


def test_a_bulk_download_of_own_images_answers_every_one(world: World) -> None:
    minted, _ = world.service.download(PAT_A, ["XR-A1", "XR-A2"], NOW)
    assert [m.image.id for m in minted] == ["XR-A1", "XR-A2"]
    assert [a for a, _, _ in world.actions()] == ["image.download", "image.download"]


def test_a_guardian_sees_a_linked_childs_image_but_not_an_unlinked_minors(world: World) -> None:
    minted, _ = world.service.view(GUARDIAN, "XR-K1", NOW)
    assert minted.image.patient_id == "K1"
    with pytest.raises(NotFound):
        world.service.view(GUARDIAN, "XR-K3", NOW)
    assert world.actions() == [("image.view", "K1", "image:XR-K1"), ("access_denied", "", "image:XR-K3")]


def test_asking_the_gallery_for_a_patient_not_on_the_session_is_404(world: World) -> None:
    with pytest.raises(NotFound):
        world.service.gallery(GUARDIAN, "K3", NOW)
    assert [m.image.id for m in world.service.gallery(GUARDIAN, "K1", NOW).images] == ["XR-K1"]
    assert world.actions("access_denied") == [("access_denied", "", "patient:K3")]


def test_urls_are_cut_to_what_the_credentials_have_left_and_refused_when_they_are_spent(world: World) -> None:
    world.files.seconds_left = 42.7
    _, expires_at = world.service.view(PAT_A, "XR-A1", NOW)
    assert expires_at == NOW + timedelta(seconds=42)
    world.files.seconds_left = 0.2
    world.files.signed.clear()
    with pytest.raises(SigningUnavailable):
        world.service.view(PAT_A, "XR-A1", NOW)
    assert world.minted() == 0


def test_staff_of_the_practice_see_every_state_and_other_practices_see_nothing(world: World) -> None:
    w = world
    w.store.create("P1", Image("pending", "PAT-A", "other", date(2027, 3, 9), PNG, AWAITING_UPLOAD, NOW))
    gallery = w.service.staff_gallery("P1", "staff-1", "PAT-A", NOW)
    assert [(m.image.id, bool(m.thumb_url)) for m in gallery.images] == [
        ("pending", False),
        ("XR-A2", True),
        ("XR-A1", True),
    ]
    with pytest.raises(NotFound):
        w.service.staff_view("P2", "staff-2", "XR-A1", NOW)
    assert w.actions("access_denied") == [("access_denied", "", "image:XR-A1")]


# --- shares ---------------------------------------------------------------------------------


def test_a_share_link_opens_while_valid_and_each_opened_image_is_audited(world: World) -> None:
    share, token = world.service.create_share(PAT_A, {"image_ids": ["XR-A1", "XR-A2"], "note": "Dr. Oak"}, NOW)
    assert (share.patient_id, share.image_ids, share.expires_at) == ("PAT-A", ("XR-A1", "XR-A2"), NOW + timedelta(7))
    world.log.events.clear()
    opened = world.service.open_share(token, NOW + timedelta(days=1))
    assert [m.image.id for m in opened.images] == ["XR-A1", "XR-A2"]
    assert all(m.url and m.thumb_url and m.download_url and m.filename for m in opened.images)
    assert opened.practice is not None and opened.practice.name == "Maple Dental"
    assert world.actions() == [
        ("image.share_open", "PAT-A", "image:XR-A1"),
        ("image.share_open", "PAT-A", "image:XR-A2"),
    ]
    assert {e.actor_id for _, e in world.log.events} == {f"share:{share.id}"}


def test_a_revoked_share_link_answers_410_and_signs_nothing(world: World) -> None:
    share, token = world.service.create_share(PAT_A, {"image_ids": ["XR-A1"]}, NOW)
    revoked = world.service.revoke_share(PAT_A, share.id, NOW + timedelta(hours=1))
    assert revoked.revoked_at == NOW + timedelta(hours=1)
    world.files.signed.clear()
    with pytest.raises(Gone) as refused:
        world.service.open_share(token, NOW + timedelta(hours=2))
    assert refused.value.code == "link_revoked"
    assert world.minted() == 0


def test_an_expired_share_link_answers_410_and_a_forged_one_404(world: World) -> None:
    _, token = world.service.create_share(PAT_A, {"image_ids": ["XR-A1"], "days": 1}, NOW)
    with pytest.raises(Gone):
        world.service.open_share(token, NOW + timedelta(days=1))
    body, _, mac = token.partition(".")
    for forged in [f"{body}.{mac[::-1]}", "nonsense", "", None, "a.b"]:
        with pytest.raises(NotFound):
            world.service.open_share(forged, NOW)


def test_a_share_of_someone_elses_image_is_404_and_a_share_mixing_patients_is_refused(world: World) -> None:
    with pytest.raises(NotFound):
        world.service.create_share(PAT_A, {"image_ids": ["XR-A1", "XR-B1"]}, NOW)
    guardian = replace(GUARDIAN, patient_ids=("K1", "PAT-A"))
    with pytest.raises(ApiError) as refused:
        world.service.create_share(guardian, {"image_ids": ["XR-K1", "XR-A1"]}, NOW)
    assert (refused.value.status, refused.value.code) == (422, "one_patient_per_share")
    assert world.store.shares == {}


def test_only_the_sharing_patients_session_can_revoke_or_list_a_share(world: World) -> None:
    share, token = world.service.create_share(PAT_A, {"image_ids": ["XR-A1"]}, NOW)
    with pytest.raises(NotFound):
        world.service.revoke_share(GUARDIAN, share.id, NOW)
    assert world.service.shares(GUARDIAN, None) == []
    assert [s.id for s in world.service.shares(PAT_A, None)] == [share.id]
    assert world.service.share_token("P1", share) == token  # the same link can be shown again
