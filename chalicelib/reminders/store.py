"""Reminder items and their repository (DynamoDB through pynamodb).

Keys (all under ``PK = PRACTICE#<p>``; chalicelib/platform/table.py holds the whole map):

- policy: ``REMINDER_POLICY`` (current) and ``REMINDER_POLICY#<version, 6 digits>`` (history)
- touch: ``TOUCH#<touch id>``; GSI1 (sparse, open touches only) ``PRACTICE#<p>#DUE#<UTC date>`` /
  ``<due UTC>#<touch id>``; GSI2 ``PRACTICE#<p>#PATIENT#<id>`` / ``MSG#<due UTC>#<touch id>``
- sweep state: ``REMINDER_SWEEP``; address state: ``ADDRESS#<E.164 or email>``
- preferences: ``CONTACTPREFS#<patient>``; daily cap: ``REMINDED#<patient>#<local date>`` (TTL)
- inbox: ``INBOX#<UTC>#<id>``; inbound SMS seen: ``INBOUND#<provider message id>`` (TTL)
- recall: ``RECALL#<patient>``; an appointment to plan again: ``REPLAN#<appointment>`` (TTL)

Touch ids: ``APPT#<appointment>#reminder#<rule>#<planned start>``, ``APPT#<appointment>#cancelled``,
``APPT#<appointment>#moved#<new start>``, ``RECALL#<patient>#<due date>#<n>``,
``PLAN#<plan>#<instalment number>#<due date>`` (payment-plan reminders). A touch keeps its GSI1
keys only while pending or claimed, so the due index holds only what may still be sent.

Invariants, all by conditional writes: a touch is created once (``attribute_not_exists``); it is
claimed by one sweep (``status = pending AND due = :due``, or a claim whose lease ran out); it is
marked sending only by the holder of the claim (``status = claimed AND claimed_until = :lease``), and
its outcome is written only under that same lease; a touch left sending past its lease becomes
unknown, never claimed again; only a pending touch is cancelled or re-timed by the planner; the
policy moves from version n to n+1 once.

The sweep's writes are batched, each touch keeping its own condition: claims go up to 100 to a
TransactWriteItems, a group's "sending" marks in one, its outcomes with their counters in one. A
transaction is all or nothing, so when one condition fails (another sweep got there first) each touch
of it is written again by itself, and exactly the ones still open to us are ours. On DynamoDB this is
about 3 requests per 25 messages instead of 3 per message: fewer round trips a minute (less latency
per sweep, fewer throttles), the same write units.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.connection import Connection
from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.analytics.model import add_deltas, message_outcome, prune
from chalicelib.analytics.store import typed_month_update
from chalicelib.appointments.model import Appointment
from chalicelib.appointments.store import AppointmentItem, appointment_from
from chalicelib.inbox.model import Item
from chalicelib.inbox.store import InboxItem, InboxStore
from chalicelib.patients.store import PatientItem, patient_from
from chalicelib.platform.table import TableItem, practice_pk
from chalicelib.reminders.model import (
    CANCELLED,
    CLAIMED,
    EMAIL,
    OPEN_STATES,
    PENDING,
    SENDING,
    SMS,
    UNKNOWN,
    AddressState,
    ContactPrefs,
    InboxEntry,
    Policy,
    PolicyConflict,
    RecallRecord,
    SendingHours,
    Snapshot,
    SweepState,
    Touch,
    parse_clock,
    policy_from_dict,
)

BATCH_GET = 100
TRANSACT_MAX = 100  # items DynamoDB takes in one TransactWriteItems
RECORD_CHUNK = 90  # touches per outcome transaction (DynamoDB takes 100 items; the month counters need a few)


def iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def compact(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


# --- items -------------------------------------------------------------------------------------------


class ReminderPolicyItem(TableItem, discriminator="ReminderPolicy"):
    policy = JSONAttribute(default=dict)
    policy_version = NumberAttribute(default=0)
    changed_by = UnicodeAttribute(default="")


class TouchItem(TableItem, discriminator="ReminderTouch"):
    touch_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    rule_key = UnicodeAttribute(default="")
    subject_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    due = UTCDateTimeAttribute()
    channel = UnicodeAttribute()
    fallback = BooleanAttribute(default=True)
    after_confirm = BooleanAttribute(default=False)
    planned_start = UTCDateTimeAttribute(null=True)
    status = UnicodeAttribute(default=PENDING)
    reason = UnicodeAttribute(default="")
    attempts = NumberAttribute(default=0)
    claimed_until = UTCDateTimeAttribute(null=True)
    sent_at = UTCDateTimeAttribute(null=True)
    sent_channel = UnicodeAttribute(default="")
    sent_to = UnicodeAttribute(default="")
    provider_message_id = UnicodeAttribute(default="")
    notes = ListAttribute(of=UnicodeAttribute, default=list)
    policy_version = NumberAttribute(default=0)
    recall_due = UnicodeAttribute(null=True)
    recipients = JSONAttribute(default=list)


class SweepStateItem(TableItem, discriminator="ReminderSweep"):
    watermark = UTCDateTimeAttribute(null=True)
    next_plan_at = UTCDateTimeAttribute(null=True)
    next_recall_at = UTCDateTimeAttribute(null=True)
    planned_version = NumberAttribute(default=0)


class AddressItem(TableItem, discriminator="ContactAddress"):
    address = UnicodeAttribute()
    channel = UnicodeAttribute()
    sms_opt_out = BooleanAttribute(default=False)
    sms_opt_out_at = UTCDateTimeAttribute(null=True)
    sms_opt_out_word = UnicodeAttribute(default="")
    sms_blocked = BooleanAttribute(default=False)
    sms_blocked_at = UTCDateTimeAttribute(null=True)
    email_suppressed = BooleanAttribute(default=False)
    suppressed_reason = UnicodeAttribute(default="")
    suppressed_at = UTCDateTimeAttribute(null=True)
    soft_bounces = NumberAttribute(default=0)
    soft_bounce_messages = UnicodeSetAttribute(null=True)
    unsubscribed = UnicodeSetAttribute(null=True)


class PrefsItem(TableItem, discriminator="ContactPrefs"):
    patient_id = UnicodeAttribute()
    channels = JSONAttribute(default=dict)
    sending_start = UnicodeAttribute(null=True)
    sending_end = UnicodeAttribute(null=True)
    language = UnicodeAttribute(default="")
    changed_by = UnicodeAttribute(default="")


class DailyCapItem(TableItem, discriminator="ReminderCap"):
    patient_id = UnicodeAttribute()
    day = UnicodeAttribute()
    reminders = NumberAttribute(default=1)


class InboundSeenItem(TableItem, discriminator="InboundSeen"):
    message_id = UnicodeAttribute()


class ReplanItem(TableItem, discriminator="ReminderReplan"):
    """An appointment whose touches could not be (re)planned when it changed; the next sweep plans it."""

    appointment_id = UnicodeAttribute()
    patient_id = UnicodeAttribute(default="")


class RecallItem(TableItem, discriminator="Recall"):
    patient_id = UnicodeAttribute()
    last_visit = UnicodeAttribute()
    due = UnicodeAttribute()


# --- conversions ---------------------------------------------------------------------------------------


def due_bucket(practice_id: str, due: datetime) -> str:
    return f"PRACTICE#{practice_id}#DUE#{due.astimezone(UTC).date().isoformat()}"


def touch_item(t: Touch) -> TouchItem:
    open_ = t.status in OPEN_STATES
    return TouchItem(
        practice_pk(t.practice_id),
        f"TOUCH#{t.id}",
        gsi1pk=due_bucket(t.practice_id, t.due) if open_ else None,
        gsi1sk=f"{iso(t.due)}#{t.id}" if open_ else None,
        gsi2pk=f"PRACTICE#{t.practice_id}#PATIENT#{t.patient_id}",
        gsi2sk=f"MSG#{iso(t.due)}#{t.id}",
        touch_id=t.id,
        kind=t.kind,
        rule_key=t.key,
        subject_id=t.subject_id,
        patient_id=t.patient_id,
        due=t.due,
        channel=t.channel,
        fallback=t.fallback,
        after_confirm=t.after_confirm,
        planned_start=t.planned_start,
        status=t.status,
        reason=t.reason,
        attempts=t.attempts,
        claimed_until=t.claimed_until,
        sent_at=t.sent_at,
        sent_channel=t.sent_channel,
        sent_to=t.sent_to,
        provider_message_id=t.provider_message_id,
        notes=list(t.notes),
        policy_version=t.policy_version,
        recall_due=t.recall_due.isoformat() if t.recall_due else None,
        recipients=[list(r) for r in t.recipients],
        created_at=t.created_at or datetime.now(UTC),
    )


def touch_from(i: TouchItem) -> Touch:
    return Touch(
        practice_id=str(i.pk).removeprefix("PRACTICE#"),
        id=i.touch_id,
        kind=i.kind,
        key=i.rule_key,
        subject_id=i.subject_id,
        patient_id=i.patient_id,
        due=i.due,
        channel=i.channel,
        fallback=bool(i.fallback),
        after_confirm=bool(i.after_confirm),
        planned_start=i.planned_start,
        status=i.status,
        reason=i.reason,
        attempts=int(i.attempts or 0),
        claimed_until=i.claimed_until,
        sent_at=i.sent_at,
        sent_channel=i.sent_channel,
        sent_to=i.sent_to,
        provider_message_id=i.provider_message_id,
        notes=[str(n) for n in i.notes or []],
        policy_version=int(i.policy_version or 0),
        recall_due=date.fromisoformat(i.recall_due) if i.recall_due else None,
        recipients=[(str(c), str(a)) for c, a in (i.recipients or [])],
        created_at=i.created_at,
    )


def address_from(i: AddressItem) -> AddressState:
    return AddressState(
        address=i.address,
        channel=i.channel,
        sms_opt_out=bool(i.sms_opt_out),
        sms_blocked=bool(i.sms_blocked),
        email_suppressed=bool(i.email_suppressed),
        suppressed_reason=i.suppressed_reason,
        soft_bounces=int(i.soft_bounces or 0),
        unsubscribed=frozenset(i.unsubscribed or ()),
    )


def prefs_from(i: PrefsItem) -> ContactPrefs:
    hours = None
    if i.sending_start and i.sending_end:
        hours = SendingHours(parse_clock(i.sending_start), parse_clock(i.sending_end))
    return ContactPrefs(channels=dict(i.channels or {}), sending_hours=hours, language=i.language or "")


def recall_from(i: RecallItem) -> RecallRecord:
    return RecallRecord(i.patient_id, date.fromisoformat(i.last_visit), date.fromisoformat(i.due))


def _channel_of(address: str) -> str:
    return EMAIL if "@" in address else SMS


def _conditional_failed(exc: Exception) -> bool:
    return getattr(exc, "cause_response_code", "") == "ConditionalCheckFailedException"


def _cancelled_by_condition(exc: TransactWriteError) -> bool:
    return any(r is not None and r.code == "ConditionalCheckFailed" for r in (exc.cancellation_reasons or []))


# --- the repository --------------------------------------------------------------------------------------


class ReminderStore:
    """Repository for everything the reminder engine keeps. One practice per call."""

    def __init__(self) -> None:
        self._connection: Connection | None = None

    def _tx(self) -> Connection:
        if self._connection is None:
            self._connection = Connection(region=TableItem.Meta.region)
        return self._connection

    # -- policy -----------------------------------------------------------------------------------
    def policy(self, practice_id: str) -> Policy:
        try:
            item = ReminderPolicyItem.get(practice_pk(practice_id), "REMINDER_POLICY")
        except ReminderPolicyItem.DoesNotExist:
            return Policy()
        return policy_from_dict(dict(item.policy or {}), version=int(item.policy_version or 0))

    def save_policy(self, practice_id: str, policy: Policy, expected_version: int, by: str, at: datetime) -> Policy:
        new_version = expected_version + 1
        body = {k: v for k, v in policy.as_dict().items() if k != "version"}
        current = ReminderPolicyItem(
            practice_pk(practice_id), "REMINDER_POLICY", policy=body, policy_version=new_version, changed_by=by
        )
        current.updated_at = at
        history = ReminderPolicyItem(
            practice_pk(practice_id),
            f"REMINDER_POLICY#{new_version:06d}",
            policy=body,
            policy_version=new_version,
            changed_by=by,
        )
        history.created_at = at
        condition = (
            ReminderPolicyItem.pk.does_not_exist()
            if expected_version == 0
            else ReminderPolicyItem.policy_version == expected_version
        )
        try:
            with TransactWrite(connection=self._tx()) as tx:
                tx.save(current, condition=condition)
                tx.save(history, condition=ReminderPolicyItem.pk.does_not_exist())
        except TransactWriteError as exc:
            if exc.cause_response_code == "TransactionCanceledException":
                raise PolicyConflict("the policy was changed meanwhile") from exc
            raise
        return policy_from_dict(body, version=new_version)

    def policy_history(self, practice_id: str, limit: int = 20) -> list[dict[str, Any]]:
        out = []
        for item in ReminderPolicyItem.query(
            practice_pk(practice_id),
            ReminderPolicyItem.sk.startswith("REMINDER_POLICY#"),
            scan_index_forward=False,
            limit=limit,
        ):
            out.append({"version": int(item.policy_version), "changed_by": item.changed_by, "at": iso(item.created_at)})
            if len(out) >= limit:
                break
        return out

    # -- touches ------------------------------------------------------------------------------------
    def touches_with_prefix(self, practice_id: str, prefix: str) -> list[Touch]:
        return [
            touch_from(i) for i in TouchItem.query(practice_pk(practice_id), TouchItem.sk.startswith(f"TOUCH#{prefix}"))
        ]

    def create_touch(self, touch: Touch) -> bool:
        try:
            touch_item(touch).save(condition=TouchItem.pk.does_not_exist())
        except PutError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def create_touches(self, touches: Sequence[Touch]) -> int:
        """Create touches that do not exist yet (one conditional put each); returns how many were."""
        return sum(self.create_touch(t) for t in touches)

    def cancel_touches(self, touches: Sequence[tuple[Touch, str]]) -> int:
        """Cancel touches that are still pending (one conditional update each)."""
        return sum(self.cancel_touch(t, reason) for t, reason in touches)

    def _update(self, touch: Touch, actions: list[Any], condition: Any) -> bool:
        return _conditional_update(TouchItem, practice_pk(touch.practice_id), f"TOUCH#{touch.id}", actions, condition)

    def replan_touch(self, touch: Touch, due: datetime, from_status: str) -> bool:
        """A pending (or planner-cancelled) touch takes a new due instant and is pending again."""
        return self._update(
            touch,
            [
                TouchItem.status.set(PENDING),
                TouchItem.due.set(due),
                TouchItem.reason.set(""),
                TouchItem.gsi1pk.set(due_bucket(touch.practice_id, due)),
                TouchItem.gsi1sk.set(f"{iso(due)}#{touch.id}"),
                TouchItem.gsi2sk.set(f"MSG#{iso(due)}#{touch.id}"),
            ],
            TouchItem.status == from_status,
        )

    def cancel_touch(self, touch: Touch, reason: str) -> bool:
        return self._update(
            touch,
            [
                TouchItem.status.set(CANCELLED),
                TouchItem.reason.set(reason),
                TouchItem.gsi1pk.remove(),
                TouchItem.gsi1sk.remove(),
            ],
            TouchItem.status == PENDING,
        )

    def due_touches(self, practice_id: str, after: datetime, until: datetime) -> list[Touch]:
        """Open touches due in (after, until], oldest first: one Query per UTC day bucket, paged to the end."""
        out: list[Touch] = []
        low = f"{iso(after + timedelta(seconds=1))}"
        high = f"{iso(until)}~"
        day = after.astimezone(UTC).date()
        while day <= until.astimezone(UTC).date():
            bucket = f"PRACTICE#{practice_id}#DUE#{day.isoformat()}"
            out.extend(touch_from(i) for i in TouchItem.gsi1.query(bucket, TouchItem.gsi1sk.between(low, high)))
            day += timedelta(days=1)
        return out

    def claim(self, touches: Sequence[Touch], now: datetime, lease_until: datetime) -> list[Touch]:
        """The touches this caller now owns: pending at the due instant we read, or claimed by someone
        whose lease has run out. Up to 100 claims go in one TransactWriteItems (one round trip instead
        of 100, on DynamoDB as in moto); if it is cancelled (a concurrent sweep took one of them, or two
        transactions met), each touch of that batch is claimed by itself, so exactly one sweep owns each."""
        claimed: list[Touch] = []
        unique = list({t.id: t for t in touches}.values())
        for first in range(0, len(unique), TRANSACT_MAX):
            part = unique[first : first + TRANSACT_MAX]
            if len(part) > 1 and self._claim_together(part, now, lease_until):
                for t in part:
                    t.status, t.claimed_until, t.attempts = CLAIMED, lease_until, t.attempts + 1
                claimed += part
                continue
            for t in part:
                if self._update(t, _claim_actions(lease_until), _claim_condition(t, now)):
                    t.status, t.claimed_until, t.attempts = CLAIMED, lease_until, t.attempts + 1
                    claimed.append(t)
        return claimed

    def _claim_together(self, touches: Sequence[Touch], now: datetime, lease_until: datetime) -> bool:
        """All of ``touches`` claimed in one transaction, or none (False: it was cancelled)."""
        try:
            with TransactWrite(connection=self._tx()) as tx:
                for t in touches:
                    tx.update(
                        TouchItem(practice_pk(t.practice_id), f"TOUCH#{t.id}"),
                        actions=_claim_actions(lease_until),
                        condition=_claim_condition(t, now),
                    )
        except TransactWriteError as exc:
            if exc.cause_response_code == "TransactionCanceledException":
                return False
            raise
        return True

    def begin_send(self, touch: Touch) -> bool:
        """Mark a claimed touch "sending" right before the provider call; False if our claim is gone."""
        return self._update(touch, [TouchItem.status.set(SENDING)], _held(touch.claimed_until))

    def begin_sends(self, touches: Sequence[Touch]) -> list[Touch]:
        """Mark a small group of claimed touches "sending" in one transaction, right before the group is
        handed to the provider: one round trip for the group. Cancelled (a claim of ours ran out and
        another run holds it), each is marked by itself. Returns the touches marked (still ours)."""
        if len(touches) > 1:
            try:
                with TransactWrite(connection=self._tx()) as tx:
                    for t in touches:
                        tx.update(
                            TouchItem(practice_pk(t.practice_id), f"TOUCH#{t.id}"),
                            actions=[TouchItem.status.set(SENDING)],
                            condition=_held(t.claimed_until),
                        )
            except TransactWriteError as exc:
                if exc.cause_response_code != "TransactionCanceledException":
                    raise
            else:
                return list(touches)
        return [t for t in touches if self.begin_send(t)]

    def finish(self, touch: Touch, lease: datetime, zone: str = "UTC") -> bool:
        """Write the outcome of a touch we handed to the provider, if it is still ours (sending under
        ``lease``, or marked unknown by a run that gave up on us: a late answer settles it), in one
        transaction with the analytics message counters it moves (by the practice-local month): an
        outcome is recorded, and counted, once."""
        return self._finish_together([(touch, lease)], zone)

    def finish_many(self, outcomes: Sequence[tuple[Touch, datetime]], zone: str = "UTC") -> list[Touch]:
        """``finish`` for a group handed to the provider together: one transaction with every outcome
        (each conditioned as in ``finish``) and the month counters they move, one round trip for the
        group. If a condition cancels it (one touch was settled by another run), each is finished by
        itself. Returns the touches another run had settled (nothing written for those)."""
        if len(outcomes) > 1 and self._finish_together(outcomes, zone):
            return []
        return [t for t, lease in outcomes if not self._finish_together([(t, lease)], zone)]

    def _finish_together(self, outcomes: Sequence[tuple[Touch, datetime]], zone: str) -> bool:
        deltas: dict[str, dict[str, int]] = {}
        for t, _ in outcomes:
            month, counters = message_outcome(t.status, t.channel, t.sent_channel, t.parts, t.sent_at or t.due, zone)
            add_deltas(deltas, month, counters)
        try:
            with TransactWrite(connection=self._tx()) as tx:
                for t, lease in outcomes:
                    tx.save(
                        touch_item(t),
                        condition=TouchItem.status.is_in(SENDING, UNKNOWN) & (TouchItem.claimed_until == lease),
                    )
                for m, c in sorted(prune(deltas).items()):
                    item, actions = typed_month_update(outcomes[0][0].practice_id, m, c)
                    tx.update(item, actions=actions)
        except TransactWriteError as exc:
            if _cancelled_by_condition(exc):
                return False
            raise
        return True

    def give_up_unknown(self, touch: Touch, reason: str) -> bool:
        """A touch left "sending" past its lease: it may have gone out, so it is never sent again."""
        return self._update(
            touch,
            [
                TouchItem.status.set(UNKNOWN),
                TouchItem.reason.set(reason),
                TouchItem.gsi1pk.remove(),
                TouchItem.gsi1sk.remove(),
            ],
            (TouchItem.status == SENDING) & (TouchItem.claimed_until == touch.claimed_until),
        )

    def record(
        self, practice_id: str, touches: Iterable[Touch], caps: Iterable[tuple[str, str, int]] = (), zone: str = "UTC"
    ) -> None:
        """Write the outcome of claimed touches and the daily-cap markers (patient id, local date, reminders
        that day). Each group of touches is one transaction with the analytics message counters it moves
        (sent, failed, SMS parts; by the practice-local month), every touch conditioned on still being
        claimed: an outcome is recorded, and counted, once."""
        caps = list(caps)
        if caps:
            with TableItem.batch_write() as batch:
                for patient_id, day, count in caps:
                    batch.save(
                        DailyCapItem(
                            practice_pk(practice_id),
                            f"REMINDED#{patient_id}#{day}",
                            patient_id=patient_id,
                            day=day,
                            reminders=count,
                            expires_at=int(
                                (datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(days=3)).timestamp()
                            ),
                        )
                    )
        touches = list(touches)
        for first in range(0, len(touches), RECORD_CHUNK):
            self._record(practice_id, touches[first : first + RECORD_CHUNK], zone)

    def _record(self, practice_id: str, touches: list[Touch], zone: str) -> None:
        deltas: dict[str, dict[str, int]] = {}
        for t in touches:
            month, counters = message_outcome(t.status, t.channel, t.sent_channel, t.parts, t.sent_at or t.due, zone)
            add_deltas(deltas, month, counters)
        try:
            with TransactWrite(connection=self._tx()) as tx:
                for t in touches:
                    tx.save(touch_item(t), condition=TouchItem.status == CLAIMED)
                for month, counters in sorted(prune(deltas).items()):
                    item, actions = typed_month_update(practice_id, month, counters)
                    tx.update(item, actions=actions)
        except TransactWriteError as exc:
            if not _cancelled_by_condition(exc):
                raise
            if len(touches) > 1:
                for t in touches:
                    self._record(practice_id, [t], zone)
            # a single touch no longer claimed: another sweep took it over after our lease ran out

    def messages_for_patient(self, practice_id: str, patient_id: str, limit: int = 50) -> list[Touch]:
        out = []
        for i in TouchItem.gsi2.query(
            f"PRACTICE#{practice_id}#PATIENT#{patient_id}",
            TouchItem.gsi2sk.startswith("MSG#"),
            scan_index_forward=False,
        ):
            out.append(touch_from(i))
            if len(out) >= limit:
                break
        return out

    # -- appointments to plan again ---------------------------------------------------------------------
    def mark_replan(self, practice_id: str, appointment_id: str, patient_id: str) -> None:
        item = ReplanItem(
            practice_pk(practice_id), f"REPLAN#{appointment_id}", appointment_id=appointment_id, patient_id=patient_id
        )
        item.expires_at = int((datetime.now(UTC) + timedelta(days=7)).timestamp())
        item.save()

    def replans(self, practice_id: str) -> list[tuple[str, str]]:
        """(appointment id, patient id) of every marked appointment: one Query, paged to the end."""
        return [
            (i.appointment_id, i.patient_id)
            for i in ReplanItem.query(practice_pk(practice_id), ReplanItem.sk.startswith("REPLAN#"))
            if isinstance(i, ReplanItem)
        ]

    def clear_replan(self, practice_id: str, appointment_id: str) -> None:
        ReplanItem(practice_pk(practice_id), f"REPLAN#{appointment_id}").delete()

    # -- sweep state ----------------------------------------------------------------------------------
    def sweep_state(self, practice_id: str) -> SweepState | None:
        try:
            i = SweepStateItem.get(practice_pk(practice_id), "REMINDER_SWEEP", consistent_read=True)
        except SweepStateItem.DoesNotExist:
            return None
        return SweepState(i.watermark, i.next_plan_at, i.next_recall_at, int(i.planned_version or 0))

    def save_sweep_state(self, practice_id: str, old: SweepState | None, new: SweepState) -> bool:
        """Compare-and-set on the whole state: a concurrent sweep that moved first wins."""
        item = SweepStateItem(
            practice_pk(practice_id),
            "REMINDER_SWEEP",
            watermark=new.watermark,
            next_plan_at=new.next_plan_at,
            next_recall_at=new.next_recall_at,
            planned_version=new.planned_version,
        )
        if old is None:
            condition = SweepStateItem.pk.does_not_exist()
        else:
            condition = _same(SweepStateItem.watermark, old.watermark)
            condition &= _same(SweepStateItem.next_plan_at, old.next_plan_at)
            condition &= _same(SweepStateItem.next_recall_at, old.next_recall_at)
            condition &= SweepStateItem.planned_version == old.planned_version
        try:
            item.save(condition=condition)
        except PutError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    # -- the sweep's re-read ------------------------------------------------------------------------
    def snapshot(
        self,
        practice_id: str,
        appointment_ids: Iterable[str],
        patient_ids: Iterable[str],
        caps: Iterable[tuple[str, str]],
        recall_patient_ids: Iterable[str] = (),
        with_practice: bool = False,
        for_sending: bool = False,
    ) -> Snapshot:
        """Appointments, patients, their preferences, daily-cap markers, recall records (and the
        practice with its reminder policy), read with BatchGetItem: 100 keys a request, unprocessed
        keys retried by pynamodb. ``for_sending`` (the sweep's re-read) asks only for what deciding and
        rendering read (a ProjectionExpression): appointments come back without their history, holds and
        notes, so smaller answers (fewer read bytes on DynamoDB, less to parse here)."""
        from chalicelib.practices.store import PracticeItem, practice_from

        pk = practice_pk(practice_id)
        pids = list(dict.fromkeys(patient_ids))
        keys = [(pk, "PRACTICE"), (pk, "REMINDER_POLICY")] if with_practice else []
        keys += [(pk, f"APPT#{a}") for a in dict.fromkeys(appointment_ids)]
        keys += [(pk, f"PATIENT#{p}") for p in pids]
        keys += [(pk, f"CONTACTPREFS#{p}") for p in pids]
        keys += [(pk, f"REMINDED#{p}#{d}") for p, d in dict.fromkeys(caps)]
        keys += [(pk, f"RECALL#{p}") for p in dict.fromkeys(recall_patient_ids)]
        snap = Snapshot()
        for item in _batch_get(keys, _SENDING_FIELDS if for_sending and not with_practice else None):
            if isinstance(item, AppointmentItem):
                snap.appointments[item.appointment_id] = appointment_from(item)
            elif isinstance(item, PatientItem):
                snap.patients[item.patient_id] = patient_from(item)
            elif isinstance(item, PrefsItem):
                snap.prefs[item.patient_id] = prefs_from(item)
            elif isinstance(item, DailyCapItem):
                snap.caps[(item.patient_id, item.day)] = int(item.reminders or 1)
            elif isinstance(item, RecallItem):
                snap.recalls[item.patient_id] = recall_from(item)
            elif isinstance(item, PracticeItem):
                snap.practice = practice_from(item)
            elif isinstance(item, ReminderPolicyItem):
                snap.policy = policy_from_dict(dict(item.policy or {}), version=int(item.policy_version or 0))
        if with_practice and snap.policy is None:
            snap.policy = Policy()
        return snap

    def addresses(self, practice_id: str, addresses: Iterable[str]) -> dict[str, AddressState]:
        pk = practice_pk(practice_id)
        found = {
            i.address: address_from(i)
            for i in _batch_get([(pk, f"ADDRESS#{a}") for a in dict.fromkeys(addresses)])
            if isinstance(i, AddressItem)
        }
        return found

    def address(self, practice_id: str, address: str) -> AddressState:
        try:
            return address_from(AddressItem.get(practice_pk(practice_id), f"ADDRESS#{address}", consistent_read=True))
        except AddressItem.DoesNotExist:
            return AddressState(address=address, channel=_channel_of(address))

    # -- address state changes (each one atomic update, creating the item when needed) ------------------
    def _address_update(self, practice_id: str, address: str, actions: list[Any], condition: Any = None) -> bool:
        base = [
            AddressItem.address.set(address),
            AddressItem.channel.set(_channel_of(address)),
            AddressItem.item_type.set(AddressItem),
        ]
        return _conditional_update(
            AddressItem, practice_pk(practice_id), f"ADDRESS#{address}", base + actions, condition
        )

    def _address_transition(
        self, practice_id: str, address: str, actions: list[Any], before: Any, counter: str, at: datetime
    ) -> None:
        """Apply ``actions``; if the address was in the ``before`` state, count the change in the analytics
        month roll-up in the same transaction, so a repeated notice or keyword counts once."""
        base = [
            AddressItem.address.set(address),
            AddressItem.channel.set(_channel_of(address)),
            AddressItem.item_type.set(AddressItem),
        ]
        month = at.astimezone(ZoneInfo(self._zone(practice_id))).strftime("%Y-%m")
        try:
            with TransactWrite(connection=self._tx()) as tx:
                tx.update(
                    AddressItem(practice_pk(practice_id), f"ADDRESS#{address}"),
                    actions=base + actions,
                    condition=before,
                )
                item, counted = typed_month_update(practice_id, month, {counter: 1})
                tx.update(item, actions=counted)
        except TransactWriteError as exc:
            if not _cancelled_by_condition(exc):
                raise
            self._address_update(practice_id, address, actions)  # already so: refresh it, count nothing

    def _zone(self, practice_id: str) -> str:
        from chalicelib.practices.store import PracticeStore

        practice = PracticeStore().get(practice_id)
        return practice.zone if practice else "UTC"

    def set_sms_opt_out(self, practice_id: str, number: str, opted_out: bool, word: str, at: datetime) -> None:
        actions: list[Any] = [AddressItem.sms_opt_out.set(opted_out), AddressItem.sms_opt_out_word.set(word)]
        actions.append(AddressItem.sms_opt_out_at.set(at))
        if not opted_out:
            actions.append(AddressItem.sms_blocked.set(False))
            self._address_update(practice_id, number, actions)
            return
        was_in = AddressItem.sms_opt_out.does_not_exist() | (AddressItem.sms_opt_out == False)  # noqa: E712
        self._address_transition(practice_id, number, actions, was_in, "sms_opted_out", at)

    def set_sms_blocked(self, practice_id: str, number: str, at: datetime) -> None:
        was_open = AddressItem.sms_blocked.does_not_exist() | (AddressItem.sms_blocked == False)  # noqa: E712
        actions = [AddressItem.sms_blocked.set(True), AddressItem.sms_blocked_at.set(at)]
        self._address_transition(practice_id, number, actions, was_open, "sms_bounced", at)

    def suppress_email(self, practice_id: str, email: str, reason: str, at: datetime) -> None:
        was_open = AddressItem.email_suppressed.does_not_exist() | (AddressItem.email_suppressed == False)  # noqa: E712
        actions = [
            AddressItem.email_suppressed.set(True),
            AddressItem.suppressed_reason.set(reason),
            AddressItem.suppressed_at.set(at),
        ]
        self._address_transition(practice_id, email, actions, was_open, "email_bounced", at)

    def count_soft_bounce(self, practice_id: str, email: str, message_id: str) -> AddressState | None:
        """+1 soft bounce, once per sent message (SNS may deliver a notice twice); None if already counted."""
        counted = self._address_update(
            practice_id,
            email,
            [AddressItem.soft_bounces.add(1), AddressItem.soft_bounce_messages.add({message_id})],
            condition=AddressItem.soft_bounce_messages.does_not_exist()
            | ~AddressItem.soft_bounce_messages.contains(message_id),
        )
        return self.address(practice_id, email) if counted else None

    def reset_soft_bounces(self, practice_id: str, email: str) -> None:
        self._address_update(
            practice_id,
            email,
            [AddressItem.soft_bounces.set(0), AddressItem.soft_bounce_messages.remove()],
            condition=AddressItem.soft_bounces > 0,
        )

    def clear_email_suppression(self, practice_id: str, email: str) -> None:
        self._address_update(
            practice_id,
            email,
            [
                AddressItem.email_suppressed.set(False),
                AddressItem.suppressed_reason.set(""),
                AddressItem.soft_bounces.set(0),
                AddressItem.soft_bounce_messages.remove(),
            ],
        )

    def unsubscribe_email(self, practice_id: str, email: str, message_type: str, at: datetime | None = None) -> None:
        was_in = AddressItem.unsubscribed.does_not_exist() | ~AddressItem.unsubscribed.contains(message_type)
        actions = [AddressItem.unsubscribed.add({message_type})]
        self._address_transition(practice_id, email, actions, was_in, "email_opted_out", at or datetime.now(UTC))

    def resubscribe_email(self, practice_id: str, email: str, message_type: str) -> None:
        self._address_update(practice_id, email, [AddressItem.unsubscribed.delete({message_type})])

    # -- preferences ----------------------------------------------------------------------------------
    def prefs(self, practice_id: str, patient_id: str) -> ContactPrefs:
        try:
            return prefs_from(PrefsItem.get(practice_pk(practice_id), f"CONTACTPREFS#{patient_id}"))
        except PrefsItem.DoesNotExist:
            return ContactPrefs()

    def save_prefs(self, practice_id: str, patient_id: str, prefs: ContactPrefs, by: str, at: datetime) -> None:
        item = PrefsItem(
            practice_pk(practice_id),
            f"CONTACTPREFS#{patient_id}",
            patient_id=patient_id,
            channels={t: dict(c) for t, c in prefs.channels.items()},
            sending_start=prefs.sending_hours.as_dict()["start"] if prefs.sending_hours else None,
            sending_end=prefs.sending_hours.as_dict()["end"] if prefs.sending_hours else None,
            language=prefs.language,
            changed_by=by,
        )
        item.updated_at = at
        item.save()

    # -- inbox and inbound dedupe ---------------------------------------------------------------------
    def add_inbox(self, practice_id: str, entry: InboxEntry) -> None:
        """Items live in the staff inbox module (chalicelib/inbox), which also indexes the open ones."""
        InboxStore().add(
            practice_id,
            Item(entry.id, entry.at, entry.kind, entry.address, tuple(entry.patient_ids), entry.text, entry.status),
        )

    def inbox(self, practice_id: str, limit: int = 100) -> list[InboxEntry]:
        out = []
        for i in InboxItem.query(practice_pk(practice_id), InboxItem.sk.startswith("INBOX#"), scan_index_forward=False):
            patients = tuple(str(p) for p in i.patient_ids or [])
            out.append(InboxEntry(i.entry_id, i.at, i.kind, i.address, patients, i.text, i.status))
            if len(out) >= limit:
                break
        return out

    def first_sight(self, practice_id: str, message_id: str, at: datetime) -> bool:
        """True the first time a provider message id is seen (inbound SMS are delivered at least once);
        the text is counted for analytics (inbound parts cost money) in the same transaction."""
        month = at.astimezone(ZoneInfo(self._zone(practice_id))).strftime("%Y-%m")
        seen = InboundSeenItem(
            practice_pk(practice_id),
            f"INBOUND#{message_id}",
            message_id=message_id,
            expires_at=int((at + timedelta(days=14)).timestamp()),
        )
        try:
            with TransactWrite(connection=self._tx()) as tx:
                tx.save(seen, condition=InboundSeenItem.pk.does_not_exist())
                item, counted = typed_month_update(practice_id, month, {"sms_inbound": 1})
                tx.update(item, actions=counted)
        except TransactWriteError as exc:
            if _cancelled_by_condition(exc):
                return False
            raise
        return True

    def patient_ids(self, practice_id: str) -> Iterator[str]:
        """Every patient id of the practice: a Query on the practice's partition, paged to the end."""
        for item in PatientItem.query(
            practice_pk(practice_id), PatientItem.sk.startswith("PATIENT#"), attributes_to_get=["patient_id", "type"]
        ):
            yield item.patient_id

    # -- recall ----------------------------------------------------------------------------------------
    def recall(self, practice_id: str, patient_id: str) -> RecallRecord | None:
        try:
            return recall_from(RecallItem.get(practice_pk(practice_id), f"RECALL#{patient_id}"))
        except RecallItem.DoesNotExist:
            return None

    def save_recall(self, practice_id: str, record: RecallRecord) -> None:
        RecallItem(
            practice_pk(practice_id),
            f"RECALL#{record.patient_id}",
            patient_id=record.patient_id,
            last_visit=record.last_visit.isoformat(),
            due=record.due.isoformat(),
        ).save()


def new_id() -> str:
    return uuid.uuid4().hex[:16]


def _conditional_update(model: Any, pk: str, sk: str, actions: list[Any], condition: Any) -> bool:
    """One UpdateItem that returns nothing (``Model.update`` asks for ALL_NEW, which nobody here reads);
    False when the condition refused it."""
    try:
        model._get_connection().update_item(pk, sk, actions=actions, condition=condition, return_values="NONE")
    except UpdateError as exc:
        if _conditional_failed(exc):
            return False
        raise
    return True


def _claim_actions(lease_until: datetime) -> list[Any]:
    return [TouchItem.status.set(CLAIMED), TouchItem.claimed_until.set(lease_until), TouchItem.attempts.add(1)]


def _claim_condition(t: Touch, now: datetime) -> Any:
    return ((TouchItem.status == PENDING) & (TouchItem.due == t.due)) | (
        (TouchItem.status == CLAIMED) & (TouchItem.claimed_until < now)
    )


def _held(lease: datetime | None) -> Any:
    """Claimed by the holder of ``lease``."""
    return (TouchItem.status == CLAIMED) & _same(TouchItem.claimed_until, lease)


def _same(attribute: Any, value: datetime | None) -> Any:
    return attribute.does_not_exist() if value is None else attribute == value


def _batch_get(keys: list[tuple[str, str]], attributes: Sequence[str] | None = None) -> Iterator[TableItem]:
    for start in range(0, len(keys), BATCH_GET):
        yield from TableItem.batch_get(keys[start : start + BATCH_GET], attributes_to_get=attributes)


def _names(*attributes: Any) -> list[str]:
    return [a.attr_name for a in attributes]


# What the sweep's re-read needs of each item it reads (its snapshot ``for_sending``).
_SENDING_FIELDS = list(
    dict.fromkeys(
        _names(TableItem.pk, TableItem.sk, TableItem.item_type)
        + _names(
            AppointmentItem.appointment_id,
            AppointmentItem.patient_id,
            AppointmentItem.provider_id,
            AppointmentItem.operatory_id,
            AppointmentItem.type_id,
            AppointmentItem.start,
            AppointmentItem.end,
            AppointmentItem.status,
        )
        + _names(
            PatientItem.patient_id,
            PatientItem.given_name,
            PatientItem.family_name,
            PatientItem.birth_date,
            PatientItem.phone,
            PatientItem.email,
            PatientItem.language,
            PatientItem.zone,
            PatientItem.active,
        )
        + _names(PrefsItem.channels, PrefsItem.sending_start, PrefsItem.sending_end, PrefsItem.language)
        + _names(DailyCapItem.patient_id, DailyCapItem.day, DailyCapItem.reminders)
        + _names(RecallItem.patient_id, RecallItem.last_visit, RecallItem.due)
    )
)


class StoreConfirmer:
    """Confirms a booked appointment for an SMS reply: one conditional update (still booked, same
    version), then the appointment event every change raises. The appointments capability's own
    confirm use case can replace this port once it exists."""

    def __init__(self, publish: Any) -> None:
        self.publish = publish

    def confirm(self, practice_id: str, appointment_id: str, zone: str, at: datetime, by: str) -> Appointment | None:
        from chalicelib.appointments.events import STATUS_CHANGED, AppointmentChanged
        from chalicelib.appointments.store import appointment_item

        try:
            item = AppointmentItem.get(practice_pk(practice_id), f"APPT#{appointment_id}", consistent_read=True)
        except AppointmentItem.DoesNotExist:
            return None
        appointment = appointment_from(item)
        if appointment.status != "booked":
            return None
        appointment.transition("confirmed", at, by, reason="sms reply")
        history = appointment_item(practice_id, zone, appointment).history
        try:
            item.update(
                actions=[AppointmentItem.status.set("confirmed"), AppointmentItem.history.set(history)],
                condition=AppointmentItem.status == "booked",
            )
        except UpdateError as exc:
            if _conditional_failed(exc):
                return None
            raise
        self.publish(
            AppointmentChanged(
                practice_id=practice_id,
                appointment_id=appointment.id,
                patient_id=appointment.patient_id,
                kind=STATUS_CHANGED,
                status="confirmed",
                start=appointment.start,
                previous_start=None,
                at=at,
                by=by,
            )
        )
        return appointment
