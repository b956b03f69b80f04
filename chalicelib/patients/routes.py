"""Routes for patients: the staff patient card, and the patient's (or guardian's) own data export."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.appointments.serialize import appointment_json
from chalicelib.patients import service
from chalicelib.platform.api import respond, route
from chalicelib.platform.deps import deps
from chalicelib.platform.errors import NotFound, Unprocessable
from chalicelib.platform.request import patient_caller, staff_caller

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


EXPORT_FORMATS = ("fhir", "csv")  # chalicelib/patients/export.py FORMATS (not imported: it is loaded on use)


@route(
    bp,
    "/patient/patients/{patient_id}/export",
    summary="Download this patient's data (self or a dependant): a FHIR R4 Bundle (JSON) or CSV files in a zip",
    auth="patient",
    tag="patients",
    query={"format": {"type": "string", "enum": list(EXPORT_FORMATS), "description": "fhir (default) or csv"}},
)
def patient_export(patient_id: str) -> Response:
    caller = patient_caller(bp.current_request)
    fmt = dict(bp.current_request.query_params or {}).get("format", "fhir")
    if fmt not in EXPORT_FORMATS:
        raise Unprocessable("format is fhir or csv", code="invalid_format")
    d = deps()
    from chalicelib.patients.export_store import StoreExportReader

    done = service.export_patient(
        d.practices, d.patients, StoreExportReader(d), d.auditor, d.clock.now(), caller, patient_id, fmt
    )
    disposition = f'attachment; filename="{done.filename}"'
    return Response(done.body, {"Content-Type": done.content_type, "Content-Disposition": disposition}, 200)
