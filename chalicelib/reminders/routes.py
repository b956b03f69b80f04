"""Reminder routes: the staff policy API, contact records and preferences (staff and patient), the
staff inbox of SMS replies, an appointment's reminder history, and the email unsubscribe link."""

from __future__ import annotations

import copy
import html
from typing import Any

from chalice import Blueprint, Response

from chalicelib.audit.model import ACTOR_ANONYMOUS, ACTOR_PATIENT, ACTOR_STAFF
from chalicelib.platform.api import json_body, respond, route
from chalicelib.platform.deps import deps
from chalicelib.platform.errors import Conflict, NotFound, Unprocessable
from chalicelib.platform.permissions import roles_for
from chalicelib.platform.request import patient_caller, staff_caller
from chalicelib.practices.model import Practice
from chalicelib.reminders import contact, service
from chalicelib.reminders.handlers import ports_for
from chalicelib.reminders.model import INSTALMENT_TOUCH, RECALL_TOUCH, PolicyConflict, PolicyError, Touch
from chalicelib.reminders.store import iso


class _Blueprint(Blueprint):
    """A Blueprint that registers the same way into every app it is given. Chalice pops ``methods``
    and ``content_types`` out of the kwargs it keeps for a route, so registering a blueprint a second
    time (as reloading ``app`` does) turns a PUT into a GET; here each registration gets a copy."""

    def _register_handler(
        self,
        handler_type: str,
        name: str,
        user_handler: Any,
        wrapped_handler: Any,
        kwargs: dict[str, Any],
        options: dict[Any, Any] | None = None,
    ) -> None:
        if handler_type != "route":
            super()._register_handler(handler_type, name, user_handler, wrapped_handler, kwargs, options)
            return

        def register(app: Any, options: dict[Any, Any]) -> None:
            app._register_handler(handler_type, name, user_handler, wrapped_handler, copy.deepcopy(kwargs), options)

        self._deferred_registrations.append(register)


bp = _Blueprint(__name__)
TAG = "reminders"
POLICY_ROLES = roles_for("settings.change")
CONTACT_ROLES = roles_for("patients.contact")

_TOUCH = {
    "type": "object",
    "properties": {
        "key": {"type": "string"},
        "offset": {"type": "integer", "minimum": 1},
        "unit": {"type": "string", "enum": ["days", "hours", "minutes"]},
        "channel": {"type": "string", "enum": ["email", "sms"]},
        "fallback": {"type": "boolean"},
        "after_confirm": {"type": "boolean"},
    },
}
_HOURS = {"type": "object", "properties": {"start": {"type": "string"}, "end": {"type": "string"}}}
POLICY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["version"],
    "properties": {
        "version": {"type": "integer", "description": "the version being replaced (optimistic concurrency)"},
        "touches": {"type": "array", "items": _TOUCH, "maxItems": 6},
        "continue_after_confirm": {"type": "boolean"},
        "sending_hours": _HOURS,
        "max_per_day": {"type": "integer", "minimum": 0},
        "notify_on_cancel": {"type": "boolean"},
        "notify_on_move": {"type": "boolean"},
        "planner_at": {"type": "string"},
        "recall_at": {"type": "string"},
        "plan_days": {"type": "integer"},
        "recall": {"type": "object"},
        "instalments": {
            "type": "object",
            "description": "payment-plan reminders: lead_days (0-30) before the due date, send_at HH:MM local, channel",
        },
        "templates": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
PREFS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "channels": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {"email": {"type": "boolean"}, "sms": {"type": "boolean"}},
            },
        },
        "sending_hours": _HOURS,
        "language": {"type": "string", "enum": ["en", "es"]},
    },
}


def _practice(practice_id: str) -> Practice:
    practice = deps().practices.get(practice_id)
    if practice is None:
        raise NotFound("no such practice")
    return practice


def _touch_json(t: Touch) -> dict[str, Any]:
    return {
        "id": t.id,
        "kind": t.kind,
        "rule": t.key,
        "appointment_id": t.subject_id if t.kind not in (RECALL_TOUCH, INSTALMENT_TOUCH) else None,
        "plan_id": t.subject_id if t.kind == INSTALMENT_TOUCH else None,
        "due": iso(t.due),
        "status": t.status,
        "reason": t.reason,
        "channel": t.sent_channel or t.channel,
        "sent_at": iso(t.sent_at) if t.sent_at else None,
        "provider_message_id": t.provider_message_id or None,
        "notes": t.notes,
        "blocked": "SMS blocked (opted out)" if "sms_blocked_opted_out" in t.notes else None,
    }


# --- staff: policy ---------------------------------------------------------------------------------


@route(bp, "/practices/{practice_id}/reminders/policy", summary="The reminder policy in force", auth="staff", tag=TAG)
def get_policy(practice_id: str) -> Response:
    staff_caller(bp.current_request, practice_id)
    _practice(practice_id)
    return respond(ports_for(deps()).store.policy(practice_id).as_dict())


