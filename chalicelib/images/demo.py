"""Demo images for the local stack: pydicom's bundled CT and MR samples and a made-up intraoral photo,
uploaded to the incoming key and processed exactly as a staff upload is. Never called in AWS."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from chalicelib.images.files import ImageFiles
from chalicelib.images.model import AWAITING_UPLOAD, DICOM, JPEG, Image, incoming_key, new_image_id
from chalicelib.images.service import ImageService


@dataclass(frozen=True)
class DemoImage:
    kind: str
    content_type: str
    days_ago: int
    sample: str  # a pydicom test file name, or "" for the generated photo


DEMO_IMAGES = (
    DemoImage("bitewing", DICOM, 14, "CT_small.dcm"),
    DemoImage("periapical", DICOM, 14, "MR_small.dcm"),
    DemoImage("intraoral_photo", JPEG, 200, ""),
)


def _bytes(item: DemoImage) -> bytes:
    if item.sample:
        from pydicom.data import get_testdata_file

        return Path(str(get_testdata_file(item.sample))).read_bytes()
    from PIL import Image as Picture
    from PIL import ImageDraw

    picture = Picture.new("RGB", (960, 640), (232, 180, 170))
    draw = ImageDraw.Draw(picture)
    for n in range(6):  # a row of "teeth"
        draw.rounded_rectangle((90 + n * 130, 220, 190 + n * 130, 420), radius=30, fill=(246, 244, 236))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def load_demo_images(
    service: ImageService, files: ImageFiles, practice_id: str, patient_ids: list[str], now: datetime
) -> list[str]:
    """Gives each patient the demo set; returns the new image ids (all ``ready``)."""
    made: list[str] = []
    for patient_id in patient_ids:
        for item in DEMO_IMAGES:
            data = _bytes(item)
            image = Image(
                id=new_image_id(),
                patient_id=patient_id,
                kind=item.kind,
                taken_on=(now - timedelta(days=item.days_ago)).date(),
                content_type=item.content_type,
                status=AWAITING_UPLOAD,
                created_at=now,
                uploaded_by="demo",
                size=len(data),
            )
            service.store.create(practice_id, image)
            files.write(incoming_key(practice_id, image.id), data, item.content_type)
            service.process_upload(practice_id, image.id, now)
            made.append(image.id)
    return made


def load_demo(practice_id: str, patient_ids: list[str]) -> list[str]:
    """For the local runner: the demo set for these patients, through the configured bucket and table."""
    from chalicelib.images.handlers import image_service
    from chalicelib.platform.deps import deps

    service = image_service()
    return load_demo_images(service, service.files, practice_id, patient_ids, deps().clock.now())
