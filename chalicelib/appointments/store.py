"""Appointment items and their repository; the time locks, pending-request markers, closures,
waitlist entries and offers, and calendar feeds that go with them.

The day index (GSI1) is keyed by the practice's *local* date, so a day sheet is one Query.

No double booking: a provider's or operatory's time is held by lock items, one per resource and
UTC hour (``SK = LOCK#PROVIDER#<id>#<YYYY-MM-DDTHH>``), with one attribute per 5-minute unit
(``u00`` .. ``u55``) naming the appointment that holds it. ``commit`` writes the appointment and
every unit it takes or gives back in one TransactWriteItems call: a unit is taken only if it is
absent (or already this appointment's), so of any number of concurrent writers exactly one gets
an overlapping interval, and adjacent intervals share no unit. Hour items (rather than one item
per unit) keep a long visit's move inside the 100-item transaction limit. The holds an
appointment owns are recorded on its item, so a release never touches another appointment's units.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pynamodb.attributes import (
    JSONAttribute,
    ListAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.appointments.model import (
    OFFER_CLOSED,
    OFFER_OPEN,
    OFFER_TAKEN,
    REMOVED,
    REQUESTED,
    WAITING,
    Appointment,
    CalendarFeed,
    ChangedMeanwhile,
    Closure,
    HistoryEntry,
    Hold,
    Offer,
    OfferGone,
    SlotTaken,
    WaitlistEntry,
    request_order,
)
from chalicelib.appointments.ports import Loaded, Write
from chalicelib.platform.table import TableItem, practice_pk

OFFERS_DUE = "WAITLIST#OFFERS#OPEN"  # GSI1 partition of open offers, sorted by when their next batch is due
LOCK_TTL = timedelta(days=2)  # lock items are useless once their hour has passed
TRANSACTION_ATTEMPTS = 5
MAX_TRANSACTION_ITEMS = 100  # DynamoDB's limit on one TransactWriteItems call


class AppointmentItem(TableItem, discriminator="Appointment"):
    appointment_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    provider_id = UnicodeAttribute()
    operatory_id = UnicodeAttribute()
    type_id = UnicodeAttribute()
    start = UTCDateTimeAttribute()
    end = UTCDateTimeAttribute()
    status = UnicodeAttribute()
    history = JSONAttribute(default=list)
    note = UnicodeAttribute(default="")
    source_id = UnicodeAttribute(default="")
    source_hash = UnicodeAttribute(default="")
    holds = JSONAttribute(null=True)  # the lock units this appointment owns: [{"r", "s", "e"}]
    version = VersionAttribute()


class SlotLockItem(TableItem, discriminator="SlotLock"):
    """One resource's UTC hour; ``uMM`` holds the id of the appointment occupying [MM, MM+5)."""

    u00 = UnicodeAttribute(null=True)
    u05 = UnicodeAttribute(null=True)
    u10 = UnicodeAttribute(null=True)
    u15 = UnicodeAttribute(null=True)
    u20 = UnicodeAttribute(null=True)
    u25 = UnicodeAttribute(null=True)
    u30 = UnicodeAttribute(null=True)
    u35 = UnicodeAttribute(null=True)
    u40 = UnicodeAttribute(null=True)
    u45 = UnicodeAttribute(null=True)
    u50 = UnicodeAttribute(null=True)
    u55 = UnicodeAttribute(null=True)


class RequestItem(TableItem, discriminator="AppointmentRequest"):
    """Marks a pending request (status requested) so staff can list them with one Query."""

    appointment_id = UnicodeAttribute()
    start = UTCDateTimeAttribute()


class ClosureItem(TableItem, discriminator="Closure"):
    closure_id = UnicodeAttribute()
    start_date = UnicodeAttribute()
    end_date = UnicodeAttribute()
    provider_id = UnicodeAttribute(default="")
    reason = UnicodeAttribute(default="")


class WaitlistItem(TableItem, discriminator="WaitlistEntry"):
    entry_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    holder_id = UnicodeAttribute()
    type_id = UnicodeAttribute()
    earliest = UnicodeAttribute()
    latest = UnicodeAttribute()
    channel = UnicodeAttribute()
    provider_id = UnicodeAttribute(default="")
    appointment_id = UnicodeAttribute(default="")
    status = UnicodeAttribute(default=WAITING)
    asked_at = UTCDateTimeAttribute()


