"""Maple Dental, the demo practice: a seeded, deterministic FHIR R4 Bundle loaded through the importer.

Same seed and anchor date, same bundle, byte for byte (for one Faker version). Everything is made up:
names come from Faker, emails are @example.test, phones are +1 555-555-01xx (0100..0198; numbers ending
in 99 are opted out in moto) and families share numbers, as they do. The showcase people's numbers
and addresses belong to them alone, so their sign-ins show only them.

Shape at the default 2,000 patients: households of singles, couples and families (children linked to
one or two guardians through RelatedPerson), 3 providers (2 dentists, 1 hygienist), 4 operatories,
18 months of past visits (about 6.5 % no-shows, 10 % cancellations, the rest completed) and 3 months of
bookings (about 600 a month, booked or confirmed), all inside the practice's opening hours in its zone.

Not shipped to Lambda (only app.py and chalicelib/ are).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.imports.model import PATIENT, internal_id
from chalicelib.practices.model import Practice

PRACTICE_ID = "maple"
PRACTICE_NAME = "Maple Dental"
ZONE = "America/New_York"
PRACTICE_PHONE = "+15555550100"
DEFAULT_SEED = 20261203
SOURCE = "demo"  # the source system the demo's ids derive from
BASE_URL = "https://demo.chairside.example.test/fhir"
TYPE_SYSTEM = "https://demo.chairside.example.test/appointment-type"
PERSON_SYSTEM = "https://demo.chairside.example.test/person"
ROLE_CODES = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
NUCC = "http://nucc.org/provider-taxonomy"
ROOM = "http://terminology.hl7.org/CodeSystem/location-physical-type"
TIMEZONE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/timezone"

HOURS: dict[str, list[tuple[str, str]]] = {
    **{d: [("08:00", "12:00"), ("13:00", "17:00")] for d in ("mon", "tue", "wed", "thu")},
    "fri": [("08:00", "14:00")],
}
PAST_MONTHS = 18
FUTURE_MONTHS = 3
MONTHLY_VISITS_PER_2000 = 600
NO_SHOW_RATE = 0.065
CANCEL_RATE = 0.10

SHOWCASE_PATIENT_EMAIL = "patient@example.test"
SHOWCASE_PATIENT_PHONE = "+15555550123"
SHOWCASE_GUARDIAN_EMAIL = "guardian@example.test"
SHOWCASE_GUARDIAN_PHONE = "+15555550140"
# Everyone else draws from 555-0101..0198, minus the showcase numbers (and 0100, the practice's).
PHONE_POOL = tuple(f"+1555555{n:04d}" for n in range(101, 199) if n not in (123, 140))


@dataclass(frozen=True)
class VisitType:
    code: str
    name: str
    minutes: int
    who: str  # dentist | hygienist
    ages: str  # adult | child | any


TYPES = (
    VisitType("cleaning", "Adult cleaning", 60, "hygienist", "adult"),
    VisitType("child-cleaning", "Child cleaning", 45, "hygienist", "child"),
    VisitType("perio", "Periodontal maintenance", 60, "hygienist", "adult"),
    VisitType("exam", "Exam", 30, "dentist", "any"),
    VisitType("new-patient", "New patient exam", 60, "dentist", "any"),
    VisitType("filling", "Filling", 60, "dentist", "any"),
    VisitType("crown", "Crown", 90, "dentist", "adult"),
    VisitType("root-canal", "Root canal", 90, "dentist", "adult"),
    VisitType("emergency", "Emergency visit", 30, "dentist", "any"),
)
_TYPE = {t.code: t for t in TYPES}
# Which visits each operatory books, with weights. Op 4 is the dentists' exam column.
OP_MIX: dict[str, list[tuple[str, int]]] = {
    "op-1": [("filling", 40), ("crown", 20), ("root-canal", 10), ("new-patient", 15), ("emergency", 15)],
    "op-2": [("filling", 40), ("crown", 20), ("root-canal", 10), ("new-patient", 15), ("emergency", 15)],
    "op-3": [("cleaning", 62), ("child-cleaning", 25), ("perio", 13)],
    "op-4": [("exam", 100)],
}
PROVIDERS: list[dict[str, Any]] = [
    {"id": "prov-1", "prefix": "Dr.", "given": "Maya", "family": "Patel", "suffix": "DDS", "kind": "dentist"},
    {"id": "prov-2", "prefix": "Dr.", "given": "Samuel", "family": "Okafor", "suffix": "DMD", "kind": "dentist"},
    {"id": "prov-3", "prefix": "", "given": "Casey", "family": "Nguyen", "suffix": "RDH", "kind": "hygienist"},
]
OPERATORIES = ("op-1", "op-2", "op-3", "op-4")


@dataclass(frozen=True)
class ShowcaseContact:
    role: str  # patient | guardian
    name: str
    email: str
    phone: str
    patient_refs: tuple[str, ...]  # FHIR Patient ids this contact acts for
    patient_ids: tuple[str, ...]  # the same patients, by their Chairside ids


@dataclass(frozen=True)
class DemoInfo:
    practice_id: str
    practice_name: str
    zone: str
    anchor: date
    seed: int
    patients: int
    appointments: int
    patient: ShowcaseContact
    guardian: ShowcaseContact
    survey_url: str = ""  # the showcase patient's unanswered post-visit survey (local/feedback_demo.py)
    # A demo patient whose number texted STOP (load_demo records the opt-out): the patient page shows how
    # to opt back in. Sign in with the email; family members sharing the number are opted out too.
    texts_off: ShowcaseContact | None = None

    @property
    def showcase(self) -> dict[str, str]:
        """Sign-in lines for the local stack's banner."""
        return {
            "patient": f"{self.patient.email}  or  {_pretty(self.patient.phone)}",
            "guardian": f"{self.guardian.email}  or  {_pretty(self.guardian.phone)}  (two children)",
        }


