"""The practice's audit trail, read-only: there is no route that edits or deletes an event."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.audit.model import AuditEvent
from chalicelib.platform.api import respond, route
from chalicelib.platform.deps import deps
from chalicelib.platform.permissions import roles_for
from chalicelib.platform.request import staff_caller

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
