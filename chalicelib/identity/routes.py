"""Sign-in routes: patient one-time codes and sessions, the patient's own reads, staff sign-in."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib.appointments.serialize import appointment_json
from chalicelib.identity import service
from chalicelib.identity.service import Member
from chalicelib.platform.api import json_body, respond, route
from chalicelib.platform.auth import bearer_token
from chalicelib.platform.deps import deps
from chalicelib.platform.errors import Unprocessable
from chalicelib.platform.limits import SendLimit
from chalicelib.platform.request import patient_caller

bp = Blueprint(__name__)

TAG = "identity"


def _text(body: dict[str, Any], name: str, max_length: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise Unprocessable(f"{name} is required (text, at most {max_length} characters)", code="invalid_field")
    return value


def _client(request: Request) -> str:
    # API Gateway's view of the caller; X-Forwarded-For is not trusted (anyone can set it).
    return str((request.context.get("identity") or {}).get("sourceIp") or "")


def _string_schema(*names: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": list(names),
        "properties": {n: {"type": "string", "minLength": 1} for n in names},
    }


def _member(m: Member) -> dict[str, Any]:
    return {"id": m.patient.id, "name": m.patient.display_name, "relation": m.relation}


@route(
    bp,
    "/patient/auth/code",
    "POST",
    summary="Send a one-time sign-in code to a phone or email on file (same answer if it is not)",
    auth="public",
    tag=TAG,
    body=_string_schema("practice_id", "contact"),
    ok_status=202,
    sends=SendLimit(
        note="per contact and per client, before anything is sent (identity.model PER_CONTACT, PER_CLIENT)"
    ),
    limited="per phone or email and per client; see Retry-After",
)
def request_code() -> Response:
    request = bp.current_request
    body = json_body(request)
    # Past a cap: RateLimited, a 429 with Retry-After (the route helper answers it).
    service.patient_sign_in(deps()).request_code(
        _text(body, "practice_id", 64), _text(body, "contact", 254), _client(request)
    )
    return respond({"status": "sent"}, 202)


@route(
    bp,
    "/patient/auth/verify",
    "POST",
    summary="Exchange a one-time code for a patient session",
    auth="public",
    tag=TAG,
    body=_string_schema("practice_id", "contact", "code"),
)
def verify_code() -> Response:
    body = json_body(bp.current_request)
    signed_in = service.patient_sign_in(deps()).verify(
        _text(body, "practice_id", 64), _text(body, "contact", 254), _text(body, "code", 16)
    )
    return respond(
        {
            "token": signed_in.token,
            "expires_in": signed_in.expires_in,
            "patients": [_member(m) for m in signed_in.members],
        }
    )


@route(bp, "/patient/auth/sign-out", "POST", summary="End this session", auth="patient", tag=TAG, ok_status=204)
def sign_out() -> Response:
    service.patient_sign_in(deps()).sign_out(bearer_token(dict(bp.current_request.headers)))
    return Response(body="", status_code=204)


@route(bp, "/patient/me", summary="The signed-in contact's practice and patients", auth="patient", tag=TAG)
def patient_me() -> Response:
    caller = patient_caller(bp.current_request)
    d = deps()
    profile = service.my_profile(d.practices, d.patients, d.auditor, caller, d.clock.now())
    p = profile.practice
    return respond(
        {
            "practice": {"id": p.id, "name": p.name, "phone": p.phone, "zone": p.zone},
            "patients": [
                {**_member(m), "is_minor": m.is_minor, "language": m.patient.language} for m in profile.members
            ],
            "language": profile.language,
        }
    )


@route(
    bp,
    "/patient/appointments",
    summary="Upcoming appointments (next 12 months) of every patient of this session",
    auth="patient",
    tag=TAG,
)
def patient_appointments() -> Response:
    caller = patient_caller(bp.current_request)
    d = deps()
    upcoming = service.upcoming_appointments(d.practices, d.patients, d.appointments, d.auditor, caller, d.clock.now())
    zone = upcoming.practice.zone
    return respond(
        {
            "appointments": [
                {
                    **appointment_json(v.appointment, zone),
                    "patient": {"id": v.patient.id, "name": v.patient.display_name},
                    "type": {"id": v.appointment.type_id, "name": v.type_name},
                    "provider": {"id": v.appointment.provider_id, "name": v.provider_name},
                }
                for v in upcoming.visits
            ]
        }
    )


@route(
    bp,
    "/staff/sign-in",
    "POST",
    summary="Staff password sign-in (Cognito); returns the ID token for the dashboard",
    auth="public",
    tag=TAG,
    body=_string_schema("username", "password"),
    limited="the directory's own limit on sign-in attempts",
)
def staff_sign_in() -> Response:
    body = json_body(bp.current_request)
    session = service.staff_sign_in(
        service.staff_directory(),
        deps().staff_verifier,
        _text(body, "username", 128).strip(),
        _text(body, "password", 256),
    )
    return respond(
        {
            "id_token": session.id_token,
            "expires_in": session.expires_in,
            "practice_id": session.practice_id,
            "role": session.role,
        }
    )


@route(bp, "/staff/me", summary="The signed-in staff member: practice and role", auth="staff", tag=TAG)
def staff_me() -> Response:
    d = deps()
    caller = d.staff_verifier.verify(bearer_token(dict(bp.current_request.headers)))
    practice = service.staff_practice(d.practices, caller)
    return respond(
        {
            "practice": {"id": practice.id, "name": practice.name, "zone": practice.zone},
            "role": caller.role,
            "user_id": caller.user_id,
        }
    )
