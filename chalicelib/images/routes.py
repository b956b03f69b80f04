"""Image routes: staff upload and review, the patient's gallery, downloads and share links.

URLs in answers are presigned S3 (SigV4) and live ``url_seconds`` at most; ``expires_at`` says when.
Every id is checked against the caller before anything is signed; foreign ids answer 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalice import Blueprint, Response

from chalicelib.images.handlers import image_service
from chalicelib.images.model import (
    AWAITING_UPLOAD,
    BULK_MAX_IMAGES,
    CONTENT_TYPES,
    KIND_LABELS,
    KINDS,
    SHARE_MAX_DAYS,
    SHARE_MAX_IMAGES,
    SHARE_NOTE_MAX,
    Image,
    Share,
)
from chalicelib.images.service import Minted
from chalicelib.platform.api import json_body, respond, route
from chalicelib.platform.auth import StaffCaller, bearer_token, staff_for_practice
from chalicelib.platform.deps import deps
from chalicelib.platform.permissions import roles_for
from chalicelib.platform.request import patient_caller
from chalicelib.platform.settings import get_settings

bp = Blueprint(__name__)

TAG = "images"
IMAGE_ROLES = roles_for("images.manage")
SHARE_PAGE = "/patient/shared.html"  # the page that opens a share link; the token rides in the fragment

_UPLOAD_BODY = {
    "type": "object",
    "required": ["patient_id", "kind", "taken_on", "content_type", "size"],
    "properties": {
        "patient_id": {"type": "string"},
        "kind": {"type": "string", "enum": list(KINDS)},
        "taken_on": {"type": "string", "format": "date"},
        "content_type": {"type": "string", "enum": list(CONTENT_TYPES)},
        "size": {"type": "integer", "minimum": 1, "description": "bytes; at most the cap (default 50 MB)"},
    },
}
_IDS_BODY = {
    "type": "object",
    "required": ["ids"],
    "properties": {"ids": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": BULK_MAX_IMAGES}},
}
_SHARE_BODY = {
    "type": "object",
    "required": ["image_ids"],
    "properties": {
        "image_ids": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": SHARE_MAX_IMAGES},
        "days": {"type": "integer", "minimum": 1, "maximum": SHARE_MAX_DAYS, "default": 7},
        "note": {"type": "string", "maxLength": SHARE_NOTE_MAX, "description": "e.g. who it is for"},
    },
}
_OPEN_BODY = {"type": "object", "required": ["token"], "properties": {"token": {"type": "string"}}}
_PATIENT_QUERY = {"patient_id": {"type": "string", "description": "only this patient of the session"}}


def _utc(at: datetime | None) -> str | None:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ") if at else None


def _image_json(image: Image, thumb_url: str = "") -> dict[str, Any]:
    return {
        "id": image.id,
        "patient_id": image.patient_id,
        "kind": image.kind,
        "kind_label": KIND_LABELS.get(image.kind, image.kind),
        "taken_on": image.taken_on.isoformat(),
        "content_type": image.content_type,
        "width": image.width,
        "height": image.height,
        "thumbnail_url": thumb_url or None,
    }


def _staff_image_json(image: Image, thumb_url: str = "") -> dict[str, Any]:
    return {
        **_image_json(image, thumb_url),
        "status": image.status,
        "failure": image.failure or None,
        "size": image.size,
        "uploaded_by": image.uploaded_by,
        "created_at": _utc(image.created_at),
        "processed_at": _utc(image.processed_at),
    }


def _share_json(share: Share, now: datetime, link: str | None) -> dict[str, Any]:
    return {
        "id": share.id,
        "patient_id": share.patient_id,
        "image_ids": list(share.image_ids),
        "note": share.note,
        "created_at": _utc(share.created_at),
        "expires_at": _utc(share.expires_at),
        "revoked_at": _utc(share.revoked_at),
        "open": share.open_at(now),
        "link": link,
    }


def _share_link(token: str) -> str:
    return f"{get_settings().web_base_url.rstrip('/')}{SHARE_PAGE}#{token}"


def _staff(practice_id: str, image_id: str | None = None) -> StaffCaller:
    """The verified staff caller of this practice; a caller from another practice asking for an
    image gets 404 and an ``access_denied`` on its own practice's trail."""
    caller = deps().staff_verifier.verify(bearer_token(dict(bp.current_request.headers)))
    if caller.practice_id != practice_id and image_id is not None:
        image_service().deny_other_practice(caller.practice_id, caller.user_id, practice_id, image_id)
    return staff_for_practice(caller, practice_id, IMAGE_ROLES)


