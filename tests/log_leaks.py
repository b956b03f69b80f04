"""What "patient data in a log" means for the leak checks: each made-up person's name, phone in every
usual format, email and birth date, as patterns to search log lines with."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from typing import Any


def phone_forms(e164: str) -> list[str]:
    digits = e164.removeprefix("+1")
    a, b, c = digits[:3], digits[3:6], digits[6:]
    return [e164, digits, f"1{digits}", f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}", f"{a} {b} {c}"]


def date_forms(day: str) -> list[str]:
    try:
        d = date.fromisoformat(day)
    except ValueError:
        return [day]
    return [day, d.strftime("%m/%d/%Y"), d.strftime("%Y%m%d")]


def needles(bundle: dict[str, Any], people: Iterable[dict[str, str]] = ()) -> dict[str, re.Pattern[str]]:
    """What must never be logged: every Patient and RelatedPerson of a FHIR bundle, and ``people``
    (dicts with given, family, phone, email, birth)."""
    out: dict[str, re.Pattern[str]] = {}

    def add(label: str, text: str, word: bool = False) -> None:
        if text and len(text) >= 4:
            body = re.escape(text)
            out[f"{label}: {text}"] = re.compile(rf"(?<!\w){body}(?!\w)" if word else body, re.IGNORECASE)

    def person(given: str, family: str, phones: list[str], emails: list[str], birth: str) -> None:
        add("name", f"{given} {family}", word=True)
        add("family name", family, word=True)
        for phone in phones:
            for form in phone_forms(phone) if phone.startswith("+") else [phone]:
                add("phone", form)
        for email in emails:
            add("email", email)
        for form in date_forms(birth) if birth else []:
            add("birth date", form)

    for entry in bundle.get("entry", []):
        r = entry["resource"]
        if r.get("resourceType") not in {"Patient", "RelatedPerson"}:
            continue
        telecom = r.get("telecom", [])
        phones = [t["value"] for t in telecom if t.get("system") == "phone"]
        emails = [t["value"] for t in telecom if t.get("system") == "email"]
        for name in r.get("name", []) or [{}]:
            person(" ".join(name.get("given", [])), name.get("family", ""), phones, emails, r.get("birthDate", ""))
    for p in people:
        person(p["given"], p["family"], [p["phone"]], [p["email"]], p["birth"])
    return out


def leaks(lines: Iterable[str], patterns: dict[str, re.Pattern[str]]) -> list[str]:
    found = []
    for line in lines:
        for what, pattern in patterns.items():
            if pattern.search(line):
                found.append(f"{what} in: {line[:300]}")
    return found


ACCESS_LOG = re.compile(r'"(?:GET|POST|PUT|DELETE|PATCH|OPTIONS|HEAD) \S+ HTTP/1\.[01]"')


def stack_log_leaks(log_text: str, anchor: str, seed: int, patients: int) -> list[str]:
    """Leaks in a local stack's output (its demo regenerated from anchor and seed). The local HTTP
    servers' access-log lines are left out: they are the dev servers', not the app's, and Lambda has none."""
    from local.demo import demo_bundle

    bundle, _ = demo_bundle(date.fromisoformat(anchor), seed=seed, patients=patients)
    lines = [line for line in log_text.splitlines() if not ACCESS_LOG.search(line)]
    return leaks(lines, needles(bundle))
