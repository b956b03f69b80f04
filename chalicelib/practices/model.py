"""Practices and their resources: providers, operatories, appointment types. Pure domain."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

# Opening hours: weekday -> list of [start, end) local clock times, "HH:MM".
Hours = dict[str, list[tuple[str, str]]]


def valid_zone(name: str) -> str:
    """Return the IANA zone name, or raise ValueError for one zoneinfo does not know."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
    return name


def valid_hours(hours: Hours) -> Hours:
    clean: Hours = {}
    for day, spans in hours.items():
        if day not in WEEKDAYS:
            raise ValueError(f"unknown weekday {day!r}")
        for start, end in spans:
            if not (_HHMM.match(start) and _HHMM.match(end)) or start >= end:
                raise ValueError(f"bad opening hours {start}-{end} on {day}")
        clean[day] = [(s, e) for s, e in spans]
    return clean


@dataclass
class Practice:
    id: str
    name: str
    zone: str
    phone: str = ""
    email: str = ""
    address: dict[str, str] = field(default_factory=dict)
    hours: Hours = field(default_factory=dict)
    settings: dict[str, object] = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)


@dataclass
class Provider:
    id: str
    name: str
    kind: str = "dentist"  # dentist | hygienist
    hours: Hours = field(default_factory=dict)
    source_id: str = ""


@dataclass
class Operatory:
    id: str
    name: str
    source_id: str = ""


@dataclass
class AppointmentType:
    id: str
    name: str
    duration_min: int
    category: str = "general"  # hygiene | restorative | exam | emergency | general
    provider_ids: list[str] = field(default_factory=list)
    operatory_ids: list[str] = field(default_factory=list)