def _query(name: str) -> str | None:
    params: dict[str, str] = dict(bp.current_request.query_params or {})
    return params.get(name) or None


# --- staff ------------------------------------------------------------------------------------


@route(
    bp,
    "/practices/{practice_id}/images",
    "POST",
    summary="Start an upload: records the image and returns a presigned POST (url + form fields) for it",
    auth="staff",
    tag=TAG,
    body=_UPLOAD_BODY,
    ok_status=201,
)
def start_upload(practice_id: str) -> Response:
    caller = _staff(practice_id)
    body = json_body(bp.current_request)
    ticket = image_service().start_upload(practice_id, caller.user_id, body, deps().clock.now())
    return respond(
        {
            "image": _staff_image_json(ticket.image),
            "upload": {
                "method": "POST",
                "url": ticket.url,
                "fields": ticket.fields,
                "file_field": "file",
                "max_bytes": ticket.max_bytes,
                "expires_at": _utc(ticket.expires_at),
            },
        },
        status=201,
    )


@route(
    bp,
    "/practices/{practice_id}/images/{image_id}/uploaded",
    "POST",
    summary="Tell the API an upload finished; answers the image's state (locally this also processes it)",
    auth="staff",
    tag=TAG,
)
def upload_finished(practice_id: str, image_id: str) -> Response:
    caller = _staff(practice_id, image_id)
    service = image_service()
    image = service.staff_image(practice_id, image_id, caller.user_id)
    # In AWS the bucket's ObjectCreated event runs processing; moto fires no events, so the
    # local stack runs the same use case here.
    if get_settings().stage == "local" and image.status == AWAITING_UPLOAD:
        service.process_upload(practice_id, image_id, deps().clock.now())
        image = service.staff_image(practice_id, image_id, caller.user_id)
    return respond({"image": _staff_image_json(image)})


@route(
    bp,
    "/practices/{practice_id}/patients/{patient_id}/images",
    summary="A patient's images in every state, newest taken first, with thumbnail URLs",
    auth="staff",
    tag=TAG,
)
def staff_gallery(practice_id: str, patient_id: str) -> Response:
    caller = _staff(practice_id)
    gallery = image_service().staff_gallery(practice_id, caller.user_id, patient_id, deps().clock.now())
    return respond(
        {
            "images": [_staff_image_json(m.image, m.thumb_url) for m in gallery.images],
            "expires_at": _utc(gallery.expires_at),
        }
    )


@route(
    bp,
    "/practices/{practice_id}/images/{image_id}/url",
    summary="A short-lived URL to view one image (DICOM: its PNG preview)",
    auth="staff",
    tag=TAG,
)
def staff_view(practice_id: str, image_id: str) -> Response:
    caller = _staff(practice_id, image_id)
    minted, expires_at = image_service().staff_view(practice_id, caller.user_id, image_id, deps().clock.now())
    return respond(_view_json(minted, expires_at, staff=True))


# --- patients ---------------------------------------------------------------------------------


def _view_json(minted: Minted, expires_at: datetime, staff: bool = False) -> dict[str, Any]:
    image = (_staff_image_json if staff else _image_json)(minted.image, minted.thumb_url)
    return {"image": image, "url": minted.url, "expires_at": _utc(expires_at)}


@route(
    bp,
    "/patient/images",
    summary="The gallery: ready images of the session's patients, newest taken first, with thumbnail URLs",
    auth="patient",
    tag=TAG,
    query=_PATIENT_QUERY,
)
def gallery() -> Response:
    caller = patient_caller(bp.current_request)
    found = image_service().gallery(caller, _query("patient_id"), deps().clock.now())
    return respond(
        {"images": [_image_json(m.image, m.thumb_url) for m in found.images], "expires_at": _utc(found.expires_at)}
    )


