"""Practice data imports: what a parsed file holds, where it went wrong, and what a run changed. Pure domain.

Invariants:
- Internal ids derive from (source system, entity, source id) only, so the same source record always
  lands on the same item, whatever file or run it comes from.
- ``content_hash`` covers the normalised fields the import owns; a record whose hash equals the stored
  ``source_hash`` is left alone, which makes re-importing the same file write nothing.
- Problems name a position and a reason, never a value: they reach reports, run records and logs.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from chalicelib.appointments.model import Appointment, HistoryEntry
from chalicelib.patients.model import Guardian, Patient
from chalicelib.practices.model import AppointmentType, Operatory, Provider

FHIR = "fhir"
PATIENTS_CSV = "patients_csv"
APPOINTMENTS_CSV = "appointments_csv"
KINDS = (FHIR, PATIENTS_CSV, APPOINTMENTS_CSV)

PROVIDER = "provider"
OPERATORY = "operatory"
APPOINTMENT_TYPE = "appointment_type"
PATIENT = "patient"
GUARDIAN = "guardian"
APPOINTMENT = "appointment"
# Write order: what an item refers to is written before it.
ENTITIES = (PROVIDER, OPERATORY, APPOINTMENT_TYPE, PATIENT, GUARDIAN, APPOINTMENT)

_ID_PREFIX = {
    PROVIDER: "prv_",
    OPERATORY: "opr_",
    APPOINTMENT_TYPE: "typ_",
    PATIENT: "pat_",
    GUARDIAN: "gdn_",
    APPOINTMENT: "apt_",
}

# Bump when the mapping from source to fields changes, so the next import rewrites every record once.
HASH_VERSION = "1"

DEFAULT_SOURCE = {FHIR: "fhir", PATIENTS_CSV: "csv", APPOINTMENTS_CSV: "csv"}


@functools.lru_cache(maxsize=65536)
def internal_id(source: str, entity: str, source_id: str) -> str:
    """Our id for a source record: stable across runs and files, distinct per source system and entity."""
    digest = hashlib.sha256("\x1f".join((source, entity, source_id)).encode()).hexdigest()
    return _ID_PREFIX[entity] + digest[:20]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def content_hash(value: Any) -> str:
    """Hash of a domain record's import-owned fields (an appointment's history is not one of them)."""
    fields = {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name != "history"}
    canonical = json.dumps([HASH_VERSION, type(value).__name__, fields], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


_CATEGORY_WORDS = (
    ("emergency", ("emergency", "urgent", "toothache", "limited")),
    ("hygiene", ("clean", "hygien", "prophy", "perio", "recall", "recare", "srp", "scaling")),
    ("exam", ("exam", "check", "consult", "eval", "new patient", "x-ray", "xray")),
    ("restorative", ("fill", "crown", "root canal", "endo", "extract", "restor", "bridge", "implant", "veneer")),
)


def category_for(name: str) -> str:
    """A type's category from its name as practices write it: hygiene | restorative | exam | emergency | general."""
    text = name.lower()
    for category, words in _CATEGORY_WORDS:
        if any(w in text for w in words):
            return category
    return "general"


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (empty, wrong type, not a bundle, missing columns)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Problem:
    """A rejected row or resource (or a warning): where it is in the file, and why."""

    at: str  # "row 7", "entry 12", or "file"
    reason: str
    ref: str = ""  # the source record, by source id only: "PatNum 17", "Patient/p-1"

    def as_json(self) -> dict[str, str]:
        out = {"at": self.at, "reason": self.reason}
        if self.ref:
            out["ref"] = self.ref
        return out


def position_key(problem: Problem) -> tuple[int, int]:
    """File order: "row 12" and "entry[12]" by number, anything else after."""
    digits = "".join(c for c in problem.at if c.isdigit())
    return (0, int(digits)) if digits else (1, 0)


Entity = Provider | Operatory | AppointmentType | Patient | Guardian | Appointment
E = TypeVar("E", Provider, Operatory, AppointmentType, Patient, Guardian, Appointment)


@dataclass
class Record(Generic[E]):
    """One entity read from a file, with where it came from (one entity may merge several rows)."""

    entity: str
    value: E
    at: str
    ref: str
    refs: dict[str, str] = field(default_factory=dict)  # internal id referred to -> its source ref

    @property
    def id(self) -> str:
        return self.value.id

    @property
    def source_hash(self) -> str:
        return content_hash(self.value)


@dataclass
class Parsed:
    """What a parser found: records to upsert, rejected positions and warnings."""

    kind: str
    source: str
    items: int = 0  # rows or bundle entries read
    providers: list[Record[Provider]] = field(default_factory=list)
    operatories: list[Record[Operatory]] = field(default_factory=list)
    appointment_types: list[Record[AppointmentType]] = field(default_factory=list)
    patients: list[Record[Patient]] = field(default_factory=list)
    guardians: list[Record[Guardian]] = field(default_factory=list)
    appointments: list[Record[Appointment]] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    # internal id -> position, for records this file held but that were rejected: a reference to one
    # of them can then say why it failed.
    rejected: dict[str, str] = field(default_factory=dict)

    def reject(self, at: str, reason: str, ref: str = "", internal: str = "") -> None:
        self.errors.append(Problem(at, reason, ref))
        if internal:
            self.rejected.setdefault(internal, at)

    def warn(self, at: str, reason: str, ref: str = "") -> None:
        self.warnings.append(Problem(at, reason, ref))

    def records(self) -> Iterator[Record[Any]]:
        """Every record, in write order."""
        yield from self.providers
        yield from self.operatories
        yield from self.appointment_types
        yield from self.patients
        yield from self.guardians
        yield from self.appointments


@dataclass(frozen=True)
class Stored:
    """What the table holds for an entity, as much as an import needs to compare and relink."""

    source_hash: str
    links: frozenset[tuple[str, str]] = frozenset()  # (address, patient id) pairs this holder grants
    status: str = ""  # appointments: what the status is now (staff or patient may have changed it)
    start: datetime | None = None
    version: int | None = None  # appointments: the optimistic-lock version an update must match
    history: tuple[HistoryEntry, ...] = ()


@dataclass
class Change(Generic[E]):
    """A record to write: its final value, the hash of its source content, and what it replaces."""

    record: Record[E]
    value: E
    source_hash: str
    previous: Stored | None = None  # None: a new item
    history: list[HistoryEntry] = field(default_factory=list)  # appointments: entries to append
    stale_links: list[tuple[str, str]] = field(default_factory=list)  # (address, patient id) to delete


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class ImportReport:
    run_id: str
    practice_id: str
    kind: str
    source: str
    dry_run: bool = False
    items: int = 0
    by_entity: dict[str, Tally] = field(default_factory=lambda: {e: Tally() for e in ENTITIES})
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def created(self) -> int:
        return sum(t.created for t in self.by_entity.values())

    @property
    def updated(self) -> int:
        return sum(t.updated for t in self.by_entity.values())

    @property
    def unchanged(self) -> int:
        return sum(t.unchanged for t in self.by_entity.values())

    @property
    def rejected(self) -> int:
        """Rows or entries rejected: each position counts once, however many reasons it has."""
        return len({p.at for p in self.errors})

    @property
    def changed(self) -> bool:
        return self.created + self.updated > 0

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "practice_id": self.practice_id,
            "kind": self.kind,
            "source": self.source,
            "dry_run": self.dry_run,
            "items": self.items,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "by_entity": {e: dataclasses.asdict(t) for e, t in self.by_entity.items()},
            "errors": [p.as_json() for p in self.errors],
            "warnings": [p.as_json() for p in self.warnings],
        }