@route(
    bp,
    "/practices/{practice_id}/reminders/policy",
    "PUT",
    summary="Replace the reminder policy (send the version you are replacing)",
    auth="staff",
    tag=TAG,
    body=POLICY_SCHEMA,
)
def put_policy(practice_id: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id, POLICY_ROLES)
    _practice(practice_id)
    body = json_body(bp.current_request)
    d = deps()
    try:
        saved = service.change_policy(ports_for(d), practice_id, body, caller.user_id)
    except PolicyError as exc:
        raise Unprocessable(str(exc), code="invalid_policy") from exc
    except PolicyConflict as exc:
        raise Conflict("the policy was changed by someone else; reload and try again", code="version_conflict") from exc
    d.auditor.record(
        practice_id,
        actor_type=ACTOR_STAFF,
        actor_id=caller.user_id,
        action="reminder_policy.update",
        record=f"reminder_policy:{saved.version}",
    )
    return respond(saved.as_dict())


@route(
    bp,
    "/practices/{practice_id}/reminders/policy/versions",
    summary="Earlier versions of the reminder policy, newest first",
    auth="staff",
    tag=TAG,
)
def policy_versions(practice_id: str) -> Response:
    staff_caller(bp.current_request, practice_id)
    _practice(practice_id)
    return respond({"versions": ports_for(deps()).store.policy_history(practice_id)})


# --- staff: inbox, reminder history, contact record ----------------------------------------------------


@route(
    bp,
    "/practices/{practice_id}/reminders/inbox",
    summary="SMS replies, possible opt-outs and follow-ups for staff, newest first",
    auth="staff",
    tag=TAG,
)
def inbox(practice_id: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id)
    _practice(practice_id)
    d = deps()
    entries = ports_for(d).store.inbox(practice_id)
    patients = sorted({p for e in entries for p in e.patient_ids if p}) or [""]
    d.auditor.record(
        practice_id,
        actor_type=ACTOR_STAFF,
        actor_id=caller.user_id,
        action="inbox.read",
        patient_ids=patients,
        record="reminders:inbox",
    )
    return respond(
        {
            "items": [
                {
                    "id": e.id,
                    "at": iso(e.at),
                    "kind": e.kind,
                    "address": e.address,
                    "patient_ids": list(e.patient_ids),
                    "text": e.text,
                    "status": e.status,
                }
                for e in entries
            ]
        }
    )


@route(
    bp,
    "/practices/{practice_id}/appointments/{appointment_id}/reminders",
    summary="An appointment's reminders and notices: due, sent, skipped, with provider ids",
    auth="staff",
    tag=TAG,
)
def appointment_reminders(practice_id: str, appointment_id: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id)
    d = deps()
    appointment = d.appointments.get(practice_id, appointment_id)
    if appointment is None:
        raise NotFound("no such appointment")
    touches = ports_for(d).store.touches_with_prefix(practice_id, f"APPT#{appointment_id}#")
    d.auditor.record(
        practice_id,
        actor_type=ACTOR_STAFF,
        actor_id=caller.user_id,
        action="reminders.read",
        patient_ids=[appointment.patient_id],
        record=f"appointment:{appointment_id}",
    )
    return respond(
        {"appointment_id": appointment_id, "touches": [_touch_json(t) for t in sorted(touches, key=lambda t: t.due)]}
    )


@route(
    bp,
    "/practices/{practice_id}/patients/{patient_id}/contact",
    summary="A patient's contact record: addresses with opt-out and suppression state, preferences, messages",
    auth="staff",
    tag=TAG,
)
def staff_contact(practice_id: str, patient_id: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id)
    practice = _practice(practice_id)
    d = deps()
    patient = d.patients.get(practice_id, patient_id)
    if patient is None:
        raise NotFound("no such patient")
    ports = ports_for(d)
    record = contact.contact_record(ports, practice, patient)
    record["messages"] = [_touch_json(t) for t in ports.store.messages_for_patient(practice_id, patient_id, 30)]
    d.auditor.record(
        practice_id,
        actor_type=ACTOR_STAFF,
        actor_id=caller.user_id,
        action="contact.read",
        patient_ids=[patient_id],
        record=f"patient:{patient_id}",
    )
    return respond(record)


@route(
    bp,
    "/practices/{practice_id}/patients/{patient_id}/preferences",
    "PUT",
    summary="Change a patient's contact preferences on their behalf",
    auth="staff",
    tag=TAG,
    body=PREFS_SCHEMA,
)
def staff_preferences(practice_id: str, patient_id: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id, roles=CONTACT_ROLES)
    practice = _practice(practice_id)
    body = json_body(bp.current_request)
    d = deps()
    patient = d.patients.get(practice_id, patient_id)
    if patient is None:
        raise NotFound("no such patient")
    record = contact.update_preferences(ports_for(d), practice, patient, body, f"staff:{caller.user_id}")
    d.auditor.record(
        practice_id,
        actor_type=ACTOR_STAFF,
        actor_id=caller.user_id,
        action="preferences.update",
        patient_ids=[patient_id],
        record=f"patient:{patient_id}",
    )
    return respond(record)


