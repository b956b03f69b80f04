"""Appointment items and their repository.

The day index (GSI1) is keyed by the practice's *local* date, so a day sheet is one Query.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from pynamodb.attributes import JSONAttribute, UnicodeAttribute, UTCDateTimeAttribute, VersionAttribute

from chalicelib.appointments.model import Appointment, HistoryEntry
from chalicelib.platform.table import TableItem, practice_pk


class AppointmentItem(TableItem, discriminator="Appointment"):
    appointment_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    provider_id = UnicodeAttribute()
    operatory_id = UnicodeAttribute()
    type_id = UnicodeAttribute()
    start = UTCDateTimeAttribute()
    end = UTCDateTimeAttribute()
    status = UnicodeAttribute()
    history = JSONAttribute(default=list)
    note = UnicodeAttribute(default="")
    source_id = UnicodeAttribute(default="")
    source_hash = UnicodeAttribute(default="")
    version = VersionAttribute()


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def appointment_item(practice_id: str, zone: str, a: Appointment, source_hash: str = "") -> AppointmentItem:
    local_day = a.start.astimezone(ZoneInfo(zone)).date().isoformat()
    return AppointmentItem(
        practice_pk(practice_id),
        f"APPT#{a.id}",
        gsi1pk=f"PRACTICE#{practice_id}#DAY#{local_day}",
        gsi1sk=f"{_iso(a.start)}#{a.id}",
        gsi2pk=f"PRACTICE#{practice_id}#PATIENT#{a.patient_id}",
        gsi2sk=f"APPT#{_iso(a.start)}#{a.id}",
        appointment_id=a.id,
        patient_id=a.patient_id,
        provider_id=a.provider_id,
        operatory_id=a.operatory_id,
        type_id=a.type_id,
        start=a.start,
        end=a.end,
        status=a.status,
        note=a.note,
        source_id=a.source_id,
        source_hash=source_hash,
        history=[
            {
                "at": _iso(h.at),
                "action": h.action,
                "by": h.by,
                "reason": h.reason,
                "previous_start": _iso(h.previous_start) if h.previous_start else None,
            }
            for h in a.history
        ],
    )


def appointment_from(i: AppointmentItem) -> Appointment:
    return Appointment(
        id=i.appointment_id,
        patient_id=i.patient_id,
        provider_id=i.provider_id,
        operatory_id=i.operatory_id,
        type_id=i.type_id,
        start=i.start,
        end=i.end,
        status=i.status,
        note=i.note,
        source_id=i.source_id,
        history=[
            HistoryEntry(
                at=datetime.fromisoformat(h["at"]),
                action=h["action"],
                by=h["by"],
                reason=h.get("reason", ""),
                previous_start=datetime.fromisoformat(h["previous_start"]) if h.get("previous_start") else None,
            )
            for h in (i.history or [])
        ],
    )


class AppointmentStore:
    def get(self, practice_id: str, appointment_id: str) -> Appointment | None:
        try:
            return appointment_from(AppointmentItem.get(practice_pk(practice_id), f"APPT#{appointment_id}"))
        except AppointmentItem.DoesNotExist:
            return None

    def on_day(self, practice_id: str, day: date) -> list[Appointment]:
        """The practice's appointments on a local calendar day, by start time."""
        return [
            appointment_from(i) for i in AppointmentItem.gsi1.query(f"PRACTICE#{practice_id}#DAY#{day.isoformat()}")
        ]

    def for_patient(self, practice_id: str, patient_id: str, start: datetime, end: datetime) -> list[Appointment]:
        """A patient's appointments starting in [start, end), by start time."""
        return [
            appointment_from(i)
            for i in AppointmentItem.gsi2.query(
                f"PRACTICE#{practice_id}#PATIENT#{patient_id}",
                AppointmentItem.gsi2sk.between(f"APPT#{_iso(start)}", f"APPT#{_iso(end)}"),
            )
        ]
