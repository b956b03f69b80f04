"""patients.csv and appointments.csv, as practice-management systems export them. Pure: no AWS imports.

Column names follow Open Dental's (PatNum, LName, AptDateTime, ...); docs/import.md lists them.
Headers match case-insensitively, unknown columns are ignored (exports carry many), and comma, tab,
semicolon or pipe separated files are all read. Row numbers count the header as row 1, as a
spreadsheet shows them.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

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
    APPOINTMENTS_CSV,
    GUARDIAN,
    OPERATORY,
    PATIENT,
    PATIENTS_CSV,
    PROVIDER,
    ImportFileError,
    Parsed,
    Record,
    category_for,
    internal_id,
)
from chalicelib.patients.model import Guardian, Patient
from chalicelib.practices.model import AppointmentType, Operatory, Provider

PATIENT_REQUIRED = ("PatNum", "LName", "FName")
PATIENT_OPTIONAL = (
    "Preferred",
    "Birthdate",
    "WirelessPhone",
    "HmPhone",
    "WkPhone",
    "Email",
    "Language",
    "PatStatus",
    "Guarantor",
    "TimeZone",
)
APPOINTMENT_REQUIRED = ("AptNum", "PatNum", "AptDateTime", "ProvNum", "Op", "AptStatus")
APPOINTMENT_OPTIONAL = (
    "Length",
    "Pattern",
    "ProvName",
    "ProvKind",
    "OpName",
    "AptType",
    "IsHygiene",
    "Confirmed",
    "Note",
    "TimeZone",
)
PHONE_COLUMNS = ("WirelessPhone", "HmPhone", "WkPhone")  # first filled one is the patient's number

# PatStatus: Open Dental's words and numbers. None = a guarantor who is not a patient.
_PAT_STATUS: dict[str, bool | None] = {
    "": True,
    "patient": True,
    "active": True,
    "prospective": True,
    "nonpatient": None,
    "non-patient": None,
    "inactive": False,
    "archived": False,
    "deleted": False,
    "deceased": False,
    "0": True,
    "1": None,
    "2": False,
    "3": False,
    "4": False,
    "5": False,
    "6": True,
}

# AptStatus: words most systems use, plus Open Dental's numbers. "" = not an appointment, skip.
_APT_STATUS = {
    "scheduled": BOOKED,
    "booked": BOOKED,
    "1": BOOKED,
    "confirmed": CONFIRMED,
    "complete": COMPLETED,
    "completed": COMPLETED,
    "2": COMPLETED,
    "broken": NO_SHOW,
    "5": NO_SHOW,
    "no show": NO_SHOW,
    "noshow": NO_SHOW,
    "no-show": NO_SHOW,
    "no_show": NO_SHOW,
    "missed": NO_SHOW,
    "cancelled": CANCELLED,
    "canceled": CANCELLED,
    "arrived": ARRIVED,
    "checked in": ARRIVED,
    "checked-in": ARRIVED,
    "requested": REQUESTED,
    "asap": REQUESTED,
    "unschedlist": "",
    "3": "",
    "planned": "",
    "6": "",
    "ptnote": "",
    "7": "",
    "ptnotecompleted": "",
    "8": "",
}
_TRUE = {"1", "y", "yes", "true", "t", "x", "confirmed"}
_SLOT_MINUTES = 5  # one character of Open Dental's Pattern
MAX_LENGTH_MIN = 12 * 60

Row = tuple[str, dict[str, str]]  # ("row 7", {column: value})


def _decode(raw: bytes) -> str:
    if not raw.strip():
        raise ImportFileError("empty_file", "the file is empty")
    if b"\x00" in raw[:4096]:
        raise ImportFileError("not_csv", "the file is binary, not a CSV text file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")  # Windows exports
    if text.lstrip()[:1] in ("{", "["):
        raise ImportFileError("not_csv", "the file is JSON, not CSV; send a FHIR Bundle with kind=fhir")
    return text


def _delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", "\t", ";", "|")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def read_rows(raw: bytes, file_name: str, required: tuple[str, ...], optional: tuple[str, ...]) -> list[Row]:
    """Rows as {known column: value}; raises ImportFileError for a file that is not this CSV at all."""
    text = _decode(raw)
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text.lstrip("\r\n")), delimiter=_delimiter(first_line))
    try:
        header = next(reader, None)
        if not header:
            raise ImportFileError("empty_file", "the file is empty")
        known = {c.lower(): c for c in (*required, *optional)}
        columns = [known.get(h.strip().lstrip("\ufeff").lower(), "") for h in header]
        missing = [c for c in required if c not in columns]
        if missing:
            lowered = {h.strip().lower() for h in header}
            hint = ""
            if "aptnum" in lowered and file_name != "appointments.csv":
                hint = "; it looks like appointments.csv (use kind=appointments_csv)"
            elif "lname" in lowered and "aptnum" not in lowered and file_name != "patients.csv":
                hint = "; it looks like patients.csv (use kind=patients_csv)"
            raise ImportFileError(
                "missing_columns",
                f"{file_name} needs the columns {', '.join(required)}; missing {', '.join(missing)}{hint}",
            )
        rows: list[Row] = []
        for number, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            at = f"row {number}"
            if len(cells) > len(columns):
                rows.append((at, {"__error__": f"has {len(cells)} cells but the header has {len(columns)}"}))
                continue
            values = {col: cells[i].strip() if i < len(cells) else "" for i, col in enumerate(columns) if col}
            rows.append((at, values))
    except csv.Error as exc:
        raise ImportFileError("not_csv", f"the file is not readable CSV (line {reader.line_num}): {exc}") from exc
    if not rows:
        raise ImportFileError("no_rows", f"{file_name} has a header but no rows")
    return rows


@dataclass
class _Person:
    at: str
    patnum: str
    given: str
    family: str
    phone: str
    email: str
    birth: date | None
    active: bool | None  # None: a guarantor who is not a patient
    language: str
    zone: str
    guarantor: str
    problems: list[str] = field(default_factory=list)


def _person(at: str, row: dict[str, str], today: date, warnings: list[str]) -> _Person:
    problems: list[str] = []
    patnum = row.get("PatNum", "")
    given = row.get("Preferred") or row.get("FName", "")
    family = row.get("LName", "")
    if not patnum:
        problems.append("PatNum is empty")
    if not (given or family):
        problems.append("LName and FName are empty")
    status = row.get("PatStatus", "").lower()
    active = _PAT_STATUS.get(status, True)
    if status not in _PAT_STATUS:
        problems.append("PatStatus is not one of Patient, NonPatient, Inactive, Archived, Deceased")
    birth = None
    try:
        birth = fields.birth_date(row.get("Birthdate", ""), "Birthdate", today=today)
    except FieldError as exc:
        problems.append(str(exc))
    phones: list[str] = []
    for column in PHONE_COLUMNS:
        try:
            number = fields.phone_e164(row.get(column, ""), column)
        except FieldError as exc:
            problems.append(str(exc))
            continue
        if number:
            phones.append(number)
    email = ""
    try:
        email = fields.email_address(row.get("Email", ""), "Email")
    except FieldError as exc:
        problems.append(str(exc))
    zone = ""
    try:
        zone = fields.zone_name(row.get("TimeZone", ""), "TimeZone")
    except FieldError as exc:
        problems.append(str(exc))
    language = fields.language_code(row.get("Language", ""))
    if language is None:
        warnings.append("Language is not one Chairside speaks (en, es); English is used")
        language = "en"
    return _Person(
        at=at,
        patnum=patnum,
        given=given,
        family=family,
        phone=phones[0] if phones else "",
        email=email,
        birth=birth,
        active=active,
        language=language,
        zone=zone,
        guarantor=row.get("Guarantor", "").strip(),
        problems=problems,
    )


def parse_patients_csv(raw: bytes, *, source: str, today: date) -> Parsed:
    """Patients, and a guardian for each minor whose guarantor is another row of the file.

    ``today`` (the practice's local date) decides who is a minor: only minors get guardian links;
    an adult's guarantor is a billing matter, not access to their record.
    """
    parsed = Parsed(kind=PATIENTS_CSV, source=source)
    rows = read_rows(raw, "patients.csv", PATIENT_REQUIRED, PATIENT_OPTIONAL)
    parsed.items = len(rows)
    people: dict[str, _Person] = {}
    rejected_rows: dict[str, str] = {}
    for at, row in rows:
        if "__error__" in row:
            parsed.reject(at, row["__error__"])
            continue
        notes: list[str] = []
        person = _person(at, row, today, notes)
        ref = f"PatNum {person.patnum}" if person.patnum else ""
        if person.patnum in people or person.patnum in rejected_rows:
            first = people[person.patnum].at if person.patnum in people else rejected_rows[person.patnum]
            person.problems.append(f"PatNum {person.patnum} appears again (first at {first})")
        if person.problems:
            internal = internal_id(source, PATIENT, person.patnum) if person.patnum else ""
            parsed.reject(at, "; ".join(person.problems), ref, internal)
            rejected_rows.setdefault(person.patnum, at)
            continue
        for note in notes:
            parsed.warn(at, note, ref)
        people[person.patnum] = person

    children: dict[str, list[str]] = {}
    child_refs: dict[str, str] = {}
    for person in people.values():
        ref = f"PatNum {person.patnum}"
        if person.active is None:
            continue  # a non-patient guarantor: a guardian at most
        pid = internal_id(source, PATIENT, person.patnum)
        parsed.patients.append(
            Record(
                PATIENT,
                Patient(
                    id=pid,
                    given_name=person.given,
                    family_name=person.family,
                    birth_date=person.birth,
                    phone=person.phone,
                    email=person.email,
                    language=person.language,
                    zone=person.zone,
                    active=person.active,
                    source_id=person.patnum,
                ),
                person.at,
                ref,
            )
        )
        guarantor = person.guarantor
        is_minor = person.birth is not None and Patient("", "", "", birth_date=person.birth).is_minor_on(today)
        if not is_minor or guarantor in ("", "0", person.patnum):
            continue
        if guarantor not in people:
            why = f"was rejected ({rejected_rows[guarantor]})" if guarantor in rejected_rows else "is not in this file"
            parsed.warn(person.at, f"guarantor PatNum {guarantor} {why}; no guardian link made", ref)
            continue
        children.setdefault(guarantor, []).append(pid)
        child_refs[pid] = ref

    for patnum, kids in children.items():
        g = people[patnum]
        parsed.guardians.append(
            Record(
                GUARDIAN,
                Guardian(
                    id=internal_id(source, GUARDIAN, patnum),
                    given_name=g.given,
                    family_name=g.family,
                    phone=g.phone,
                    email=g.email,
                    relationship="guarantor",
                    patient_ids=sorted(kids),
                    source_id=patnum,
                ),
                g.at,
                f"Guarantor {patnum}",
                refs={pid: child_refs[pid] for pid in kids},
            )
        )
    return parsed


def _length_minutes(row: dict[str, str]) -> int:
    raw_length = row.get("Length", "")
    if raw_length:
        try:
            minutes = int(float(raw_length))
        except ValueError as exc:
            raise FieldError("Length is not a number of minutes") from exc
    elif row.get("Pattern", ""):
        minutes = len(row["Pattern"]) * _SLOT_MINUTES
    else:
        raise FieldError("Length or Pattern is required")
    if not 0 < minutes <= MAX_LENGTH_MIN:
        raise FieldError(f"Length must be between 1 and {MAX_LENGTH_MIN} minutes")
    return minutes


@dataclass
class _TypeSeen:
    name: str
    at: str
    category: str
    lengths: Counter[int] = field(default_factory=Counter)


@dataclass
class _Resources:
    """Providers, operatories and types named by appointment rows; the first row naming one describes it."""

    source: str
    providers: dict[str, Record[Provider]] = field(default_factory=dict)
    operatories: dict[str, Record[Operatory]] = field(default_factory=dict)
    types: dict[str, _TypeSeen] = field(default_factory=dict)

    def provider(self, at: str, row: dict[str, str]) -> str:
        provnum = row["ProvNum"]
        if provnum not in self.providers:
            kind = "hygienist" if row.get("ProvKind", "").lower().startswith("hyg") else "dentist"
            name = row.get("ProvName") or f"Provider {provnum}"
            self.providers[provnum] = Record(
                PROVIDER,
                Provider(id=internal_id(self.source, PROVIDER, provnum), name=name, kind=kind, source_id=provnum),
                at,
                f"ProvNum {provnum}",
            )
        return self.providers[provnum].id

    def operatory(self, at: str, row: dict[str, str]) -> str:
        op = row["Op"]
        if op not in self.operatories:
            name = row.get("OpName") or f"Op {op}"
            self.operatories[op] = Record(
                OPERATORY,
                Operatory(id=internal_id(self.source, OPERATORY, op), name=name, source_id=op),
                at,
                f"Op {op}",
            )
        return self.operatories[op].id

    def appointment_type(self, at: str, row: dict[str, str], minutes: int) -> str:
        hygiene = row.get("IsHygiene", "").strip().lower() in _TRUE
        name = row.get("AptType") or ("Hygiene" if hygiene else "General")
        key = " ".join(name.lower().split())
        if key not in self.types:
            self.types[key] = _TypeSeen(name, at, "hygiene" if hygiene else category_for(name))
        self.types[key].lengths[minutes] += 1
        return internal_id(self.source, APPOINTMENT_TYPE, key)

    def type_records(self) -> list[Record[AppointmentType]]:
        out = []
        for key, t in self.types.items():
            # The usual length of the type in this file; ties go to the shorter.
            duration = max(t.lengths.items(), key=lambda kv: (kv[1], -kv[0]))[0]
            type_id = internal_id(self.source, APPOINTMENT_TYPE, key)
            out.append(
                Record(
                    APPOINTMENT_TYPE,
                    AppointmentType(id=type_id, name=t.name, duration_min=duration, category=t.category),
                    t.at,
                    f"AptType {t.name}",
                )
            )
        return out


@dataclass
class _AptFields:
    problems: list[str]
    status: str | None = None
    start: datetime | None = None
    minutes: int = 0


def _appointment_fields(row: dict[str, str], zone: str) -> _AptFields:
    out = _AptFields([f"{c} is empty" for c in ("AptNum", "PatNum", "ProvNum", "Op") if not row.get(c)])
    out.status = _APT_STATUS.get(row.get("AptStatus", "").strip().lower())
    if out.status is None:
        out.problems.append("AptStatus is not one of Scheduled, Confirmed, Complete, Broken, Cancelled, Arrived")
    elif out.status == BOOKED and row.get("Confirmed", "").strip().lower() in _TRUE:
        out.status = CONFIRMED
    try:
        row_zone = fields.zone_name(row.get("TimeZone", ""), "TimeZone") or zone
        out.start = fields.local_datetime(row.get("AptDateTime", ""), row_zone, "AptDateTime")
    except FieldError as exc:
        out.problems.append(str(exc))
    try:
        out.minutes = _length_minutes(row)
    except FieldError as exc:
        out.problems.append(str(exc))
    return out


def parse_appointments_csv(raw: bytes, *, source: str, zone: str) -> Parsed:
    """Appointments, with the providers, operatories and appointment types they name.

    AptDateTime is local wall-clock time in the row's TimeZone, else the practice's ``zone``.
    Patients are referred to by PatNum; the import checks they exist (this file or an earlier one).
    """
    parsed = Parsed(kind=APPOINTMENTS_CSV, source=source)
    rows = read_rows(raw, "appointments.csv", APPOINTMENT_REQUIRED, APPOINTMENT_OPTIONAL)
    parsed.items = len(rows)
    seen: dict[str, str] = {}
    resources = _Resources(source)
    for at, row in rows:
        if "__error__" in row:
            parsed.reject(at, row["__error__"])
            continue
        aptnum = row.get("AptNum", "")
        ref = f"AptNum {aptnum}" if aptnum else ""
        got = _appointment_fields(row, zone)
        if aptnum and aptnum in seen:
            got.problems.append(f"AptNum {aptnum} appears again (first at {seen[aptnum]})")
        if got.status == "":
            parsed.warn(at, "not a scheduled appointment (planned, unscheduled or a note); skipped", ref)
            continue
        internal = internal_id(source, APPOINTMENT, aptnum) if aptnum else ""
        seen.setdefault(aptnum, at)
        if got.problems or got.start is None or not got.status:
            parsed.reject(at, "; ".join(got.problems), ref, internal)
            continue
        parsed.appointments.append(
            Record(
                APPOINTMENT,
                Appointment(
                    id=internal,
                    patient_id=internal_id(source, PATIENT, row["PatNum"]),
                    provider_id=resources.provider(at, row),
                    operatory_id=resources.operatory(at, row),
                    type_id=resources.appointment_type(at, row, got.minutes),
                    start=got.start,
                    end=got.start + timedelta(minutes=got.minutes),
                    status=got.status,
                    note=row.get("Note", ""),
                    source_id=aptnum,
                ),
                at,
                ref,
                refs={internal_id(source, PATIENT, row["PatNum"]): f"PatNum {row['PatNum']}"},
            )
        )
    parsed.providers = list(resources.providers.values())
    parsed.operatories = list(resources.operatories.values())
    parsed.appointment_types = resources.type_records()
    return parsed
