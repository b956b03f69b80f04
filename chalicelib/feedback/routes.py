"""Feedback routes: the public survey, review links, referral check and new-patient request; the
patient's referral link; the staff settings, NPS summary, comments and referral leaderboard."""

from __future__ import annotations

from typing import Any

from chalice import Response

from chalicelib.audit.model import ACTOR_STAFF
from chalicelib.feedback import service
from chalicelib.feedback.handlers import ports_for
from chalicelib.feedback.model import MAX_BODY_BYTES, MAX_COMMENT, SITES, SOCIAL
from chalicelib.platform.api import json_body, respond, route
from chalicelib.platform.deps import deps
from chalicelib.platform.errors import Unprocessable
from chalicelib.platform.permissions import roles_for
from chalicelib.platform.request import patient_caller, staff_caller
from chalicelib.reminders.routes import _Blueprint

bp = _Blueprint(__name__)

TAG = "feedback"

_LINKS = {"type": "object", "additionalProperties": {"type": "string", "format": "uri"}}
SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["version"],
    "properties": {
        "version": {"type": "integer", "description": "the version being replaced (optimistic concurrency)"},
        "review_links": {**_LINKS, "description": f"https URLs by site: {', '.join(SITES)}"},
        "social": {**_LINKS, "description": f"https URLs by network: {', '.join(SOCIAL)}"},
        "survey_enabled": {"type": "boolean"},
        "survey_delay_hours": {"type": "integer", "minimum": 0, "maximum": 72},
        "survey_channel": {"type": "string", "enum": ["sms", "email"]},
        "survey_every_months": {"type": "integer", "minimum": 0, "maximum": 24},
        "low_score_max": {"type": "integer", "minimum": 0, "maximum": 9},
        "rewards_enabled": {"type": "boolean", "description": "off by default: some states restrict referral rewards"},
        "reward_text": {"type": "string", "maxLength": 200},
    },
}
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["score"],
    "properties": {
        "score": {"type": "integer", "minimum": 0, "maximum": 10},
        "comment": {"type": "string", "maxLength": MAX_COMMENT},
        "language": {"type": "string", "enum": ["en", "es"]},
    },
}
REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "maxLength": 120},
        "phone": {"type": "string", "maxLength": 40},
        "email": {"type": "string", "maxLength": 254},
        "reason": {"type": "string", "maxLength": 500},
        "preferred_times": {"type": "string", "maxLength": 200},
        "language": {"type": "string", "enum": ["en", "es"]},
        "referral_code": {"type": "string", "maxLength": 16},
    },
}
_MONTHS = {"months": {"type": "integer", "minimum": 1, "maximum": 36}}


def _ports() -> Any:
    return ports_for(deps())


def _param(name: str) -> str:
    params: dict[str, str] = dict(bp.current_request.query_params or {})
    return params.get(name, "")


def _months(default: int) -> int:
    raw = _param("months")
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 36:
        raise Unprocessable("months is a whole number from 1 to 36", code="invalid_months")
    return int(raw)


def _client() -> str:
    # API Gateway's view of the caller; X-Forwarded-For is not trusted (anyone can set it).
    return str((bp.current_request.context.get("identity") or {}).get("sourceIp") or "")


def _audit(practice_id: str, user_id: str, action: str, patient_ids: list[str]) -> None:
    """Staff reading patients' answers or names is audited like any other patient read."""
    deps().auditor.record(
        practice_id,
        actor_type=ACTOR_STAFF,
        actor_id=user_id,
        action=action,
        patient_ids=sorted(set(patient_ids)) or [""],
        record="feedback",
    )


# --- public ----------------------------------------------------------------------------------------------


@route(bp, "/public/surveys/{token}", summary="What a survey link is about", auth="public", tag=TAG)
def open_survey(token: str) -> Response:
    return respond(service.open_survey(_ports(), token))


