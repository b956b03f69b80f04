"""JSON shape of an appointment: UTC instants plus the local rendering in the practice's zone."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.appointments.model import Appointment


def appointment_json(a: Appointment, zone: str) -> dict[str, Any]:
    tz = ZoneInfo(zone)
    local = a.start.astimezone(tz)
    return {
        "id": a.id,
        "patient_id": a.patient_id,
        "provider_id": a.provider_id,
        "operatory_id": a.operatory_id,
        "type_id": a.type_id,
        "status": a.status,
        "start": a.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end": a.end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "zone": zone,
        "local_start": local.isoformat(),
        "local_label": local.strftime("%A, %B ")
        + str(local.day)
        + local.strftime(", %Y at ")
        + local.strftime("%I:%M %p").lstrip("0")
        + f" {local.tzname()}",
    }
