"""Shared setup for the image integration tests (no tests here): practices, patients, patient
sessions, processed images in the moto bucket, and a spy on every S3 presign call."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydicom.data import get_testdata_file

from chalicelib.audit.store import AuditStore
from chalicelib.images.handlers import image_service
from chalicelib.images.model import AWAITING_UPLOAD, DICOM, JPEG, Image, incoming_key
from chalicelib.images.store import ImageStore
from chalicelib.patients.store import PatientStore
from chalicelib.platform.auth import PatientCaller
from chalicelib.platform.aws import client
from chalicelib.platform.deps import Deps, deps
from chalicelib.platform.settings import get_settings
from chalicelib.practices.store import PracticeStore
from tests import factories

PATIENTS = {"PAT-A": "+15555550121", "PAT-B": "+15555550123", "K1": "+15555550131", "K2": "+15555550132"}
PATIENTS["K3"] = "+15555550133"  # a minor not linked to G1
SESSIONS = {
    "tok-pat-a": PatientCaller("P1", "sess-a", "PAT-A", ("PAT-A",)),
    "tok-pat-b": PatientCaller("P1", "sess-b", "PAT-B", ("PAT-B",)),
    "tok-g1": PatientCaller("P1", "sess-g", "G1", ("K1", "K2")),
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class FakeSessions:
    """Stands in for identity's session resolver: a token names a PatientCaller."""

    def resolve(self, token: str) -> PatientCaller | None:
        return SESSIONS.get(token)


class PresignSpy:
    """Counts every presign the S3 client makes, whatever code path asks for it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        s3 = client("s3")
        for name in ("generate_presigned_url", "generate_presigned_post"):
            original = getattr(s3, name)

            def spy(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
                self.calls.append(_name)
                return _original(*args, **kwargs)

            monkeypatch.setattr(s3, name, spy)


def ct_small() -> bytes:
    return Path(str(get_testdata_file("CT_small.dcm"))).read_bytes()


def jpeg_photo() -> bytes:
    from PIL import Image as Picture

    buffer = io.BytesIO()
    Picture.new("RGB", (640, 480), (200, 80, 80)).save(buffer, format="JPEG")
    return buffer.getvalue()


def seed(app_deps: Deps) -> None:
    practices = PracticeStore()
    practices.put(factories.maple())
    practices.put(factories.birch())
    patients = PatientStore()
    for pid, phone in PATIENTS.items():
        patients.put("P1", factories.patient(pid, phone=phone))
    patients.put("P2", factories.patient("PAT-Z", phone="+15555550150"))
    app_deps._patient_sessions = FakeSessions()


def processed_image(
    image_id: str, patient_id: str, data: bytes, content_type: str = DICOM, practice_id: str = "P1"
) -> Image:
    """An image uploaded (bytes at its upload key) and run through the real processing."""
    image = Image(image_id, patient_id, "bitewing", date(2027, 3, 1), content_type, AWAITING_UPLOAD, deps().clock.now())
    ImageStore().create(practice_id, image)
    client("s3").put_object(
        Bucket=get_settings().image_bucket, Key=incoming_key(practice_id, image_id), Body=data, ContentType=content_type
    )
    image_service().process_upload(practice_id, image_id, deps().clock.now())
    done = ImageStore().get(practice_id, image_id)
    assert done is not None
    return done


def seed_xrays() -> None:
    """XR-A1 (PAT-A, DICOM), XR-A2 (PAT-A, photo), XR-B1 (PAT-B), XR-K1 (K1), XR-K3 (K3)."""
    processed_image("XR-A1", "PAT-A", ct_small())
    processed_image("XR-A2", "PAT-A", jpeg_photo(), JPEG)
    processed_image("XR-B1", "PAT-B", ct_small())
    processed_image("XR-K1", "K1", ct_small())
    processed_image("XR-K3", "K3", ct_small())


def actions(practice_id: str, patient_id: str | None = None) -> list[tuple[str, str, str, str]]:
    """(action, actor type, patient, record), oldest first."""
    store = AuditStore()
    events = store.for_patient(practice_id, patient_id) if patient_id else store.for_practice(practice_id)
    return [(e.action, e.actor_type, e.patient_id, e.record) for e in reversed(events)]