def _pretty(e164: str) -> str:
    digits = e164.removeprefix("+1")
    return f"+1 {digits[:3]}-{digits[3:6]}-{digits[6:]}"


def _national(e164: str) -> str:
    """How a practice-management system shows a number; the importer turns it back into E.164."""
    digits = e164.removeprefix("+1")
    return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"


def practice() -> Practice:
    return Practice(
        id=PRACTICE_ID,
        name=PRACTICE_NAME,
        zone=ZONE,
        phone=PRACTICE_PHONE,
        email="front@maple.example.test",
        address={"line": "100 Maple Avenue", "city": "Springfield", "state": "NY", "postal_code": "12345"},
        hours={d: list(spans) for d, spans in HOURS.items()},
        settings={"demo": True, "review_url": "https://reviews.example.test/maple-dental"},
    )


def _add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last))


def _years_before(day: date, years: int, days: int = 0) -> date:
    return _add_months(day, -12 * years) - timedelta(days=days)


def _ascii(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if c.isascii() and (c.isalnum() or c in ".-"))


@dataclass
class _Person:
    key: str
    given: str
    family: str
    gender: str
    birth: date
    phone: str = ""
    email: str = ""
    language: str = "en"
    zone: str = ""
    patient_id: str = ""  # FHIR id when a patient
    guardians: list[tuple[str, str]] = field(default_factory=list)  # (guardian key, relationship code)


