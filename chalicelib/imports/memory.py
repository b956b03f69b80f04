"""In-memory twin of the import store, for service tests. Same comparisons and conditions as the DynamoDB one."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from chalicelib.appointments.model import Appointment
from chalicelib.imports.model import APPOINTMENT, GUARDIAN, PATIENT, Change, ImportReport, Stored
from chalicelib.patients.model import ContactLink, Guardian, Patient


def _links(value: Any) -> frozenset[tuple[str, str]]:
    addresses = [a for a in (getattr(value, "phone", ""), getattr(value, "email", "")) if a]
    if isinstance(value, Patient):
        return frozenset((a, value.id) for a in addresses)
    if isinstance(value, Guardian):
        return frozenset((a, pid) for pid in value.patient_ids for a in addresses)
    return frozenset()


class MemoryImportStore:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str, str], tuple[Any, str, int]] = {}  # (practice, entity, id) -> value, hash, ver
        self.links: dict[tuple[str, str, str], ContactLink] = {}  # (practice, address, patient id) -> link
        self.runs: list[tuple[ImportReport, str, str]] = []
        self.writes = 0
        self.fail_updates_of: set[str] = set()  # ids whose update loses a race (tests)

    def existing(self, practice_id: str, entity: str, ids: Collection[str]) -> dict[str, Stored]:
        out = {}
        for i in ids:
            found = self.items.get((practice_id, entity, i))
            if found is None:
                continue
            value, source_hash, version = found
            if isinstance(value, Appointment):
                out[i] = Stored(source_hash, status=value.status, start=value.start, version=version)
            else:
                out[i] = Stored(source_hash, links=_links(value))
        return out

    def grants(self, practice_id: str, patient_ids: Collection[str]) -> dict[tuple[str, str], set[str]]:
        out: dict[tuple[str, str], set[str]] = {}
        for (practice, entity, item_id), (value, _, _) in self.items.items():
            if practice != practice_id or entity not in (PATIENT, GUARDIAN):
                continue
            for pair in _links(value):
                if pair[1] in patient_ids:
                    out.setdefault(pair, set()).add(item_id)
        return out

    def put_links(self, practice_id: str, links: Sequence[ContactLink]) -> None:
        self.writes += (len(links) + 24) // 25
        for link in links:
            self.links[(practice_id, link.address, link.patient_id)] = link

    def create(self, practice_id: str, zone: str, entity: str, changes: Sequence[Change[Any]]) -> None:
        self.writes += (len(changes) + 24) // 25
        for change in changes:
            value = change.value
            if isinstance(value, Appointment):
                value = dataclasses.replace(value, history=list(change.history))
            self.items[(practice_id, entity, value.id)] = (value, change.source_hash, 1)

    def update(self, practice_id: str, zone: str, entity: str, change: Change[Any], at: datetime) -> bool:
        key = (practice_id, entity, change.value.id)
        current = self.items.get(key)
        previous = change.previous
        if current is None or previous is None or change.value.id in self.fail_updates_of:
            return False
        if entity == APPOINTMENT and current[2] != previous.version:
            return False
        if entity != APPOINTMENT and current[1] != previous.source_hash:
            return False
        self.writes += 1
        value = change.value
        if isinstance(value, Appointment):
            value = dataclasses.replace(value, history=[*current[0].history, *change.history])
        self.items[key] = (value, change.source_hash, current[2] + 1)
        for address, patient_id in change.stale_links:
            self.links.pop((practice_id, address, patient_id), None)
        return True

    def record_run(self, report: ImportReport, actor_type: str, actor_id: str) -> None:
        self.writes += 1
        self.runs.append((report, actor_type, actor_id))

    # -- test helpers ------------------------------------------------------------------------------------
    def value(self, practice_id: str, entity: str, item_id: str) -> Any:
        return self.items[(practice_id, entity, item_id)][0]

    def of(self, practice_id: str, entity: str) -> list[Any]:
        return [v for (p, e, _), (v, _, _) in self.items.items() if p == practice_id and e == entity]

    def addresses_for(self, practice_id: str, patient_id: str) -> set[str]:
        return {a for (p, a, pid) in self.links if p == practice_id and pid == patient_id}
