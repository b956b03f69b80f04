"""FHIR R4 Bundles: Patient, RelatedPerson, Practitioner, Location and Appointment. Pure: no AWS imports.

Each entry's resource is validated on its own with ``fhir.resources`` (its R4B models: R4B changed
none of these five resources from R4), so one invalid resource is reported and the rest still import.
``fhir.resources`` is imported inside the functions: it is heavy and the API's cold start must not pay for it.

Mapping (docs/import.md has the full table):
- Practitioner -> provider (a hygienist when a qualification says so), Location -> operatory
  (buildings, sites, wings and floors are skipped), Appointment.appointmentType (else serviceType)
  -> appointment type.
- RelatedPerson -> guardian of its patient. FHIR has one RelatedPerson per patient; those sharing an
  identifier are one person, so they merge into one guardian of several patients.
- A booked Appointment whose patient participant has accepted is "confirmed".
- Stable ids: the source id of a resource is its ``id`` (else its ``fullUrl``); keep them stable
  between exports or re-imports cannot recognise what they already wrote.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.appointments.model import (
    ARRIVED,
    BOOKED,
    CANCELLED,
    COMPLETED,
    CONFIRMED,
    NO_SHOW,
    REQUESTED,
    Appointment,
)
from chalicelib.imports import fields
from chalicelib.imports.fields import FieldError
from chalicelib.imports.model import (
    APPOINTMENT,
    APPOINTMENT_TYPE,
    FHIR,
    GUARDIAN,
    OPERATORY,
    PATIENT,
    PROVIDER,
    ImportFileError,
    Parsed,
    Record,
    category_for,
    internal_id,
)
from chalicelib.patients.model import Guardian, Patient
from chalicelib.practices.model import AppointmentType, Operatory, Provider

TIMEZONE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/timezone"
SUPPORTED = ("Practitioner", "Location", "Patient", "RelatedPerson", "Appointment")
_NOT_OPERATORIES = {"si", "bu", "wi", "lvl", "area", "jdn", "ho", "co", "ve", "rd"}

_STATUS = {
    "proposed": REQUESTED,
    "pending": REQUESTED,
    "waitlist": REQUESTED,
    "booked": BOOKED,
    "arrived": ARRIVED,
    "checked-in": ARRIVED,
    "fulfilled": COMPLETED,
    "cancelled": CANCELLED,
    "noshow": NO_SHOW,
}
_PARENT_CODES = {"PRN", "MTH", "FTH", "NPRN", "STPPRN", "ADOPTP", "FTHFOST", "MTHFOST", "PRNFOST", "GRPRN"}
_GUARDIAN_CODES = {"GUARD", "GUADLTM", "POWATT", "DPOWATT", "HPOWATT", "SPOWATT"}
_REF = re.compile(r"(?:^|/)(Patient|Practitioner|Location|RelatedPerson|Appointment)/([^/]+?)(?:/_history/[^/]+)?$")


@dataclass
class _Entry:
    at: str
    rtype: str
    sid: str
    model: Any


@dataclass
class _GuardianSeen:
    value: Guardian
    at: str
    ref: str
    patient_refs: dict[str, str] = field(default_factory=dict)  # internal patient id -> Patient/<id>


def _loads(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise ImportFileError("empty_file", "the file is empty")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        text = raw[:200].decode("utf-8", errors="replace")
        hint = "; CSV files use kind=patients_csv or kind=appointments_csv" if "," in text or "\t" in text else ""
        raise ImportFileError("not_json", f"the file is not JSON; a FHIR Bundle is a JSON object{hint}") from exc
    if not isinstance(data, dict):
        raise ImportFileError("not_a_bundle", "the JSON is not an object; a FHIR Bundle is a JSON object")
    if data.get("resourceType") != "Bundle":
        found = data.get("resourceType")
        what = f"a FHIR {found}" if isinstance(found, str) else "JSON without a resourceType"
        raise ImportFileError("not_a_bundle", f"the file is {what}, not a FHIR Bundle")
    return data


def _why(exc: Exception) -> str:
    """A pydantic error as field paths and messages, never the offending values."""
    errors = getattr(exc, "errors", None)
    if errors is None:
        return str(exc).split("\n")[0]
    parts = []
    for err in errors(include_input=False, include_url=False)[:3]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__") or "resource"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def _validate_shell(bundle: dict[str, Any]) -> list[Any]:
    from fhir.resources.R4B.bundle import Bundle

    entries = bundle.get("entry")
    if entries is None or entries == []:
        raise ImportFileError("empty_bundle", "the bundle has no entries")
    if not isinstance(entries, list):
        raise ImportFileError("invalid_bundle", "the bundle's entry is not a list")
    shell = {k: v for k, v in bundle.items() if k != "entry"}
    try:
        Bundle.model_validate(shell)
    except ValueError as exc:
        raise ImportFileError("invalid_bundle", f"not a valid FHIR R4 Bundle: {_why(exc)}") from exc
    return entries


def _human_name(names: list[Any] | None) -> tuple[str, str, list[str], list[str]]:
    """(given, family, prefixes, suffixes) of the official name, else the first one."""
    if not names:
        return "", "", [], []
    chosen = next((n for n in names if n.use in ("official", "usual")), names[0])
    given = " ".join((chosen.given or [])[:1])
    family = chosen.family or ""
    if not (given or family) and chosen.text:
        *first, last = chosen.text.split()
        given, family = " ".join(first), last
    return given, family, list(chosen.prefix or []), list(chosen.suffix or [])


def _telecom(points: list[Any] | None, problems: list[str]) -> tuple[str, str]:
    """(phone, email): a mobile before other phones, then by rank; every phone and email must parse."""
    phones: list[tuple[int, int, str]] = []
    emails: list[str] = []
    for i, point in enumerate(points or []):
        if not point.value or (point.period is not None and point.period.end is not None):
            continue
        try:
            if point.system in ("phone", "sms"):
                number = fields.phone_e164(point.value, f"telecom[{i}] phone")
                preference = 0 if point.use == "mobile" or point.system == "sms" else 1
                phones.append((preference, point.rank or 99, number))
            elif point.system == "email":
                emails.append(fields.email_address(point.value, f"telecom[{i}] email"))
        except FieldError as exc:
            problems.append(str(exc))
    return (min(phones)[2] if phones else ""), (emails[0] if emails else "")


def _zone(extensions: list[Any] | None, problems: list[str]) -> str:
    for ext in extensions or []:
        if ext.url == TIMEZONE_EXTENSION:
            try:
                return fields.zone_name(ext.valueCode or "", "timezone extension")
            except FieldError as exc:
                problems.append(str(exc))
    return ""


def _language(communication: list[Any] | None) -> str | None:
    if not communication:
        return "en"
    chosen = next((c for c in communication if c.preferred), communication[0])
    codes = [c.code for c in (chosen.language.coding or []) if c.code] or [chosen.language.text or ""]
    return fields.language_code(codes[0])


class _BundleReader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.parsed = Parsed(kind=FHIR, source=source)
        self.refs: dict[str, tuple[str, str]] = {}  # reference text -> (resource type, source id)
        self.entries: list[_Entry] = []
        self.seen: dict[tuple[str, str], str] = {}

    # -- pass 1: validate every resource and index references ---------------------------------------
    def validate(self, index: int, entry: Any) -> None:
        from fhir.resources.R4B import get_fhir_model_class

        at = f"entry[{index}]"
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            self.parsed.reject(at, "the entry has no resource")
            return
        rtype = resource.get("resourceType")
        if rtype not in SUPPORTED:
            self.parsed.warn(at, f"{rtype or 'untyped'} resources are not imported; skipped")
            return
        full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else ""
        sid = str(resource.get("id") or full_url or "")
        ref = f"{rtype}/{sid}" if resource.get("id") else str(rtype)
        internal = internal_id(self.source, _ENTITY[rtype], sid) if sid and rtype in _ENTITY else ""
        if not sid:
            self.parsed.reject(at, f"the {rtype} has neither an id nor a fullUrl", ref)
            return
        if (rtype, sid) in self.seen:
            self.parsed.reject(at, f"{rtype}/{sid} appears again (first at {self.seen[rtype, sid]})", ref)
            return
        self.seen[rtype, sid] = at
        try:
            model = get_fhir_model_class(rtype).model_validate(resource)
        except ValueError as exc:
            self.parsed.reject(at, f"invalid {rtype}: {_why(exc)}", ref, internal)
            return
        self.refs[f"{rtype}/{sid}"] = (rtype, sid)
        if full_url:
            self.refs[full_url] = (rtype, sid)
        self.entries.append(_Entry(at, rtype, sid, model))

    def resolve(self, reference: str | None, rtype: str) -> str | None:
        """The source id a reference points at, if it is of ``rtype``; outside the bundle by its Type/id."""
        if not reference:
            return None
        found = self.refs.get(reference)
        if found is None:
            match = _REF.search(reference)
            found = (match.group(1), match.group(2)) if match else None
        return found[1] if found and found[0] == rtype else None

    # -- pass 2: map resources to records ------------------------------------------------------------
    def practitioner(self, e: _Entry) -> None:
        given, family, prefixes, suffixes = _human_name(e.model.name)
        words: list[str] = []
        for q in e.model.qualification or []:
            if q.code:
                words.append(q.code.text or "")
                words += [f"{c.code or ''} {c.display or ''}" for c in q.code.coding or []]
        text = " ".join(words)
        # NUCC 124Q00000X is "Dental Hygienist"
        hygienist = "124Q" in text or "hygien" in text.lower() or any("RDH" in s for s in suffixes)
        name = " ".join([*prefixes, given, family]).strip()
        if suffixes:
            name = f"{name}, {' '.join(suffixes)}"
        if not name:
            self.parsed.reject(e.at, "the Practitioner has no name", f"Practitioner/{e.sid}")
            return
        pid = internal_id(self.source, PROVIDER, e.sid)
        kind = "hygienist" if hygienist else "dentist"
        self.parsed.providers.append(
            Record(PROVIDER, Provider(id=pid, name=name, kind=kind, source_id=e.sid), e.at, f"Practitioner/{e.sid}")
        )

    def location(self, e: _Entry) -> None:
        codes = {c.code for c in ((e.model.physicalType.coding or []) if e.model.physicalType else [])}
        ref = f"Location/{e.sid}"
        if codes & _NOT_OPERATORIES:
            self.parsed.warn(e.at, "the Location is not a room (building, site, wing ...); skipped", ref)
            return
        oid = internal_id(self.source, OPERATORY, e.sid)
        name = e.model.name or e.sid
        self.parsed.operatories.append(Record(OPERATORY, Operatory(id=oid, name=name, source_id=e.sid), e.at, ref))

    def patient(self, e: _Entry) -> None:
        m = e.model
        ref = f"Patient/{e.sid}"
        problems: list[str] = []
        given, family, _, _ = _human_name(m.name)
        if not (given or family):
            problems.append("the Patient has no name")
        phone, email = _telecom(m.telecom, problems)
        zone = _zone(m.extension, problems)
        pid = internal_id(self.source, PATIENT, e.sid)
        if problems:
            self.parsed.reject(e.at, "; ".join(problems), ref, pid)
            return
        language = _language(m.communication)
        if language is None:
            self.parsed.warn(e.at, "the preferred language is not one Chairside speaks (en, es); English is used", ref)
            language = "en"
        deceased = bool(m.deceasedBoolean) or m.deceasedDateTime is not None
        patient = Patient(
            id=pid,
            given_name=given,
            family_name=family,
            birth_date=m.birthDate,
            phone=phone,
            email=email,
            language=language,
            zone=zone,
            active=(m.active is not False) and not deceased,
            source_id=e.sid,
        )
        self.parsed.patients.append(Record(PATIENT, patient, e.at, ref))

    def related_person(self, e: _Entry, guardians: dict[str, _GuardianSeen]) -> None:
        m = e.model
        ref = f"RelatedPerson/{e.sid}"
        problems: list[str] = []
        patient_sid = self.resolve(m.patient.reference if m.patient else None, "Patient")
        if patient_sid is None:
            problems.append("the RelatedPerson's patient is not a Patient reference")
        given, family, _, _ = _human_name(m.name)
        phone, email = _telecom(m.telecom, problems)
        if problems or patient_sid is None:
            self.parsed.reject(e.at, "; ".join(problems), ref)
            return
        if m.active is False:
            self.parsed.warn(e.at, "the RelatedPerson is inactive; no guardian link made", ref)
            return
        # One person, several RelatedPerson resources (one per patient): merge on their identifier.
        key = next((f"{i.system or ''}|{i.value}" for i in (m.identifier or []) if i.value), f"id|{e.sid}")
        codes = {c.code for r in (m.relationship or []) for c in (r.coding or []) if c.code}
        relationship = "parent" if codes & _PARENT_CODES else "guardian" if codes & _GUARDIAN_CODES else "other"
        if key not in guardians:
            gid = internal_id(self.source, GUARDIAN, key)
            value = Guardian(gid, given, family, phone, email, relationship, [], source_id=key)
            guardians[key] = _GuardianSeen(value, e.at, ref)
        guardians[key].patient_refs[internal_id(self.source, PATIENT, patient_sid)] = f"Patient/{patient_sid}"

    def appointment(self, e: _Entry, types: dict[str, _TypeSeen]) -> None:
        m = e.model
        ref = f"Appointment/{e.sid}"
        problems: list[str] = []
        if m.status == "entered-in-error":
            self.parsed.warn(e.at, "the Appointment was entered in error; skipped", ref)
            return
        status = _STATUS.get(m.status or "")
        if status is None:
            problems.append("status is not an Appointment status")
        patient_sid = practitioner_sid = location_sid = None
        for participant in m.participant or []:
            reference = participant.actor.reference if participant.actor else None
            patient_sid = patient_sid or self.resolve(reference, "Patient")
            practitioner_sid = practitioner_sid or self.resolve(reference, "Practitioner")
            location_sid = location_sid or self.resolve(reference, "Location")
            if status == BOOKED and self.resolve(reference, "Patient") and participant.status == "accepted":
                status = CONFIRMED
        if patient_sid is None:
            problems.append("no participant is a Patient")
        start, end = _times(m, problems)
        aid = internal_id(self.source, APPOINTMENT, e.sid)
        if problems or status is None or patient_sid is None or start is None or end is None:
            self.parsed.reject(e.at, "; ".join(problems), ref, aid)
            return
        type_key, type_name = _type_of(m)
        start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
        if type_key not in types:
            types[type_key] = _TypeSeen(type_name, e.at)
        seen = types[type_key]
        seen.lengths[int((end_utc - start_utc).total_seconds() // 60)] += 1
        refs = {internal_id(self.source, PATIENT, patient_sid): f"Patient/{patient_sid}"}
        if practitioner_sid:
            refs[internal_id(self.source, PROVIDER, practitioner_sid)] = f"Practitioner/{practitioner_sid}"
        if location_sid:
            refs[internal_id(self.source, OPERATORY, location_sid)] = f"Location/{location_sid}"
        appointment = Appointment(
            id=aid,
            patient_id=internal_id(self.source, PATIENT, patient_sid),
            provider_id=internal_id(self.source, PROVIDER, practitioner_sid) if practitioner_sid else "",
            operatory_id=internal_id(self.source, OPERATORY, location_sid) if location_sid else "",
            type_id=internal_id(self.source, APPOINTMENT_TYPE, type_key),
            start=start_utc,
            end=end_utc,
            status=status,
            note=m.comment or "",
            source_id=e.sid,
        )
        self.parsed.appointments.append(Record(APPOINTMENT, appointment, e.at, ref, refs=refs))


def _times(m: Any, problems: list[str]) -> tuple[datetime | None, datetime | None]:
    """An appointment's start and end (end from minutesDuration when absent), or problems."""
    start, end = m.start, m.end
    if start is None:
        problems.append("start is missing")
        return None, None
    if end is None and m.minutesDuration:
        end = start + timedelta(minutes=int(m.minutesDuration))
    if end is None:
        problems.append("end (or minutesDuration) is missing")
    elif end <= start:
        problems.append("end is not after start")
    return start, end