# --- patient: own preferences -------------------------------------------------------------------------


def _own_patient(patient_id: str) -> tuple[Any, Practice, Any]:
    caller = patient_caller(bp.current_request)
    if not caller.owns(patient_id):
        raise NotFound("no such patient")
    d = deps()
    patient = d.patients.get(caller.practice_id, patient_id)
    if patient is None:
        raise NotFound("no such patient")
    return caller, _practice(caller.practice_id), patient


@route(
    bp,
    "/patient/patients/{patient_id}/preferences",
    summary="How and when this patient is contacted (self or a dependant), with opt-out state",
    auth="patient",
    tag=TAG,
)
def patient_preferences(patient_id: str) -> Response:
    caller, practice, patient = _own_patient(patient_id)
    d = deps()
    record = contact.contact_record(ports_for(d), practice, patient)
    d.auditor.record(
        practice.id,
        actor_type=ACTOR_PATIENT,
        actor_id=caller.holder_id,
        action="preferences.read",
        patient_ids=[patient_id],
        record=f"patient:{patient_id}",
    )
    return respond(record)


@route(
    bp,
    "/patient/patients/{patient_id}/preferences",
    "PUT",
    summary="Change how and when this patient is contacted",
    auth="patient",
    tag=TAG,
    body=PREFS_SCHEMA,
)
def patient_update_preferences(patient_id: str) -> Response:
    caller, practice, patient = _own_patient(patient_id)
    body = json_body(bp.current_request)
    d = deps()
    record = contact.update_preferences(ports_for(d), practice, patient, body, f"patient:{caller.holder_id}")
    d.auditor.record(
        practice.id,
        actor_type=ACTOR_PATIENT,
        actor_id=caller.holder_id,
        action="preferences.update",
        patient_ids=[patient_id],
        record=f"patient:{patient_id}",
    )
    return respond(record)


# --- public: unsubscribe ------------------------------------------------------------------------------

_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width,initial-scale=1"><title>{title}</title></head>'
    '<body style="font-family:sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;line-height:1.5">'
    "<h1>{title}</h1><p>{text}</p>{form}</body></html>"
)
UNSUBSCRIBE_TYPES = ["application/x-www-form-urlencoded", "multipart/form-data", "application/json", "text/plain"]


def _html(title: str, text: str, form: str = "", status: int = 200) -> Response:
    page = _PAGE.format(title=html.escape(title), text=html.escape(text), form=form)
    return Response(body=page, status_code=status, headers={"Content-Type": "text/html; charset=utf-8"})


@route(
    bp,
    "/public/unsubscribe/{token}",
    summary="The unsubscribe page an email links to (asks before it changes anything)",
    auth="public",
    tag=TAG,
)
def unsubscribe_page(token: str) -> Response:
    from chalicelib.platform import signed

    d = deps()
    try:
        signed.verify(ports_for(d).signing_key(), token, service.UNSUBSCRIBE_PURPOSE, int(d.clock.now().timestamp()))
    except signed.BadToken as exc:
        raise NotFound("this unsubscribe link is not valid") from exc
    form = (
        f'<form method="post" action="{html.escape(token)}">'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>'
    )
    return _html("Unsubscribe", "Stop these emails from the practice? Appointment texts are not affected.", form)


@route(
    bp,
    "/public/unsubscribe/{token}",
    "POST",
    summary="Unsubscribe (RFC 8058 one-click, or the page's button)",
    auth="public",
    tag=TAG,
    content_types=UNSUBSCRIBE_TYPES,
)
def unsubscribe(token: str) -> Response:
    d = deps()
    practice_id, message_type = contact.unsubscribe(ports_for(d), token, d.clock.now())
    d.auditor.record(
        practice_id,
        actor_type=ACTOR_ANONYMOUS,
        actor_id="unsubscribe-link",
        action="email.unsubscribe",
        record=f"message_type:{message_type}",
    )
    return _html("Unsubscribed", "You will not get these emails any more. You can change this on the patient page.")


@route(
    bp,
    "/l/{token}",
    summary="An SMS short link: redirects to the patient page with a single-purpose action link",
    auth="public",
    tag=TAG,
)
def short_link(token: str) -> Response:
    from chalicelib.appointments import links
    from chalicelib.reminders import shortlink

    d = deps()
    ports = ports_for(d)
    now = d.clock.now()
    key = ports.signing_key()
    try:
        found = shortlink.read(key, token, now)
    except shortlink.BadShortLink as exc:
        raise NotFound("this link is not valid any more") from exc
    action = links.action_token(key, found.practice_id, found.appointment_id, found.action, found.start, now)
    location = service.link_url(ports, found.practice_id, action)
    return Response(body="", status_code=302, headers={"Location": location, "Cache-Control": "no-store"})
