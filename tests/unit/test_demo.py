from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chalicelib.audit.service import Auditor, MemoryAuditLog
from chalicelib.imports.memory import MemoryImportStore
from chalicelib.imports.service import import_file
from chalicelib.platform.clock import FixedClock
from chalicelib.practices.model import Practice
from local import demo

ANCHOR = date(2027, 3, 10)


@pytest.fixture(scope="module")
def full() -> tuple[dict[str, Any], demo.DemoInfo]:
    return demo.demo_bundle(ANCHOR, seed=7)


def _resources(bundle: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


def test_the_same_seed_and_anchor_give_an_identical_bundle(full: tuple[dict[str, Any], demo.DemoInfo]) -> None:
    again = demo.demo_bundle(ANCHOR, seed=7)
    assert json.dumps(again[0], sort_keys=True) == json.dumps(full[0], sort_keys=True)
    assert again[1] == full[1]


def test_another_seed_or_anchor_gives_another_bundle() -> None:
    base = demo.demo_bundle(ANCHOR, seed=7, patients=60)[0]
    assert demo.demo_bundle(ANCHOR, seed=8, patients=60)[0] != base
    assert demo.demo_bundle(ANCHOR + timedelta(days=1), seed=7, patients=60)[0] != base


def test_the_full_demo_has_2000_patients_families_three_providers_and_four_rooms(
    full: tuple[dict[str, Any], demo.DemoInfo],
) -> None:
    bundle, info = full
    assert len(_resources(bundle, "Patient")) == info.patients == 2000
    assert len(_resources(bundle, "Practitioner")) == 3
    assert len(_resources(bundle, "Location")) == 4
    related = _resources(bundle, "RelatedPerson")
    children_per_guardian = Counter(r["identifier"][0]["value"] for r in related)
    assert len(related) > 400
    assert sum(1 for n in children_per_guardian.values() if n >= 2) > 100
    two_guardians = Counter(r["patient"]["reference"] for r in related)
    assert any(n == 2 for n in two_guardians.values())


def test_past_visits_have_realistic_no_show_and_cancellation_rates(full: tuple[dict[str, Any], demo.DemoInfo]) -> None:
    bundle, _ = full
    anchor_start = datetime.combine(ANCHOR, time(0), ZoneInfo(demo.ZONE))
    visits = _resources(bundle, "Appointment")
    past = [a for a in visits if datetime.fromisoformat(a["start"]) < anchor_start]
    future = [a for a in visits if datetime.fromisoformat(a["start"]) >= anchor_start]
    statuses = Counter(a["status"] for a in past)
    assert 0.05 <= statuses["noshow"] / len(past) <= 0.08
    assert 0.08 <= statuses["cancelled"] / len(past) <= 0.12
    assert statuses["fulfilled"] + statuses["noshow"] + statuses["cancelled"] == len(past)
    assert 500 <= len(past) / demo.PAST_MONTHS <= 700
    assert 500 <= len(future) / demo.FUTURE_MONTHS <= 700
    assert {a["status"] for a in future} == {"booked"}
    confirmed = [a for a in future if a["participant"][0]["status"] == "accepted"]
    assert 0.05 < len(confirmed) / len(future) < 0.5


def test_every_visit_is_inside_opening_hours_in_the_practice_zone(full: tuple[dict[str, Any], demo.DemoInfo]) -> None:
    bundle, _ = full
    names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    booked: dict[tuple[str, datetime], str] = {}
    for a in _resources(bundle, "Appointment"):
        start, end = datetime.fromisoformat(a["start"]), datetime.fromisoformat(a["end"])
        local_start, local_end = start.astimezone(ZoneInfo(demo.ZONE)), end.astimezone(ZoneInfo(demo.ZONE))
        spans = demo.HOURS.get(names[local_start.weekday()], [])
        inside = any(
            time.fromisoformat(s) <= local_start.time() and local_end.time() <= time.fromisoformat(e) for s, e in spans
        )
        assert inside, a["id"]
        room = a["participant"][2]["actor"]["reference"]
        assert (room, start) not in booked, f"{a['id']} double-books {room} with {booked.get((room, start))}"
        booked[room, start] = a["id"]


def test_contacts_are_only_example_test_emails_and_555_01xx_numbers_never_ending_in_99(
    full: tuple[dict[str, Any], demo.DemoInfo],
) -> None:
    bundle, _ = full
    phones, emails = set(), set()
    for rtype in ("Patient", "RelatedPerson"):
        for r in _resources(bundle, rtype):
            for t in r.get("telecom", []):
                (phones if t["system"] == "phone" else emails).add(t["value"])
    assert all(re.fullmatch(r"\(555\) 555-01\d\d", p) and not p.endswith("99") for p in phones)
    assert "(555) 555-0100" not in phones  # the practice's own
    assert all(e.endswith("@example.test") for e in emails)


def test_showcase_people_have_their_own_contacts_and_upcoming_visits_in_one_to_three_weeks(
    full: tuple[dict[str, Any], demo.DemoInfo],
) -> None:
    bundle, info = full
    assert (info.practice_id, info.zone) == ("maple", "America/New_York")
    assert (info.patient.email, info.patient.phone) == ("patient@example.test", "+15555550123")
    assert (info.guardian.email, info.guardian.phone) == ("guardian@example.test", "+15555550140")
    assert len(info.guardian.patient_refs) == 2
    holders: Counter[str] = Counter()
    for rtype in ("Patient", "RelatedPerson"):
        for r in _resources(bundle, rtype):
            for t in r.get("telecom", []):
                if t["value"] in {"(555) 555-0123", "(555) 555-0140", "patient@example.test", "guardian@example.test"}:
                    holders[t["value"]] += 1
    assert holders == {"(555) 555-0123": 1, "patient@example.test": 1, "(555) 555-0140": 2, "guardian@example.test": 2}
    soon_from = datetime.combine(ANCHOR + timedelta(days=7), time(0), ZoneInfo(demo.ZONE))
    soon_to = datetime.combine(ANCHOR + timedelta(days=22), time(0), ZoneInfo(demo.ZONE))
    for ref in (*info.patient.patient_refs, *info.guardian.patient_refs):
        upcoming = [
            a
            for a in _resources(bundle, "Appointment")
            if a["participant"][0]["actor"]["reference"] == f"Patient/{ref}"
            and soon_from <= datetime.fromisoformat(a["start"]) < soon_to
        ]
        assert len(upcoming) == 1, ref
    assert set(info.showcase) == {"patient", "guardian"}


def test_one_adult_with_an_email_of_their_own_is_the_demo_contact_who_texted_stop(
    full: tuple[dict[str, Any], demo.DemoInfo],
) -> None:
    bundle, info = full
    assert info.texts_off is not None and info.texts_off.patient_refs
    assert info.texts_off.email.endswith("@example.test") and info.texts_off.phone.startswith("+1555555")
    assert info.texts_off.email not in {info.patient.email, info.guardian.email}
    (ref,) = info.texts_off.patient_refs
    (patient,) = [p for p in _resources(bundle, "Patient") if p["id"] == ref]
    assert {t["value"] for t in patient["telecom"]} >= {info.texts_off.email}
    small = demo.demo_bundle(ANCHOR, seed=3, patients=200)[1]
    assert small.texts_off is not None  # the browser tests' demo has one too


def test_a_small_demo_imports_without_a_single_rejection() -> None:
    bundle, info = demo.demo_bundle(ANCHOR, seed=3, patients=120)
    practice = demo.practice()

    class Practices:
        def get(self, practice_id: str) -> Practice | None:
            return practice if practice_id == practice.id else None

    store, clock = MemoryImportStore(), FixedClock(datetime(2027, 3, 10, 12, tzinfo=UTC))
    report = import_file(
        practices=Practices(),
        port=store,
        auditor=Auditor(MemoryAuditLog(), clock),
        clock=clock,
        practice_id="maple",
        kind="fhir",
        raw=json.dumps(bundle).encode(),
        source=demo.SOURCE,
    )
    assert report.errors == [] and report.warnings == []
    assert report.by_entity["patient"].created == info.patients == 120
    assert report.by_entity["appointment"].created == info.appointments
    assert report.by_entity["provider"].created == 3 and report.by_entity["operatory"].created == 4
    guardian_children = {tuple(g.patient_ids) for g in store.of("maple", "guardian")}
    assert tuple(sorted(info.guardian.patient_ids)) in guardian_children
    assert store.addresses_for("maple", info.patient.patient_ids[0]) == {"+15555550123", "patient@example.test"}