class _People:
    """Households until the patient count is reached."""

    def __init__(self, rng: random.Random, seed: int, anchor: date) -> None:
        from faker import Faker

        self.rng = rng
        self.anchor = anchor
        self.en = Faker("en_US")
        self.en.seed_instance(seed)
        self.es = Faker("es_MX")
        self.es.seed_instance(seed + 1)
        self.people: list[_Person] = []
        self.emails: set[str] = {SHOWCASE_PATIENT_EMAIL, SHOWCASE_GUARDIAN_EMAIL}
        self.count = 0

    def _email(self, given: str, family: str) -> str:
        base = _ascii(f"{given}.{family}".lower().replace(" ", "")) or "patient"
        candidate, n = f"{base}@example.test", 1
        while candidate in self.emails:
            n += 1
            candidate = f"{base}{n}@example.test"
        self.emails.add(candidate)
        return candidate

    def person(self, family: str, spanish: bool, adult: bool, phone: str, patient: bool) -> _Person:
        fake = self.es if spanish else self.en
        gender = self.rng.choice(("female", "male"))
        given = fake.first_name_female() if gender == "female" else fake.first_name_male()
        band = self.rng.choices(((19, 39), (40, 64), (65, 89)), (4, 4, 2))[0]
        age = self.rng.randint(*band) if adult else self.rng.randint(1, 17)
        birth = _years_before(self.anchor, age, self.rng.randint(1, 360))
        p = _Person(
            f"person-{len(self.people) + 1:05d}", given, family, gender, birth, language="es" if spanish else "en"
        )
        if adult:
            p.phone = phone
            p.email = self._email(given, family) if self.rng.random() < 0.82 else ""
        elif age >= 13 and self.rng.random() < 0.4:
            p.phone = self.rng.choice(PHONE_POOL)
        if self.rng.random() < 0.01:
            p.zone = self.rng.choice(("America/Chicago", "America/Phoenix", "America/Los_Angeles"))
        if patient:
            self.count += 1
            p.patient_id = f"pat-{self.count:05d}"
        self.people.append(p)
        return p

    def household(self, limit: int) -> None:
        spanish = self.rng.random() < 0.12
        family = (self.es if spanish else self.en).last_name()
        phone = self.rng.choice(PHONE_POOL)
        shape = self.rng.random()
        if shape < 0.38:
            self.person(family, spanish, True, phone, True)
            return
        if shape < 0.58:
            self.person(family, spanish, True, phone, True)
            if self.count < limit:
                other = family if self.rng.random() < 0.7 else (self.es if spanish else self.en).last_name()
                own = phone if self.rng.random() < 0.5 else self.rng.choice(PHONE_POOL)
                self.person(other, spanish, True, own, True)
            return
        parents = [self.person(family, spanish, True, phone, self.rng.random() < 0.75)]
        if shape < 0.93 and self.rng.random() < 0.8:
            own = phone if self.rng.random() < 0.5 else self.rng.choice(PHONE_POOL)
            parents.append(self.person(family, spanish, True, own, self.rng.random() < 0.75))
        for _ in range(self.rng.choice((1, 1, 2, 2, 2, 3))):
            if self.count >= limit:
                break
            child = self.person(family, spanish, False, "", True)
            for parent in parents[: 1 if self.rng.random() < 0.35 else 2]:
                code = {"female": "MTH", "male": "FTH"}[parent.gender]
                child.guardians.append((parent.key, code))


def _showcase(people: _People, anchor: date) -> tuple[_Person, _Person, list[_Person]]:
    adult = _Person(
        "showcase-patient",
        "Alex",
        "Morgan",
        "female",
        _years_before(anchor, 38, 20),
        SHOWCASE_PATIENT_PHONE,
        SHOWCASE_PATIENT_EMAIL,
        patient_id="pat-showcase-alex",
    )
    guardian = _Person(
        "showcase-guardian", "Jordan", "Rivera", "male", _years_before(anchor, 41, 75), SHOWCASE_GUARDIAN_PHONE
    )
    guardian.email = SHOWCASE_GUARDIAN_EMAIL
    kids = [
        _Person(
            "showcase-child-1", "Sam", "Rivera", "male", _years_before(anchor, 9, 40), patient_id="pat-showcase-sam"
        ),
        _Person(
            "showcase-child-2",
            "Riley",
            "Rivera",
            "female",
            _years_before(anchor, 6, 110),
            patient_id="pat-showcase-riley",
        ),
    ]
    for kid in kids:
        kid.guardians.append((guardian.key, "FTH"))
    people.people[:0] = [adult, guardian, *kids]
    people.count += 3
    return adult, guardian, kids


