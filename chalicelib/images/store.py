"""Image and share items, and their repository.

| entity | PK           | SK              | GSI2PK / GSI2SK                                         |
|--------|--------------|-----------------|---------------------------------------------------------|
| image  | PRACTICE#<p> | IMAGE#<id>      | PRACTICE#<p>#PATIENT#<id> / IMAGE#<taken on>#<image id> |
| share  | PRACTICE#<p> | SHARE#<id>      | PRACTICE#<p>#PATIENT#<id> / SHARE#<created UTC>#<id>    |

An image is written once as ``awaiting_upload`` (with a TTL, so an upload never sent is forgotten)
and leaves that state exactly once, by a conditional update (S3 events arrive at least once).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import PutError, UpdateError

from chalicelib.images.model import AWAITING_UPLOAD, PENDING_TTL, SHARE_KEEP_AFTER_EXPIRY, Image, Share
from chalicelib.platform.table import TableItem, practice_pk

_UTC_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def patient_index(practice_id: str, patient_id: str) -> str:
    return f"PRACTICE#{practice_id}#PATIENT#{patient_id}"


class ImageItem(TableItem, discriminator="Image"):
    image_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    taken_on = UnicodeAttribute()  # ISO date
    content_type = UnicodeAttribute()
    status = UnicodeAttribute()
    uploaded_by = UnicodeAttribute(default="")
    size = NumberAttribute(default=0)
    width = NumberAttribute(default=0)
    height = NumberAttribute(default=0)
    preview_type = UnicodeAttribute(default="")
    thumb_type = UnicodeAttribute(default="")
    failure = UnicodeAttribute(default="")
    processed_at = UTCDateTimeAttribute(null=True)


class ShareItem(TableItem, discriminator="Share"):
    share_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    image_ids = ListAttribute(of=UnicodeAttribute)
    shared_at = UTCDateTimeAttribute()
    ends_at = UTCDateTimeAttribute()
    created_by = UnicodeAttribute()
    note = UnicodeAttribute(default="")
    revoked_at = UTCDateTimeAttribute(null=True)


def _image_sk(image_id: str) -> str:
    return f"IMAGE#{image_id}"


def _share_sk(share_id: str) -> str:
    return f"SHARE#{share_id}"


def _image(i: ImageItem) -> Image:
    return Image(
        id=i.image_id,
        patient_id=i.patient_id,
        kind=i.kind,
        taken_on=date.fromisoformat(i.taken_on),
        content_type=i.content_type,
        status=i.status,
        created_at=i.created_at,
        uploaded_by=i.uploaded_by,
        size=int(i.size or 0),
        width=int(i.width or 0),
        height=int(i.height or 0),
        preview_type=i.preview_type,
        thumb_type=i.thumb_type,
        failure=i.failure,
        processed_at=i.processed_at,
    )


def _share(i: ShareItem) -> Share:
    return Share(
        id=i.share_id,
        patient_id=i.patient_id,
        image_ids=tuple(str(x) for x in i.image_ids or []),
        created_at=i.shared_at,
        expires_at=i.ends_at,
        created_by=i.created_by,
        note=i.note,
        revoked_at=i.revoked_at,
    )


class ImageStore:
    """Repository for images and shares (one practice per call)."""

    # --- images ---

    def create(self, practice_id: str, image: Image) -> None:
        item = ImageItem(
            practice_pk(practice_id),
            _image_sk(image.id),
            gsi2pk=patient_index(practice_id, image.patient_id),
            gsi2sk=f"IMAGE#{image.taken_on.isoformat()}#{image.id}",
            image_id=image.id,
            patient_id=image.patient_id,
            kind=image.kind,
            taken_on=image.taken_on.isoformat(),
            content_type=image.content_type,
            status=image.status,
            uploaded_by=image.uploaded_by,
            size=image.size,
            created_at=image.created_at,
            updated_at=image.created_at,
            expires_at=int((image.created_at + PENDING_TTL).timestamp()) if image.status == AWAITING_UPLOAD else None,
        )
        item.save(condition=ImageItem.pk.does_not_exist())

    def get(self, practice_id: str, image_id: str) -> Image | None:
        try:
            return _image(ImageItem.get(practice_pk(practice_id), _image_sk(image_id)))
        except ImageItem.DoesNotExist:
            return None

    def get_many(self, practice_id: str, image_ids: Iterable[str]) -> dict[str, Image]:
        """By id; missing ids are absent. batch_get pages through 100-key batches and retries
        unprocessed keys itself."""
        keys = [(practice_pk(practice_id), _image_sk(i)) for i in dict.fromkeys(image_ids)]
        return {i.image_id: _image(i) for i in ImageItem.batch_get(keys)} if keys else {}

    def for_patient(self, practice_id: str, patient_id: str) -> list[Image]:
        """Every image of a patient, newest taken first (the iterator pages to the end)."""
        return [
            _image(i)
            for i in ImageItem.gsi2.query(
                patient_index(practice_id, patient_id),
                ImageItem.gsi2sk.startswith("IMAGE#"),
                scan_index_forward=False,
            )
            if isinstance(i, ImageItem)
        ]

    def finish(self, practice_id: str, done: Image, now: datetime) -> bool:
        """Move an awaiting image to ready or failed, once. False if it had already left that state."""
        item = ImageItem(practice_pk(practice_id), _image_sk(done.id))
        try:
            item.update(
                actions=[
                    ImageItem.status.set(done.status),
                    ImageItem.width.set(done.width),
                    ImageItem.height.set(done.height),
                    ImageItem.size.set(done.size),
                    ImageItem.preview_type.set(done.preview_type),
                    ImageItem.thumb_type.set(done.thumb_type),
                    ImageItem.failure.set(done.failure),
                    ImageItem.processed_at.set(now),
                    ImageItem.updated_at.set(now),
                    ImageItem.expires_at.remove(),
                ],
                condition=ImageItem.status == AWAITING_UPLOAD,
            )
        except UpdateError as exc:
            if _conditional_failure(exc):
                return False
            raise
        return True

    # --- shares ---

    def create_share(self, practice_id: str, share: Share) -> None:
        ShareItem(
            practice_pk(practice_id),
            _share_sk(share.id),
            gsi2pk=patient_index(practice_id, share.patient_id),
            gsi2sk=f"SHARE#{share.created_at.strftime(_UTC_FORMAT)}#{share.id}",
            share_id=share.id,
            patient_id=share.patient_id,
            image_ids=list(share.image_ids),
            shared_at=share.created_at,
            ends_at=share.expires_at,
            created_by=share.created_by,
            note=share.note,
            created_at=share.created_at,
            updated_at=share.created_at,
            expires_at=int((share.expires_at + SHARE_KEEP_AFTER_EXPIRY).timestamp()),
        ).save(condition=ShareItem.pk.does_not_exist())

    def get_share(self, practice_id: str, share_id: str) -> Share | None:
        try:
            return _share(ShareItem.get(practice_pk(practice_id), _share_sk(share_id)))
        except ShareItem.DoesNotExist:
            return None

    def shares_for_patient(self, practice_id: str, patient_id: str) -> list[Share]:
        """Newest first, paged to the end."""
        return [
            _share(i)
            for i in ShareItem.gsi2.query(
                patient_index(practice_id, patient_id),
                ShareItem.gsi2sk.startswith("SHARE#"),
                scan_index_forward=False,
            )
            if isinstance(i, ShareItem)
        ]

    def revoke_share(self, practice_id: str, share_id: str, now: datetime) -> None:
        """Idempotent: the first revocation's instant is kept."""
        item = ShareItem(practice_pk(practice_id), _share_sk(share_id))
        try:
            item.update(
                actions=[ShareItem.revoked_at.set(now), ShareItem.updated_at.set(now)],
                condition=ShareItem.pk.exists() & ShareItem.revoked_at.does_not_exist(),
            )
        except UpdateError as exc:
            if not _conditional_failure(exc):
                raise


def _conditional_failure(exc: UpdateError | PutError) -> bool:
    return getattr(exc, "cause_response_code", "") == "ConditionalCheckFailedException"
