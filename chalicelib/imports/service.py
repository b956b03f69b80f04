"""Importing a practice's data: parse, compare with what is stored, write only what changed, audit it.

Ports: ``PracticeReader`` (the practice and its zone), ``ImportPort`` (chalicelib/imports/store.py over
the table, an in-memory twin in tests), ``Auditor``, ``Clock``, and optionally the appointment event bus
(reminders re-plan upcoming visits from it) and a progress callback (the command line prints it).

Invariants:
- Re-importing the same file writes nothing at all: no items, no audit events, no run record.
- A rejected row or resource is reported with its position and reason; the others still import.
- A record referring to something neither in the file nor already stored is rejected, not half-linked.
- An import never deletes a patient, guardian or appointment; it revokes a contact link only when no
  holder (the patient or any guardian, stored or in the file) still grants it.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import date, datetime
from typing import Any, Protocol

from chalicelib.appointments.events import CREATED, MOVED, STATUS_CHANGED, AppointmentChanged, AppointmentEvents
from chalicelib.appointments.model import BOOKED, CONFIRMED, Appointment, HistoryEntry
from chalicelib.audit.model import ACTOR_JOB
from chalicelib.audit.service import Auditor
from chalicelib.imports.csv_rows import parse_appointments_csv, parse_patients_csv
from chalicelib.imports.fhir import parse_fhir_bundle
from chalicelib.imports.model import (
    APPOINTMENT,
    APPOINTMENTS_CSV,
    DEFAULT_SOURCE,
    ENTITIES,
    FHIR,
    GUARDIAN,
    KINDS,
    OPERATORY,
    PATIENT,
    PATIENTS_CSV,
    PROVIDER,
    Change,
    ImportFileError,
    ImportReport,
    Parsed,
    Problem,
    Record,
    Stored,
    position_key,
)
from chalicelib.patients.model import ContactLink, Guardian, Patient, contact_links_for, guardian_links_for
from chalicelib.platform.clock import Clock
from chalicelib.platform.errors import NotFound
from chalicelib.practices.model import Practice

Progress = Callable[[str, int, int], None]  # (phase, done, total)
WRITE_CHUNK = 500  # records per progress step while writing
_BY = "import"


class PracticeReader(Protocol):
    def get(self, practice_id: str) -> Practice | None: ...


class ImportPort(Protocol):
    def existing(self, practice_id: str, entity: str, ids: Collection[str]) -> dict[str, Stored]: ...

    def grants(self, practice_id: str, patient_ids: Collection[str]) -> dict[tuple[str, str], set[str]]: ...

    def put_links(self, practice_id: str, links: Sequence[ContactLink]) -> None: ...

    def create(self, practice_id: str, zone: str, entity: str, changes: Sequence[Change[Any]]) -> None: ...

    def update(self, practice_id: str, zone: str, entity: str, change: Change[Any], at: datetime) -> bool: ...

    def record_run(self, report: ImportReport, actor_type: str, actor_id: str) -> None: ...


def parse_file(kind: str, raw: bytes, *, source: str, zone: str, today: date) -> Parsed:
    """The parser for a file kind; raises ImportFileError for a file that cannot be read as that kind."""
    if kind == FHIR:
        return parse_fhir_bundle(raw, source=source)
    if kind == PATIENTS_CSV:
        return parse_patients_csv(raw, source=source, today=today)
    if kind == APPOINTMENTS_CSV:
        return parse_appointments_csv(raw, source=source, zone=zone)
    raise ImportFileError("unknown_kind", f"kind must be one of {', '.join(KINDS)}")


def import_file(
    *,
    practices: PracticeReader,
    port: ImportPort,
    auditor: Auditor,
    clock: Clock,
    practice_id: str,
    kind: str,
    raw: bytes,
    source: str = "",
    actor_type: str = ACTOR_JOB,
    actor_id: str = "import",
    dry_run: bool = False,
    events: AppointmentEvents | None = None,
    progress: Progress | None = None,
    tally: Callable[[list[str]], object] | None = None,
) -> ImportReport:
    """Import one file into one practice and say what happened.

    Raises NotFound for an unknown practice and ImportFileError for a file that is not of ``kind``.
    ``tally`` gets the ids of the appointments written, past ones included (analytics counts them).
    """
    if kind not in KINDS:
        raise ImportFileError("unknown_kind", f"kind must be one of {', '.join(KINDS)}")
    practice = practices.get(practice_id)
    if practice is None:
        raise NotFound("no such practice")
    started = clock.now()
    source = source.strip() or DEFAULT_SOURCE[kind]
    report_progress = progress or (lambda phase, done, total: None)
    report_progress("parse", 0, 1)
    parsed = parse_file(kind, raw, source=source, zone=practice.zone, today=started.astimezone(practice.tz).date())
    report_progress("parse", 1, 1)
    run = _Run(parsed, practice, port, clock, dry_run, report_progress)
    report = run.execute(started)
    if report.changed and not dry_run:
        port.record_run(report, actor_type, actor_id)
        _audit(auditor, report, actor_type, actor_id, run.touched_patients)
        if events is not None:
            for event in run.appointment_events:
                events.publish(event)
        if tally is not None and run.written_appointments:
            tally(run.written_appointments)
    return report


def _audit(auditor: Auditor, report: ImportReport, actor_type: str, actor_id: str, patient_ids: Iterable[str]) -> None:
    """One practice-level event per run, and one per patient whose data the run wrote (batched)."""
    common: dict[str, Any] = {
        "actor_type": actor_type,
        "actor_id": actor_id,
        "record": f"import:{report.run_id}",
        "source": f"import:{report.kind}",
    }
    auditor.record(report.practice_id, action="import.run", patient_ids=("",), **common)
    touched = sorted(set(patient_ids))
    if touched:
        auditor.record(report.practice_id, action="import.write", patient_ids=touched, **common)


class _Run:
    def __init__(
        self,
        parsed: Parsed,
        practice: Practice,
        port: ImportPort,
        clock: Clock,
        dry_run: bool,
        progress: Progress,
    ) -> None:
        self.parsed = parsed
        self.practice = practice
        self.port = port
        self.clock = clock
        self.dry_run = dry_run
        self.progress = progress
        self.report = ImportReport(
            run_id=uuid.uuid4().hex,
            practice_id=practice.id,
            kind=parsed.kind,
            source=parsed.source,
            dry_run=dry_run,
            items=parsed.items,
            errors=list(parsed.errors),
            warnings=list(parsed.warnings),
        )
        self.stored: dict[str, dict[str, Stored]] = {}
        self.known: dict[str, set[str]] = {}  # ids in this file or already stored, per entity
        self.touched_patients: set[str] = set()
        self.appointment_events: list[AppointmentChanged] = []
        self.written_appointments: list[str] = []

    # -- read ------------------------------------------------------------------------------------------
    def _load(self) -> None:
        batches: dict[str, Sequence[Record[Any]]] = {
            PROVIDER: self.parsed.providers,
            OPERATORY: self.parsed.operatories,
            "appointment_type": self.parsed.appointment_types,
            PATIENT: self.parsed.patients,
            GUARDIAN: self.parsed.guardians,
            APPOINTMENT: self.parsed.appointments,
        }
        total = sum(len(v) for v in batches.values())
        done = 0
        for entity in ENTITIES:
            records = batches[entity]
            self.stored[entity] = self.port.existing(self.practice.id, entity, [r.id for r in records])
            self.known[entity] = {r.id for r in records}
            done += len(records)
            self.progress("compare", done, total)

    def _require(self, entity: str, ids: Iterable[str]) -> set[str]:
        """Which of these ids exist, in this file or stored; reads only those not in the file."""
        wanted = {i for i in ids if i}
        missing = wanted - self.known[entity]
        if missing:
            found = self.port.existing(self.practice.id, entity, sorted(missing))
            self.known[entity] |= set(found)
            self.stored[entity].update(found)
        return wanted & self.known[entity]

    def _why_missing(self, internal: str, what: str) -> str:
        at = self.parsed.rejected.get(internal)
        return f"{what} was rejected ({at})" if at else f"{what} is not in this file and was not imported before"

    def _check_references(self) -> None:
        appointments = self.parsed.appointments
        patients = self._require(
            PATIENT,
            [a.value.patient_id for a in appointments]
            + [p for g in self.parsed.guardians for p in g.value.patient_ids],
        )
        providers = self._require(PROVIDER, [a.value.provider_id for a in appointments])
        operatories = self._require(OPERATORY, [a.value.operatory_id for a in appointments])
        kept = []
        for record in appointments:
            a = record.value
            problems = []
            if a.patient_id not in patients:
                problems.append(self._why_missing(a.patient_id, f"its patient ({record.refs.get(a.patient_id, '?')})"))
            if a.provider_id and a.provider_id not in providers:
                problems.append(self._why_missing(a.provider_id, f"its provider ({record.refs.get(a.provider_id)})"))
            if a.operatory_id and a.operatory_id not in operatories:
                problems.append(self._why_missing(a.operatory_id, f"its room ({record.refs.get(a.operatory_id)})"))
            if problems:
                self.report.errors.append(Problem(record.at, "; ".join(problems), record.ref))
            else:
                kept.append(record)
        self.parsed.appointments = kept
        guardians = []
        for g in self.parsed.guardians:
            gone = [p for p in g.value.patient_ids if p not in patients]
            for pid in gone:
                why = self._why_missing(pid, f"its patient ({g.refs.get(pid, '?')})")
                self.report.warnings.append(Problem(g.at, f"{why}; no guardian link made", g.ref))
            g.value.patient_ids = [p for p in g.value.patient_ids if p in patients]
            if g.value.patient_ids:
                guardians.append(g)
            else:
                self.report.errors.append(Problem(g.at, "none of its patients could be imported", g.ref))
        self.parsed.guardians = guardians

    # -- compare ---------------------------------------------------------------------------------------
    def _changes(self) -> dict[str, tuple[list[Change[Any]], list[Change[Any]]]]:
        """(creates, updates) per entity; unchanged records are only counted."""
        now = self.clock.now()
        out: dict[str, tuple[list[Change[Any]], list[Change[Any]]]] = {e: ([], []) for e in ENTITIES}
        for record in self.parsed.records():
            source_hash = record.source_hash
            previous = self.stored[record.entity].get(record.id)
            tally = self.report.by_entity[record.entity]
            if previous is not None and previous.source_hash == source_hash:
                tally.unchanged += 1
                continue
            change: Change[Any] = Change(record, record.value, source_hash, previous)
            if isinstance(record.value, Appointment):
                change.value, change.history = _appointment_change(record.value, previous, now, self.report.run_id)
            out[record.entity][0 if previous is None else 1].append(change)
        return out

    def _links(self, changes: dict[str, tuple[list[Change[Any]], list[Change[Any]]]]) -> list[ContactLink]:
        """Links to put for every changed holder; marks the stale ones each update must delete."""
        final: dict[tuple[str, str], dict[str, ContactLink]] = {}  # pair -> holder id -> link
        batch_holders: set[str] = set()
        in_file: list[Record[Any]] = [*self.parsed.patients, *self.parsed.guardians]
        for record in in_file:
            batch_holders.add(record.id)
            for link in _links_for(record.value):
                final.setdefault((link.address, link.patient_id), {})[record.id] = link
        to_put: dict[tuple[str, str], ContactLink] = {}
        updates = [*changes[PATIENT][1], *changes[GUARDIAN][1]]
        for change in [*changes[PATIENT][0], *changes[GUARDIAN][0], *updates]:
            for link in _links_for(change.value):
                to_put[link.address, link.patient_id] = _preferred(final[link.address, link.patient_id])
        stale = {
            pair
            for change in updates
            for pair in (change.previous.links if change.previous else frozenset())
            if change.value.id not in final.get(pair, {})
        }
        if stale:
            stored = self.port.grants(self.practice.id, {pid for _, pid in stale})
            for pair in stale:
                holders = {h for h in stored.get(pair, set()) if h not in batch_holders} | set(final.get(pair, {}))
                if holders:  # another holder still grants it: keep it, held by one of them
                    to_put[pair] = _preferred(final.get(pair, {})) if final.get(pair) else _kept(pair, holders)
            for change in updates:
                previous_links = change.previous.links if change.previous else frozenset()
                change.stale_links = sorted(
                    pair for pair in previous_links if pair in stale and pair not in to_put and pair not in final
                )
                stale -= set(change.stale_links)  # delete each pair once
                self.touched_patients |= {pid for _, pid in change.stale_links}
        return sorted(to_put.values(), key=lambda link: (link.address, link.patient_id))

    # -- write -----------------------------------------------------------------------------------------
    def execute(self, started: datetime) -> ImportReport:
        self.report.started_at = started
        self._load()
        self._check_references()
        changes = self._changes()
        links = self._links(changes)
        creates = sum(len(c) for c, _ in changes.values())
        updates = sum(len(u) for _, u in changes.values())
        total, done = creates + updates, 0
        if not self.dry_run and links:
            self.port.put_links(self.practice.id, links)
        for entity in ENTITIES:
            created, updated = changes[entity]
            for chunk_start in range(0, len(created), WRITE_CHUNK):
                chunk = created[chunk_start : chunk_start + WRITE_CHUNK]
                if not self.dry_run:
                    self.port.create(self.practice.id, self.practice.zone, entity, chunk)
                for change in chunk:
                    self._written(entity, change, created=True)
                done += len(chunk)
                self.progress("write", done, total)
            for change in updated:
                at = self.clock.now()
                if self.dry_run or self.port.update(self.practice.id, self.practice.zone, entity, change, at):
                    self._written(entity, change, created=False)
                else:
                    reason = "changed by someone else while importing; import the file again"
                    self.report.errors.append(Problem(change.record.at, reason, change.record.ref))
                done += 1
                if done % WRITE_CHUNK == 0 or done == total:
                    self.progress("write", done, total)
        self.report.errors.sort(key=position_key)
        self.report.warnings.sort(key=position_key)
        self.report.finished_at = self.clock.now()
        return self.report

    def _written(self, entity: str, change: Change[Any], *, created: bool) -> None:
        tally = self.report.by_entity[entity]
        if created:
            tally.created += 1
        else:
            tally.updated += 1
        value = change.value
        if isinstance(value, Patient):
            self.touched_patients.add(value.id)
        elif isinstance(value, Guardian):
            self.touched_patients |= set(value.patient_ids)
        elif isinstance(value, Appointment):
            self.touched_patients.add(value.patient_id)
            self.written_appointments.append(value.id)
            self.appointment_events.extend(_events(self.practice.id, value, change, self.clock.now()))


def _links_for(value: Patient | Guardian) -> list[ContactLink]:
    return contact_links_for(value) if isinstance(value, Patient) else guardian_links_for(value)


def _preferred(by_holder: dict[str, ContactLink]) -> ContactLink:
    """The link to store when several holders grant one (address, patient): the patient's own wins."""
    return sorted(by_holder.values(), key=lambda x: (x.relation != "self", x.holder_id))[0]