def _workday(day: date, weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)) -> date:
    while day.weekday() not in weekdays or not _HOURS_BY_WEEKDAY.get(day.weekday()):
        day += timedelta(days=1)
    return day


_HOURS_BY_WEEKDAY = {i: HOURS.get(name, []) for i, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))}
_HOLIDAYS = {(1, 1), (7, 4), (12, 24), (12, 25), (12, 31)}


@dataclass
class _Visit:
    start: datetime  # local, aware
    minutes: int
    type_code: str
    operatory: str
    provider: str
    patient_id: str = ""
    status: str = ""  # FHIR status
    accepted: bool = False


def _provider_for(op: str, day: date) -> str:
    if op == "op-3":
        return "prov-3"
    if op == "op-4":
        return "prov-1" if day.weekday() in (0, 2, 4) else "prov-2"
    return "prov-1" if op == "op-1" else "prov-2"


def _day_candidates(rng: random.Random, day: date, tz: ZoneInfo, reserved: list[_Visit]) -> list[_Visit]:
    """Every visit the day's columns could hold, packed from the opening with the odd gap."""
    out = []
    for op in OPERATORIES:
        codes, weights = zip(*OP_MIX[op], strict=True)
        for open_at, close_at in _HOURS_BY_WEEKDAY[day.weekday()]:
            cursor = datetime.combine(day, time.fromisoformat(open_at), tz)
            close = datetime.combine(day, time.fromisoformat(close_at), tz)
            while True:
                visit_type = _TYPE[rng.choices(codes, weights)[0]]
                end = cursor + timedelta(minutes=visit_type.minutes)
                if end > close:
                    break
                clash = any(
                    r.operatory == op and r.start < end and cursor < r.start + timedelta(minutes=r.minutes)
                    for r in reserved
                )
                if not clash:
                    out.append(_Visit(cursor, visit_type.minutes, visit_type.code, op, _provider_for(op, day)))
                cursor = end + timedelta(minutes=rng.choice((0, 0, 0, 0, 15, 30)))
    return out


class _Patients:
    """Hands out patients by age group in shuffled rounds, so visits spread over everyone."""

    def __init__(self, rng: random.Random, adults: list[str], children: list[str]) -> None:
        self.rng = rng
        self.pools = {"adult": adults, "child": children, "any": adults + children}
        self.queues: dict[str, list[str]] = {k: [] for k in self.pools}

    def next(self, ages: str) -> str:
        queue = self.queues[ages]
        if not queue:
            queue.extend(self.pools[ages])
            self.rng.shuffle(queue)
        return queue.pop()


def _open_hours(day: date) -> float:
    if (day.month, day.day) in _HOLIDAYS:
        return 0.0
    spans = _HOURS_BY_WEEKDAY.get(day.weekday(), [])
    return sum((_minutes(b) - _minutes(a)) / 60 for a, b in spans)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _schedule(
    rng: random.Random, anchor: date, patients: int, pool: _Patients, reserved: list[_Visit]
) -> Iterator[_Visit]:
    """Visits spread over the open hours so a month holds about MONTHLY_VISITS_PER_2000 (scaled)."""
    tz = ZoneInfo(ZONE)
    first, last = _add_months(anchor, -PAST_MONTHS), _add_months(anchor, FUTURE_MONTHS)
    days = [first + timedelta(days=n) for n in range((last - first).days)]
    open_hours = sum(_open_hours(d) for d in days)
    per_hour = MONTHLY_VISITS_PER_2000 * (PAST_MONTHS + FUTURE_MONTHS) * patients / 2000 / open_hours
    for day in days:
        hours = _open_hours(day)
        if not hours:
            continue
        candidates = _day_candidates(rng, day, tz, reserved)
        want = round(per_hour * hours * rng.uniform(0.85, 1.15))
        for i in sorted(rng.sample(range(len(candidates)), min(want, len(candidates)))):
            visit = candidates[i]
            visit.patient_id = pool.next(_TYPE[visit.type_code].ages)
            _set_status(rng, visit, anchor)
            yield visit


