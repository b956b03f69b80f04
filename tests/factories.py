"""Made-up practices and people for tests (example.test emails, 555-01xx numbers)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from chalicelib.appointments.model import Appointment
from chalicelib.patients.model import Guardian, Patient
from chalicelib.practices.model import AppointmentType, Operatory, Practice, Provider

WEEKDAY_HOURS = {d: [("08:00", "17:00")] for d in ("mon", "tue", "wed", "thu", "fri")}


def maple() -> Practice:
    return Practice(
        id="P1",
        name="Maple Dental",
        zone="America/New_York",
        phone="+15555550100",
        email="front@maple.example.test",
        hours=dict(WEEKDAY_HOURS),
        address={"line": "1 Maple Way", "city": "Springfield", "state": "NY", "postal_code": "10001"},
    )


def birch() -> Practice:
    return Practice(
        id="P2",
        name="Birch Dental",
        zone="America/Denver",
        phone="+15555550101",
        email="front@birch.example.test",
        hours=dict(WEEKDAY_HOURS),
    )


def provider(pid: str = "DR1") -> Provider:
    return Provider(id=pid, name=f"Dr. {pid}", hours=dict(WEEKDAY_HOURS))


def operatory(oid: str = "OP2") -> Operatory:
    return Operatory(id=oid, name=oid)


def cleaning() -> AppointmentType:
    return AppointmentType(id="CLEAN", name="Cleaning", duration_min=60, category="hygiene")


def patient(pid: str = "PAT-A", phone: str = "+15555550121", email: str = "") -> Patient:
    return Patient(
        id=pid,
        given_name="Ava",
        family_name=f"Test{pid[-1]}",
        birth_date=date(1990, 4, 2),
        phone=phone,
        email=email or f"{pid.lower()}@example.test",
    )


def guardian(gid: str = "G1", patient_ids: tuple[str, ...] = ("K1", "K2")) -> Guardian:
    return Guardian(
        id=gid,
        given_name="Gale",
        family_name="Guard",
        phone="+15555550140",
        email="g1@example.test",
        patient_ids=list(patient_ids),
    )


def appointment(aid: str, patient_id: str, start: datetime, minutes: int = 60, status: str = "booked") -> Appointment:
    return Appointment(
        id=aid,
        patient_id=patient_id,
        provider_id="DR1",
        operatory_id="OP2",
        type_id="CLEAN",
        start=start,
        end=start + timedelta(minutes=minutes),
        status=status,
    )
