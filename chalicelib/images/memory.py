"""In-memory twins of the image store and bucket, for service tests. Same conditions as the real ones."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from chalicelib.images.model import AWAITING_UPLOAD, TOO_LARGE, Image, ObjectMissing, Share, UploadRejected


class MemoryImageStore:
    def __init__(self) -> None:
        self.images: dict[tuple[str, str], Image] = {}
        self.shares: dict[tuple[str, str], Share] = {}
        self._lock = threading.Lock()

    def create(self, practice_id: str, image: Image) -> None:
        with self._lock:
            if (practice_id, image.id) in self.images:
                raise KeyError("image exists")
            self.images[(practice_id, image.id)] = image

    def get(self, practice_id: str, image_id: str) -> Image | None:
        return self.images.get((practice_id, image_id))

    def get_many(self, practice_id: str, image_ids: Iterable[str]) -> dict[str, Image]:
        return {i: self.images[(practice_id, i)] for i in image_ids if (practice_id, i) in self.images}

    def for_patient(self, practice_id: str, patient_id: str) -> list[Image]:
        mine = [i for (p, _), i in self.images.items() if p == practice_id and i.patient_id == patient_id]
        return sorted(mine, key=lambda i: (i.taken_on, i.id), reverse=True)

    def finish(self, practice_id: str, done: Image, now: datetime) -> bool:
        with self._lock:
            current = self.images.get((practice_id, done.id))
            if current is None or current.status != AWAITING_UPLOAD:
                return False
            self.images[(practice_id, done.id)] = replace(done, processed_at=now)
            return True

    def create_share(self, practice_id: str, share: Share) -> None:
        with self._lock:
            if (practice_id, share.id) in self.shares:
                raise KeyError("share exists")
            self.shares[(practice_id, share.id)] = share

    def get_share(self, practice_id: str, share_id: str) -> Share | None:
        return self.shares.get((practice_id, share_id))

    def shares_for_patient(self, practice_id: str, patient_id: str) -> list[Share]:
        mine = [s for (p, _), s in self.shares.items() if p == practice_id and s.patient_id == patient_id]
        return sorted(mine, key=lambda s: (s.created_at, s.id), reverse=True)

    def revoke_share(self, practice_id: str, share_id: str, now: datetime) -> None:
        with self._lock:
            share = self.shares.get((practice_id, share_id))
            if share is not None and share.revoked_at is None:
                self.shares[(practice_id, share_id)] = replace(share, revoked_at=now)


class MemoryImageFiles:
    """A bucket in a dict that records every URL it signs (tests count them)."""

    def __init__(self, seconds_left: float | None = None) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.signed: list[dict[str, Any]] = []
        self.seconds_left = seconds_left

    def presign_post(
        self, key: str, content_type: str, max_bytes: int, expires_in: int, kms_key_id: str = ""
    ) -> dict[str, Any]:
        self.signed.append({"op": "post", "key": key, "expires_in": expires_in, "max_bytes": max_bytes})
        return {"url": "https://bucket.example.test/", "fields": {"key": key, "Content-Type": content_type}}

    def presign_get(self, key: str, expires_in: int, content_type: str, download_name: str = "") -> str:
        self.signed.append({"op": "get", "key": key, "expires_in": expires_in, "download_name": download_name})
        return f"https://bucket.example.test/{key}?expires={expires_in}"

    def credentials_seconds_left(self) -> float | None:
        return self.seconds_left

    def read(self, key: str, max_bytes: int) -> bytes:
        if key not in self.objects:
            raise ObjectMissing(key)
        data = self.objects[key][0]
        if len(data) > max_bytes:
            raise UploadRejected(TOO_LARGE)
        return data

    def write(self, key: str, data: bytes, content_type: str, kms_key_id: str = "") -> None:
        self.objects[key] = (data, content_type)

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)