class WaitlistKeyItem(TableItem, discriminator="WaitlistKey"):
    """``WAITKEY#<patient_id>#<entry key>``: which entry holds a patient's request for one thing."""

    entry_id = UnicodeAttribute()


class OfferItem(TableItem, discriminator="WaitlistOffer"):
    offer_id = UnicodeAttribute()
    provider_id = UnicodeAttribute()
    operatory_id = UnicodeAttribute(default="")
    start = UTCDateTimeAttribute()
    end = UTCDateTimeAttribute()
    offered_at = UTCDateTimeAttribute()
    notified = ListAttribute(of=UnicodeAttribute, default=list)
    next_batch_at = UTCDateTimeAttribute(null=True)
    status = UnicodeAttribute(default=OFFER_OPEN)
    taken_by = UnicodeAttribute(default="")
    freed_by = UnicodeAttribute(default="")


class FeedItem(TableItem, discriminator="CalendarFeed"):
    holder_id = UnicodeAttribute()
    feed_id = UnicodeAttribute()
    patient_ids = ListAttribute(of=UnicodeAttribute, default=list)
    made_at = UTCDateTimeAttribute()


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _history_json(history: Iterable[HistoryEntry]) -> list[dict[str, Any]]:
    return [
        {
            "at": _iso(h.at),
            "action": h.action,
            "by": h.by,
            "reason": h.reason,
            "previous_start": _iso(h.previous_start) if h.previous_start else None,
        }
        for h in history
    ]


def appointment_item(practice_id: str, zone: str, a: Appointment, source_hash: str = "") -> AppointmentItem:
    local_day = a.start.astimezone(ZoneInfo(zone)).date().isoformat()
    return AppointmentItem(
        practice_pk(practice_id),
        f"APPT#{a.id}",
        gsi1pk=f"PRACTICE#{practice_id}#DAY#{local_day}",
        gsi1sk=f"{_iso(a.start)}#{a.id}",
        gsi2pk=f"PRACTICE#{practice_id}#PATIENT#{a.patient_id}",
        gsi2sk=f"APPT#{_iso(a.start)}#{a.id}",
        appointment_id=a.id,
        patient_id=a.patient_id,
        provider_id=a.provider_id,
        operatory_id=a.operatory_id,
        type_id=a.type_id,
        start=a.start,
        end=a.end,
        status=a.status,
        note=a.note,
        source_id=a.source_id,
        source_hash=source_hash,
        history=_history_json(a.history),
    )


def appointment_from(i: AppointmentItem) -> Appointment:
    return Appointment(
        id=i.appointment_id,
        patient_id=i.patient_id,
        provider_id=i.provider_id,
        operatory_id=i.operatory_id,
        type_id=i.type_id,
        start=i.start,
        end=i.end,
        status=i.status,
        note=i.note,
        source_id=i.source_id,
        history=[
            HistoryEntry(
                at=datetime.fromisoformat(h["at"]),
                action=h["action"],
                by=h["by"],
                reason=h.get("reason", ""),
                previous_start=datetime.fromisoformat(h["previous_start"]) if h.get("previous_start") else None,
            )
            for h in (i.history or [])
        ],
    )


def _holds_json(holds: Iterable[Hold]) -> list[dict[str, str]]:
    return [{"r": h.resource, "s": _iso(h.start), "e": _iso(h.end)} for h in holds]


def _holds_from(raw: Any) -> tuple[Hold, ...]:
    return tuple(
        Hold(str(h["r"]), datetime.fromisoformat(str(h["s"])), datetime.fromisoformat(str(h["e"]))) for h in raw or []
    )


# --- the transaction ------------------------------------------------------------------------------


def lock_sk(resource: str, hour: datetime) -> str:
    return f"LOCK#{resource}#{hour.strftime('%Y-%m-%dT%H')}"


def _units_by_item(holds: Iterable[Hold]) -> dict[tuple[str, datetime], set[int]]:
    """(resource, UTC hour) -> the minutes (0, 5, .. 55) of the units held in that hour."""
    out: dict[tuple[str, datetime], set[int]] = {}
    for h in holds:
        for unit in h.units():
            hour = unit.replace(minute=0, second=0, microsecond=0)
            out.setdefault((h.resource, hour), set()).add(unit.minute)
    return out