def _set_status(rng: random.Random, visit: _Visit, anchor: date) -> None:
    if visit.start.date() < anchor:
        roll = rng.random()
        visit.status = (
            "noshow" if roll < NO_SHOW_RATE else "cancelled" if roll < NO_SHOW_RATE + CANCEL_RATE else "fulfilled"
        )
        visit.accepted = visit.status != "cancelled"
        return
    visit.status = "booked"
    soon = (visit.start.date() - anchor).days <= 7
    visit.accepted = rng.random() < (0.55 if soon else 0.15)


def _telecom(p: _Person) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if p.phone:
        out.append({"system": "phone", "value": _national(p.phone), "use": "mobile"})
    if p.email:
        out.append({"system": "email", "value": p.email})
    return out


def _entry(resource: dict[str, Any]) -> dict[str, Any]:
    return {"fullUrl": f"{BASE_URL}/{resource['resourceType']}/{resource['id']}", "resource": resource}


def _patient_resource(p: _Person) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": p.patient_id,
        "active": True,
        "name": [{"use": "official", "family": p.family, "given": [p.given]}],
        "gender": p.gender,
        "birthDate": p.birth.isoformat(),
    }
    telecom = _telecom(p)
    if telecom:
        resource["telecom"] = telecom
    if p.language != "en":
        resource["communication"] = [
            {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": p.language}]}, "preferred": True}
        ]
    if p.zone:
        resource["extension"] = [{"url": TIMEZONE_EXTENSION, "valueCode": p.zone}]
    return resource


def _related_resource(n: int, guardian: _Person, child: _Person, code: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "RelatedPerson",
        "id": f"rp-{n:05d}",
        "identifier": [{"system": PERSON_SYSTEM, "value": guardian.key}],
        "active": True,
        "patient": {"reference": f"Patient/{child.patient_id}"},
        "relationship": [{"coding": [{"system": ROLE_CODES, "code": code}]}],
        "name": [{"family": guardian.family, "given": [guardian.given]}],
    }
    telecom = _telecom(guardian)
    if telecom:
        resource["telecom"] = telecom
    return resource


def _practitioner_resource(p: dict[str, Any]) -> dict[str, Any]:
    code = ("124Q00000X", "Dental Hygienist") if p["kind"] == "hygienist" else ("1223G0001X", "General Practice")
    name: dict[str, Any] = {"family": p["family"], "given": [p["given"]], "suffix": [p["suffix"]]}
    if p["prefix"]:
        name["prefix"] = [p["prefix"]]
    return {
        "resourceType": "Practitioner",
        "id": p["id"],
        "active": True,
        "name": [name],
        "qualification": [{"code": {"coding": [{"system": NUCC, "code": code[0], "display": code[1]}]}}],
    }


def _location_resource(op: str) -> dict[str, Any]:
    return {
        "resourceType": "Location",
        "id": op,
        "status": "active",
        "name": f"Op {op.removeprefix('op-')}",
        "mode": "instance",
        "physicalType": {"coding": [{"system": ROOM, "code": "ro", "display": "Room"}]},
    }


def _appointment_resource(n: int, v: _Visit) -> dict[str, Any]:
    visit_type = _TYPE[v.type_code]
    patient_status = "accepted" if v.accepted else "declined" if v.status == "cancelled" else "needs-action"
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": f"appt-{n:06d}",
        "status": v.status,
        "appointmentType": {"coding": [{"system": TYPE_SYSTEM, "code": visit_type.code, "display": visit_type.name}]},
        "start": v.start.isoformat(timespec="seconds"),
        "end": (v.start + timedelta(minutes=v.minutes)).isoformat(timespec="seconds"),
        "minutesDuration": v.minutes,
        "participant": [
            {"actor": {"reference": f"Patient/{v.patient_id}"}, "status": patient_status},
            {"actor": {"reference": f"Practitioner/{v.provider}"}, "status": "accepted"},
            {"actor": {"reference": f"Location/{v.operatory}"}, "status": "accepted"},
        ],
    }
    if v.status == "cancelled":
        resource["cancelationReason"] = {"text": "Patient cancelled"}
    return resource


