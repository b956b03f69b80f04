"""Staff inbox routes: the open list (with patient booking requests awaiting approval), assign, close, reply."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib.appointments import service as appointments
from chalicelib.appointments.wiring import ports as appointment_ports
from chalicelib.inbox import service
from chalicelib.inbox.model import Item
from chalicelib.inbox.store import Conflict as StoreConflict
from chalicelib.inbox.store import InboxStore
from chalicelib.platform.api import json_body, respond, route
from chalicelib.platform.deps import Deps, deps
from chalicelib.platform.errors import NotFound, Unprocessable
from chalicelib.platform.limits import limit
from chalicelib.platform.permissions import roles_for
from chalicelib.platform.request import staff_caller

bp = Blueprint(__name__)
TAG = "inbox"
_REF = {"type": "string", "minLength": 1, "maxLength": 200}
_VERSION = {"type": "integer", "minimum": 0, "description": "the version you read (optional; 409 if it moved on)"}


def inbox_ports(d: Deps) -> service.InboxPorts:
    from chalicelib.reminders.handlers import ports_for

    reminders = ports_for(d)

    def blocked(practice_id: str, address: str) -> str:
        from chalicelib.reminders.contact import send_block_reason

        channel = "email" if "@" in address else "sms"
        return send_block_reason(reminders, practice_id, "", channel, address, "staff_reply")

    return service.InboxPorts(InboxStore(), d.patients, d.sms, d.email, blocked, d.auditor, StoreConflict)


def item_json(i: Item) -> dict[str, Any]:
    return {
        "ref": i.ref,
        "id": i.id,
        "at": i.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "kind": i.kind,
        "address": i.address,
        "patient_ids": list(i.patient_ids),
        "text": i.text,
        "status": i.status,
        "assigned_to": i.assigned_to or None,
        "closed_at": i.closed_at.strftime("%Y-%m-%dT%H:%M:%SZ") if i.closed_at else None,
        "closed_by": i.closed_by or None,
        "replies": [
            {"at": r.at.strftime("%Y-%m-%dT%H:%M:%SZ"), "by": r.by, "channel": r.channel, "to": r.to, "text": r.text}
            for r in i.replies
        ],
        "version": i.version,
    }


def _version(body: dict[str, Any]) -> int | None:
    v = body.get("version")
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise Unprocessable("version must be a whole number", code="invalid_version")
    return v


def _body(request: Any) -> dict[str, Any]:
    return json_body(request) if (request.raw_body or b"").strip() else {}


@route(
    bp,
    "/practices/{practice_id}/inbox",
    summary="Open inbox items, newest first, and booking requests awaiting approval",
    auth="staff",
    tag=TAG,
)
def list_inbox(practice_id: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id, roles=roles_for("inbox.work"))
    d = deps()
    if d.practices.get(practice_id) is None:
        raise NotFound("no such practice")
    items = InboxStore().open_items(practice_id)
    book, pending, patients = appointments.pending_requests(appointment_ports(), caller.user_id, practice_id)
    names = {
        p.id: p.display_name
        for p in d.patients.get_many(practice_id, sorted({x for i in items for x in i.patient_ids}))
    }
    names.update({p.id: p.display_name for p in patients.values()})
    d.auditor.record(
        practice_id,
        actor_type="staff",
        actor_id=caller.user_id,
        action="inbox.read",
        patient_ids=sorted({x for i in items for x in i.patient_ids}) or [""],
        record="inbox",
    )
    requests = [
        {
            "kind": "booking_request",
            "appointment_id": a.id,
            "patient_ids": [a.patient_id],
            "start": a.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "type_id": a.type_id,
            "provider_id": a.provider_id,
            "status": a.status,
        }
        for a in pending
    ]
    return respond(
        {
            "items": [item_json(i) for i in items],
            "booking_requests": requests,
            "patient_names": names,
            "zone": book.practice.zone,
        }
    )


@route(
    bp,
    "/practices/{practice_id}/inbox/{ref}/assign",
    "POST",
    summary="Assign an inbox item to a staff user (yourself when staff_id is left out)",
    auth="staff",
    tag=TAG,
    body={"type": "object", "properties": {"staff_id": _REF, "version": _VERSION}},
)
def assign_item(practice_id: str, ref: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id, roles=roles_for("inbox.work"))
    body = _body(bp.current_request)
    to = body.get("staff_id", caller.user_id)
    if not isinstance(to, str) or not to.strip() or len(to) > 200:
        raise Unprocessable("staff_id must be a staff user id", code="invalid_staff_id")
    item = service.assign(inbox_ports(deps()), practice_id, ref, caller.user_id, to.strip(), _version(body))
    return respond(item_json(item))


@route(
    bp,
    "/practices/{practice_id}/inbox/{ref}/close",
    "POST",
    summary="Close an inbox item",
    auth="staff",
    tag=TAG,
    body={"type": "object", "properties": {"version": _VERSION}},
)
def close_item(practice_id: str, ref: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id, roles=roles_for("inbox.work"))
    body = _body(bp.current_request)
    d = deps()
    item = service.close(inbox_ports(d), practice_id, ref, caller.user_id, d.clock.now(), _version(body))
    return respond(item_json(item))


@route(
    bp,
    "/practices/{practice_id}/inbox/{ref}/reply",
    "POST",
    summary="Reply by SMS or email (never to an opted-out or suppressed address)",
    auth="staff",
    tag=TAG,
    body={
        "type": "object",
        "required": ["channel", "text"],
        "properties": {
            "channel": {"type": "string", "enum": ["sms", "email"]},
            "text": {"type": "string", "maxLength": 1000},
            "version": _VERSION,
        },
    },
    sends=limit("inbox_reply", 30, 300),
)
def reply_item(practice_id: str, ref: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id, roles=roles_for("inbox.work"))
    body = json_body(bp.current_request)
    d = deps()
    practice = d.practices.get(practice_id)
    if practice is None:
        raise NotFound("no such practice")
    channel = body.get("channel")
    item = service.reply(
        inbox_ports(d),
        practice,
        ref,
        caller.user_id,
        channel if isinstance(channel, str) else "",
        body.get("text"),
        d.clock.now(),
        _version(body),
    )
    return respond(item_json(item))