def _unit(minute: int) -> Any:
    return getattr(SlotLockItem, f"u{minute:02d}")


@dataclass
class _Tx:
    """Collects operations in the order pynamodb sends them (deletes, puts, updates), with a label
    for each so a cancellation reason can be mapped back to what failed."""

    deletes: list[tuple[str, Any, Condition | None]] = field(default_factory=list)
    puts: list[tuple[str, Any, Condition | None]] = field(default_factory=list)
    updates: list[tuple[str, Any, list[Action], Condition | None]] = field(default_factory=list)

    def labels(self) -> list[str]:
        return [d[0] for d in self.deletes] + [p[0] for p in self.puts] + [u[0] for u in self.updates]

    def run(self) -> None:
        with TransactWrite(connection=TableItem._get_connection().connection) as tx:
            for _, model, condition in self.deletes:
                tx.delete(model, condition=condition)
            for _, model, condition in self.puts:
                tx.save(model, condition=condition)
            for _, model, actions, condition in self.updates:
                tx.update(model, actions=list(actions), condition=condition)


LockDelta = dict[tuple[str, datetime], dict[int, tuple[str, bool]]]  # (resource, hour) -> minute -> (holder, take)


def _lock_deltas(deltas: LockDelta, appointment_id: str, before: tuple[Hold, ...], after: tuple[Hold, ...]) -> None:
    """Add the units one appointment takes (True) or gives back (False); units it keeps are not written."""
    had = _units_by_item(before)
    wants = _units_by_item(after)
    for key in set(had) | set(wants):
        for minute in wants.get(key, set()) - had.get(key, set()):
            deltas.setdefault(key, {})[minute] = (appointment_id, True)
        for minute in had.get(key, set()) - wants.get(key, set()):
            deltas.setdefault(key, {})[minute] = (appointment_id, False)


def _lock_updates(tx: _Tx, pk: str, deltas: LockDelta) -> None:
    """One update per lock item, however many appointments of the transaction touch it. Each unit is
    written only if it is absent or already the writing appointment's."""
    for key in sorted(deltas):
        resource, hour = key
        actions: list[Action] = [
            SlotLockItem.item_type.set(SlotLockItem),
            SlotLockItem.expires_at.set(int((hour + LOCK_TTL).timestamp())),
        ]
        condition: Condition | None = None
        for minute, (holder, take) in sorted(deltas[key].items()):
            attr = _unit(minute)
            actions.append(attr.set(holder) if take else attr.remove())
            mine = attr.does_not_exist() | (attr == holder)
            condition = mine if condition is None else condition & mine
        tx.updates.append((f"lock:{resource}", SlotLockItem(pk, lock_sk(resource, hour)), actions, condition))


def _build(practice_id: str, zone: str, writes: Sequence[Write]) -> _Tx:
    pk = practice_pk(practice_id)
    tx = _Tx()
    deltas: LockDelta = {}
    for write in writes:
        _appointment_ops(tx, practice_id, zone, write)
        _lock_deltas(deltas, write.appointment.id, write.before.holds if write.before else (), write.holds)
    _lock_updates(tx, pk, deltas)
    return tx