def _showcase_visits(anchor: date, adult: _Person, kids: list[_Person]) -> list[_Visit]:
    """Upcoming visits 1–3 weeks out, and some history for the adult."""
    tz = ZoneInfo(ZONE)

    def at(day: date, hhmm: str) -> datetime:
        return datetime.combine(day, time.fromisoformat(hhmm), tz)

    mon_to_thu = (0, 1, 2, 3)
    visits = [
        _Visit(at(_workday(anchor + timedelta(days=8)), "10:00"), 60, "cleaning", "op-3", "prov-3", adult.patient_id),
        _Visit(at(_workday(anchor + timedelta(days=10), mon_to_thu), "15:00"), 45, "child-cleaning", "op-3", "prov-3"),
        _Visit(at(_workday(anchor + timedelta(days=16), mon_to_thu), "15:30"), 30, "exam", "op-4", "prov-1"),
        _Visit(at(_workday(_add_months(anchor, -6)), "10:00"), 60, "cleaning", "op-3", "prov-3", adult.patient_id),
        _Visit(at(_workday(_add_months(anchor, -12)), "11:00"), 30, "exam", "op-4", "prov-2", adult.patient_id),
    ]
    visits[1].patient_id, visits[2].patient_id = kids[0].patient_id, kids[1].patient_id
    visits[2].provider = _provider_for("op-4", visits[2].start.date())
    visits[4].provider = _provider_for("op-4", visits[4].start.date())
    for v in visits:
        past = v.start.date() < anchor
        v.status, v.accepted = ("fulfilled", True) if past else ("booked", v is visits[0])
    return visits


def demo_bundle(anchor: date, seed: int = DEFAULT_SEED, patients: int = 2000) -> tuple[dict[str, Any], DemoInfo]:
    """The demo practice's data as one FHIR R4 Bundle (type "collection"), and who to sign in as."""
    if patients < 10:
        raise ValueError("the demo needs at least 10 patients")
    rng = random.Random(seed)  # noqa: S311 - made-up data, reproducible on purpose
    people = _People(rng, seed, anchor)
    adult, guardian, kids = _showcase(people, anchor)
    while people.count < patients:
        people.household(patients)
    by_key = {p.key: p for p in people.people}
    patient_people = [p for p in people.people if p.patient_id]
    adults = [p.patient_id for p in patient_people if not p.guardians and p.key != adult.key]
    children = [p.patient_id for p in patient_people if p.guardians and p.key not in {k.key for k in kids}]
    reserved = _showcase_visits(anchor, adult, kids)
    visits = sorted(
        [*reserved, *_schedule(rng, anchor, patients, _Patients(rng, adults, children), reserved)],
        key=lambda v: (v.start, v.operatory),
    )

    entries = [_entry(_practitioner_resource(p)) for p in PROVIDERS]
    entries += [_entry(_location_resource(op)) for op in OPERATORIES]
    entries += [_entry(_patient_resource(p)) for p in patient_people]
    related = 0
    for child in patient_people:
        for guardian_key, code in child.guardians:
            related += 1
            entries.append(_entry(_related_resource(related, by_key[guardian_key], child, code)))
    entries += [_entry(_appointment_resource(n, v)) for n, v in enumerate(visits, start=1)]
    bundle = {
        "resourceType": "Bundle",
        "id": f"maple-demo-{seed}-{anchor.isoformat()}",
        "type": "collection",
        "timestamp": datetime.combine(anchor, time(0), ZoneInfo(ZONE)).isoformat(timespec="seconds"),
        "entry": entries,
    }

    def contact(role: str, who: _Person, acts_for: list[_Person]) -> ShowcaseContact:
        refs = tuple(p.patient_id for p in acts_for)
        return ShowcaseContact(
            role,
            f"{who.given} {who.family}",
            who.email,
            who.phone,
            refs,
            tuple(internal_id(SOURCE, PATIENT, r) for r in refs),
        )

    texts_off = next(
        (p for p in patient_people if p.phone and p.email and not p.guardians and p.key != adult.key), None
    )
    info = DemoInfo(
        practice_id=PRACTICE_ID,
        practice_name=PRACTICE_NAME,
        zone=ZONE,
        anchor=anchor,
        seed=seed,
        patients=len(patient_people),
        appointments=len(visits),
        patient=contact("patient", adult, [adult]),
        guardian=contact("guardian", guardian, kids),
        texts_off=contact("patient", texts_off, [texts_off]) if texts_off else None,
    )
    return bundle, info


