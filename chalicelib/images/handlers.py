"""Building the image service from the request's ports, and the upload-event entry point.

Tests swap parts through ``deps().extras``: ``images.store``, ``images.files``, ``images.render``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_plus

from chalicelib.images.files import S3ImageFiles
from chalicelib.images.model import image_settings, parse_incoming_key
from chalicelib.images.service import ImageService
from chalicelib.images.store import ImageStore
from chalicelib.platform.deps import deps
from chalicelib.platform.observability import logger
from chalicelib.platform.secrets import token_signing_key
from chalicelib.platform.settings import get_settings


def image_service() -> ImageService:
    d = deps()
    service = ImageService(
        store=d.extras.get("images.store") or ImageStore(),
        files=d.extras.get("images.files") or S3ImageFiles(),
        auditor=d.auditor,
        settings=image_settings(os.environ),
        patients=d.patients,
        practices=d.practices,
        signing_key=token_signing_key,
    )
    if "images.render" in d.extras:
        service.render = d.extras["images.render"]
    return service


def upload_event(event: Mapping[str, Any]) -> dict[str, int]:
    """An S3 ``ObjectCreated`` notification (one or more records): process each upload under
    ``incoming/`` of our bucket; anything else is ignored. Exceptions propagate so Lambda retries;
    processing is idempotent. Logs image ids and outcomes only."""
    bucket = get_settings().image_bucket
    handled = 0
    for record in event.get("Records") or []:
        s3 = record.get("s3") or {}
        if not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        if (s3.get("bucket") or {}).get("name") != bucket:
            continue
        found = parse_incoming_key(unquote_plus(str((s3.get("object") or {}).get("key", ""))))
        if found is None:
            continue
        practice_id, image_id = found
        outcome = image_service().process_upload(practice_id, image_id, deps().clock.now())
        logger.info("image upload processed", extra={"image_id": image_id, "outcome": outcome})
        handled += 1
    return {"processed": handled}