def _appointment_ops(tx: _Tx, practice_id: str, zone: str, write: Write) -> None:
    pk = practice_pk(practice_id)
    a = write.appointment
    fresh = appointment_item(practice_id, zone, a)
    if write.before is None:
        fresh.holds = _holds_json(write.holds)
        tx.puts.append(("appointment", fresh, AppointmentItem.pk.does_not_exist()))
    else:
        target = AppointmentItem(pk, f"APPT#{a.id}", version=write.before.version)
        actions: list[Action] = [
            AppointmentItem.status.set(a.status),
            AppointmentItem.start.set(a.start),
            AppointmentItem.end.set(a.end),
            AppointmentItem.provider_id.set(a.provider_id),
            AppointmentItem.operatory_id.set(a.operatory_id),
            AppointmentItem.type_id.set(a.type_id),
            AppointmentItem.note.set(a.note),
            AppointmentItem.history.set(_history_json(a.history)),
            AppointmentItem.holds.set(_holds_json(write.holds)),
            AppointmentItem.gsi1pk.set(str(fresh.gsi1pk)),
            AppointmentItem.gsi1sk.set(str(fresh.gsi1sk)),
            AppointmentItem.gsi2sk.set(str(fresh.gsi2sk)),
            AppointmentItem.updated_at.set(datetime.now(UTC)),
        ]
        tx.updates.append(("appointment", target, actions, AppointmentItem.pk.exists()))
    was_requested = write.before is not None and write.before.appointment.status == REQUESTED
    if a.status == REQUESTED:
        tx.puts.append(("request", RequestItem(pk, f"REQUEST#{a.id}", appointment_id=a.id, start=a.start), None))
    elif was_requested:
        tx.deletes.append(("request", RequestItem(pk, f"REQUEST#{a.id}"), None))
    if write.claim is not None:
        offer = OfferItem(pk, f"OFFER#{write.claim.offer_id}")
        tx.updates.append(
            (
                "offer",
                offer,
                [
                    OfferItem.status.set(OFFER_TAKEN),
                    OfferItem.taken_by.set(write.claim.entry_id),
                    OfferItem.gsi1pk.remove(),
                    OfferItem.gsi1sk.remove(),
                ],
                OfferItem.status == OFFER_OPEN,
            )
        )
        entry = WaitlistItem(pk, f"WAIT#{write.claim.entry_id}")
        tx.updates.append(("entry", entry, [WaitlistItem.status.set("fulfilled")], WaitlistItem.status == WAITING))


def _refused(labels: list[str], error: TransactWriteError) -> list[str]:
    codes = [r.code if r is not None else None for r in (error.cancellation_reasons or [])]
    return [labels[i] for i, code in enumerate(codes) if code == "ConditionalCheckFailed" and i < len(labels)]


def _failure(labels: list[str], error: TransactWriteError) -> Exception | None:
    """The domain error a cancelled transaction means, or None when it is worth retrying."""
    codes = [r.code if r is not None else None for r in (error.cancellation_reasons or [])]
    failed = [labels[i] for i, code in enumerate(codes) if code == "ConditionalCheckFailed" and i < len(labels)]
    if "appointment" in failed:
        return ChangedMeanwhile()
    if "offer" in failed or "entry" in failed:
        return OfferGone()
    locks = [label for label in failed if label.startswith("lock:")]
    if locks:
        return SlotTaken(locks[0].removeprefix("lock:"))
    retryable = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
    if any(code in retryable for code in codes) or error.cause_response_code in {
        "TransactionConflictException",
        "TransactionInProgressException",
        *THROTTLED,
    }:
        return None
    return error


THROTTLED = frozenset({"ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded"})


# --- repositories ------------------------------------------------------------------------------------