def load_demo(
    anchor: date | None = None,
    seed: int = DEFAULT_SEED,
    patients: int = 2000,
    progress: Callable[[str, int, int], None] | None = None,
) -> DemoInfo:
    """Create Maple Dental and import its bundle through the importer, against the configured table.

    Idempotent: a second load with the same seed and anchor writes nothing.
    """
    from chalicelib.analytics.handlers import after_import
    from chalicelib.audit.model import ACTOR_JOB
    from chalicelib.audit.service import Auditor
    from chalicelib.audit.store import AuditStore
    from chalicelib.imports.model import FHIR
    from chalicelib.imports.service import import_file
    from chalicelib.imports.store import DynamoImportStore
    from chalicelib.platform.clock import SystemClock
    from chalicelib.practices.store import PracticeStore

    anchor = anchor or datetime.now(ZoneInfo(ZONE)).date()
    bundle, info = demo_bundle(anchor, seed=seed, patients=patients)
    practices = PracticeStore()
    wanted = practice()
    if practices.get(PRACTICE_ID) != wanted:
        practices.put(wanted)
    clock = SystemClock()
    report = import_file(
        practices=practices,
        port=DynamoImportStore(),
        auditor=Auditor(AuditStore(), clock),
        clock=clock,
        practice_id=PRACTICE_ID,
        kind=FHIR,
        raw=json.dumps(bundle).encode(),
        source=SOURCE,
        actor_type=ACTOR_JOB,
        actor_id="demo-loader",
        # No events: the reminder planner plans a new practice's coming days on its first sweep.
        progress=progress,
        tally=after_import(PRACTICE_ID),  # analytics counts the imported history in the import path
    )
    if report.errors:
        raise RuntimeError(f"the demo bundle has {len(report.errors)} invalid entries, first: {report.errors[0]}")
    if info.texts_off is not None:
        from chalicelib.reminders.store import ReminderStore

        # As if the number had texted STOP (idempotent: the opt-out is a state, set again on a reload).
        ReminderStore().set_sms_opt_out(PRACTICE_ID, info.texts_off.phone, True, "STOP", datetime.now(ZoneInfo(ZONE)))
    from local.feedback_demo import load_feedback_demo

    survey = load_feedback_demo(PRACTICE_ID, ZONE, anchor, info.patient.patient_ids[0])
    return replace(info, survey_url=survey)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--anchor", type=date.fromisoformat, default=None, help="YYYY-MM-DD (default: today)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--out", type=Path, required=True, help="where to write the bundle (JSON)")
    args = parser.parse_args(argv)
    anchor = args.anchor or datetime.now(ZoneInfo(ZONE)).date()
    bundle, info = demo_bundle(anchor, seed=args.seed, patients=args.patients)
    args.out.write_text(json.dumps(bundle, indent=1))
    print(f"wrote {len(bundle['entry'])} entries ({info.patients} patients, {info.appointments} appointments)")
    print(f"import it: python -m chalicelib.imports.cli --practice {PRACTICE_ID} --source {SOURCE} {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
