"""The practice settings document and its validation. Pure domain.

Editable here: opening hours, quiet hours (the default sending window), review links, payment and
text-to-pay settings. Providers, operatories, appointment types and closures have their own items and
routes; the reminder and recall policy has its own versioned document (chalicelib/reminders).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from chalicelib.practices.model import Hours, valid_hours

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_URL = re.compile(r"^https://[^\s<>\"']{3,500}$")
MAX_LINKS = 8
DEFAULT_PAYMENTS = {"card_payments": True, "text_to_pay": True, "pay_link_days": 14, "min_amount_cents": 100}
# ROI inputs (chalicelib/analytics): baseline no-show rate in basis points (None: measured from the first
# months), production per visit and staff hour in cents (0: staff time is not counted as money), minutes per call.
DEFAULT_ANALYTICS: dict[str, Any] = {
    "baseline_no_show_bp": None,
    "production_per_visit_cents": 20000,
    "minutes_per_call": 3,
    "staff_hour_cents": 0,
}
_ANALYTICS_LIMITS = {
    "baseline_no_show_bp": (0, 10000),
    "production_per_visit_cents": (0, 10_000_000),
    "minutes_per_call": (0, 120),
    "staff_hour_cents": (0, 100_000),
}
SECTIONS = ("hours", "quiet_hours", "review_links", "payments", "analytics")


class SettingsError(ValueError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


@dataclass(frozen=True)
class Settings:
    version: int = 0
    hours: Hours = field(default_factory=dict)
    quiet_hours: dict[str, str] = field(default_factory=lambda: {"start": "08:00", "end": "21:00"})
    review_links: list[dict[str, str]] = field(default_factory=list)
    payments: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_PAYMENTS))
    analytics: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_ANALYTICS))

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "hours": {d: [list(s) for s in spans] for d, spans in self.hours.items()},
            "quiet_hours": dict(self.quiet_hours),
            "review_links": [dict(x) for x in self.review_links],
            "payments": dict(self.payments),
            "analytics": dict(self.analytics),
        }


def _hours(raw: object) -> Hours:
    if not isinstance(raw, dict):
        raise SettingsError("hours", "hours is an object: weekday -> [[start, end], ...]")
    try:
        spans = {
            str(day): [(str(s[0]), str(s[1])) for s in value if isinstance(s, list | tuple) and len(s) == 2]
            for day, value in raw.items()
            if isinstance(value, list)
        }
        if sum(len(v) for v in spans.values()) != sum(len(v) for v in raw.values() if isinstance(v, list)):
            raise ValueError("each span is [start, end]")
        if len(spans) != len(raw):
            raise ValueError("each weekday holds a list of spans")
        return valid_hours(spans)
    except ValueError as exc:
        raise SettingsError("hours", str(exc)) from exc


def _quiet(raw: object) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise SettingsError("quiet_hours", "quiet_hours is {start, end}")
    start, end = raw.get("start"), raw.get("end")
    if not (isinstance(start, str) and isinstance(end, str) and _HHMM.match(start) and _HHMM.match(end)):
        raise SettingsError("quiet_hours", "start and end are HH:MM")
    if start >= end:
        raise SettingsError("quiet_hours", "the sending window must start before it ends")
    return {"start": start, "end": end}


def _links(raw: object) -> list[dict[str, str]]:
    if not isinstance(raw, list) or len(raw) > MAX_LINKS:
        raise SettingsError("review_links", f"review_links is a list of at most {MAX_LINKS} {{label, url}}")
    out = []
    for link in raw:
        if not isinstance(link, dict):
            raise SettingsError("review_links", "each link is {label, url}")
        label, url = link.get("label"), link.get("url")
        if not isinstance(label, str) or not label.strip() or len(label) > 60:
            raise SettingsError("review_links", "each link needs a label of at most 60 characters")
        if not isinstance(url, str) or not _URL.match(url):
            raise SettingsError("review_links", "each link is an https:// address")
        out.append({"label": label.strip(), "url": url})
    return out


def _payments(raw: object, current: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise SettingsError("payments", "payments is an object")
    merged = dict(current)
    for flag in ("card_payments", "text_to_pay"):
        if flag in raw:
            if not isinstance(raw[flag], bool):
                raise SettingsError("payments", f"{flag} is true or false")
            merged[flag] = raw[flag]
    for number, low, high in (("pay_link_days", 1, 60), ("min_amount_cents", 0, 1_000_000)):
        if number in raw:
            value = raw[number]
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise SettingsError("payments", f"{number} is a whole number from {low} to {high}")
            merged[number] = value
    unknown = set(raw) - {"card_payments", "text_to_pay", "pay_link_days", "min_amount_cents"}
    if unknown:
        raise SettingsError("payments", f"unknown payment setting {sorted(unknown)[0]!r}")
    return merged


def _analytics(raw: object, current: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise SettingsError("analytics", "analytics is an object")
    unknown = set(raw) - set(_ANALYTICS_LIMITS)
    if unknown:
        raise SettingsError("analytics", f"unknown analytics setting {sorted(unknown)[0]!r}")
    merged = {**DEFAULT_ANALYTICS, **current}
    for name, (low, high) in _ANALYTICS_LIMITS.items():
        if name not in raw:
            continue
        value = raw[name]
        if value is None and name == "baseline_no_show_bp":
            merged[name] = None  # measured from the first months
        elif isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            merged[name] = value
        else:
            raise SettingsError("analytics", f"{name} is a whole number from {low} to {high}")
    return merged


def apply_change(current: Settings, raw: dict[str, Any]) -> Settings:
    """The next version: sections left out stay as they are; anything invalid raises SettingsError."""
    unknown = set(raw) - {*SECTIONS, "version"}
    if unknown:
        raise SettingsError(sorted(unknown)[0], "unknown setting")
    return Settings(
        version=current.version + 1,
        hours=_hours(raw["hours"]) if "hours" in raw else current.hours,
        quiet_hours=_quiet(raw["quiet_hours"]) if "quiet_hours" in raw else current.quiet_hours,
        review_links=_links(raw["review_links"]) if "review_links" in raw else current.review_links,
        payments=_payments(raw["payments"], current.payments) if "payments" in raw else current.payments,
        analytics=_analytics(raw["analytics"], current.analytics) if "analytics" in raw else current.analytics,
    )


def changed_sections(before: Settings, after: Settings) -> list[str]:
    a, b = before.as_dict(), after.as_dict()
    return [s for s in SECTIONS if a[s] != b[s]]