class AppointmentStore:
    def get(self, practice_id: str, appointment_id: str) -> Appointment | None:
        try:
            return appointment_from(AppointmentItem.get(practice_pk(practice_id), f"APPT#{appointment_id}"))
        except AppointmentItem.DoesNotExist:
            return None

    def on_day(self, practice_id: str, day: date) -> list[Appointment]:
        """The practice's appointments on a local calendar day, by start time."""
        return [
            appointment_from(i) for i in AppointmentItem.gsi1.query(f"PRACTICE#{practice_id}#DAY#{day.isoformat()}")
        ]

    def for_patient(self, practice_id: str, patient_id: str, start: datetime, end: datetime) -> list[Appointment]:
        """A patient's appointments starting in [start, end), by start time."""
        return [
            appointment_from(i)
            for i in AppointmentItem.gsi2.query(
                f"PRACTICE#{practice_id}#PATIENT#{patient_id}",
                AppointmentItem.gsi2sk.between(f"APPT#{_iso(start)}", f"APPT#{_iso(end)}"),
            )
        ]

    def load(self, practice_id: str, appointment_id: str) -> Loaded | None:
        """The appointment with its version and holds (a consistent read: the next write depends on it)."""
        try:
            item = AppointmentItem.get(practice_pk(practice_id), f"APPT#{appointment_id}", consistent_read=True)
        except AppointmentItem.DoesNotExist:
            return None
        version = int(item.version) if item.version is not None else None
        return Loaded(appointment_from(item), version, _holds_from(item.holds))

    def requests(self, practice_id: str) -> list[Appointment]:
        """Pending requests, by start."""
        keys = [
            (practice_pk(practice_id), f"APPT#{m.appointment_id}")
            for m in RequestItem.query(practice_pk(practice_id), RequestItem.sk.startswith("REQUEST#"))
        ]
        found = [appointment_from(i) for i in AppointmentItem.batch_get(keys)] if keys else []
        return sorted((a for a in found if a.status == REQUESTED), key=request_order)

    def commit(self, practice_id: str, zone: str, write: Write) -> None:
        """Write ``write`` atomically (see ``Write``); retries only DynamoDB's transaction conflicts."""
        self._commit([write], practice_id, zone)

    def commit_each(self, practice_id: str, zone: str, writes: Sequence[Write]) -> list[Exception | None]:
        """Commit independent writes (a bulk cancel), as many to a transaction as fit in
        ``MAX_TRANSACTION_ITEMS``; a refused transaction's writes are retried one by one. Returns
        each write's error (``SlotTaken``, ``ChangedMeanwhile`` ...) or None, in order."""
        outcomes: list[Exception | None] = [None] * len(writes)
        group: list[int] = []

        def flush() -> None:
            try:
                self._commit([writes[k] for k in group], practice_id, zone)
            except (SlotTaken, ChangedMeanwhile, OfferGone):
                for k in group:
                    try:
                        self._commit([writes[k]], practice_id, zone)
                    except (SlotTaken, ChangedMeanwhile, OfferGone) as exc:
                        outcomes[k] = exc
            group.clear()

        for i in range(len(writes)):
            if (
                group
                and len(_build(practice_id, zone, [writes[k] for k in [*group, i]]).labels()) > MAX_TRANSACTION_ITEMS
            ):
                flush()
            group.append(i)
        if group:
            flush()
        return outcomes

    def _commit(self, writes: list[Write], practice_id: str, zone: str) -> None:
        last: TransactWriteError | None = None
        for attempt in range(TRANSACTION_ATTEMPTS):
            tx = _build(practice_id, zone, writes)
            try:
                tx.run()
                return
            except TransactWriteError as exc:
                failure = _failure(tx.labels(), exc)
                if failure is not None:
                    raise failure from exc
                last = exc
            time.sleep(random.uniform(0, 0.05 * 2**attempt))  # noqa: S311 - jitter, not a secret
        if last is not None and last.cause_response_code in THROTTLED:
            raise last  # capacity, not a conflict: the API answers 503 busy (nothing was written)
        raise ChangedMeanwhile()

    def on_day_loaded(self, practice_id: str, day: date) -> list[Loaded]:
        """The day's appointments with version and holds as the day index has them (eventually
        consistent: a stale version only makes the conditional write refuse, never overwrite)."""
        return [
            Loaded(appointment_from(i), int(i.version) if i.version is not None else None, _holds_from(i.holds))
            for i in AppointmentItem.gsi1.query(f"PRACTICE#{practice_id}#DAY#{day.isoformat()}")
        ]


class DynamoClosures:
    def closures(self, practice_id: str) -> list[Closure]:
        return sorted(
            (
                Closure(
                    id=i.closure_id,
                    start_date=date.fromisoformat(i.start_date),
                    end_date=date.fromisoformat(i.end_date),
                    provider_id=i.provider_id,
                    reason=i.reason,
                )
                for i in ClosureItem.query(practice_pk(practice_id), ClosureItem.sk.startswith("CLOSURE#"))
            ),
            key=lambda c: (c.start_date, c.id),
        )

    def put(self, practice_id: str, closure: Closure) -> None:
        ClosureItem(
            practice_pk(practice_id),
            f"CLOSURE#{closure.id}",
            closure_id=closure.id,
            start_date=closure.start_date.isoformat(),
            end_date=closure.end_date.isoformat(),
            provider_id=closure.provider_id,
            reason=closure.reason,
        ).save(condition=ClosureItem.pk.does_not_exist())

    def delete(self, practice_id: str, closure_id: str) -> bool:
        try:
            ClosureItem(practice_pk(practice_id), f"CLOSURE#{closure_id}").delete(condition=ClosureItem.pk.exists())
        except Exception as exc:
            if _conditional(exc):
                return False
            raise
        return True


def _conditional(exc: Exception) -> bool:
    cause = getattr(exc, "cause_response_code", "")
    return cause == "ConditionalCheckFailedException"


