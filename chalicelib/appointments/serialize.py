"""JSON shapes: UTC instants plus the local rendering in the practice's zone (never UTC alone)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.appointments.availability import Slot
from chalicelib.appointments.model import BOOKED, CONFIRMED, REQUESTED, Appointment, online_moves
from chalicelib.appointments.policy import BookingPolicy
from chalicelib.patients.model import Patient


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


_ES_DAYS = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")
_ES_MONTHS = (
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
)


def iso_z(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def clock_label(at: datetime, zone: str) -> str:
    """ "1:00 PM" in the practice's zone."""
    return at.astimezone(ZoneInfo(zone)).strftime("%I:%M %p").lstrip("0")


def local_label(at: datetime, zone: str, language: str = "en") -> str:
    """The instant as a person in the practice reads it, with the zone's abbreviation (EDT, MST)."""
    local = at.astimezone(ZoneInfo(zone))
    if language == "es":
        return (
            f"{_ES_DAYS[local.weekday()]} {local.day} de {_ES_MONTHS[local.month - 1]} de {local.year}, "
            f"{local.strftime('%H:%M')} {local.tzname()}"
        )
    return (
        local.strftime("%A, %B ")
        + str(local.day)
        + local.strftime(", %Y at ")
        + local.strftime("%I:%M %p").lstrip("0")
        + f" {local.tzname()}"
    )


def slot_json(slot: Slot, zone: str, provider_name: str) -> dict[str, Any]:
    local = slot.start.astimezone(ZoneInfo(zone))
    return {
        "start": iso_z(slot.start),
        "end": iso_z(slot.end),
        "local_start": local.isoformat(),
        "local_time": clock_label(slot.start, zone),
        "label": local_label(slot.start, zone),
        "provider": {"id": slot.provider_id, "name": provider_name},
        "operatory_ids": [o for o in slot.operatory_ids if o],
    }


def history_json(a: Appointment) -> list[dict[str, Any]]:
    return [
        {
            "at": iso_z(h.at),
            "action": h.action,
            "by": h.by,
            "reason": h.reason,
            "previous_start": iso_z(h.previous_start) if h.previous_start else None,
        }
        for h in a.history
    ]


def patient_actions(a: Appointment, policy: BookingPolicy, now: datetime, phone: str) -> dict[str, Any]:
    """What the patient page may offer for this appointment, and why not when it may not."""
    upcoming = a.start > now
    changeable = a.status == REQUESTED or (a.status in (BOOKED, CONFIRMED) and policy.can_change_online(a.start, now))
    moves_left = max(0, policy.max_online_reschedules - online_moves(a))
    online_type = policy.type_is_online(a.type_id)
    reason = None
    if upcoming and a.status in (BOOKED, CONFIRMED, REQUESTED):
        if not changeable:
            reason = "too_late_to_change"
        elif moves_left == 0:
            reason = "too_many_reschedules"
    return {
        "confirm": upcoming and a.status == BOOKED,
        "cancel": upcoming and changeable,
        "reschedule": upcoming and changeable and moves_left > 0 and online_type,
        "change_deadline": iso_z(policy.change_deadline(a.start)) if a.status in (BOOKED, CONFIRMED) else None,
        "reschedules_left": moves_left,
        "call_office_reason": reason,
        "office_phone": phone,
    }


def appointment_view(
    a: Appointment,
    zone: str,
    *,
    type_name: str | None,
    provider_name: str | None,
    patient: Patient | None,
    full_name: bool = True,
) -> dict[str, Any]:
    """``appointment_json`` plus the names a page shows; ``full_name=False`` gives the given name only
    (for pages opened from a signed link, where no one has signed in)."""
    name = None
    if patient is not None:
        name = patient.display_name if full_name else patient.given_name
    return {
        **appointment_json(a, zone),
        "local_end": a.end.astimezone(ZoneInfo(zone)).isoformat(),
        "duration_min": int((a.end - a.start).total_seconds() // 60),
        "type": {"id": a.type_id, "name": type_name},
        "provider": {"id": a.provider_id, "name": provider_name},
        "patient": {"id": a.patient_id, "name": name},
    }
