"""In-memory twin of the roll-up store, for service tests: the same conditions (appointment version and
applied tally, patient facts and account revisions), checked before anything of a transaction is written."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from chalicelib.analytics.model import AccountState, Deltas
from chalicelib.analytics.store import (
    Cancelled,
    Change,
    Page,
    StoredAccount,
    StoredAppointment,
    StoredFacts,
)
from chalicelib.appointments.model import Appointment
from chalicelib.billing.model import LedgerLine


class MemoryRollups:
    def __init__(self) -> None:
        self.appointment_items: dict[str, StoredAppointment] = {}
        self.patient_facts: dict[str, StoredFacts] = {}
        self.accounts: dict[str, StoredAccount] = {}
        self.lines: dict[str, list[LedgerLine]] = {}
        self.counters: dict[str, dict[str, int]] = {}
        self.total: dict[str, int] = {}
        self.commits = 0
        self._lock = threading.Lock()

    # -- seeding, as the other capabilities write ---------------------------------------------------------
    def put_appointment(self, a: Appointment) -> None:
        """A new or changed appointment, as the appointments capability writes it (its version moves)."""
        before = self.appointment_items.get(a.id)
        self.appointment_items[a.id] = StoredAppointment(a, (before.version + 1) if before else 1)

    def add_line(self, line: LedgerLine) -> None:
        self.lines.setdefault(line.patient_id, []).append(line)

    # -- the port -----------------------------------------------------------------------------------------
    def months(self, practice_id: str, months: Sequence[str]) -> dict[str, dict[str, int]]:
        return {m: {k: v for k, v in self.counters.get(m, {}).items() if v} for m in months}

    def totals(self, practice_id: str) -> dict[str, int]:
        return dict(self.total)

    def appointments(self, practice_id: str, ids: Sequence[str]) -> list[StoredAppointment]:
        return [self.appointment_items[i] for i in dict.fromkeys(ids) if i in self.appointment_items]

    def appointment_pages(self, practice_id: str) -> Iterator[list[StoredAppointment]]:
        items = sorted(self.appointment_items.values(), key=lambda s: s.appointment.id)
        for first in range(0, len(items), 3):  # small pages, so tests cross page boundaries
            yield items[first : first + 3]

    def facts(self, practice_id: str, patient_ids: Sequence[str]) -> dict[str, StoredFacts]:
        return {p: self.patient_facts.get(p, StoredFacts(p, 0)) for p in patient_ids}

    def account(self, practice_id: str, patient_id: str) -> StoredAccount:
        return self.accounts.get(patient_id, StoredAccount(patient_id, 0, None))

    def ledger(self, practice_id: str, patient_id: str) -> list[LedgerLine]:
        return list(self.lines.get(patient_id, []))

    def ledger_patients(self, practice_id: str) -> Iterator[str]:
        yield from sorted(self.lines)

    def index_page(self, index_pk: str, *, below: str, limit: int, cursor: str, newest_first: bool) -> Page | None:
        rows: list[dict[str, Any]]
        if index_pk.endswith("#RECALL"):
            rows = [
                {
                    "GSI1SK": f"{f.facts.last_hygiene.isoformat()}#{p}",
                    "patient_id": p,
                    "next_hygiene": f.facts.next_hygiene.isoformat() if f.facts.next_hygiene else None,
                }
                for p, f in self.patient_facts.items()
                if f.facts.last_hygiene is not None
            ]
        else:
            rows = [
                {
                    "GSI1SK": f"{a.state.oldest_open.isoformat()}#{p}",
                    "patient_id": p,
                    "balance": a.state.balance_cents,
                    "oldest_open": a.state.oldest_open.isoformat(),
                }
                for p, a in self.accounts.items()
                if a.state is not None and a.state.balance_cents > 0 and a.state.oldest_open is not None
            ]
        rows = sorted((r for r in rows if r["GSI1SK"] < below), key=lambda r: str(r["GSI1SK"]), reverse=newest_first)
        start = int(cursor) if cursor.isdigit() else 0
        if cursor and not cursor.isdigit():
            return None
        chunk = rows[start : start + limit]
        more = start + limit < len(rows)
        return Page(chunk, str(start + limit) if more else "")

    def _add(self, deltas: Deltas) -> None:
        for month, counters in deltas.items():
            bucket = self.counters.setdefault(month, {})
            for k, v in counters.items():
                bucket[k] = bucket.get(k, 0) + v

    def commit(self, practice_id: str, change: Change) -> None:
        with self._lock:
            for f, _, _ in change.patients:
                if self.patient_facts.get(f.patient_id, StoredFacts(f.patient_id, 0)).rev != f.rev:
                    raise Cancelled
            for f, facts, applied in change.patients:
                self.patient_facts[f.patient_id] = StoredFacts(f.patient_id, f.rev + 1, facts, dict(applied))
            self._add(change.deltas)
            self.commits += 1

    def commit_account(
        self, practice_id: str, stored: StoredAccount, state: AccountState, deltas: Deltas, totals: Mapping[str, int]
    ) -> None:
        with self._lock:
            if self.account(practice_id, stored.patient_id).rev != stored.rev:
                raise Cancelled
            self.accounts[stored.patient_id] = StoredAccount(stored.patient_id, stored.rev + 1, state)
            self._add(deltas)
            for k, v in totals.items():
                self.total[k] = self.total.get(k, 0) + v
            self.commits += 1