def _entry_from(i: WaitlistItem) -> WaitlistEntry:
    return WaitlistEntry(
        id=i.entry_id,
        patient_id=i.patient_id,
        holder_id=i.holder_id,
        type_id=i.type_id,
        earliest=date.fromisoformat(i.earliest),
        latest=date.fromisoformat(i.latest),
        channel=i.channel,
        created_at=i.asked_at,
        provider_id=i.provider_id,
        appointment_id=i.appointment_id,
        status=i.status,
    )


def _offer_from(i: OfferItem) -> Offer:
    return Offer(
        id=i.offer_id,
        provider_id=i.provider_id,
        operatory_id=i.operatory_id,
        start=i.start,
        end=i.end,
        created_at=i.offered_at,
        notified=[str(x) for x in i.notified or []],
        next_batch_at=i.next_batch_at,
        status=i.status,
        taken_by=i.taken_by,
        freed_by=i.freed_by,
    )


def _due_sk(at: datetime, practice_id: str, offer_id: str) -> str:
    return f"{_iso(at)}#{practice_id}#{offer_id}"


class DynamoWaitlist:
    """Entries: ``WAIT#<id>`` (GSI2 by patient), each written with ``WAITKEY#<patient>#<key>`` naming the
    entry that holds that request (one transaction), so concurrent repeats make one entry. Offers:
    ``OFFER#<id>``, in GSI1 ``OFFERS_DUE`` while open."""

    def put_entry(self, practice_id: str, entry: WaitlistEntry, replacing: str = "") -> bool:
        expires_at = int(datetime.combine(entry.latest + timedelta(days=30), datetime.min.time(), UTC).timestamp())
        item = WaitlistItem(
            practice_pk(practice_id),
            f"WAIT#{entry.id}",
            gsi2pk=f"PRACTICE#{practice_id}#PATIENT#{entry.patient_id}",
            gsi2sk=f"WAIT#{entry.id}",
            entry_id=entry.id,
            patient_id=entry.patient_id,
            holder_id=entry.holder_id,
            type_id=entry.type_id,
            earliest=entry.earliest.isoformat(),
            latest=entry.latest.isoformat(),
            channel=entry.channel,
            provider_id=entry.provider_id,
            appointment_id=entry.appointment_id,
            status=entry.status,
            asked_at=entry.created_at,
            expires_at=expires_at,
        )
        key = WaitlistKeyItem(
            practice_pk(practice_id),
            f"WAITKEY#{entry.patient_id}#{entry.key}",
            entry_id=entry.id,
            expires_at=expires_at,
        )
        free = WaitlistKeyItem.pk.does_not_exist()
        tx = _Tx(
            puts=[
                ("entry", item, WaitlistItem.pk.does_not_exist()),
                ("key", key, free | (WaitlistKeyItem.entry_id == replacing) if replacing else free),
            ]
        )
        try:
            tx.run()
        except TransactWriteError as exc:
            if "key" in _refused(tx.labels(), exc):
                return False
            raise
        return True

    def key_holder(self, practice_id: str, patient_id: str, key: str) -> str:
        try:
            item = WaitlistKeyItem.get(practice_pk(practice_id), f"WAITKEY#{patient_id}#{key}", consistent_read=True)
        except WaitlistKeyItem.DoesNotExist:
            return ""
        return str(item.entry_id)

    def get_entry(self, practice_id: str, entry_id: str) -> WaitlistEntry | None:
        try:
            return _entry_from(WaitlistItem.get(practice_pk(practice_id), f"WAIT#{entry_id}", consistent_read=True))
        except WaitlistItem.DoesNotExist:
            return None

    def entries_for_patient(self, practice_id: str, patient_id: str) -> list[WaitlistEntry]:
        return [
            _entry_from(i)
            for i in WaitlistItem.gsi2.query(
                f"PRACTICE#{practice_id}#PATIENT#{patient_id}", WaitlistItem.gsi2sk.startswith("WAIT#")
            )
        ]

    def waiting(self, practice_id: str) -> list[WaitlistEntry]:
        """Every waiting entry of the practice, oldest first."""
        items = WaitlistItem.query(
            practice_pk(practice_id),
            WaitlistItem.sk.startswith("WAIT#"),
            filter_condition=WaitlistItem.status == WAITING,
        )
        return sorted((_entry_from(i) for i in items), key=lambda e: (e.created_at, e.id))

    def remove_entry(self, practice_id: str, entry_id: str) -> bool:
        try:
            WaitlistItem(practice_pk(practice_id), f"WAIT#{entry_id}").update(
                actions=[WaitlistItem.status.set(REMOVED)], condition=WaitlistItem.status == WAITING
            )
        except Exception as exc:
            if _conditional(exc):
                return False
            raise
        return True

    def put_offer(self, practice_id: str, offer: Offer) -> None:
        item = OfferItem(
            practice_pk(practice_id),
            f"OFFER#{offer.id}",
            offer_id=offer.id,
            provider_id=offer.provider_id,
            operatory_id=offer.operatory_id,
            start=offer.start,
            end=offer.end,
            offered_at=offer.created_at,
            notified=list(offer.notified),
            next_batch_at=offer.next_batch_at,
            status=offer.status,
            freed_by=offer.freed_by,
            expires_at=int((offer.end + timedelta(days=30)).timestamp()),
        )
        if offer.status == OFFER_OPEN and offer.next_batch_at is not None:
            item.gsi1pk = OFFERS_DUE
            item.gsi1sk = _due_sk(offer.next_batch_at, practice_id, offer.id)
        item.save(condition=OfferItem.pk.does_not_exist())

    def get_offer(self, practice_id: str, offer_id: str) -> Offer | None:
        try:
            return _offer_from(OfferItem.get(practice_pk(practice_id), f"OFFER#{offer_id}", consistent_read=True))
        except OfferItem.DoesNotExist:
            return None

    def due_offers(self, now: datetime) -> list[tuple[str, Offer]]:
        """Open offers whose next batch is due, across practices (one Query of the due index)."""
        out = []
        for i in OfferItem.gsi1.query(OFFERS_DUE, OfferItem.gsi1sk <= f"{_iso(now)}#~"):
            out.append((str(i.pk).removeprefix("PRACTICE#"), _offer_from(i)))
        return out

    def advance_offer(self, practice_id: str, offer: Offer) -> bool:
        """Record the entries told so far and when the next batch is due (None: no one left)."""
        told: Any = list(offer.notified)
        actions: list[Action] = [OfferItem.notified.set(told)]
        if offer.next_batch_at is None:
            actions += [OfferItem.next_batch_at.remove(), OfferItem.gsi1pk.remove(), OfferItem.gsi1sk.remove()]
        else:
            actions += [
                OfferItem.next_batch_at.set(offer.next_batch_at),
                OfferItem.gsi1pk.set(OFFERS_DUE),
                OfferItem.gsi1sk.set(_due_sk(offer.next_batch_at, practice_id, offer.id)),
            ]
        try:
            OfferItem(practice_pk(practice_id), f"OFFER#{offer.id}").update(
                actions=actions, condition=OfferItem.status == OFFER_OPEN
            )
        except Exception as exc:
            if _conditional(exc):
                return False
            raise
        return True

    def close_offer(self, practice_id: str, offer_id: str) -> bool:
        try:
            OfferItem(practice_pk(practice_id), f"OFFER#{offer_id}").update(
                actions=[OfferItem.status.set(OFFER_CLOSED), OfferItem.gsi1pk.remove(), OfferItem.gsi1sk.remove()],
                condition=OfferItem.status == OFFER_OPEN,
            )
        except Exception as exc:
            if _conditional(exc):
                return False
            raise
        return True


class DynamoFeeds:
    def get(self, practice_id: str, holder_id: str) -> CalendarFeed | None:
        try:
            i = FeedItem.get(practice_pk(practice_id), f"FEED#{holder_id}", consistent_read=True)
        except FeedItem.DoesNotExist:
            return None
        return CalendarFeed(i.holder_id, i.feed_id, tuple(str(x) for x in i.patient_ids or []), i.made_at)

    def put(self, practice_id: str, feed: CalendarFeed) -> None:
        FeedItem(
            practice_pk(practice_id),
            f"FEED#{feed.holder_id}",
            holder_id=feed.holder_id,
            feed_id=feed.feed_id,
            patient_ids=list(feed.patient_ids),
            made_at=feed.created_at,
        ).save()

    def delete(self, practice_id: str, holder_id: str) -> None:
        FeedItem(practice_pk(practice_id), f"FEED#{holder_id}").delete()
