"""Appointment routes: availability (public), the patient's bookings, signed links, calendar feeds,
the waitlist, and the staff's actions on the book. Each parses, authorises, calls one service."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib.appointments import calendar, links, service, waitlist
from chalicelib.appointments.model import Appointment, Closure, WaitlistEntry
from chalicelib.appointments.serialize import (
    appointment_view,
    history_json,
    iso_z,
    local_label,
    patient_actions,
    slot_json,
)
from chalicelib.appointments.service import Book, BookingRequest, MoveRequest
from chalicelib.appointments.wiring import ports
from chalicelib.patients.model import Patient
from chalicelib.platform import limits
from chalicelib.platform.api import json_body, respond, route
from chalicelib.platform.errors import NotFound, Unprocessable
from chalicelib.platform.limits import SendLimit, limit
from chalicelib.platform.permissions import roles_for
from chalicelib.platform.request import patient_caller, staff_caller


class _Blueprint(Blueprint):
    """Chalice pops the route options out of the dict a blueprint keeps, so registering the blueprint
    on a second app (a test that reloads app.py) would read every POST and DELETE as a GET and
    collide with the GET on the same path. Each registration here gets its own copy."""

    def _register_handler(
        self,
        handler_type: str,
        name: str,
        user_handler: Any,
        wrapped_handler: Any,
        kwargs: dict[str, Any],
        options: dict[Any, Any] | None = None,
    ) -> None:
        def register(app: Any, app_options: dict[Any, Any]) -> None:
            fresh = {**kwargs, "kwargs": dict(kwargs.get("kwargs") or {})}
            app._register_handler(handler_type, name, user_handler, wrapped_handler, fresh, app_options)

        self._deferred_registrations.append(register)


bp = _Blueprint(__name__)
# Changes that tell the patient (cancelled, moved) and offer freed time to the waitlist.
STAFF_CHANGE = limit("appointment_change", 60, 600)
PATIENT_CHANGE = limit("patient_change", 10, 300, window=timedelta(hours=1))
TAG = "appointments"
DESK_ROLES = roles_for("appointments.bulk")

_ID = {"type": "string", "minLength": 1, "maxLength": 128}
_INSTANT = {"type": "string", "format": "date-time", "description": "ISO 8601 with an offset: 2027-04-20T14:00:00Z"}
_DATE = {"type": "string", "format": "date"}
_REASON = {"type": "string", "maxLength": service.MAX_REASON_LENGTH}
_REASON_BODY = {"type": "object", "properties": {"reason": _REASON}}


def _schema(required: list[str], **props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


# --- parsing ---------------------------------------------------------------------------------------------


def _optional_body(request: Request) -> dict[str, Any]:
    return json_body(request) if (request.raw_body or b"").strip() else {}


def _query(request: Request, name: str) -> str:
    params = request.query_params
    return str(params.get(name) or "").strip() if params else ""


def _date(raw: Any, name: str) -> date:
    message = f"{name} must be a date like 2027-04-20"
    if not isinstance(raw, str) or len(raw) != 10:
        raise Unprocessable(message, code="invalid_date")
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise Unprocessable(message, code="invalid_date") from exc


def _instant(raw: Any, name: str) -> datetime:
    message = f"{name} must be an instant with a UTC offset, like 2027-04-20T14:00:00Z"
    if not isinstance(raw, str) or not 16 <= len(raw) <= 40:
        raise Unprocessable(message, code=f"invalid_{name}")
    try:
        at = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise Unprocessable(message, code=f"invalid_{name}") from exc
    if at.tzinfo is None or at.utcoffset() is None:
        raise Unprocessable(message, code=f"invalid_{name}")
    return at.astimezone(UTC)


def _text(body: dict[str, Any], name: str, *, required: bool = False, max_length: int = 128) -> str:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise Unprocessable(f"{name} is required", code=f"{name}_required")
        return ""
    if not isinstance(value, str) or len(value) > max_length:
        raise Unprocessable(f"{name} must be text of at most {max_length} characters", code=f"invalid_{name}")
    return value.strip()


def _flag(body: dict[str, Any], name: str, default: bool = False) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise Unprocessable(f"{name} must be true or false", code=f"invalid_{name}")
    return value


def _days(raw: str) -> int:
    if not raw:
        return 1
    if not raw.isdigit() or len(raw) > 3:
        raise Unprocessable("days must be a whole number", code="invalid_days")
    return int(raw)


# --- shapes ----------------------------------------------------------------------------------------------


def _practice_json(book: Book) -> dict[str, Any]:
    p = book.practice
    return {"id": p.id, "name": p.name, "zone": p.zone, "phone": p.phone}


def _view(book: Book, a: Appointment, patient: Patient | None, *, full_name: bool = True) -> dict[str, Any]:
    t = book.types.get(a.type_id)
    provider = book.providers.get(a.provider_id)
    return appointment_view(
        a,
        book.practice.zone,
        type_name=t.name if t else None,
        provider_name=provider.name if provider else None,
        patient=patient,
        full_name=full_name,
    )


def _patient_view(book: Book, a: Appointment, patient: Patient | None, now: datetime) -> dict[str, Any]:
    return {
        **_view(book, a, patient),
        "actions": patient_actions(a, book.policy, now, book.practice.phone),
        "calendar_path": f"/patient/appointments/{a.id}/calendar.ics",
    }


def _staff_view(book: Book, a: Appointment, patient: Patient | None) -> dict[str, Any]:
    return {**_view(book, a, patient), "history": history_json(a), "note": a.note}


def _closure_json(c: Closure) -> dict[str, Any]:
    return {
        "id": c.id,
        "start_date": c.start_date.isoformat(),
        "end_date": c.end_date.isoformat(),
        "provider_id": c.provider_id or None,
        "reason": c.reason,
    }


def _entry_json(e: WaitlistEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "patient_id": e.patient_id,
        "type_id": e.type_id,
        "earliest": e.earliest.isoformat(),
        "latest": e.latest.isoformat(),
        "provider_id": e.provider_id or None,
        "appointment_id": e.appointment_id or None,
        "channel": e.channel,
        "status": e.status,
        "created_at": iso_z(e.created_at),
    }


def _ics(body: bytes, filename: str) -> Response:
    return Response(
        body=body.decode("utf-8"),
        status_code=200,
        headers={
            "Content-Type": "text/calendar; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "private, max-age=300",
        },
    )


# --- public: what can be booked ------------------------------------------------------------------------------


@route(
    bp,
    "/public/practices/{practice_id}/booking",
    summary="What patients can book online: appointment types, providers, policy, office phone",
    auth="public",
    tag=TAG,
)
def booking_options(practice_id: str) -> Response:
    book = service.load_book(ports(), practice_id)
    types = [t for t in book.types.values() if book.policy.type_is_online(t.id)]
    return respond(
        {
            "practice": _practice_json(book),
            "policy": book.policy.public(),
            "types": [
                {
                    "id": t.id,
                    "name": t.name,
                    "duration_min": t.duration_min,
                    "category": t.category,
                    "provider_ids": [p.id for p in book.providers_for(t)],
                }
                for t in sorted(types, key=lambda t: (t.name, t.id))
            ],
            "providers": [{"id": p.id, "name": p.name, "kind": p.kind} for p in book.providers_for(None)],
        }
    )


_AVAILABILITY_QUERY: dict[str, dict[str, Any]] = {
    "date": {"type": "string", "format": "date", "description": "first local day (required)"},
    "days": {"type": "integer", "minimum": 1, "maximum": service.MAX_DAYS_PER_QUERY},
    "type_id": {"type": "string"},
}


def _availability(practice_id: str, provider_id: str) -> Response:
    request = bp.current_request
    first = _date(_query(request, "date"), "date")
    found = service.availability(
        ports(),
        practice_id,
        type_id=_query(request, "type_id"),
        provider_id=provider_id,
        first_day=first,
        days=_days(_query(request, "days")),
    )
    book, zone = found.book, found.book.practice.zone
    names = {p.id: p.name for p in book.providers.values()}
    return respond(
        {
            "practice": _practice_json(book),
            "type": {"id": found.type.id, "name": found.type.name, "duration_min": found.type.duration_min}
            if found.type
            else None,
            "duration_min": int(found.duration.total_seconds() // 60),
            "policy": book.policy.public(),
            "days": [
                {
                    "date": d.day.isoformat(),
                    "slots": [slot_json(s, zone, names.get(s.provider_id, "")) for s in d.slots],
                }
                for d in found.days
            ],
        }
    )


@route(
    bp,
    "/practices/{practice_id}/availability",
    summary="Free slots for an appointment type on local days, across the providers who take it",
    auth="public",
    tag=TAG,
    query={**_AVAILABILITY_QUERY, "provider_id": {"type": "string"}},
)
def practice_availability(practice_id: str) -> Response:
    return _availability(practice_id, _query(bp.current_request, "provider_id"))


@route(
    bp,
    "/practices/{practice_id}/providers/{provider_id}/availability",
    summary="One provider's free slots on local days (type optional: the practice's slot length)",
    auth="public",
    tag=TAG,
    query=_AVAILABILITY_QUERY,
)
def provider_availability(practice_id: str, provider_id: str) -> Response:
    return _availability(practice_id, service.valid_id(provider_id, "no such provider"))


# --- patient: booking and changing ---------------------------------------------------------------------------


@route(
    bp,
    "/patient/appointments",
    "POST",
    summary="Book an offered slot for yourself or a dependant (booked, or a request if the practice approves)",
    auth="patient",
    tag=TAG,
    body=_schema(
        ["patient_id", "type_id", "provider_id", "start"],
        patient_id=_ID,
        type_id=_ID,
        provider_id=_ID,
        start=_INSTANT,
        operatory_id=_ID,
    ),
    ok_status=201,
)
def patient_book() -> Response:
    caller = patient_caller(bp.current_request)
    body = json_body(bp.current_request)
    p = ports()
    a = service.patient_book(
        p,
        caller,
        BookingRequest(
            patient_id=_text(body, "patient_id", required=True),
            type_id=_text(body, "type_id", required=True),
            provider_id=_text(body, "provider_id", required=True),
            start=_instant(body.get("start"), "start"),
            operatory_id=_text(body, "operatory_id"),
        ),
    )
    book = service.load_book(p, caller.practice_id)
    return respond(_patient_view(book, a, p.patients.get(book.id, a.patient_id), p.clock.now()), status=201)


@route(
    bp,
    "/patient/schedule",
    summary="Upcoming (default) or past appointments of every patient of this session, with what may be done",
    auth="patient",
    tag=TAG,
    query={"when": {"type": "string", "enum": ["upcoming", "past"]}},
)
def patient_schedule() -> Response:
    caller = patient_caller(bp.current_request)
    when = _query(bp.current_request, "when") or "upcoming"
    if when not in ("upcoming", "past"):
        raise Unprocessable("when is upcoming or past", code="invalid_when")
    p = ports()
    book, found, patients = service.patient_schedule(p, caller, when)
    now = p.clock.now()
    return respond(
        {
            "practice": _practice_json(book),
            "when": when,
            "appointments": [_patient_view(book, a, patients.get(a.patient_id), now) for a in found],
        }
    )


@route(bp, "/patient/appointments/{appointment_id}", summary="One of your appointments", auth="patient", tag=TAG)
def patient_appointment(appointment_id: str) -> Response:
    caller = patient_caller(bp.current_request)
    p = ports()
    book, a, patient = service.patient_read(p, caller, appointment_id)
    return respond(_patient_view(book, a, patient, p.clock.now()))


def _patient_done(caller_practice: str, a: Appointment) -> Response:
    p = ports()
    book = service.load_book(p, caller_practice)
    return respond(_patient_view(book, a, p.patients.get(book.id, a.patient_id), p.clock.now()))


@route(
    bp,
    "/patient/appointments/{appointment_id}/confirm",
    "POST",
    summary="Confirm a booked appointment (confirming twice is fine)",
    auth="patient",
    tag=TAG,
    body={"type": "object"},
)
def patient_confirm(appointment_id: str) -> Response:
    caller = patient_caller(bp.current_request)
    _optional_body(bp.current_request)
    return _patient_done(caller.practice_id, service.patient_confirm(ports(), caller, appointment_id))


@route(
    bp,
    "/patient/appointments/{appointment_id}/cancel",
    "POST",
    summary="Cancel (optional reason); 409 too_late_to_change with the office phone inside the notice period",
    auth="patient",
    tag=TAG,
    body=_REASON_BODY,
    sends=PATIENT_CHANGE,
)
def patient_cancel(appointment_id: str) -> Response:
    caller = patient_caller(bp.current_request)
    body = _optional_body(bp.current_request)
    reason = _text(body, "reason", max_length=service.MAX_REASON_LENGTH)
    return _patient_done(caller.practice_id, service.patient_cancel(ports(), caller, appointment_id, reason))


@route(
    bp,
    "/patient/appointments/{appointment_id}/reschedule",
    "POST",
    summary="Move to another offered slot, atomically; 409 too_late_to_change / too_many_reschedules with the phone",
    auth="patient",
    tag=TAG,
    body=_schema(["start"], start=_INSTANT, provider_id=_ID),
    sends=PATIENT_CHANGE,
)
def patient_reschedule(appointment_id: str) -> Response:
    caller = patient_caller(bp.current_request)
    body = json_body(bp.current_request)
    start = _instant(body.get("start"), "start")
    a = service.patient_reschedule(ports(), caller, appointment_id, start, _text(body, "provider_id"))
    return _patient_done(caller.practice_id, a)


@route(
    bp,
    "/patient/appointments/{appointment_id}/calendar.ics",
    summary="The appointment as an iCalendar file (text/calendar)",
    auth="patient",
    tag=TAG,
)
def patient_ics(appointment_id: str) -> Response:
    caller = patient_caller(bp.current_request)
    return _ics(calendar.appointment_ics(ports(), caller, appointment_id), "appointment.ics")


# --- patient: calendar feed --------------------------------------------------------------------------------------


def _feed_json(urls: calendar.FeedUrls | None) -> dict[str, Any]:
    return {"url": urls.https if urls else None, "webcal_url": urls.webcal if urls else None}


@route(bp, "/patient/calendar-feed", summary="This contact's calendar feed URL, if made", auth="patient", tag=TAG)
def feed_get() -> Response:
    return respond(_feed_json(calendar.current_feed(ports(), patient_caller(bp.current_request))))


@route(
    bp,
    "/patient/calendar-feed",
    "POST",
    summary="Make (or rotate) this contact's calendar feed URL; earlier URLs stop working",
    auth="patient",
    tag=TAG,
    body={"type": "object"},
    ok_status=201,
)
def feed_make() -> Response:
    caller = patient_caller(bp.current_request)
    _optional_body(bp.current_request)
    return respond(_feed_json(calendar.make_feed(ports(), caller)), status=201)


@route(bp, "/patient/calendar-feed", "DELETE", summary="Revoke the calendar feed URL", auth="patient", tag=TAG)
def feed_delete() -> Response:
    calendar.revoke_feed(ports(), patient_caller(bp.current_request))
    return Response(body="", status_code=204)


@route(
    bp,
    "/feeds/{token}/appointments.ics",
    summary="A contact's subscribable calendar (secret URL; 404 once rotated or revoked)",
    auth="public",
    tag=TAG,
)
def feed_read(token: str) -> Response:
    return _ics(calendar.read_feed(ports(), token), "appointments.ics")


# --- patient: waitlist ----------------------------------------------------------------------------------------------


@route(bp, "/patient/waitlist", summary="Your waitlist requests", auth="patient", tag=TAG)
def waitlist_list() -> Response:
    _book, found = waitlist.entries(ports(), patient_caller(bp.current_request))
    return respond({"entries": [_entry_json(e) for e in found]})


@route(
    bp,
    "/patient/waitlist",
    "POST",
    summary="Ask for an earlier time: a type (or an appointment to move earlier) and a window of local days",
    auth="patient",
    tag=TAG,
    body=_schema(
        ["patient_id", "earliest", "latest"],
        patient_id=_ID,
        type_id=_ID,
        appointment_id=_ID,
        provider_id=_ID,
        earliest=_DATE,
        latest=_DATE,
        channel={"type": "string", "enum": ["sms", "email"]},
    ),
    ok_status=201,
)
def waitlist_join() -> Response:
    caller = patient_caller(bp.current_request)
    body = json_body(bp.current_request)
    appointment_id = _text(body, "appointment_id")
    entry, new = waitlist.join(
        ports(),
        caller,
        waitlist.WaitRequest(
            patient_id=_text(body, "patient_id", required=True),
            type_id=_text(body, "type_id", required=not appointment_id),
            earliest=_date(body.get("earliest"), "earliest"),
            latest=_date(body.get("latest"), "latest"),
            provider_id=_text(body, "provider_id"),
            appointment_id=appointment_id,
            channel=_text(body, "channel"),
        ),
    )
    return respond(_entry_json(entry), status=201 if new else 200)


@route(bp, "/patient/waitlist/{entry_id}", "DELETE", summary="Leave the waitlist", auth="patient", tag=TAG)
def waitlist_leave(entry_id: str) -> Response:
    waitlist.leave(ports(), patient_caller(bp.current_request), entry_id)
    return Response(body="", status_code=204)


# --- signed links (no sign-in) ---------------------------------------------------------------------------


def _link_json(book: Book, a: Appointment, patient: Patient | None) -> dict[str, Any]:
    return _view(book, a, patient, full_name=False)


@route(
    bp,
    "/a/{token}",
    summary="What a link from a message does (confirm, cancel, reschedule, waitlist offer) and its state",
    auth="public",
    tag=TAG,
)
def link_show(token: str) -> Response:
    p = ports()
    claims = service.read_link(p, token)
    if claims.action == links.OFFER:
        target, state = waitlist.offer_view(p, claims)
        offer, zone = target.offer, target.book.practice.zone
        duration = target.type.duration_min if target.type else 0
        return respond(
            {
                "action": "offer",
                "state": state,
                "practice": _practice_json(target.book),
                "offer": {
                    "start": iso_z(offer.start),
                    "label": local_label(offer.start, zone),
                    "duration_min": duration,
                    "type": {"id": target.entry.type_id, "name": target.type.name if target.type else None},
                    "provider": {
                        "id": offer.provider_id,
                        "name": getattr(target.book.providers.get(offer.provider_id), "name", None),
                    },
                    "moves_appointment_id": target.entry.appointment_id or None,
                },
            }
        )
    view, state, patient = service.link_view(p, claims)
    a = view.loaded.appointment
    return respond(
        {
            "action": claims.action,
            "state": state,
            "practice": _practice_json(view.book),
            "policy": view.book.policy.public(),
            "appointment": _link_json(view.book, a, patient),
        }
    )


@route(
    bp,
    "/a/{token}",
    "POST",
    summary="Do what the link says; safe to repeat (a second click answers already_<done>)",
    auth="public",
    tag=TAG,
    body={"type": "object", "properties": {"start": _INSTANT, "provider_id": _ID, "reason": _REASON}},
    sends=limit("link", 10, 600, window=timedelta(hours=1)),
)
def link_do(token: str) -> Response:
    p = ports()
    claims = service.read_link(p, token)
    limits.spend(claims.practice_id, f"link:{token}")
    body = _optional_body(bp.current_request)
    if claims.action == links.OFFER:
        result, target, a = waitlist.accept(p, claims)
        book = target.book
    else:
        start = _instant(body["start"], "start") if body.get("start") is not None else None
        reason = _text(body, "reason", max_length=service.MAX_REASON_LENGTH)
        result, view, a = service.link_act(p, claims, start, _text(body, "provider_id"), reason)
        book = view.book
    return respond(
        {
            "result": result,
            "practice": _practice_json(book),
            "appointment": _link_json(book, a, p.patients.get(book.id, a.patient_id)),
        }
    )


# --- staff -----------------------------------------------------------------------------------------------


@route(
    bp,
    "/practices/{practice_id}/appointments",
    "POST",
    summary="Book for a patient (always booked; off the slot grid allowed; outside_hours to override hours/closures)",
    auth="staff",
    tag=TAG,
    body=_schema(
        ["patient_id", "type_id", "provider_id", "start"],
        patient_id=_ID,
        type_id=_ID,
        provider_id=_ID,
        operatory_id=_ID,
        start=_INSTANT,
        end=_INSTANT,
        outside_hours={"type": "boolean"},
        note={"type": "string", "maxLength": 1000},
    ),
    ok_status=201,
)
def staff_book(practice_id: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id)
    body = json_body(bp.current_request)
    p = ports()
    a = service.staff_book(
        p,
        caller.user_id,
        practice_id,
        BookingRequest(
            patient_id=_text(body, "patient_id", required=True),
            type_id=_text(body, "type_id", required=True),
            provider_id=_text(body, "provider_id", required=True),
            start=_instant(body.get("start"), "start"),
            operatory_id=_text(body, "operatory_id"),
            end=_instant(body["end"], "end") if body.get("end") is not None else None,
            outside_hours=_flag(body, "outside_hours"),
            note=_text(body, "note", max_length=1000),
        ),
    )
    book = service.load_book(p, practice_id)
    return respond(_staff_view(book, a, p.patients.get(practice_id, a.patient_id)), status=201)


@route(
    bp,
    "/practices/{practice_id}/appointment-requests",
    summary="Pending patient requests awaiting approval, by start",
    auth="staff",
    tag=TAG,
)
def staff_requests(practice_id: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id)
    book, found, patients = service.pending_requests(ports(), caller.user_id, practice_id)
    return respond({"appointments": [_staff_view(book, a, patients.get(a.patient_id)) for a in found]})


@route(
    bp,
    "/practices/{practice_id}/appointments/{appointment_id}",
    summary="One appointment with its history",
    auth="staff",
    tag=TAG,
)
def staff_read(practice_id: str, appointment_id: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id)
    book, a, patient = service.staff_read(ports(), caller.user_id, practice_id, appointment_id)
    return respond(_staff_view(book, a, patient))


def _staff_status(practice_id: str, appointment_id: str, action: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id)
    body = _optional_body(bp.current_request)
    reason = _text(body, "reason", max_length=service.MAX_REASON_LENGTH)
    if action == "confirm":
        via = _text(body, "via") or "phone"
        reason = reason or f"by {via}"
    p = ports()
    a = service.staff_status(p, caller.user_id, practice_id, appointment_id, action, reason)
    book = service.load_book(p, practice_id)
    return respond(_staff_view(book, a, p.patients.get(practice_id, a.patient_id)))


def _status_route(action: str, summary: str, sends: SendLimit | None = None) -> None:
    def view(practice_id: str, appointment_id: str) -> Response:
        return _staff_status(practice_id, appointment_id, action)

    view.__name__ = f"staff_{action.replace('-', '_')}"
    route(
        bp,
        f"/practices/{{practice_id}}/appointments/{{appointment_id}}/{action}",
        "POST",
        summary=summary,
        auth="staff",
        tag=TAG,
        body={"type": "object", "properties": {"reason": _REASON, "via": {"type": "string"}}},
        sends=sends,
    )(view)


_status_route("approve", "Approve a pending request (takes the time; 409 slot_taken leaves it pending)")
_status_route("decline", "Decline a pending request (optional reason)", sends=STAFF_CHANGE)  # tells the patient
_status_route("confirm", "Confirm for the patient (via: phone by default)")
_status_route("arrive", "Mark arrived")
_status_route("complete", "Mark completed")
# Both give time back, which is offered to the waitlist by text or email; a cancel also tells the patient.
_status_route("no-show", "Mark no-show (gives the time back)", sends=STAFF_CHANGE)
_status_route("cancel", "Cancel (optional reason); the freed time is offered to the waitlist", sends=STAFF_CHANGE)


@route(
    bp,
    "/practices/{practice_id}/appointments/{appointment_id}/reschedule",
    "POST",
    summary="Move an appointment (new time, provider, operatory), atomically",
    auth="staff",
    tag=TAG,
    body=_schema(
        ["start"],
        start=_INSTANT,
        end=_INSTANT,
        provider_id=_ID,
        operatory_id=_ID,
        outside_hours={"type": "boolean"},
        reason=_REASON,
    ),
    sends=STAFF_CHANGE,
)
def staff_reschedule(practice_id: str, appointment_id: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id)
    body = json_body(bp.current_request)
    p = ports()
    a = service.staff_move(
        p,
        caller.user_id,
        practice_id,
        appointment_id,
        MoveRequest(
            start=_instant(body.get("start"), "start"),
            provider_id=_text(body, "provider_id"),
            operatory_id=_text(body, "operatory_id"),
            end=_instant(body["end"], "end") if body.get("end") is not None else None,
            outside_hours=_flag(body, "outside_hours"),
            reason=_text(body, "reason", max_length=service.MAX_REASON_LENGTH),
        ),
    )
    book = service.load_book(p, practice_id)
    return respond(_staff_view(book, a, p.patients.get(practice_id, a.patient_id)))


@route(
    bp,
    "/practices/{practice_id}/providers/{provider_id}/days/{date}/cancel",
    "POST",
    summary="Cancel every appointment of a provider on a local day (close_day, default true, closes it too)",
    auth="staff",
    tag=TAG,
    body={"type": "object", "properties": {"reason": _REASON, "close_day": {"type": "boolean"}}},
    sends=limit("cancel_day", 10, 30, window=timedelta(hours=1)),
)
def staff_cancel_day(practice_id: str, provider_id: str, date: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id, roles=DESK_ROLES)
    body = _optional_body(bp.current_request)
    done = service.cancel_provider_day(
        ports(),
        caller.user_id,
        practice_id,
        service.valid_id(provider_id, "no such provider"),
        _date(date, "date"),
        _text(body, "reason", max_length=service.MAX_REASON_LENGTH),
        _flag(body, "close_day", default=True),
    )
    return respond(
        {
            "date": done.day.isoformat(),
            "provider_id": done.provider_id,
            "cancelled": len(done.cancelled),
            "cancelled_ids": done.cancelled,
            "skipped_ids": done.skipped,
            "failed_ids": done.failed,
            "closure": _closure_json(done.closure) if done.closure else None,
        }
    )


@route(
    bp,
    "/practices/{practice_id}/closures",
    summary="Closed days (practice-wide or per provider)",
    auth="staff",
    tag=TAG,
)
def closures_list(practice_id: str) -> Response:
    staff_caller(bp.current_request, practice_id)
    return respond({"closures": [_closure_json(c) for c in ports().closures.closures(practice_id)]})


@route(
    bp,
    "/practices/{practice_id}/closures",
    "POST",
    summary="Close local days [start_date, end_date] for the practice or one provider",
    auth="staff",
    tag=TAG,
    body=_schema(["start_date"], start_date=_DATE, end_date=_DATE, provider_id=_ID, reason=_REASON),
    ok_status=201,
)
def closures_add(practice_id: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id, roles=DESK_ROLES)
    body = json_body(bp.current_request)
    start = _date(body.get("start_date"), "start_date")
    end = _date(body["end_date"], "end_date") if body.get("end_date") is not None else start
    closure = service.add_closure(
        ports(),
        caller.user_id,
        practice_id,
        start,
        end,
        _text(body, "provider_id"),
        _text(body, "reason", max_length=service.MAX_REASON_LENGTH),
    )
    return respond(_closure_json(closure), status=201)


@route(
    bp, "/practices/{practice_id}/closures/{closure_id}", "DELETE", summary="Reopen closed days", auth="staff", tag=TAG
)
def closures_delete(practice_id: str, closure_id: str) -> Response:
    staff_caller(bp.current_request, practice_id, roles=DESK_ROLES)
    if not ports().closures.delete(practice_id, service.valid_id(closure_id, "no such closure")):
        raise NotFound("no such closure")
    return Response(body="", status_code=204)