@route(
    bp,
    "/public/surveys/{token}",
    "POST",
    summary="Answer a post-visit survey (once)",
    auth="public",
    tag=TAG,
    body=ANSWER_SCHEMA,
    max_body=MAX_BODY_BYTES,
)
def answer_survey(token: str) -> Response:
    body = json_body(bp.current_request, max_bytes=MAX_BODY_BYTES)
    return respond(service.answer_survey(_ports(), token, body))


@route(
    bp,
    "/public/practices/{practice_id}/links",
    summary="A practice's review sites and social profiles",
    auth="public",
    tag=TAG,
)
def public_links(practice_id: str) -> Response:
    return respond(service.public_links(_ports(), practice_id))


@route(
    bp,
    "/public/practices/{practice_id}/referrals/{code}",
    summary="Whether a referral code is known",
    auth="public",
    tag=TAG,
)
def check_referral(practice_id: str, code: str) -> Response:
    return respond(service.check_referral(_ports(), practice_id, code))


@route(
    bp,
    "/public/practices/{practice_id}/new-patient-requests",
    "POST",
    summary="Ask for a first appointment (rate-limited; staff follow up)",
    auth="public",
    tag=TAG,
    body=REQUEST_SCHEMA,
    ok_status=202,
    limited="per client, per phone or email, and per practice",
    max_body=MAX_BODY_BYTES,
)
def request_visit(practice_id: str) -> Response:
    body = json_body(bp.current_request, max_bytes=MAX_BODY_BYTES)
    return respond(service.request_visit(_ports(), practice_id, body, _client()), status=202)


# --- patient -----------------------------------------------------------------------------------------------


@route(
    bp,
    "/patient/referral",
    summary="The signed-in patient's referral code and link",
    auth="patient",
    tag=TAG,
    query={"patient_id": {"type": "string"}},
)
def my_referral() -> Response:
    caller = patient_caller(bp.current_request)
    patient_id = _param("patient_id")
    return respond(service.my_referral(_ports(), caller, patient_id))


# --- staff -------------------------------------------------------------------------------------------------


@route(
    bp,
    "/practices/{practice_id}/feedback/settings",
    summary="Review links, survey policy, referral rewards",
    auth="staff",
    tag=TAG,
)
def get_settings(practice_id: str) -> Response:
    staff_caller(bp.current_request, practice_id, roles_for("settings.view"))
    return respond(service.settings_view(_ports(), practice_id))


@route(
    bp,
    "/practices/{practice_id}/feedback/settings",
    "PUT",
    summary="Change the feedback settings (version by version)",
    auth="staff",
    tag=TAG,
    body=SETTINGS_SCHEMA,
)
def put_settings(practice_id: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id, roles_for("settings.change"))
    saved = service.change_settings(_ports(), practice_id, json_body(bp.current_request))
    _audit(practice_id, caller.user_id, "feedback.settings.change", [])
    return respond(saved)


@route(
    bp,
    "/practices/{practice_id}/feedback/summary",
    summary="NPS and average score by month and provider",
    auth="staff",
    tag=TAG,
    query=_MONTHS,
)
def summary(practice_id: str) -> Response:
    staff_caller(bp.current_request, practice_id)
    return respond(service.summary(_ports(), practice_id, _months(6)))


@route(
    bp,
    "/practices/{practice_id}/feedback/comments",
    summary="Survey answers of one month, newest first",
    auth="staff",
    tag=TAG,
    query={"month": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"}},
)
def comments(practice_id: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id)
    answer = service.comments(_ports(), practice_id, _param("month"))
    _audit(practice_id, caller.user_id, "feedback.comments.read", [a["patient_id"] for a in answer["answers"]])
    return respond(answer)


@route(
    bp,
    "/practices/{practice_id}/feedback/referrals",
    summary="Referral counts and the leaderboard",
    auth="staff",
    tag=TAG,
    query=_MONTHS,
)
def referrals(practice_id: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id)
    answer = service.referrals(_ports(), practice_id, _months(12))
    _audit(practice_id, caller.user_id, "feedback.referrals.read", [r["patient_id"] for r in answer["leaderboard"]])
    return respond(answer)
