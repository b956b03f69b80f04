"""Practice routes: public profile and the staff day sheet."""

from __future__ import annotations

from datetime import date

from chalice import Blueprint, Response

from chalicelib.appointments.serialize import appointment_json
from chalicelib.platform.api import respond, route
from chalicelib.platform.deps import deps
from chalicelib.platform.errors import Unprocessable
from chalicelib.platform.request import staff_caller
from chalicelib.practices import service

bp = Blueprint(__name__)


@route(bp, "/public/practices/{practice_id}", summary="A practice's public profile", auth="public", tag="practices")
def public_practice(practice_id: str) -> Response:
    return respond(service.public_profile(deps().practices, practice_id))


@route(
    bp,
    "/practices/{practice_id}/day",
    summary="The day sheet: a local day's appointments",
    auth="staff",
    tag="practices",
    query={"date": {"type": "string", "format": "date"}},
)
def day(practice_id: str) -> Response:
    request = bp.current_request
    caller = staff_caller(request, practice_id)
    raw = request.query_params.get("date") if request.query_params else None
    d = deps()
    try:
        wanted = date.fromisoformat(raw) if raw else None
    except ValueError as exc:
        raise Unprocessable("date must be YYYY-MM-DD", code="invalid_date") from exc
    sheet = service.day_sheet(
        d.practices, d.appointments, d.patients, d.auditor, practice_id, wanted, d.clock.now(), caller.user_id
    )
    return respond(
        {
            "practice": {"id": sheet.practice.id, "name": sheet.practice.name, "zone": sheet.practice.zone},
            "date": sheet.day.isoformat(),
            "appointments": [
                {
                    **appointment_json(r.appointment, sheet.practice.zone),
                    **sheet.names.of(r.appointment),
                    "patient": {"id": r.patient.id, "name": r.patient.display_name} if r.patient else None,
                }
                for r in sheet.rows
            ],
        }
    )