_ENTITY = {
    "Practitioner": PROVIDER,
    "Location": OPERATORY,
    "Patient": PATIENT,
    "RelatedPerson": GUARDIAN,
    "Appointment": APPOINTMENT,
}


@dataclass
class _TypeSeen:
    name: str
    at: str
    lengths: Counter[int] = field(default_factory=Counter)


def _type_of(m: Any) -> tuple[str, str]:
    """(key, name) of an appointment's type: appointmentType, else the first serviceType, else General."""
    concepts = [m.appointmentType] if m.appointmentType else []
    concepts += list(m.serviceType or [])
    for concept in concepts:
        for coding in concept.coding or []:
            if coding.code:
                return f"{coding.system or ''}|{coding.code}", coding.display or concept.text or coding.code
        if concept.text:
            return f"|{' '.join(concept.text.lower().split())}", concept.text
    return "|general", "General"


def parse_fhir_bundle(raw: bytes, *, source: str) -> Parsed:
    """Records from a FHIR R4 Bundle (any bundle type); raises ImportFileError if it is not one."""
    bundle = _loads(raw)
    entries = _validate_shell(bundle)
    reader = _BundleReader(source)
    reader.parsed.items = len(entries)
    for index, entry in enumerate(entries):
        reader.validate(index, entry)
    guardians: dict[str, _GuardianSeen] = {}
    types: dict[str, _TypeSeen] = {}
    for e in reader.entries:
        if e.rtype == "Practitioner":
            reader.practitioner(e)
        elif e.rtype == "Location":
            reader.location(e)
        elif e.rtype == "Patient":
            reader.patient(e)
        elif e.rtype == "RelatedPerson":
            reader.related_person(e, guardians)
        elif e.rtype == "Appointment":
            reader.appointment(e, types)
    for seen in guardians.values():
        seen.value.patient_ids = sorted(seen.patient_refs)
        reader.parsed.guardians.append(Record(GUARDIAN, seen.value, seen.at, seen.ref, refs=dict(seen.patient_refs)))
    for key, t in types.items():
        duration = max(t.lengths.items(), key=lambda kv: (kv[1], -kv[0]))[0]  # the usual length; ties: shorter
        type_id = internal_id(source, APPOINTMENT_TYPE, key)
        reader.parsed.appointment_types.append(
            Record(
                APPOINTMENT_TYPE,
                AppointmentType(id=type_id, name=t.name, duration_min=duration, category=category_for(t.name)),
                t.at,
                f"appointmentType {t.name}",
            )
        )
    return reader.parsed


def fhir_instant(at: datetime) -> str:
    """An aware datetime as a FHIR instant (used by exports and the demo generator)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
