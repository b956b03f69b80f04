"""X-rays and photos: kinds, accepted types, object keys, URL lifetimes, shares. Pure domain (stdlib only).

Invariants:
- An object key carries the practice id and a random image id, never patient data; image ids are
  128 random bits, so keys cannot be guessed.
- Staff upload to ``incoming/``; only bytes that processing has sniffed and decoded are copied under
  ``images/``, and only those are ever served. A patient sees an image only once it is ``ready``.
- A URL lives at most ``url_seconds`` (default 5 minutes, at most 15) and never longer than the
  credentials that sign it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

KINDS = ("bitewing", "periapical", "panoramic", "intraoral_photo", "other")
KIND_LABELS = {
    "bitewing": "Bitewing x-ray",
    "periapical": "Periapical x-ray",
    "panoramic": "Panoramic x-ray",
    "intraoral_photo": "Intraoral photo",
    "other": "Image",
}

JPEG = "image/jpeg"
PNG = "image/png"
DICOM = "application/dicom"
CONTENT_TYPES = {JPEG: "jpg", PNG: "png", DICOM: "dcm"}

AWAITING_UPLOAD = "awaiting_upload"
READY = "ready"
FAILED = "failed"

# Why processing refused a file (shown to staff, never to patients).
TOO_LARGE = "too_large"
EMPTY = "empty"
TYPE_MISMATCH = "type_mismatch"  # the bytes are not what the declared content type says
UNREADABLE = "unreadable"  # right magic bytes, but the file does not decode
NO_PIXELS = "no_pixels"  # a DICOM object without an image (a report, a plan)
TOO_MANY_PIXELS = "too_many_pixels"

MIB = 1024 * 1024
DEFAULT_MAX_BYTES = 50 * MIB
DEFAULT_URL_SECONDS = 300
MIN_URL_SECONDS = 30
MAX_URL_SECONDS = 900
UPLOAD_SECONDS = 600  # how long a presigned POST accepts the upload
PENDING_TTL = timedelta(days=2)  # an upload never sent is forgotten (table TTL)
MAX_PIXELS = 80_000_000  # decoded size guard against decompression bombs
THUMB_EDGE = 320

SHARE_DEFAULT_DAYS = 7
SHARE_MAX_DAYS = 30
SHARE_MAX_IMAGES = 20
SHARE_NOTE_MAX = 120
SHARE_KEEP_AFTER_EXPIRY = timedelta(days=90)  # the stored share item outlives its link (TTL)
BULK_MAX_IMAGES = 20

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_INCOMING = re.compile(r"^incoming/([A-Za-z0-9_-]{1,64})/([A-Za-z0-9_-]{1,64})$")


class UploadRejected(Exception):
    """Processing refused an upload; ``reason`` is one of the failure codes above."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ObjectMissing(Exception):
    """The object is not (or no longer) in the bucket."""


class ImageRuleBroken(ValueError):
    """A request breaks an image rule; ``code`` names which (the API maps it to a 4xx)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ImageSettings:
    max_bytes: int = DEFAULT_MAX_BYTES
    url_seconds: int = DEFAULT_URL_SECONDS
    upload_seconds: int = UPLOAD_SECONDS
    kms_key_id: str = ""  # empty: the bucket's AWS-managed KMS key


def image_settings(env: Mapping[str, str]) -> ImageSettings:
    """From IMAGE_MAX_BYTES, IMAGE_URL_SECONDS, IMAGE_KMS_KEY_ID; out-of-range values are clamped."""

    def number(name: str, default: int) -> int:
        try:
            return int(env.get(name, "") or default)
        except ValueError:
            return default

    max_bytes = min(max(number("IMAGE_MAX_BYTES", DEFAULT_MAX_BYTES), 1), 5 * 1024 * MIB)
    url_seconds = min(max(number("IMAGE_URL_SECONDS", DEFAULT_URL_SECONDS), MIN_URL_SECONDS), MAX_URL_SECONDS)
    return ImageSettings(max_bytes, url_seconds, UPLOAD_SECONDS, env.get("IMAGE_KMS_KEY_ID", ""))


@dataclass(frozen=True)
class Image:
    id: str
    patient_id: str
    kind: str
    taken_on: date
    content_type: str  # as declared at upload; processing checks the bytes agree
    status: str
    created_at: datetime
    uploaded_by: str = ""  # staff sub
    size: int = 0
    width: int = 0
    height: int = 0
    preview_type: str = ""  # DICOM only: image/png
    thumb_type: str = ""
    failure: str = ""
    processed_at: datetime | None = None

    @property
    def ready(self) -> bool:
        return self.status == READY

    @property
    def is_dicom(self) -> bool:
        return self.content_type == DICOM


@dataclass(frozen=True)
class UploadRequest:
    patient_id: str
    kind: str
    taken_on: date
    content_type: str
    size: int


@dataclass(frozen=True)
class Rendition:
    """What processing made of an upload's bytes."""

    content_type: str  # sniffed, equal to the declared one
    width: int
    height: int
    thumb: bytes
    thumb_type: str
    preview: bytes | None = None  # DICOM: a PNG a browser can show
    preview_type: str = ""


