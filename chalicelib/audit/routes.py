"""The practice's audit trail, read-only: there is no route that edits or deletes an event; and a
patient's (or guardian's) own access log, in words, through ``service.access_log``."""

from __future__ import annotations

from datetime import UTC
from zoneinfo import ZoneInfo

from chalice import Blueprint, Response

from chalicelib.audit import service
from chalicelib.audit.access import AccessEntry
from chalicelib.audit.model import AuditEvent
from chalicelib.platform.api import respond, route
from chalicelib.platform.deps import deps
from chalicelib.platform.errors import BadRequest
from chalicelib.platform.permissions import roles_for
from chalicelib.platform.request import patient_caller, staff_caller

bp = Blueprint(__name__)


def _json(e: AuditEvent) -> dict[str, str]:
    return {
        "id": e.id,
        "at": e.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor_type": e.actor_type,
        "actor_id": e.actor_id,
        "action": e.action,
        "patient_id": e.patient_id,
        "record": e.record,
        "source": e.source,
        "actor_role": e.actor_role,
        "actor_name": e.actor_name,
    }


@route(
    bp, "/practices/{practice_id}/audit", summary="The practice's audit trail, newest first", auth="staff", tag="audit"
)
def practice_audit(practice_id: str) -> Response:
    staff_caller(bp.current_request, practice_id, roles=roles_for("audit.view"))
    return respond({"events": [_json(e) for e in deps().audit_store.for_practice(practice_id)]})


@route(
    bp,
    "/practices/{practice_id}/patients/{patient_id}/audit",
    summary="Who read or changed a patient's data, newest first",
    auth="staff",
    tag="audit",
)
def patient_audit(practice_id: str, patient_id: str) -> Response:
    staff_caller(bp.current_request, practice_id, roles=roles_for("audit.view"))
    return respond({"events": [_json(e) for e in deps().audit_store.for_patient(practice_id, patient_id)]})


def _entry(e: AccessEntry, zone: str) -> dict[str, object]:
    return {
        "id": e.id,
        "at": e.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "local_at": e.at.astimezone(ZoneInfo(zone)).isoformat(timespec="seconds"),
        "who": e.who.as_dict(),
        "what": e.what,
    }


@route(
    bp,
    "/patient/patients/{patient_id}/access-log",
    summary="Who looked at or changed this patient's record (self or a dependant), newest first, a page at a time",
    auth="patient",
    tag="audit",
    query={
        "cursor": {"type": "string", "description": "the cursor of the previous page"},
        "only_others": {"type": "string", "enum": ["true", "false"], "description": "leave out your own activity"},
    },
)
def patient_access_log(patient_id: str) -> Response:
    caller = patient_caller(bp.current_request)
    params: dict[str, str] = dict(bp.current_request.query_params or {})
    others = params.get("only_others", "false")
    if others not in ("true", "false"):
        raise BadRequest("only_others is true or false", code="invalid_field")
    d = deps()
    page = service.access_log(
        d.audit_store, d.patients, d.clock, caller, patient_id, params.get("cursor", ""), others == "true"
    )
    practice = d.practices.get(caller.practice_id)
    zone = practice.zone if practice else "UTC"
    return respond(
        {
            "patient_id": page.patient_id,
            "zone": zone,
            "entries": [_entry(e, zone) for e in page.entries],
            "cursor": page.cursor or None,
        }
    )