@route(
    bp,
    "/patient/images/{image_id}/url",
    summary="A short-lived URL to view one image (DICOM: its PNG preview)",
    auth="patient",
    tag=TAG,
)
def view(image_id: str) -> Response:
    caller = patient_caller(bp.current_request)
    minted, expires_at = image_service().view(caller, image_id, deps().clock.now())
    return respond(_view_json(minted, expires_at))


@route(
    bp,
    "/patient/images/{image_id}/download",
    summary="A short-lived URL that downloads the original file",
    auth="patient",
    tag=TAG,
)
def download(image_id: str) -> Response:
    caller = patient_caller(bp.current_request)
    (one,), expires_at = image_service().download(caller, [image_id], deps().clock.now())
    return respond(
        {"id": one.image.id, "url": one.download_url, "filename": one.filename, "expires_at": _utc(expires_at)}
    )


@route(
    bp,
    "/patient/images/download",
    "POST",
    summary="Download URLs for several originals: all of them, or 404 if any id is not yours",
    auth="patient",
    tag=TAG,
    body=_IDS_BODY,
)
def download_many() -> Response:
    caller = patient_caller(bp.current_request)
    body = json_body(bp.current_request)
    minted, expires_at = image_service().download(caller, body.get("ids"), deps().clock.now())
    return respond(
        {
            "downloads": [{"id": m.image.id, "url": m.download_url, "filename": m.filename} for m in minted],
            "expires_at": _utc(expires_at),
        }
    )


@route(
    bp,
    "/patient/shares",
    "POST",
    summary="Create a time-limited, revocable link to chosen images of one patient (for another dentist)",
    auth="patient",
    tag=TAG,
    body=_SHARE_BODY,
    ok_status=201,
)
def create_share() -> Response:
    caller = patient_caller(bp.current_request)
    body = json_body(bp.current_request)
    now = deps().clock.now()
    share, token = image_service().create_share(caller, body, now)
    return respond({"share": _share_json(share, now, _share_link(token)), "token": token}, status=201)


@route(
    bp,
    "/patient/shares",
    summary="The session's share links, newest first (links only for open ones)",
    auth="patient",
    tag=TAG,
    query=_PATIENT_QUERY,
)
def list_shares() -> Response:
    caller = patient_caller(bp.current_request)
    now = deps().clock.now()
    service = image_service()
    shares = service.shares(caller, _query("patient_id"))
    return respond(
        {
            "shares": [
                _share_json(s, now, _share_link(service.share_token(caller.practice_id, s)) if s.open_at(now) else None)
                for s in shares
            ]
        }
    )


@route(bp, "/patient/shares/{share_id}", "DELETE", summary="Revoke a share link", auth="patient", tag=TAG)
def revoke_share(share_id: str) -> Response:
    caller = patient_caller(bp.current_request)
    now = deps().clock.now()
    share = image_service().revoke_share(caller, share_id, now)
    return respond({"share": _share_json(share, now, None)})


# --- public -----------------------------------------------------------------------------------


@route(
    bp,
    "/public/shares/open",
    "POST",
    summary="Open a share link (token in the body, never in a URL): the images with short-lived URLs",
    auth="public",
    tag=TAG,
    body=_OPEN_BODY,
)
def open_share() -> Response:
    body = json_body(bp.current_request)
    now = deps().clock.now()
    shared = image_service().open_share(body.get("token"), now)
    return respond(
        {
            "practice": (
                {"name": shared.practice.name, "phone": shared.practice.phone, "zone": shared.practice.zone}
                if shared.practice
                else None
            ),
            "patient": {"name": shared.patient.display_name} if shared.patient else None,
            "note": shared.share.note,
            "link_expires_at": _utc(shared.share.expires_at),
            "images": [
                {
                    **_image_json(m.image, m.thumb_url),
                    "view_url": m.url,
                    "download_url": m.download_url,
                    "filename": m.filename,
                }
                for m in shared.images
            ],
            "expires_at": _utc(shared.expires_at),
        }
    )
