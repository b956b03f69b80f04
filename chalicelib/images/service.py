"""Image use cases: upload tickets, processing, viewing, downloads and shares.

Ports (passed in, so service tests run on in-memory twins): the image store, the bucket
(``ImageFiles``), the auditor, the patient and practice readers, the renderer and the token key.

Order inside every read: resolve and check ownership of *all* requested ids, audit, and only then
mint URLs. A foreign id answers exactly like a missing one (404), mints nothing, and records an
``access_denied`` event on the practice trail. A patient never sees an image that is not ``ready``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from chalicelib.audit.model import ACTOR_ANONYMOUS, ACTOR_PATIENT, ACTOR_STAFF
from chalicelib.audit.service import Auditor
from chalicelib.images.files import ImageFiles
from chalicelib.images.model import (
    AWAITING_UPLOAD,
    BULK_MAX_IMAGES,
    FAILED,
    READY,
    Image,
    ImageRuleBroken,
    ImageSettings,
    ObjectMissing,
    Rendition,
    Share,
    UploadRejected,
    download_filename,
    image_ids,
    incoming_key,
    new_image_id,
    new_share_id,
    original_key,
    preview_key,
    share_request,
    thumb_key,
    upload_request,
    url_lifetime,
    valid_id,
    view_key_and_type,
)
from chalicelib.patients.model import Patient
from chalicelib.platform import signed
from chalicelib.platform.auth import PatientCaller
from chalicelib.platform.errors import (
    ApiError,
    Conflict,
    NotFound,
    PayloadTooLarge,
    Unprocessable,
    UnsupportedMediaType,
)
from chalicelib.practices.model import Practice

SHARE_PURPOSE = "image-share"
ACCESS_DENIED = "access_denied"


class Gone(ApiError):
    status = 410
    code = "gone"


class SigningUnavailable(ApiError):
    """The signing credentials have run out; a retry gets fresh ones."""

    status = 503
    code = "try_again"


class ImageRecords(Protocol):
    def create(self, practice_id: str, image: Image) -> None: ...

    def get(self, practice_id: str, image_id: str) -> Image | None: ...

    def get_many(self, practice_id: str, image_ids: Iterable[str]) -> dict[str, Image]: ...

    def for_patient(self, practice_id: str, patient_id: str) -> list[Image]: ...

    def finish(self, practice_id: str, done: Image, now: datetime) -> bool: ...

    def create_share(self, practice_id: str, share: Share) -> None: ...

    def get_share(self, practice_id: str, share_id: str) -> Share | None: ...

    def shares_for_patient(self, practice_id: str, patient_id: str) -> list[Share]: ...

    def revoke_share(self, practice_id: str, share_id: str, now: datetime) -> None: ...


class PatientReader(Protocol):
    def get(self, practice_id: str, patient_id: str) -> Patient | None: ...


class PracticeReader(Protocol):
    def get(self, practice_id: str) -> Practice | None: ...


@dataclass(frozen=True)
class Minted:
    """URLs for one image; ``expires_at`` is when the URLs stop working."""

    image: Image
    url: str = ""
    thumb_url: str = ""
    download_url: str = ""
    filename: str = ""


@dataclass(frozen=True)
class UploadTicket:
    image: Image
    url: str
    fields: dict[str, str]
    max_bytes: int
    expires_at: datetime


@dataclass(frozen=True)
class Gallery:
    images: list[Minted]
    expires_at: datetime


@dataclass(frozen=True)
class SharedImages:
    share: Share
    practice: Practice | None
    patient: Patient | None
    images: list[Minted]
    expires_at: datetime


def _rule(exc: ImageRuleBroken) -> ApiError:
    if exc.code == "too_large":
        return PayloadTooLarge(exc.message, code=exc.code)
    if exc.code == "unsupported_type":
        return UnsupportedMediaType(exc.message, code=exc.code)
    return Unprocessable(exc.message, code=exc.code)


def _default_renderer(declared_type: str, data: bytes) -> Rendition:
    from chalicelib.images.processing import render  # pydicom/Pillow only when processing runs

    return render(declared_type, data)


@dataclass
class ImageService:
    store: ImageRecords
    files: ImageFiles
    auditor: Auditor
    settings: ImageSettings
    patients: PatientReader
    practices: PracticeReader
    signing_key: Callable[[], bytes]
    render: Callable[[str, bytes], Rendition] = _default_renderer

    # --- staff: upload and processing -------------------------------------------------------

    def start_upload(self, practice_id: str, staff_id: str, body: dict[str, Any], now: datetime) -> UploadTicket:
        """A new image record and a presigned POST that accepts exactly one object at a random
        key, of the declared type, 1 byte to the size cap, KMS-encrypted."""
        try:
            wanted = upload_request(body, now.date(), self.settings.max_bytes)
        except ImageRuleBroken as exc:
            raise _rule(exc) from exc
        if self.patients.get(practice_id, wanted.patient_id) is None:
            raise NotFound("no such patient")
        lifetime = self._lifetime(self.settings.upload_seconds)
        image = Image(
            id=new_image_id(),
            patient_id=wanted.patient_id,
            kind=wanted.kind,
            taken_on=wanted.taken_on,
            content_type=wanted.content_type,
            status=AWAITING_UPLOAD,
            created_at=now,
            uploaded_by=staff_id,
            size=wanted.size,
        )
        self.store.create(practice_id, image)
        post = self.files.presign_post(
            incoming_key(practice_id, image.id),
            image.content_type,
            self.settings.max_bytes,
            lifetime,
            self.settings.kms_key_id,
        )
        self.auditor.record(
            practice_id,
            actor_type=ACTOR_STAFF,
            actor_id=staff_id,
            action="image.upload",
            patient_ids=[image.patient_id],
            record=f"image:{image.id}",
        )
        return UploadTicket(
            image=image,
            url=str(post["url"]),
            fields={str(k): str(v) for k, v in post["fields"].items()},
            max_bytes=self.settings.max_bytes,
            expires_at=now + timedelta(seconds=lifetime),
        )

    def process_upload(self, practice_id: str, image_id: str, now: datetime) -> str:
        """Check and render what arrived at the image's upload key; record ready or failed.

        Safe to run more than once (S3 delivers events at least once): only an image still
        awaiting its upload is processed, the derived objects are deterministic, and the state
        change is conditional. The served original is the very bytes that were checked; the
        upload object is removed either way, so a later re-POST to the same key is never shown.
        """
        upload = incoming_key(practice_id, image_id)
        image = self.store.get(practice_id, image_id)
        if image is None or image.status != AWAITING_UPLOAD:
            self.files.delete(upload)
            return "ignored"
        try:
            data = self.files.read(upload, self.settings.max_bytes)
            made = self.render(image.content_type, data)
        except ObjectMissing:
            return "missing"
        except UploadRejected as rejected:
            self.store.finish(practice_id, replace(image, status=FAILED, failure=rejected.reason), now)
            self.files.delete(upload)
            return f"failed:{rejected.reason}"
        kms = self.settings.kms_key_id
        self.files.write(original_key(practice_id, image_id), data, made.content_type, kms)
        if made.preview is not None:
            self.files.write(preview_key(practice_id, image_id), made.preview, made.preview_type, kms)
        self.files.write(thumb_key(practice_id, image_id), made.thumb, made.thumb_type, kms)
        done = replace(
            image,
            status=READY,
            size=len(data),
            width=made.width,
            height=made.height,
            preview_type=made.preview_type,
            thumb_type=made.thumb_type,
            failure="",
        )
        self.store.finish(practice_id, done, now)
        self.files.delete(upload)
        return "ready"

    def staff_image(self, practice_id: str, image_id: str, staff_id: str) -> Image:
        image = self.store.get(practice_id, image_id) if valid_id(image_id) else None
        if image is None:
            self._deny(practice_id, ACTOR_STAFF, staff_id, "image", [image_id])
            raise NotFound("no such image")
        return image

    def deny_other_practice(self, own_practice_id: str, staff_id: str, asked_practice_id: str, image_id: str) -> None:
        """Staff of one practice asked for an image under another: recorded on the asker's own
        trail (the other practice may not exist, and nothing of it is touched)."""
        image = image_id if valid_id(image_id) else "invalid"
        practice = asked_practice_id if valid_id(asked_practice_id) else "invalid"
        self.auditor.record(
            own_practice_id,
            actor_type=ACTOR_STAFF,
            actor_id=staff_id,
            action=ACCESS_DENIED,
            record=f"image:{image}@practice:{practice}",
        )

    def staff_gallery(self, practice_id: str, staff_id: str, patient_id: str, now: datetime) -> Gallery:
        """Every image of a patient in any state (staff see failed uploads and why)."""
        if not valid_id(patient_id) or self.patients.get(practice_id, patient_id) is None:
            raise NotFound("no such patient")
        found = self.store.for_patient(practice_id, patient_id)
        self.auditor.record(
            practice_id,
            actor_type=ACTOR_STAFF,
            actor_id=staff_id,
            action="image.list",
            patient_ids=[patient_id],
            record=f"patient:{patient_id}",
        )
        lifetime = self._lifetime(self.settings.url_seconds)
        minted = [Minted(i, thumb_url=self._thumb(practice_id, i, lifetime)) if i.ready else Minted(i) for i in found]
        return Gallery(minted, now + timedelta(seconds=lifetime))

    def staff_view(self, practice_id: str, staff_id: str, image_id: str, now: datetime) -> tuple[Minted, datetime]:
        image = self.staff_image(practice_id, image_id, staff_id)
        if not image.ready:
            raise Conflict("this image has not been processed, or it failed processing", code="not_ready")
        self._audit_each(practice_id, ACTOR_STAFF, staff_id, "image.view", [image])
        lifetime = self._lifetime(self.settings.url_seconds)
        return self._view(practice_id, image, lifetime), now + timedelta(seconds=lifetime)

    # --- patients and guardians ---------------------------------------------------------------

    def gallery(self, caller: PatientCaller, patient_id: str | None, now: datetime) -> Gallery:
        """Ready images of the caller's patients (or of one of them), newest taken first."""
        if patient_id is not None and not caller.owns(patient_id):
            self._deny(caller.practice_id, ACTOR_PATIENT, caller.holder_id, "patient", [patient_id])
            raise NotFound("no such patient")
        patients = [patient_id] if patient_id is not None else list(caller.patient_ids)
        images = [i for pid in patients for i in self.store.for_patient(caller.practice_id, pid) if i.ready]
        self.auditor.record(
            caller.practice_id,
            actor_type=ACTOR_PATIENT,
            actor_id=caller.holder_id,
            action="image.list",
            patient_ids=patients,
            record="images",
        )
        lifetime = self._lifetime(self.settings.url_seconds)
        minted = [Minted(i, thumb_url=self._thumb(caller.practice_id, i, lifetime)) for i in images]
        return Gallery(minted, now + timedelta(seconds=lifetime))

    def view(self, caller: PatientCaller, image_id: str, now: datetime) -> tuple[Minted, datetime]:
        (image,) = self._owned(caller, [image_id])
        self._audit_each(caller.practice_id, ACTOR_PATIENT, caller.holder_id, "image.view", [image])
        lifetime = self._lifetime(self.settings.url_seconds)
        return self._view(caller.practice_id, image, lifetime), now + timedelta(seconds=lifetime)

    def download(self, caller: PatientCaller, ids: object, now: datetime) -> tuple[list[Minted], datetime]:
        """Originals of one or more images: all of them or none (no partial answer)."""
        try:
            wanted = image_ids(ids, BULK_MAX_IMAGES)
        except ImageRuleBroken as exc:
            raise _rule(exc) from exc
        images = self._owned(caller, list(wanted))
        self._audit_each(caller.practice_id, ACTOR_PATIENT, caller.holder_id, "image.download", images)
        lifetime = self._lifetime(self.settings.url_seconds)
        return [self._download(caller.practice_id, i, lifetime) for i in images], now + timedelta(seconds=lifetime)

    # --- shares -----------------------------------------------------------------------------

    def create_share(self, caller: PatientCaller, body: dict[str, Any], now: datetime) -> tuple[Share, str]:
        try:
            wanted = share_request(body)
        except ImageRuleBroken as exc:
            raise _rule(exc) from exc
        images = self._owned(caller, list(wanted.image_ids))
        patients = {i.patient_id for i in images}
        if len(patients) != 1:
            raise Unprocessable("a share link holds the images of one patient", code="one_patient_per_share")
        share = Share(
            id=new_share_id(),
            patient_id=patients.pop(),
            image_ids=tuple(i.id for i in images),
            created_at=now,
            expires_at=now + timedelta(days=wanted.days),
            created_by=caller.holder_id,
            note=wanted.note,
        )
        self.store.create_share(caller.practice_id, share)
        self.auditor.record(
            caller.practice_id,
            actor_type=ACTOR_PATIENT,
            actor_id=caller.holder_id,
            action="image.share_create",
            patient_ids=[share.patient_id],
            record=f"share:{share.id}",
        )
        return share, self.share_token(caller.practice_id, share)

    def share_token(self, practice_id: str, share: Share) -> str:
        """Deterministic for a share, so its owner can be shown the same link again."""
        expires = int(share.expires_at.timestamp())
        return signed.sign(self.signing_key(), SHARE_PURPOSE, {"p": practice_id, "s": share.id}, expires)

    def shares(self, caller: PatientCaller, patient_id: str | None) -> list[Share]:
        if patient_id is not None and not caller.owns(patient_id):
            self._deny(caller.practice_id, ACTOR_PATIENT, caller.holder_id, "patient", [patient_id])
            raise NotFound("no such patient")
        patients = [patient_id] if patient_id is not None else list(caller.patient_ids)
        return [s for pid in patients for s in self.store.shares_for_patient(caller.practice_id, pid)]

    def revoke_share(self, caller: PatientCaller, share_id: str, now: datetime) -> Share:
        share = self.store.get_share(caller.practice_id, share_id) if valid_id(share_id) else None
        if share is None or not caller.owns(share.patient_id):
            self._deny(caller.practice_id, ACTOR_PATIENT, caller.holder_id, "share", [share_id])
            raise NotFound("no such share")
        self.store.revoke_share(caller.practice_id, share.id, now)
        self.auditor.record(
            caller.practice_id,
            actor_type=ACTOR_PATIENT,
            actor_id=caller.holder_id,
            action="image.share_revoke",
            patient_ids=[share.patient_id],
            record=f"share:{share.id}",
        )
        return self.store.get_share(caller.practice_id, share.id) or share

    def open_share(self, token: object, now: datetime) -> SharedImages:
        """What a share link shows, to whoever holds it, while it is open. Each open is audited."""
        if not isinstance(token, str) or not token:
            raise NotFound("this link is not valid", code="invalid_link")
        try:
            claims = signed.verify(self.signing_key(), token, SHARE_PURPOSE, int(now.timestamp()))
        except signed.BadToken as exc:
            if exc.reason == signed.EXPIRED:
                raise Gone("this link has expired; ask for a new one", code="link_expired") from exc
            raise NotFound("this link is not valid", code="invalid_link") from exc
        practice_id, share_id = str(claims.get("p", "")), str(claims.get("s", ""))
        share = self.store.get_share(practice_id, share_id) if valid_id(practice_id) and valid_id(share_id) else None
        if share is None:
            raise NotFound("this link is not valid", code="invalid_link")
        if share.revoked_at is not None:
            raise Gone("this link was withdrawn by the patient", code="link_revoked")
        if not share.open_at(now):
            raise Gone("this link has expired; ask for a new one", code="link_expired")
        found = self.store.get_many(practice_id, share.image_ids)
        images = [
            found[i]
            for i in share.image_ids
            if i in found and found[i].ready and found[i].patient_id == share.patient_id
        ]
        self._audit_each(practice_id, ACTOR_ANONYMOUS, f"share:{share.id}", "image.share_open", images)
        lifetime = self._lifetime(self.settings.url_seconds)
        minted = []
        for image in images:
            view = self._view(practice_id, image, lifetime)
            download = self._download(practice_id, image, lifetime)
            minted.append(replace(view, download_url=download.download_url, filename=download.filename))
        return SharedImages(
            share=share,
            practice=self.practices.get(practice_id),
            patient=self.patients.get(practice_id, share.patient_id),
            images=minted,
            expires_at=now + timedelta(seconds=lifetime),
        )

    # --- helpers ----------------------------------------------------------------------------

    def _owned(self, caller: PatientCaller, ids: list[str]) -> list[Image]:
        """Every id, ready and held by one of the caller's patients; else 404 for the lot."""
        well_formed = [i for i in ids if valid_id(i)]
        found = self.store.get_many(caller.practice_id, well_formed) if well_formed else {}
        foreign = [i for i in ids if i not in found or not caller.owns(found[i].patient_id)]
        if foreign:
            self._deny(caller.practice_id, ACTOR_PATIENT, caller.holder_id, "image", foreign)
            raise NotFound("no such image")
        if any(not found[i].ready for i in ids):
            raise NotFound("no such image")  # their own, but not (or never) viewable
        return [found[i] for i in ids]

    def _deny(self, practice_id: str, actor_type: str, actor_id: str, kind: str, ids: list[str]) -> None:
        """One ``access_denied`` event per refused id, on the practice trail (not on any patient's
        log: nothing was shown, and the id may be nobody's)."""
        for value in dict.fromkeys(ids):
            self.auditor.record(
                practice_id,
                actor_type=actor_type,
                actor_id=actor_id,
                action=ACCESS_DENIED,
                record=f"{kind}:{value if valid_id(value) else 'invalid'}",
            )

    def _audit_each(self, practice_id: str, actor_type: str, actor_id: str, action: str, images: list[Image]) -> None:
        for image in images:
            self.auditor.record(
                practice_id,
                actor_type=actor_type,
                actor_id=actor_id,
                action=action,
                patient_ids=[image.patient_id],
                record=f"image:{image.id}",
            )

    def _lifetime(self, wanted: int) -> int:
        seconds = url_lifetime(wanted, self.files.credentials_seconds_left())
        if seconds <= 0:
            raise SigningUnavailable("images are briefly unavailable; try again in a moment")
        return seconds

    def _thumb(self, practice_id: str, image: Image, lifetime: int) -> str:
        return self.files.presign_get(thumb_key(practice_id, image.id), lifetime, image.thumb_type)

    def _view(self, practice_id: str, image: Image, lifetime: int) -> Minted:
        key, content_type = view_key_and_type(practice_id, image)
        return Minted(
            image,
            url=self.files.presign_get(key, lifetime, content_type),
            thumb_url=self._thumb(practice_id, image, lifetime),
        )

    def _download(self, practice_id: str, image: Image, lifetime: int) -> Minted:
        name = download_filename(image)
        url = self.files.presign_get(original_key(practice_id, image.id), lifetime, image.content_type, name)
        return Minted(image, download_url=url, filename=name)
