"""Dashboard routes: patient search, a patient's family and messages, the caller's permissions, audit browse/CSV."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib.audit.model import ACTOR_STAFF
from chalicelib.dashboard import model
from chalicelib.dashboard.store import audit_events
from chalicelib.inbox.routes import item_json
from chalicelib.inbox.store import InboxStore
from chalicelib.patients.model import Patient
from chalicelib.patients.search import plan
from chalicelib.patients.search_store import PatientSearchIndex
from chalicelib.platform.api import respond, route
from chalicelib.platform.deps import deps
from chalicelib.platform.errors import NotFound, Unprocessable
from chalicelib.platform.permissions import permissions_of, roles_for
from chalicelib.platform.request import staff_caller

bp = Blueprint(__name__)
TAG = "dashboard"
MAX_JSON_EVENTS = 500
_FILTERS: dict[str, dict[str, Any]] = {
    "from": {"type": "string", "format": "date"},
    "to": {"type": "string", "format": "date"},
    "actor_id": {"type": "string"},
    "actor_type": {"type": "string"},
    "action": {"type": "string", "description": "prefix, e.g. patient."},
    "patient_id": {"type": "string"},
}


def _params() -> dict[str, str]:
    return dict(bp.current_request.query_params or {})


def _patient_json(p: Patient) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.display_name,
        "given_name": p.given_name,
        "family_name": p.family_name,
        "birth_date": p.birth_date.isoformat() if p.birth_date else None,
        "phone": p.phone,
        "email": p.email,
        "active": p.active,
    }


def _patient(practice_id: str, patient_id: str) -> Patient:
    patient = deps().patients.get(practice_id, patient_id)
    if patient is None:
        raise NotFound("no such patient")
    return patient


@route(
    bp,
    "/practices/{practice_id}/staff/permissions",
    summary="What the signed-in staff member's role may do here",
    auth="staff",
    tag=TAG,
)
def my_permissions(practice_id: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id)
    return respond({"role": caller.role, "permissions": permissions_of(caller.role)})


@route(
    bp,
    "/practices/{practice_id}/patients",
    summary="Find patients by the start of a name, phone number or email (a maintained index; no scan)",
    auth="staff",
    tag=TAG,
    query={"q": {"type": "string", "minLength": 2, "maxLength": 100}},
)
def search_patients(practice_id: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id, roles=roles_for("patients.view"))
    q = _params().get("q", "")
    if len(q) > 100:
        raise Unprocessable("the search is too long", code="query_too_long")
    how = plan(q)
    if how is None:
        return respond({"query": q, "patients": [], "hint": "type at least two letters or three digits"})
    d = deps()
    ids = PatientSearchIndex().search(practice_id, how)
    found = d.patients.get_many(practice_id, ids)
    if found:
        d.auditor.record(
            practice_id,
            actor_type=ACTOR_STAFF,
            actor_id=caller.user_id,
            action="patient.search",
            patient_ids=[p.id for p in found],
            record="patients:search",
        )
    return respond({"query": q, "patients": [_patient_json(p) for p in found]})


@route(
    bp,
    "/practices/{practice_id}/search-index/patients",
    "POST",
    summary="Rebuild the patient search index from the practice's patients (back-fill)",
    auth="staff",
    tag=TAG,
)
def reindex_patients(practice_id: str) -> Response:
    staff_caller(bp.current_request, practice_id, roles=roles_for("imports.run"))
    if deps().practices.get(practice_id) is None:
        raise NotFound("no such practice")
    return respond({"indexed": PatientSearchIndex().reindex_practice(practice_id)})


@route(
    bp,
    "/practices/{practice_id}/patients/{patient_id}/family",
    summary="People linked to a patient through a shared guardian phone or email",
    auth="staff",
    tag=TAG,
)
def patient_family(practice_id: str, patient_id: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id, roles=roles_for("patients.view"))
    d = deps()
    _patient(practice_id, patient_id)
    links = d.patients.links_for_patient(practice_id, patient_id)
    related: dict[str, dict[str, Any]] = {}
    for link in links:
        for other in d.patients.links_for_address(practice_id, link.address):
            if other.patient_id == patient_id:
                continue
            entry = related.setdefault(other.patient_id, {"via": set(), "relation": other.relation})
            entry["via"].add(link.channel)
    people = d.patients.get_many(practice_id, sorted(related))
    d.auditor.record(
        practice_id,
        actor_type=ACTOR_STAFF,
        actor_id=caller.user_id,
        action="patient.family.read",
        patient_ids=[patient_id, *[p.id for p in people]],
        record=f"patient:{patient_id}",
    )
    return respond(
        {
            "patient_id": patient_id,
            "contacts": [{"address": x.address, "channel": x.channel, "relation": x.relation} for x in links],
            "family": [{"id": p.id, "name": p.display_name, "shares": sorted(related[p.id]["via"])} for p in people],
        }
    )


@route(
    bp,
    "/practices/{practice_id}/patients/{patient_id}/messages",
    summary="Messages sent to a patient (reminders, notices, recalls) and received from them (inbox items)",
    auth="staff",
    tag=TAG,
)
def patient_messages(practice_id: str, patient_id: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id, roles=roles_for("patients.view"))
    d = deps()
    _patient(practice_id, patient_id)
    from chalicelib.reminders.handlers import ports_for
    from chalicelib.reminders.store import iso

    sent = ports_for(d).store.messages_for_patient(practice_id, patient_id, 50)
    received = InboxStore().for_patient(practice_id, patient_id)
    d.auditor.record(
        practice_id,
        actor_type=ACTOR_STAFF,
        actor_id=caller.user_id,
        action="messages.read",
        patient_ids=[patient_id],
        record=f"patient:{patient_id}",
    )
    return respond(
        {
            "sent": [
                {
                    "id": t.id,
                    "kind": t.kind,
                    "due": iso(t.due),
                    "status": t.status,
                    "channel": t.sent_channel or t.channel,
                    "sent_at": iso(t.sent_at) if t.sent_at else None,
                    "reason": t.reason,
                }
                for t in sent
            ],
            "received": [item_json(i) for i in received],
        }
    )


@route(
    bp,
    "/practices/{practice_id}/audit/events",
    summary="Browse the audit trail by UTC days (from/to), actor, action prefix or patient; newest first",
    auth="staff",
    tag=TAG,
    query=_FILTERS,
)
def browse_audit(practice_id: str) -> Response:
    staff_caller(bp.current_request, practice_id, roles=roles_for("audit.view"))
    d = deps()
    try:
        f = model.parse_filter(_params(), d.clock.now().date())
    except model.FilterError as exc:
        raise Unprocessable(str(exc), code="invalid_filter") from exc
    events: list[dict[str, str]] = []
    more = False
    for e in audit_events(practice_id, f):
        if len(events) == MAX_JSON_EVENTS:
            more = True
            break
        events.append(dict(zip(model.CSV_COLUMNS, model.event_row(e), strict=True)))
    return respond({"from": f.start.date().isoformat(), "events": events, "truncated": more, "limit": MAX_JSON_EVENTS})


@route(
    bp,
    "/practices/{practice_id}/audit/export",
    summary="The audit trail as CSV, with the same filters as browsing (every matching event)",
    auth="staff",
    tag=TAG,
    query=_FILTERS,
)
def export_audit(practice_id: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id, roles=roles_for("audit.view"))
    d = deps()
    try:
        f = model.parse_filter(_params(), d.clock.now().date())
    except model.FilterError as exc:
        raise Unprocessable(str(exc), code="invalid_filter") from exc
    text = model.to_csv(audit_events(practice_id, f))
    d.auditor.record(
        practice_id, actor_type=ACTOR_STAFF, actor_id=caller.user_id, action="audit.export", record="audit:csv"
    )
    name = f"audit-{practice_id}-{f.start.date().isoformat()}.csv"
    return Response(
        body=text,
        status_code=200,
        headers={"Content-Type": "text/csv; charset=utf-8", "Content-Disposition": f'attachment; filename="{name}"'},
    )
