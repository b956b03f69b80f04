"""Audit trail filters and CSV export. Pure domain."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from chalicelib.audit.model import AuditEvent

MAX_DAYS = 366
CSV_COLUMNS = ("at", "actor_type", "actor_id", "action", "patient_id", "record", "source", "id")


class FilterError(ValueError):
    pass


@dataclass(frozen=True)
class AuditFilter:
    start: datetime  # inclusive, UTC
    end: datetime  # exclusive, UTC
    actor_id: str = ""
    actor_type: str = ""
    action: str = ""  # prefix: "patient." matches patient.read and patient.search
    patient_id: str = ""

    def matches(self, e: AuditEvent) -> bool:
        return (
            self.start <= e.at < self.end
            and (not self.actor_id or e.actor_id == self.actor_id)
            and (not self.actor_type or e.actor_type == self.actor_type)
            and (not self.action or e.action.startswith(self.action))
            and (not self.patient_id or e.patient_id == self.patient_id)
        )


def _day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise FilterError(f"{name} is a date like 2027-03-01") from exc


def _short(params: Mapping[str, str], name: str) -> str:
    value = (params.get(name) or "").strip()
    if len(value) > 120:
        raise FilterError(f"{name} is too long")
    return value


def parse_filter(params: Mapping[str, str], today: date) -> AuditFilter:
    """from/to are UTC days (to inclusive); the default is the last 30 days; at most a year at once."""
    end_day = _day(params["to"], "to") if params.get("to") else today
    start_day = _day(params["from"], "from") if params.get("from") else end_day - timedelta(days=29)
    if start_day > end_day:
        raise FilterError("from is after to")
    if (end_day - start_day).days >= MAX_DAYS:
        raise FilterError(f"ask for at most {MAX_DAYS} days at once")
    return AuditFilter(
        start=datetime.combine(start_day, datetime.min.time(), UTC),
        end=datetime.combine(end_day + timedelta(days=1), datetime.min.time(), UTC),
        actor_id=_short(params, "actor_id"),
        actor_type=_short(params, "actor_type"),
        action=_short(params, "action"),
        patient_id=_short(params, "patient_id"),
    )


def _cell(value: str) -> str:
    """Spreadsheets run cells that start with these as formulas; a leading quote keeps them text."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def event_row(e: AuditEvent) -> list[str]:
    at = e.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return [_cell(v) for v in (at, e.actor_type, e.actor_id, e.action, e.patient_id, e.record, e.source, e.id)]


def to_csv(events: Iterable[AuditEvent]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for e in events:
        writer.writerow(event_row(e))
    return out.getvalue()
