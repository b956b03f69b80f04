"""Analytics use cases: keep the roll-ups in step with appointments and ledgers, read them back as
figures, trends, ROI and worklists.

Ports: a ``RollupStore`` (store.py; memory.py in unit tests), and for reads the practice, its settings,
the feedback roll-ups and the other capabilities' indexes, passed in by the routes.

How the counts stay right:
- ``tally`` takes appointments as stored and moves the counters by the difference between what their
  state contributes now and what their patient's item says was applied, in transactions conditioned on
  that item's revision (appointment items are not written, so appointment writes never race it).
  Re-running it over the same states moves nothing, which is what makes the event consumer, the import
  path and the back-fill idempotent. A refused transaction (another writer moved the patient's item) is
  retried one appointment at a time from fresh reads.
- ``refresh_accounts`` recomputes an account from its ledger (read after the account's revision) and
  moves the money counters and totals by the difference, conditioned on that revision.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from chalicelib.analytics.model import (
    ACTIVE_MONTHS,
    DEFINITIONS,
    LOOK_BACK_MONTHS,
    MONTHS_SHOWN,
    Applied,
    RoiInputs,
    account_moved,
    account_state,
    aging_bucket,
    applied_for,
    cell_moved,
    month_figures,
    month_of,
    months_ending,
    moved,
    recall_share,
    roi,
    sum_counters,
)
from chalicelib.analytics.ports import RollupStore
from chalicelib.analytics.store import (
    Cancelled,
    Change,
    StoredAppointment,
    StoredFacts,
    balance_index,
    merge,
    recall_index,
)
from chalicelib.appointments.model import BOOKED, Appointment
from chalicelib.platform.observability import logger
from chalicelib.recall.model import add_months, recall_due

ATTEMPTS = 5
PER_PATIENT = 40  # a patient's appointments per transaction (a long history spans several, in order)
WORKLIST_PAGE = 50
MAX_PAGE = 200
MONEY_KEYS = ("collections_cents", "online_collections_cents", "charges_cents")
MONEY_DEFINITIONS = ("collections", "online_collections", "outstanding")


def _pause(attempt: int) -> None:
    time.sleep(random.uniform(0, 0.02 * 2**attempt))  # noqa: S311 - jitter, not a secret


# --- appointments -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tallied:
    seen: int = 0
    changed: int = 0


def _plan(
    stored: Sequence[StoredAppointment], facts: Mapping[str, StoredFacts], zone: str, hygiene: set[str]
) -> list[Change]:
    """Transactions that bring the roll-ups in line with ``stored``: per patient, what each appointment's
    state contributes now against what its patient's item says it put there; each within DynamoDB's limits."""
    changes: list[Change] = []
    current = Change()
    by_patient: dict[str, list[StoredAppointment]] = {}
    for s in stored:
        by_patient.setdefault(s.appointment.patient_id, []).append(s)
    for patient_id, mine in by_patient.items():
        before = facts.get(patient_id) or StoredFacts(patient_id, 0)
        for first in range(0, len(mine), PER_PATIENT):
            part = Change()
            after, applied = before.facts, dict(before.applied)
            for s in mine[first : first + PER_PATIENT]:
                now = applied_for(s.appointment, zone)
                old = applied.get(s.appointment.id)
                if now != (old or Applied()):
                    merge(part.deltas, moved(old, now))
                    part.counted += 1
                    if now.counters:
                        applied[s.appointment.id] = now
                    else:
                        applied.pop(s.appointment.id, None)
                after = after.with_appointment(s.appointment, zone, s.appointment.type_id in hygiene)
            if after == before.facts and applied == dict(before.applied):
                continue
            part.patients.append((before, after, applied))
            merge(part.deltas, cell_moved(before.facts, after))
            before = StoredFacts(patient_id, before.rev + 1, after, applied)
            joined = Change(
                current.patients + part.patients,
                merge(merge({}, current.deltas), part.deltas),
                current.counted + part.counted,
            )
            same_patient = any(p.patient_id == patient_id for p, _, _ in current.patients)
            if not joined.fits() or same_patient:
                if current.patients:
                    changes.append(current)
                current = part
            else:
                current = joined
    if current.patients:
        changes.append(current)
    return changes


def tally(
    store: RollupStore, practice_id: str, zone: str, hygiene: set[str], stored: Sequence[StoredAppointment]
) -> Tallied:
    """Bring the roll-ups in line with these appointments as stored."""
    if not stored:
        return Tallied()
    facts = store.facts(practice_id, [s.appointment.patient_id for s in stored])
    changed = 0
    for change in _plan(stored, facts, zone, hygiene):
        try:
            store.commit(practice_id, change)
            changed += change.counted
        except Cancelled:
            patients = {f.patient_id for f, _, _ in change.patients}
            for s in stored:
                if s.appointment.patient_id in patients:
                    changed += tally_one(store, practice_id, zone, hygiene, s.appointment.id)
    return Tallied(len(stored), changed)


def tally_one(store: RollupStore, practice_id: str, zone: str, hygiene: set[str], appointment_id: str) -> int:
    """One appointment from fresh reads, retried while others keep changing it or its patient."""
    for attempt in range(ATTEMPTS):
        found = store.appointments(practice_id, [appointment_id])
        if not found:
            return 0
        facts = store.facts(practice_id, [found[0].appointment.patient_id])
        changes = _plan(found, facts, zone, hygiene)
        try:
            for change in changes:
                store.commit(practice_id, change)
            return sum(c.counted for c in changes)
        except Cancelled:
            _pause(attempt)
    logger.warning("analytics tally gave up", extra={"practice_id": practice_id, "appointment_id": appointment_id})
    return 0


def tally_ids(store: RollupStore, practice_id: str, zone: str, hygiene: set[str], ids: Sequence[str]) -> Tallied:
    seen = changed = 0
    unique = list(dict.fromkeys(ids))
    for first in range(0, len(unique), 100):
        done = tally(store, practice_id, zone, hygiene, store.appointments(practice_id, unique[first : first + 100]))
        seen, changed = seen + done.seen, changed + done.changed
    return Tallied(seen, changed)


def backfill_appointments(store: RollupStore, practice_id: str, zone: str, hygiene: set[str]) -> Tallied:
    """Every appointment of the practice, page by page (a Query, never a Scan); idempotent."""
    seen = changed = 0
    for page in store.appointment_pages(practice_id):
        done = tally(store, practice_id, zone, hygiene, page)
        seen, changed = seen + done.seen, changed + done.changed
    return Tallied(seen, changed)


# --- accounts ----------------------------------------------------------------------------------------------


def refresh_account(store: RollupStore, practice_id: str, patient_id: str) -> bool:
    """Recompute one account from its ledger and move the money counters; True when anything moved."""
    for attempt in range(ATTEMPTS):
        stored = store.account(practice_id, patient_id)
        state = account_state(store.ledger(practice_id, patient_id))  # read after the revision
        if stored.state == state:
            return False
        deltas, totals = account_moved(stored.state, state)
        try:
            store.commit_account(practice_id, stored, state, deltas, totals)
            return True
        except Cancelled:
            _pause(attempt)
    logger.warning("analytics account refresh gave up", extra={"practice_id": practice_id})
    return False


def refresh_accounts(store: RollupStore, practice_id: str, patient_ids: Iterable[str]) -> int:
    return sum(1 for p in dict.fromkeys(patient_ids) if refresh_account(store, practice_id, p))


# --- reading -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class View:
    """What a dashboard load needs besides the store."""

    practice_id: str
    zone: str
    today: date  # the practice's local date
    money: bool  # the caller may see money figures (analytics.money)
    roi_inputs: RoiInputs
    feedback: Callable[[list[str]], list[dict[str, Any]]]  # month -> NPS and referrals (FeedbackStore)
    prices: Mapping[str, Decimal]


def _without_money(figures: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in figures.items() if k not in MONEY_KEYS}


def dashboard(store: RollupStore, view: View) -> dict[str, Any]:
    """Figures of the last ``MONTHS_SHOWN`` months with their definitions, recall share, and (money roles)
    collections, outstanding balances and ROI. Reads: one BatchGetItem of month roll-ups, one of feedback
    roll-ups, and for money roles one GetItem of the totals."""
    this_month = month_of(view.today)
    shown = months_ending(this_month, MONTHS_SHOWN)
    wanted = months_ending(this_month, max(LOOK_BACK_MONTHS, ACTIVE_MONTHS))
    counters = store.months(view.practice_id, wanted)
    feedback = {r["month"]: r for r in view.feedback(shown)}
    trend = []
    for month in shown:
        figures = month_figures(month, counters.get(month, {}))
        fb = feedback.get(month, {})
        figures["nps"] = fb.get("nps")
        figures["survey_answers"] = fb.get("responses", 0)
        figures["referrals"] = fb.get("referrals", 0)
        trend.append(figures if view.money else _without_money(figures))
    period = sum_counters(counters.get(m, {}) for m in shown)
    totals_figures = month_figures(f"{shown[0]}..{shown[-1]}", period)
    promoters = sum(int(feedback.get(m, {}).get("promoters", 0)) for m in shown)
    detractors = sum(int(feedback.get(m, {}).get("detractors", 0)) for m in shown)
    answers = sum(int(feedback.get(m, {}).get("responses", 0)) for m in shown)
    totals_figures["nps"] = round(100 * (promoters - detractors) / answers) if answers else None
    totals_figures["survey_answers"] = answers
    totals_figures["referrals"] = sum(int(feedback.get(m, {}).get("referrals", 0)) for m in shown)
    answer: dict[str, Any] = {
        "practice_id": view.practice_id,
        "zone": view.zone,
        "as_of": view.today.isoformat(),
        "months": shown,
        "definitions": {k: v for k, v in DEFINITIONS.items() if view.money or k not in MONEY_DEFINITIONS},
        "trend": trend,
        "period": totals_figures if view.money else _without_money(totals_figures),
        "recall_share": recall_share(counters, this_month, view.today),
        "money_visible": view.money,
    }
    if view.money:
        totals = store.totals(view.practice_id)
        answer["outstanding"] = {"owed_cents": totals.get("owed", 0), "credit_cents": totals.get("credit", 0)}
        history = [(m, counters.get(m, {})) for m in wanted]
        answer["roi"] = roi(period, history, view.roi_inputs, view.prices)
    return answer


# --- worklists ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    patient_id: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class WorkPage:
    rows: list[Row]
    cursor: str


class BadCursor(ValueError):
    pass


def unconfirmed(appointments: Iterable[Appointment]) -> list[Appointment]:
    """Tomorrow's visits nobody has confirmed yet, by start."""
    return sorted((a for a in appointments if a.status == BOOKED), key=lambda a: (a.start, a.id))


