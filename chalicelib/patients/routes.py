"""Staff routes for patients: the patient card."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.appointments.serialize import appointment_json
from chalicelib.patients import service
from chalicelib.platform.api import respond, route
from chalicelib.platform.deps import deps
from chalicelib.platform.errors import NotFound
from chalicelib.platform.request import staff_caller

bp = Blueprint(__name__)


@route(bp, "/practices/{practice_id}/patients/{patient_id}", summary="A patient's card", auth="staff", tag="patients")
def patient_card(practice_id: str, patient_id: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id)
    d = deps()
    practice = d.practices.get(practice_id)
    if practice is None:
        raise NotFound("no such practice")
    card = service.patient_card(
        d.patients, d.appointments, d.auditor, practice_id, patient_id, caller.user_id, d.clock.now()
    )
    p = card.patient
    return respond(
        {
            "id": p.id,
            "given_name": p.given_name,
            "family_name": p.family_name,
            "birth_date": p.birth_date.isoformat() if p.birth_date else None,
            "phone": p.phone,
            "email": p.email,
            "language": p.language,
            "zone": p.zone or practice.zone,
            "managed_by": [
                {"address": g.address, "channel": g.channel, "guardian_id": g.holder_id} for g in card.managed_by
            ],
            "appointments": [appointment_json(a, practice.zone) for a in card.appointments],
        }
    )
