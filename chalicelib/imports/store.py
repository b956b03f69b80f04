"""The import's port onto the table: compare, create in batches, update conditionally, record runs.

Write order keeps a crash harmless (a re-run finishes the job): contact links are written before
the records that grant them, and a record's ``source_hash`` (the import's "done" mark) is written
with the record itself. An update and the deletion of the links it revokes are one transaction,
conditional on the item being what the import compared against.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.appointments.model import Appointment, HistoryEntry
from chalicelib.appointments.store import AppointmentItem, appointment_item
from chalicelib.imports.model import (
    APPOINTMENT,
    APPOINTMENT_TYPE,
    GUARDIAN,
    OPERATORY,
    PATIENT,
    PROVIDER,
    Change,
    ImportReport,
    Stored,
)
from chalicelib.patients.model import ContactLink, Guardian, Patient
from chalicelib.patients.search_store import PatientSearchIndex
from chalicelib.patients.store import (
    ContactLinkItem,
    GuardianItem,
    PatientItem,
    contact_link_item,
    contact_sk,
    guardian_item,
    patient_item,
)
from chalicelib.platform.table import TableItem, practice_pk
from chalicelib.practices.model import AppointmentType, Operatory, Provider
from chalicelib.practices.store import (
    AppointmentTypeItem,
    OperatoryItem,
    ProviderItem,
    appointment_type_item,
    operatory_item,
    provider_item,
)

MAX_STORED_PROBLEMS = 500  # a run record stays far below DynamoDB's 400 KB item limit

_ITEM: dict[str, type[TableItem]] = {
    PROVIDER: ProviderItem,
    OPERATORY: OperatoryItem,
    APPOINTMENT_TYPE: AppointmentTypeItem,
    PATIENT: PatientItem,
    GUARDIAN: GuardianItem,
    APPOINTMENT: AppointmentItem,
}
_SK_PREFIX = {
    PROVIDER: "PROVIDER#",
    OPERATORY: "OPERATORY#",
    APPOINTMENT_TYPE: "APPTTYPE#",
    PATIENT: "PATIENT#",
    GUARDIAN: "GUARDIAN#",
    APPOINTMENT: "APPT#",
}
# What an import owns on each item, and so updates; anything else (a provider's hours set in the
# dashboard, reminder state on an appointment) is left as it is.
_OWNED = {
    PROVIDER: ("name", "kind", "source_id"),
    OPERATORY: ("name", "source_id"),
    APPOINTMENT_TYPE: ("name", "duration_min", "category"),
    PATIENT: ("given_name", "family_name", "birth_date", "phone", "email", "language", "zone", "active", "source_id"),
    GUARDIAN: ("given_name", "family_name", "phone", "email", "relationship", "patient_ids", "source_id"),
    APPOINTMENT: (
        "patient_id",
        "provider_id",
        "operatory_id",
        "type_id",
        "start",
        "end",
        "status",
        "note",
        "source_id",
        "history",
        "gsi1pk",
        "gsi1sk",
        "gsi2pk",
        "gsi2sk",
    ),
}
_PROJECTION = {
    PATIENT: ("phone", "email"),
    GUARDIAN: ("phone", "email", "patient_ids"),
    APPOINTMENT: ("status", "start", "version", "history"),
}


class ImportRunItem(TableItem, discriminator="ImportRun"):
    """One import run that changed something: who, what file kind, the counts and the problems."""

    run_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    source = UnicodeAttribute()
    actor_type = UnicodeAttribute()
    actor_id = UnicodeAttribute()
    started_at = UTCDateTimeAttribute()
    finished_at = UTCDateTimeAttribute()
    items = NumberAttribute(default=0)
    created = NumberAttribute(default=0)
    updated = NumberAttribute(default=0)
    unchanged = NumberAttribute(default=0)
    rejected = NumberAttribute(default=0)
    by_entity = JSONAttribute(default=dict)
    errors = JSONAttribute(default=list)  # positions and reasons only, never values
    warnings = JSONAttribute(default=list)


def run_sk(started_at: datetime, run_id: str) -> str:
    return f"IMPORT#{started_at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#{run_id}"


def _links_of(item: Any, entity: str) -> frozenset[tuple[str, str]]:
    """The (address, patient id) pairs a stored patient (its own) or guardian (its patients') grants."""
    addresses = [a for a in (item.phone, item.email) if a]
    if entity == PATIENT:
        return frozenset((a, str(item.sk).removeprefix("PATIENT#")) for a in addresses)
    return frozenset((a, str(pid)) for pid in item.patient_ids or [] for a in addresses)


def _history_from(raw: list[dict[str, Any]] | None) -> tuple[HistoryEntry, ...]:
    return tuple(
        HistoryEntry(
            at=datetime.fromisoformat(h["at"]),
            action=h["action"],
            by=h["by"],
            reason=h.get("reason", ""),
            previous_start=datetime.fromisoformat(h["previous_start"]) if h.get("previous_start") else None,
        )
        for h in raw or []
    )


def _stored(entity: str, item: Any) -> Stored:
    if entity in (PATIENT, GUARDIAN):
        return Stored(item.source_hash or "", links=_links_of(item, entity))
    if entity == APPOINTMENT:
        return Stored(
            item.source_hash or "",
            status=item.status,
            start=item.start,
            version=int(item.version) if item.version is not None else None,
            history=_history_from(item.history),
        )
    return Stored(item.source_hash or "")


def _item_for(practice_id: str, zone: str, change: Change[Any]) -> TableItem:
    value = change.value
    item: TableItem
    if isinstance(value, Provider):
        item = provider_item(practice_id, value)
    elif isinstance(value, Operatory):
        item = operatory_item(practice_id, value)
    elif isinstance(value, AppointmentType):
        item = appointment_type_item(practice_id, value)
    elif isinstance(value, Patient):
        item = patient_item(practice_id, value, change.source_hash)
    elif isinstance(value, Guardian):
        item = guardian_item(practice_id, value, change.source_hash)
    elif isinstance(value, Appointment):
        previous = list(change.previous.history) if change.previous else []
        with_history = dataclasses.replace(value, history=previous + change.history)
        item = appointment_item(practice_id, zone, with_history, change.source_hash)
    else:  # pragma: no cover - Change only holds the entities above
        raise TypeError(type(value).__name__)
    setattr(item, "source_hash", change.source_hash)  # noqa: B010 - every item class here has one
    return item


def _reindex(practice_id: str, values: Sequence[Any]) -> None:
    """Keep the patient search index (chalicelib/patients/search_store.py) in step with imported patients."""
    patients = [v for v in values if isinstance(v, Patient)]
    if patients:
        PatientSearchIndex().index(practice_id, patients)


class DynamoImportStore:
    """The ``ImportPort`` over the single table (see chalicelib/imports/service.py)."""

    def existing(self, practice_id: str, entity: str, ids: Collection[str]) -> dict[str, Stored]:
        """What the table holds for these ids (BatchGetItem, 100 keys a request, projected)."""
        if not ids:
            return {}
        model = _ITEM[entity]
        prefix = _SK_PREFIX[entity]
        keys = [(practice_pk(practice_id), f"{prefix}{i}") for i in dict.fromkeys(ids)]
        attributes = ["PK", "SK", "type", "source_hash", *_PROJECTION.get(entity, ())]
        return {
            str(item.sk).removeprefix(prefix): _stored(entity, item)
            for item in model.batch_get(keys, attributes_to_get=attributes)
        }

    def grants(self, practice_id: str, patient_ids: Collection[str]) -> dict[tuple[str, str], set[str]]:
        """Stored (address, patient id) grants for these patients -> the holders granting them.

        Reads the patients (BatchGetItem) and every guardian of the practice (one paginated Query):
        there is no index from a patient to its guardians, and this runs only when an import
        revokes a contact.
        """
        wanted = set(patient_ids)
        out: dict[tuple[str, str], set[str]] = {}
        keys = [(practice_pk(practice_id), f"PATIENT#{pid}") for pid in sorted(wanted)]
        for p in PatientItem.batch_get(keys, attributes_to_get=["PK", "SK", "type", "phone", "email"]):
            pid = str(p.sk).removeprefix("PATIENT#")
            for address in (p.phone, p.email):
                if address:
                    out.setdefault((address, pid), set()).add(pid)
        guardians = GuardianItem.query(
            practice_pk(practice_id),
            GuardianItem.sk.startswith("GUARDIAN#"),
            attributes_to_get=["PK", "SK", "type", "phone", "email", "patient_ids"],
        )
        for g in guardians:
            gid = str(g.sk).removeprefix("GUARDIAN#")
            for address, pid in _links_of(g, GUARDIAN):
                if pid in wanted:
                    out.setdefault((address, pid), set()).add(gid)
        return out

    def put_links(self, practice_id: str, links: Sequence[ContactLink]) -> None:
        with ContactLinkItem.batch_write() as batch:
            for link in links:
                batch.save(contact_link_item(practice_id, link))

    def create(self, practice_id: str, zone: str, entity: str, changes: Sequence[Change[Any]]) -> None:
        """New items in BatchWriteItem requests of 25. Ids derive from source ids, so only an import of
        the same source record could race this write, and it would write the same content."""
        if not changes:
            return
        with _ITEM[entity].batch_write() as batch:
            for change in changes:
                item = _item_for(practice_id, zone, change)
                if isinstance(item, AppointmentItem):
                    item.version = 1  # what a first save() would set, so later conditional saves line up
                batch.save(item)
        _reindex(practice_id, [c.value for c in changes])

    def update(self, practice_id: str, zone: str, entity: str, change: Change[Any], at: datetime) -> bool:
        """Update the import-owned attributes and delete revoked links, atomically.

        False when the item changed since it was compared (another import, or for an appointment
        any change at all): nothing is written and the caller reports it.
        """
        if change.previous is None:
            raise ValueError("update needs the stored state it replaces")
        model: Any = _ITEM[entity]
        fresh = _item_for(practice_id, zone, change)
        target = model(fresh.pk, fresh.sk)
        actions: list[Action] = [model.updated_at.set(at), model.source_hash.set(change.source_hash)]
        for name in _OWNED[entity]:
            attribute = getattr(model, name)
            value = getattr(fresh, name)
            if name == "zone" and not value:
                continue  # a source without zones leaves the patient's own setting alone
            actions.append(attribute.remove() if value is None else attribute.set(value))
        condition: Condition = model.pk.exists()
        if entity == APPOINTMENT:
            target.version = change.previous.version  # pynamodb adds "version = <this>" and increments it
        elif change.previous.source_hash:
            condition &= model.source_hash == change.previous.source_hash
        else:
            condition &= model.source_hash.does_not_exist() | (model.source_hash == "")
        try:
            with TransactWrite(connection=model._get_connection().connection) as txn:
                txn.update(target, actions=actions, condition=condition)
                for address, patient_id in change.stale_links:
                    txn.delete(ContactLinkItem(practice_pk(practice_id), contact_sk(address, patient_id)))
        except TransactWriteError as exc:
            if "ConditionalCheckFailed" in str(exc.cause_response_code) or _cancelled_by_condition(exc):
                return False
            raise
        _reindex(practice_id, [change.value])
        return True

    def record_run(self, report: ImportReport, actor_type: str, actor_id: str) -> None:
        started = report.started_at or datetime.now(UTC)
        ImportRunItem(
            practice_pk(report.practice_id),
            run_sk(started, report.run_id),
            run_id=report.run_id,
            kind=report.kind,
            source=report.source,
            actor_type=actor_type,
            actor_id=actor_id,
            started_at=started,
            finished_at=report.finished_at or started,
            items=report.items,
            created=report.created,
            updated=report.updated,
            unchanged=report.unchanged,
            rejected=report.rejected,
            by_entity=report.as_json()["by_entity"],
            errors=[p.as_json() for p in report.errors[:MAX_STORED_PROBLEMS]],
            warnings=[p.as_json() for p in report.warnings[:MAX_STORED_PROBLEMS]],
        ).save(condition=ImportRunItem.pk.does_not_exist())

    def runs(self, practice_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The practice's latest import runs, newest first (counts only)."""
        items: Iterable[ImportRunItem] = ImportRunItem.query(
            practice_pk(practice_id),
            ImportRunItem.sk.startswith("IMPORT#"),
            scan_index_forward=False,
            limit=limit,
        )
        return [
            {
                "run_id": i.run_id,
                "kind": i.kind,
                "source": i.source,
                "started_at": i.started_at.isoformat(),
                "created": int(i.created),
                "updated": int(i.updated),
                "unchanged": int(i.unchanged),
                "rejected": int(i.rejected),
            }
            for i in items
        ]


def _cancelled_by_condition(exc: TransactWriteError) -> bool:
    reasons = getattr(exc, "cancellation_reasons", None) or []
    return any(r is not None and r.code == "ConditionalCheckFailed" for r in reasons)
