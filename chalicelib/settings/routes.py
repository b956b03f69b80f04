"""Settings routes: read, change (send the version you read), history, and template previews."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib.audit.model import ACTOR_STAFF
from chalicelib.platform.api import json_body, respond, route
from chalicelib.platform.deps import deps
from chalicelib.platform.errors import Conflict, NotFound, Unprocessable
from chalicelib.platform.permissions import roles_for
from chalicelib.platform.request import staff_caller
from chalicelib.practices.model import Practice
from chalicelib.settings.model import SettingsError, apply_change, changed_sections
from chalicelib.settings.store import SettingsStore, VersionConflict

bp = Blueprint(__name__)
TAG = "settings"
_SPANS = {"type": "array", "items": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2}}
SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["version"],
    "properties": {
        "version": {"type": "integer", "minimum": 0, "description": "the version being replaced"},
        "hours": {"type": "object", "additionalProperties": _SPANS},
        "quiet_hours": {"type": "object", "properties": {"start": {"type": "string"}, "end": {"type": "string"}}},
        "review_links": {
            "type": "array",
            "items": {"type": "object", "properties": {"label": {"type": "string"}, "url": {"type": "string"}}},
        },
        "payments": {"type": "object"},
        "analytics": {
            "type": "object",
            "description": "ROI inputs: baseline_no_show_bp (null: measured), production_per_visit_cents, "
            "minutes_per_call, staff_hour_cents",
        },
    },
}


def _practice(practice_id: str) -> Practice:
    practice = deps().practices.get(practice_id)
    if practice is None:
        raise NotFound("no such practice")
    return practice


def _view(practice: Practice) -> dict[str, Any]:
    d = deps()
    from chalicelib.reminders.handlers import ports_for

    return {
        **SettingsStore().current(practice).as_dict(),
        "zone": practice.zone,
        "providers": [{"id": p.id, "name": p.name, "kind": p.kind} for p in d.practices.providers(practice.id)],
        "operatories": [{"id": o.id, "name": o.name} for o in d.practices.operatories(practice.id)],
        "appointment_types": [
            {"id": t.id, "name": t.name, "minutes": t.duration_min, "category": t.category}
            for t in d.practices.appointment_types(practice.id)
        ],
        "reminder_policy": ports_for(d).store.policy(practice.id).as_dict(),
    }


@route(bp, "/practices/{practice_id}/settings", summary="The practice settings in force", auth="staff", tag=TAG)
def get_settings(practice_id: str) -> Response:
    staff_caller(bp.current_request, practice_id, roles=roles_for("settings.view"))
    return respond(_view(_practice(practice_id)))


@route(
    bp,
    "/practices/{practice_id}/settings",
    "PUT",
    summary="Change settings (sections left out stay); send the version you are replacing",
    auth="staff",
    tag=TAG,
    body=SETTINGS_SCHEMA,
)
def put_settings(practice_id: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id, roles=roles_for("settings.change"))
    body = json_body(bp.current_request)
    practice = _practice(practice_id)
    store = SettingsStore()
    current = store.current(practice)
    version = body.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise Unprocessable("send the version you are replacing", code="version_required")
    if version != current.version:
        raise Conflict("the settings changed since you read them; reload", code="version_conflict")
    try:
        after = apply_change(current, body)
    except SettingsError as exc:
        raise Unprocessable(f"{exc.field}: {exc}", code="invalid_settings") from exc
    sections = changed_sections(current, after)
    try:
        store.save(practice, after, caller.user_id, sections)
    except VersionConflict as exc:
        raise Conflict("the settings changed since you read them; reload", code="version_conflict") from exc
    deps().auditor.record(
        practice_id,
        actor_type=ACTOR_STAFF,
        actor_id=caller.user_id,
        action="settings.update",
        record=f"settings:{after.version}:{','.join(sections) or 'none'}",
    )
    return respond(_view(_practice(practice_id)))


@route(
    bp,
    "/practices/{practice_id}/settings/versions",
    summary="Earlier settings versions, newest first, with who changed which sections",
    auth="staff",
    tag=TAG,
)
def settings_versions(practice_id: str) -> Response:
    staff_caller(bp.current_request, practice_id, roles=roles_for("settings.view"))
    _practice(practice_id)
    return respond({"versions": SettingsStore().history(practice_id)})


@route(
    bp,
    "/practices/{practice_id}/settings/template-previews",
    summary="Each reminder and recall template rendered for a made-up demo patient, by language and channel",
    auth="staff",
    tag=TAG,
)
def template_previews(practice_id: str) -> Response:
    staff_caller(bp.current_request, practice_id, roles=roles_for("settings.view"))
    practice = _practice(practice_id)
    from chalicelib.reminders import templates
    from chalicelib.reminders.handlers import ports_for

    overrides = dict(ports_for(deps()).store.policy(practice_id).templates)
    out = []
    for kind in templates.KIND_TEMPLATES:
        for language in templates.LANGUAGES:
            facts = templates.sample_facts(
                kind,
                language,
                practice_name=practice.name,
                practice_phone=practice.phone or "+15555550100",
                practice_address=practice.address,
                zone=practice.zone,
                first_name="Alex" if language == "en" else "Sofía",
            )
            sms = templates.render(facts, "sms", overrides)
            email = templates.render(facts, "email", overrides)
            out.append(
                {
                    "kind": kind,
                    "language": language,
                    "sms": sms.text,
                    "sms_segments": templates.sms_segments(sms.text),
                    "email_subject": email.subject,
                    "email": email.text,
                }
            )
    return respond({"previews": out})