@dataclass(frozen=True)
class Share:
    id: str
    patient_id: str
    image_ids: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    created_by: str  # the contact holder id that made it
    note: str = ""
    revoked_at: datetime | None = None

    def open_at(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at


@dataclass(frozen=True)
class ShareRequest:
    image_ids: tuple[str, ...]
    days: int
    note: str = ""


# --- ids and keys -------------------------------------------------------------------------------


def new_image_id() -> str:
    return secrets.token_hex(16)


def new_share_id() -> str:
    return secrets.token_hex(16)


def valid_id(value: object) -> bool:
    return isinstance(value, str) and bool(_ID.match(value))


def _checked(practice_id: str, image_id: str) -> tuple[str, str]:
    if not (valid_id(practice_id) and valid_id(image_id)):
        raise ValueError("ids must be 1-64 characters of A-Z a-z 0-9 _ -")
    return practice_id, image_id


def incoming_key(practice_id: str, image_id: str) -> str:
    p, i = _checked(practice_id, image_id)
    return f"incoming/{p}/{i}"


def original_key(practice_id: str, image_id: str) -> str:
    p, i = _checked(practice_id, image_id)
    return f"images/{p}/{i}/original"


def preview_key(practice_id: str, image_id: str) -> str:
    p, i = _checked(practice_id, image_id)
    return f"images/{p}/{i}/preview"


def thumb_key(practice_id: str, image_id: str) -> str:
    p, i = _checked(practice_id, image_id)
    return f"images/{p}/{i}/thumb"


def parse_incoming_key(key: str) -> tuple[str, str] | None:
    """(practice id, image id) of an upload key, or None for anything else."""
    found = _INCOMING.match(key)
    return (found.group(1), found.group(2)) if found else None


def view_key_and_type(practice_id: str, image: Image) -> tuple[str, str]:
    """What a full view shows: the PNG preview of a DICOM, else the (verified) original."""
    if image.is_dicom:
        return preview_key(practice_id, image.id), image.preview_type or PNG
    return original_key(practice_id, image.id), image.content_type


def download_filename(image: Image) -> str:
    """No names in it: kind, date taken and a short id."""
    return f"{image.kind}-{image.taken_on.isoformat()}-{image.id[:8]}.{CONTENT_TYPES.get(image.content_type, 'bin')}"


# --- validation ---------------------------------------------------------------------------------


def upload_request(body: Mapping[str, object], today: date, max_bytes: int) -> UploadRequest:
    patient_id = body.get("patient_id")
    if not valid_id(patient_id):
        raise ImageRuleBroken("invalid_patient_id", "patient_id is required")
    kind = body.get("kind")
    if kind not in KINDS:
        raise ImageRuleBroken("invalid_kind", f"kind must be one of {', '.join(KINDS)}")
    content_type = body.get("content_type")
    if not isinstance(content_type, str) or content_type.strip().lower() not in CONTENT_TYPES:
        raise ImageRuleBroken("unsupported_type", f"content_type must be one of {', '.join(CONTENT_TYPES)}")
    size = body.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ImageRuleBroken("invalid_size", "size must be the file's size in bytes")
    if size > max_bytes:
        raise ImageRuleBroken("too_large", f"files may be at most {max_bytes // MIB} MB")
    taken = body.get("taken_on")
    try:
        taken_on = date.fromisoformat(taken) if isinstance(taken, str) and len(taken) == 10 else None
    except ValueError:
        taken_on = None
    if taken_on is None:
        raise ImageRuleBroken("invalid_taken_on", "taken_on must be a date, YYYY-MM-DD")
    # One day of slack: the practice's local date may be ahead of the UTC date.
    if taken_on > today + timedelta(days=1) or taken_on.year < 1900:
        raise ImageRuleBroken("invalid_taken_on", "taken_on cannot be in the future")
    return UploadRequest(str(patient_id), str(kind), taken_on, content_type.strip().lower(), size)


def image_ids(value: object, limit: int) -> tuple[str, ...]:
    """A non-empty list of distinct well-formed ids, order kept."""
    if not isinstance(value, list) or not value:
        raise ImageRuleBroken("invalid_ids", "give a non-empty list of image ids")
    if len(value) > limit:
        raise ImageRuleBroken("too_many_ids", f"at most {limit} images at a time")
    if not all(isinstance(v, str) for v in value):
        raise ImageRuleBroken("invalid_ids", "image ids are strings")
    return tuple(dict.fromkeys(str(v) for v in value))


def share_request(body: Mapping[str, object]) -> ShareRequest:
    ids = image_ids(body.get("image_ids"), SHARE_MAX_IMAGES)
    days = body.get("days", SHARE_DEFAULT_DAYS)
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= SHARE_MAX_DAYS:
        raise ImageRuleBroken("invalid_days", f"days must be a whole number from 1 to {SHARE_MAX_DAYS}")
    note = body.get("note", "")
    if not isinstance(note, str) or len(note) > SHARE_NOTE_MAX:
        raise ImageRuleBroken("invalid_note", f"note must be text of at most {SHARE_NOTE_MAX} characters")
    return ShareRequest(ids, days, " ".join(note.split()))


# --- URL lifetimes ------------------------------------------------------------------------------


def url_lifetime(wanted_seconds: int, credentials_seconds_left: float | None) -> int:
    """Seconds a presigned URL may live: ``wanted_seconds``, cut to what the signing credentials
    have left (a URL signed with expiring credentials dies with them, whatever it claims).
    Zero means the credentials have run out and nothing should be signed."""
    if credentials_seconds_left is None:
        return wanted_seconds
    return max(0, min(wanted_seconds, int(credentials_seconds_left)))


# --- sniffing -----------------------------------------------------------------------------------

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
DICOM_MAGIC_AT = 128


def sniff(head: bytes) -> str | None:
    """The content type the first bytes prove, if any: DICOM Part 10 ("DICM" after the
    128-byte preamble), PNG or JPEG signatures."""
    if head[DICOM_MAGIC_AT : DICOM_MAGIC_AT + 4] == b"DICM":
        return DICOM
    if head.startswith(PNG_MAGIC):
        return PNG
    if head.startswith(JPEG_MAGIC):
        return JPEG
    return None
