"""In-memory twin of the billing store, for service tests. Same conditions as the DynamoDB one, under a lock."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime

from chalicelib.billing.model import Applied, Instalment, IntentState, LedgerLine, PayLink, Plan, StartedIntent
from chalicelib.billing.store import APPLIED, CONFLICT, DUPLICATE


class MemoryBillingStore:
    def __init__(self) -> None:
        self.lines: dict[tuple[str, str, str], LedgerLine] = {}
        self.invoices: dict[tuple[str, str], str] = {}
        self.families: dict[tuple[str, str], list[str]] = {}
        self.events: set[tuple[str, str]] = set()
        self.intents: dict[tuple[str, str], IntentState] = {}
        self.receipts: set[tuple[str, str]] = set()
        self.links: dict[tuple[str, str], PayLink] = {}
        self.plans: dict[tuple[str, str], Plan] = {}
        self.started: dict[str, tuple[str, StartedIntent]] = {}
        self.refund_holds: dict[tuple[str, str], int] = {}
        self.confirming: dict[tuple[str, str, str], tuple[int, datetime, str]] = {}
        self.plan_revs: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def put_started(self, practice_id: str, started: StartedIntent, at: datetime) -> None:
        self.started[started.payment_intent_id] = (practice_id, started)

    def started_intent(self, payment_intent_id: str) -> tuple[str, StartedIntent] | None:
        return self.started.get(payment_intent_id)

    def mark_confirming(self, practice_id: str, started: StartedIntent, at: datetime) -> None:
        for patient_id, cents in started.allocation:
            self.confirming[(practice_id, patient_id, started.payment_intent_id)] = (cents, at, started.link_key)

    def unmark_confirming(self, practice_id: str, started: StartedIntent) -> None:
        for patient_id, _ in started.allocation:
            self.confirming.pop((practice_id, patient_id, started.payment_intent_id), None)

    def confirming_for(self, practice_id: str, patient_id: str, since: datetime) -> list[tuple[str, int, str]]:
        return [
            (pi, cents, key)
            for (pr, pat, pi), (cents, at, key) in list(self.confirming.items())
            if pr == practice_id and pat == patient_id and at >= since
        ]

    def reserve_refund(self, practice_id: str, payment_intent_id: str, amount: int, paid: int) -> int | None:
        with self._lock:
            held = self.refund_holds.get((practice_id, payment_intent_id), 0)
            if held + amount > paid:
                return None
            self.refund_holds[(practice_id, payment_intent_id)] = held + amount
            return held + amount

    def release_refund(self, practice_id: str, payment_intent_id: str, amount: int) -> None:
        with self._lock:
            self.refund_holds[(practice_id, payment_intent_id)] -= amount

    def lines_for(self, practice_id: str, patient_id: str) -> list[LedgerLine]:
        return [x for (p, pid, _), x in self.lines.items() if p == practice_id and pid == patient_id]

    def add_line(self, practice_id: str, line: LedgerLine) -> bool:
        with self._lock:
            key = (practice_id, line.patient_id, line.id)
            if key in self.lines:
                return False
            self.lines[key] = line
            return True

    def put_lines(self, practice_id: str, lines: Sequence[LedgerLine]) -> None:
        with self._lock:
            for line in lines:
                self.lines[(practice_id, line.patient_id, line.id)] = line

    def claim_invoice(self, practice_id: str, invoice_id: str, patient_id: str) -> str:
        with self._lock:
            return self.invoices.setdefault((practice_id, invoice_id), patient_id)

    def invoice_patient(self, practice_id: str, invoice_id: str) -> str | None:
        return self.invoices.get((practice_id, invoice_id))

    def guarantor_members(self, practice_id: str, guarantor_id: str) -> list[str]:
        return list(self.families.get((practice_id, guarantor_id), []))

    def intent(self, practice_id: str, payment_intent_id: str) -> IntentState | None:
        return self.intents.get((practice_id, payment_intent_id))

    def practice_of_intent(self, payment_intent_id: str) -> str | None:
        return next((p for p, pi in self.intents if pi == payment_intent_id), None)

    def event_seen(self, practice_id: str, event_id: str) -> bool:
        return (practice_id, event_id) in self.events

    def commit(
        self, practice_id: str, event_id: str, event_type: str, before: IntentState, applied: Applied, now: datetime
    ) -> str:
        with self._lock:
            if (practice_id, event_id) in self.events:
                return DUPLICATE
            state = applied.state
            key = (practice_id, state.payment_intent_id)
            stored = self.intents.get(key)
            if state != before and (stored.rev if stored else 0) != before.rev:
                return CONFLICT
            if any((practice_id, x.patient_id, x.id) in self.lines for x in applied.lines):
                return CONFLICT
            self.events.add((practice_id, event_id))
            if state != before:
                self.intents[key] = replace(state, rev=before.rev + 1)
            for line in applied.lines:
                self.lines[(practice_id, line.patient_id, line.id)] = line
            if applied.newly_paid:
                self._credit(practice_id, state)
            return APPLIED

    def _credit(self, practice_id: str, state: IntentState) -> None:
        link = self.links.get((practice_id, state.paylink_id))
        if link is not None:
            self.links[(practice_id, link.id)] = replace(link, paid_cents=link.paid_cents + state.paid_cents)
        plan = self.plans.get((practice_id, state.plan_id))
        if plan is not None:
            instalments = tuple(
                replace(i, paid_cents=i.paid_cents + state.paid_cents) if i.number == state.instalment else i
                for i in plan.instalments
            )
            self.plans[(practice_id, plan.id)] = replace(plan, instalments=instalments)

    def claim_receipt(self, practice_id: str, payment_intent_id: str) -> bool:
        with self._lock:
            if (practice_id, payment_intent_id) in self.receipts:
                return False
            self.receipts.add((practice_id, payment_intent_id))
            return True

    def release_receipt(self, practice_id: str, payment_intent_id: str) -> None:
        with self._lock:
            self.receipts.discard((practice_id, payment_intent_id))

    def put_link(self, practice_id: str, link: PayLink) -> None:
        with self._lock:
            if (practice_id, link.id) in self.links:
                raise KeyError("link exists")
            self.links[(practice_id, link.id)] = link

    def link(self, practice_id: str, link_id: str) -> PayLink | None:
        return self.links.get((practice_id, link_id))

    def plan_rev(self, practice_id: str, patient_id: str) -> int:
        return self.plan_revs.get((practice_id, patient_id), 0)

    def put_plan(self, practice_id: str, plan: Plan, rev: int = 0) -> bool:
        with self._lock:
            if (practice_id, plan.id) in self.plans:
                raise KeyError("plan exists")
            if self.plan_revs.get((practice_id, plan.patient_id), 0) != rev:
                return False
            self.plan_revs[(practice_id, plan.patient_id)] = rev + 1
            self.plans[(practice_id, plan.id)] = plan
            return True

    def plan(self, practice_id: str, plan_id: str) -> Plan | None:
        return self.plans.get((practice_id, plan_id))

    def plans_for(self, practice_id: str, patient_id: str) -> list[Plan]:
        return [p for (pr, _), p in self.plans.items() if pr == practice_id and p.patient_id == patient_id]

    def instalments_due(self, practice_id: str, start: date, end: date) -> list[tuple[str, str, int, Instalment]]:
        return sorted(
            (
                (plan.id, plan.patient_id, len(plan.instalments), inst)
                for (pr, _), plan in self.plans.items()
                if pr == practice_id
                for inst in plan.instalments
                if start <= inst.due_on <= end
            ),
            key=lambda row: (row[3].due_on, row[0], row[3].number),
        )