def _kept(pair: tuple[str, str], holders: set[str]) -> ContactLink:
    address, patient_id = pair
    channel = "email" if "@" in address else "sms"
    if patient_id in holders:
        return ContactLink(address, channel, patient_id, "self", patient_id)
    return ContactLink(address, channel, patient_id, "guardian", sorted(holders)[0])


def _appointment_change(
    incoming: Appointment, previous: Stored | None, now: datetime, run_id: str
) -> tuple[Appointment, list[HistoryEntry]]:
    """The appointment to store, and the history entries that explain the change."""
    reason = f"import run {run_id}"
    if previous is None:
        return incoming, [HistoryEntry(at=now, action="imported", by=_BY, reason=reason)]
    value = incoming
    # A practice-management system rarely knows about confirmations made here: "booked" from the
    # source does not undo a confirmation of the same visit, but a move does.
    if previous.status == CONFIRMED and value.status == BOOKED and previous.start == value.start:
        value = dataclasses.replace(value, status=CONFIRMED)
    entries = []
    if previous.start is not None and previous.start != value.start:
        entries.append(HistoryEntry(at=now, action="moved", by=_BY, reason=reason, previous_start=previous.start))
    if previous.status and previous.status != value.status:
        entries.append(HistoryEntry(at=now, action=f"{previous.status}->{value.status}", by=_BY, reason=reason))
    if not entries:
        entries.append(HistoryEntry(at=now, action="imported", by=_BY, reason=reason))
    return value, entries


def _events(practice_id: str, value: Appointment, change: Change[Any], now: datetime) -> list[AppointmentChanged]:
    """Events for changes that can still matter to reminders: the visit is (or was) upcoming.

    History (a visit completed last year) raises none: the recall and reminder planners read the
    table on their daily pass, and thousands of events for past visits would only slow an import.
    """
    previous = change.previous
    was_upcoming = previous is not None and previous.start is not None and previous.start > now
    if value.start <= now and not was_upcoming:
        return []

    def event(kind: str, previous_start: datetime | None = None) -> AppointmentChanged:
        return AppointmentChanged(
            practice_id, value.id, value.patient_id, kind, value.status, value.start, previous_start, now, _BY
        )

    if previous is None:
        return [event(CREATED)]
    out = []
    if previous.start is not None and previous.start != value.start:
        out.append(event(MOVED, previous.start))
    if previous.status != value.status:
        out.append(event(STATUS_CHANGED))
    return out