def overdue_recall(
    store: RollupStore, practice_id: str, today: date, interval_months: int, cursor: str, limit: int
) -> WorkPage:
    """Patients whose recall is due before today and who hold no open hygiene appointment from today on,
    most recently due first: one page of the recall index (last hygiene visit), filtered here."""
    # add_months is monotone and clamps at most 3 days, so "due before today" is a prefix of last-visit
    # days ending before this bound; the exact ones are kept below.
    bound = add_months(today, -interval_months) + timedelta(days=4)
    page = store.index_page(
        recall_index(practice_id), below=bound.isoformat(), limit=limit, cursor=cursor, newest_first=True
    )
    if page is None:
        raise BadCursor
    rows = []
    for item in page.items:
        last = date.fromisoformat(str(item["GSI1SK"]).split("#", 1)[0])
        nxt = item.get("next_hygiene")
        due = recall_due(last, interval_months)
        if due < today and (not nxt or date.fromisoformat(str(nxt)) < today):
            rows.append(Row(str(item["patient_id"]), {"last_hygiene": last.isoformat(), "due": due.isoformat()}))
    return WorkPage(rows, page.cursor)


def open_balances(store: RollupStore, practice_id: str, today: date, cursor: str, limit: int) -> WorkPage:
    """Accounts whose oldest unpaid charge is 30 days old or more, oldest first (the sparse balance index)."""
    cutoff = today - timedelta(days=30)
    page = store.index_page(
        balance_index(practice_id), below=f"{cutoff.isoformat()}~", limit=limit, cursor=cursor, newest_first=False
    )
    if page is None:
        raise BadCursor
    rows = []
    for item in page.items:
        oldest = date.fromisoformat(str(item["oldest_open"]))
        rows.append(
            Row(
                str(item["patient_id"]),
                {
                    "balance_cents": int(item["balance"]),
                    "oldest_unpaid": oldest.isoformat(),
                    "days": (today - oldest).days,
                    "bucket": aging_bucket(oldest, today),
                },
            )
        )
    return WorkPage(rows, page.cursor)


def page_limit(raw: str | None) -> int:
    if not raw:
        return WORKLIST_PAGE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise ValueError(f"limit is a whole number from 1 to {MAX_PAGE}")
    return int(raw)
