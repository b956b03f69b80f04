"""Wiring: the appointment-event consumer, and the hooks imports and billing call after they write.

Each builds the store from the Deps container (tests may put a twin in ``d.extras["analytics_store"]``)
and calls one use case. A hook's failure is logged (ids only) and never undoes the write that called it;
the roll-ups catch up on the thing's next change or on a back-fill (``backfill``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from chalicelib.analytics import service
from chalicelib.analytics.ports import RollupStore
from chalicelib.appointments.events import AppointmentChanged
from chalicelib.platform.observability import logger

if TYPE_CHECKING:
    from chalicelib.platform.deps import Deps


def rollups(d: Deps) -> RollupStore:
    store: RollupStore | None = d.extras.get("analytics_store")
    if store is None:
        from chalicelib.analytics.store import AnalyticsStore

        store = d.extras["analytics_store"] = AnalyticsStore()
    return store


def _practice(d: Deps, practice_id: str) -> tuple[str, set[str]] | None:
    """(zone, hygiene type ids) of a practice; the types are cached a few minutes per container."""
    practice = d.practices.get(practice_id)
    if practice is None:
        return None
    from chalicelib.recall.service import hygiene_type_ids
    from chalicelib.reminders.handlers import ports_for

    return practice.zone, hygiene_type_ids(ports_for(d), practice_id)


def tally_appointments(d: Deps, practice_id: str, ids: Sequence[str]) -> service.Tallied:
    found = _practice(d, practice_id)
    if found is None or not ids:
        return service.Tallied()
    zone, hygiene = found
    return service.tally_ids(rollups(d), practice_id, zone, hygiene, ids)


def subscribe(d: Deps) -> None:
    """Every appointment change brings its counters and its patient's recall facts up to date."""

    def consume(event: AppointmentChanged) -> None:
        tally_appointments(d, event.practice_id, [event.appointment_id])

    d.appointment_events.subscribe(consume)


def after_import(practice_id: str) -> Callable[[list[str]], None]:
    """The import path's ``tally`` hook: count what the import wrote, past visits included."""
    from chalicelib.platform.deps import deps

    def hook(ids: list[str]) -> None:
        try:
            tally_appointments(deps(), practice_id, ids)
        except Exception:
            logger.exception("analytics tally after import failed", extra={"practice_id": practice_id})

    return hook


def ledger_changed(practice_id: str, patient_ids: Iterable[str]) -> None:
    """Billing's hook after it writes ledger lines: refresh those accounts."""
    from chalicelib.platform.deps import deps

    try:
        service.refresh_accounts(rollups(deps()), practice_id, patient_ids)
    except Exception:
        logger.exception("analytics account refresh failed", extra={"practice_id": practice_id})


def backfill(d: Deps, practice_id: str) -> dict[str, int]:
    """Every appointment and every account of a practice, paged; safe to run again at any time."""
    found = _practice(d, practice_id)
    if found is None:
        return {"appointments": 0, "appointments_changed": 0, "accounts_changed": 0}
    zone, hygiene = found
    store = rollups(d)
    done = service.backfill_appointments(store, practice_id, zone, hygiene)
    accounts = service.refresh_accounts(store, practice_id, store.ledger_patients(practice_id))
    return {"appointments": done.seen, "appointments_changed": done.changed, "accounts_changed": accounts}
