"""Billing items and their repository (DynamoDB through pynamodb).

Keys (see chalicelib/platform/table.py):
  LEDGER#<patient>#<line id>        a ledger line; ids are deterministic for imports and Stripe
  INVOICE#<invoice id>              which patient an invoice number belongs to (first poster wins)
  STRIPE_EVENT#<event id>           a Stripe event already applied (kept 400 days)
  PI#<payment intent id>            what the ledger holds for one PaymentIntent, under a revision number;
                                    GSI1 STRIPE_PI#<pi> / PRACTICE#<p> finds it for events without metadata
  RECEIPT#<payment intent id>       the receipt claim: one email per payment
  PAYLINK#<link id>                 a text-to-pay link (its token carries only the practice and this id)
  PLAN#<plan id>                    a payment plan; GSI2 PRACTICE#<p>#PATIENT#<id> / PLAN#<created>#<plan>
  PISTART#<payment intent id>      a PaymentIntent as we asked for it (amount, allocation, link); GSI1
                                    STRIPE_START#<pi> / PRACTICE#<p> finds it when the card is confirmed
  PICONFIRM#<pi>#<patient>         a card confirmed for a PaymentIntent whose webhook may not be in yet (kept 1 day);
                                    GSI2 PRACTICE#<p>#PATIENT#<id> / PICONFIRM#<pi>
  REFUNDHOLD#<payment intent id>    refund cents reserved against a payment before Stripe is asked
  PLANLOCK#<patient id>             a revision moved by every new plan of the patient (one check-and-create
                                    at a time, so two plans never both fit the same balance)
  PLAN#<plan id>#INST#<nn>          one instalment; GSI1 PRACTICE#<p>#INSTALMENTS#<YYYY-MM> / <due>#<plan>#<nn>

Invariants are conditions: an event id, a PaymentIntent's state, a ledger line id and a receipt are each
written once (``attribute_not_exists``); a PaymentIntent's state moves only from the revision it was
read at, in the same transaction as its event record and its ledger lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.billing.model import (
    Applied,
    Instalment,
    IntentState,
    LedgerLine,
    PayLink,
    Plan,
    StartedIntent,
)
from chalicelib.patients.store import GuardianItem, PatientItem
from chalicelib.platform.table import TableItem, practice_pk

_CONDITION_FAILED = "ConditionalCheckFailedException"
EVENT_KEEP = timedelta(days=400)

APPLIED = "applied"
DUPLICATE = "duplicate"
CONFLICT = "conflict"


class LedgerLineItem(TableItem, discriminator="LedgerLine"):
    line_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    amount_cents = NumberAttribute()
    posted_on = UnicodeAttribute()  # ISO local date
    description = UnicodeAttribute(default="")
    invoice_id = UnicodeAttribute(default="")
    claim_id = UnicodeAttribute(default="")
    payment_intent_id = UnicodeAttribute(default="")
    refund_id = UnicodeAttribute(default="")
    source = UnicodeAttribute(default="staff")
    posted_by = UnicodeAttribute(default="")


class InvoiceItem(TableItem, discriminator="Invoice"):
    invoice_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()


class StripeEventItem(TableItem, discriminator="StripeEvent"):
    event_id = UnicodeAttribute()
    event_type = UnicodeAttribute()
    payment_intent_id = UnicodeAttribute(default="")


class PaymentIntentItem(TableItem, discriminator="PaymentIntentState"):
    payment_intent_id = UnicodeAttribute()
    rev = NumberAttribute()
    state = JSONAttribute()


class ReceiptItem(TableItem, discriminator="Receipt"):
    payment_intent_id = UnicodeAttribute()


class PayLinkItem(TableItem, discriminator="PayLink"):
    link_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    amount_cents = NumberAttribute()
    issued_at = NumberAttribute()
    link_expires_at = NumberAttribute()
    channel = UnicodeAttribute(default="")
    plan_id = UnicodeAttribute(default="")
    instalment = NumberAttribute(default=0)
    paid_cents = NumberAttribute(default=0)


class PlanItem(TableItem, discriminator="PaymentPlan"):
    plan_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    total_cents = NumberAttribute()
    every = UnicodeAttribute()
    instalment_count = NumberAttribute()
    created_on = UnicodeAttribute()
    created_by = UnicodeAttribute(default="")
    charged_at_start_cents = NumberAttribute(null=True)  # absent on plans made before it was kept


class StartedIntentItem(TableItem, discriminator="StartedIntent"):
    payment_intent_id = UnicodeAttribute()
    amount_cents = NumberAttribute()
    allocation = JSONAttribute()
    paylink_id = UnicodeAttribute(default="")
    plan_id = UnicodeAttribute(default="")
    instalment = NumberAttribute(default=0)


class ConfirmingItem(TableItem, discriminator="ConfirmingIntent"):
    payment_intent_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    amount_cents = NumberAttribute()
    confirmed_at = NumberAttribute()
    link_key = UnicodeAttribute(default="")


class RefundHoldItem(TableItem, discriminator="RefundHold"):
    payment_intent_id = UnicodeAttribute()
    reserved_cents = NumberAttribute(default=0)


class PlanLockItem(TableItem, discriminator="PlanLock"):
    patient_id = UnicodeAttribute()
    rev = NumberAttribute()


class InstalmentItem(TableItem, discriminator="Instalment"):
    plan_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    number = NumberAttribute()
    of = NumberAttribute()
    due_on = UnicodeAttribute()
    amount_cents = NumberAttribute()
    paid_cents = NumberAttribute(default=0)


# --- keys -------------------------------------------------------------------------------------


def ledger_prefix(patient_id: str) -> str:
    return f"LEDGER#{patient_id}#"


def ledger_sk(patient_id: str, line_id: str) -> str:
    return f"{ledger_prefix(patient_id)}{line_id}"


def plan_sk(plan_id: str) -> str:
    return f"PLAN#{plan_id}"


def instalment_sk(plan_id: str, number: int) -> str:
    return f"PLAN#{plan_id}#INST#{number:02d}"


def instalment_bucket(practice_id: str, day: date) -> str:
    return f"PRACTICE#{practice_id}#INSTALMENTS#{day.strftime('%Y-%m')}"


def _patient_index(practice_id: str, patient_id: str) -> str:
    return f"PRACTICE#{practice_id}#PATIENT#{patient_id}"


# --- conversions ------------------------------------------------------------------------------


def line_item(practice_id: str, line: LedgerLine) -> LedgerLineItem:
    return LedgerLineItem(
        practice_pk(practice_id),
        ledger_sk(line.patient_id, line.id),
        line_id=line.id,
        patient_id=line.patient_id,
        kind=line.kind,
        amount_cents=line.amount_cents,
        posted_on=line.posted_on.isoformat(),
        description=line.description,
        invoice_id=line.invoice_id,
        claim_id=line.claim_id,
        payment_intent_id=line.payment_intent_id,
        refund_id=line.refund_id,
        source=line.source,
        posted_by=line.posted_by,
    )


def line_from(i: LedgerLineItem) -> LedgerLine:
    return LedgerLine(
        id=i.line_id,
        patient_id=i.patient_id,
        kind=i.kind,
        amount_cents=int(i.amount_cents),
        posted_on=date.fromisoformat(i.posted_on),
        description=i.description,
        invoice_id=i.invoice_id,
        claim_id=i.claim_id,
        payment_intent_id=i.payment_intent_id,
        refund_id=i.refund_id,
        source=i.source,
        posted_by=i.posted_by,
    )


def _state_json(state: IntentState) -> dict[str, Any]:
    raw = asdict(state)
    raw.pop("rev")
    raw["paid_on"] = state.paid_on.isoformat() if state.paid_on else None
    return raw


def _pairs(raw: Any) -> tuple[tuple[str, int], ...]:
    return tuple((str(k), int(v)) for k, v in raw or [])


def _state_from(i: PaymentIntentItem) -> IntentState:
    raw = dict(i.state or {})
    return IntentState(
        payment_intent_id=i.payment_intent_id,
        rev=int(i.rev),
        allocation=_pairs(raw.get("allocation")),
        paid_cents=int(raw.get("paid_cents", 0)),
        refund_ids=_pairs(raw.get("refund_ids")),
        refund_seen_cents=int(raw.get("refund_seen_cents", 0)),
        refunded=_pairs(raw.get("refunded")),
        paid_on=date.fromisoformat(raw["paid_on"]) if raw.get("paid_on") else None,
        invoice_id=str(raw.get("invoice_id", "")),
        paylink_id=str(raw.get("paylink_id", "")),
        plan_id=str(raw.get("plan_id", "")),
        instalment=int(raw.get("instalment", 0)),
    )


def _link_from(i: PayLinkItem) -> PayLink:
    return PayLink(
        id=i.link_id,
        patient_id=i.patient_id,
        amount_cents=int(i.amount_cents),
        created_at=int(i.issued_at),
        expires_at=int(i.link_expires_at),
        channel=i.channel,
        plan_id=i.plan_id,
        instalment=int(i.instalment or 0),
        paid_cents=int(i.paid_cents or 0),
    )


def _instalment_from(i: InstalmentItem) -> Instalment:
    return Instalment(int(i.number), date.fromisoformat(i.due_on), int(i.amount_cents), int(i.paid_cents or 0))


def _failed_condition(exc: PutError | UpdateError | DeleteError) -> bool:
    return exc.cause_response_code == _CONDITION_FAILED


def _epoch(at: datetime) -> int:
    return int(at.timestamp())


class BillingStore:
    """Repository for ledger lines, Stripe bookkeeping, pay links and payment plans (one practice per call)."""

    # -- ledger --------------------------------------------------------------------------------
    def lines_for(self, practice_id: str, patient_id: str) -> list[LedgerLine]:
        """Every line of a patient, every page (pynamodb follows LastEvaluatedKey to the end)."""
        return [
            line_from(i)
            for i in LedgerLineItem.query(
                practice_pk(practice_id), LedgerLineItem.sk.startswith(ledger_prefix(patient_id))
            )
        ]

    def add_line(self, practice_id: str, line: LedgerLine) -> bool:
        """False when a line with this id is already on the patient's ledger."""
        try:
            line_item(practice_id, line).save(condition=LedgerLineItem.pk.does_not_exist())
        except PutError as exc:
            if _failed_condition(exc):
                return False
            raise
        return True

    def put_lines(self, practice_id: str, lines: Sequence[LedgerLine]) -> None:
        """Imported lines, batched. Their ids come from the file, so writing a file again rewrites the same
        items instead of adding new ones."""
        with LedgerLineItem.batch_write() as writer:
            for line in lines:
                writer.save(line_item(practice_id, line))

    def claim_invoice(self, practice_id: str, invoice_id: str, patient_id: str) -> str:
        """The patient the invoice number belongs to: the first to claim it."""
        try:
            InvoiceItem(
                practice_pk(practice_id), f"INVOICE#{invoice_id}", invoice_id=invoice_id, patient_id=patient_id
            ).save(condition=InvoiceItem.pk.does_not_exist())
        except PutError as exc:
            if not _failed_condition(exc):
                raise
            return self.invoice_patient(practice_id, invoice_id) or patient_id
        return patient_id

    def invoice_patient(self, practice_id: str, invoice_id: str) -> str | None:
        try:
            return str(InvoiceItem.get(practice_pk(practice_id), f"INVOICE#{invoice_id}").patient_id)
        except InvoiceItem.DoesNotExist:
            return None

    # -- family ----------------------------------------------------------------------------------
    def guarantor_members(self, practice_id: str, guarantor_id: str) -> list[str]:
        """The patients a guarantor answers for: a guardian's linked patients, or a patient alone."""
        members: list[str] = []
        try:
            guardian = GuardianItem.get(practice_pk(practice_id), f"GUARDIAN#{guarantor_id}")
            members.extend(str(p) for p in guardian.patient_ids or [])
        except GuardianItem.DoesNotExist:
            pass
        try:
            PatientItem.get(practice_pk(practice_id), f"PATIENT#{guarantor_id}")
            members.insert(0, guarantor_id)
        except PatientItem.DoesNotExist:
            pass
        return list(dict.fromkeys(members))

    # -- Stripe bookkeeping ----------------------------------------------------------------------
    def intent(self, practice_id: str, payment_intent_id: str) -> IntentState | None:
        try:
            item = PaymentIntentItem.get(practice_pk(practice_id), f"PI#{payment_intent_id}", consistent_read=True)
        except PaymentIntentItem.DoesNotExist:
            return None
        return _state_from(item)

    def practice_of_intent(self, payment_intent_id: str) -> str | None:
        for item in PaymentIntentItem.gsi1.query(f"STRIPE_PI#{payment_intent_id}"):
            return str(item.gsi1sk).removeprefix("PRACTICE#")
        return None

    def event_seen(self, practice_id: str, event_id: str) -> bool:
        try:
            StripeEventItem.get(practice_pk(practice_id), f"STRIPE_EVENT#{event_id}", consistent_read=True)
        except StripeEventItem.DoesNotExist:
            return False
        return True

    def commit(
        self,
        practice_id: str,
        event_id: str,
        event_type: str,
        before: IntentState,
        applied: Applied,
        now: datetime,
    ) -> str:
        """Record the event and, if anything changed, the PaymentIntent's next state and its ledger lines, as
        one transaction. APPLIED, DUPLICATE (the event was already applied) or CONFLICT (the state moved
        since it was read: read again and retry)."""
        pk = practice_pk(practice_id)
        state = applied.state
        try:
            with TransactWrite(connection=TableItem._get_connection().connection) as tx:
                tx.save(
                    StripeEventItem(
                        pk,
                        f"STRIPE_EVENT#{event_id}",
                        event_id=event_id,
                        event_type=event_type,
                        payment_intent_id=state.payment_intent_id,
                        expires_at=_epoch(now + EVENT_KEEP),
                    ),
                    condition=StripeEventItem.pk.does_not_exist(),
                )
                if state != before:
                    tx.save(
                        PaymentIntentItem(
                            pk,
                            f"PI#{state.payment_intent_id}",
                            gsi1pk=f"STRIPE_PI#{state.payment_intent_id}",
                            gsi1sk=f"PRACTICE#{practice_id}",
                            payment_intent_id=state.payment_intent_id,
                            rev=before.rev + 1,
                            state=_state_json(state),
                        ),
                        condition=(
                            PaymentIntentItem.pk.does_not_exist()
                            if before.rev == 0
                            else PaymentIntentItem.rev == before.rev
                        ),
                    )
                for line in applied.lines:
                    tx.save(line_item(practice_id, line), condition=LedgerLineItem.pk.does_not_exist())
                if applied.newly_paid:
                    self._credit_link_and_instalment(tx, practice_id, state)
        except TransactWriteError:
            return DUPLICATE if self.event_seen(practice_id, event_id) else CONFLICT
        return APPLIED

    def _credit_link_and_instalment(self, tx: TransactWrite, practice_id: str, state: IntentState) -> None:
        pk = practice_pk(practice_id)
        if state.paylink_id and self.link(practice_id, state.paylink_id) is not None:
            tx.update(
                PayLinkItem(pk, f"PAYLINK#{state.paylink_id}"),
                actions=[PayLinkItem.paid_cents.add(state.paid_cents)],
                condition=PayLinkItem.link_id.exists(),
            )
        if state.plan_id and state.instalment:
            sk = instalment_sk(state.plan_id, state.instalment)
            try:
                InstalmentItem.get(pk, sk)
            except InstalmentItem.DoesNotExist:
                return
            tx.update(
                InstalmentItem(pk, sk),
                actions=[InstalmentItem.paid_cents.add(state.paid_cents)],
                condition=InstalmentItem.plan_id.exists(),
            )

    def claim_receipt(self, practice_id: str, payment_intent_id: str) -> bool:
        try:
            ReceiptItem(
                practice_pk(practice_id), f"RECEIPT#{payment_intent_id}", payment_intent_id=payment_intent_id
            ).save(condition=ReceiptItem.pk.does_not_exist())
        except PutError as exc:
            if _failed_condition(exc):
                return False
            raise
        return True

    def release_receipt(self, practice_id: str, payment_intent_id: str) -> None:
        ReceiptItem(practice_pk(practice_id), f"RECEIPT#{payment_intent_id}").delete()

    # -- started PaymentIntents and refund holds --------------------------------------------------
    def put_started(self, practice_id: str, started: StartedIntent, at: datetime) -> None:
        pi = started.payment_intent_id
        StartedIntentItem(
            practice_pk(practice_id),
            f"PISTART#{pi}",
            gsi1pk=f"STRIPE_START#{pi}",
            gsi1sk=f"PRACTICE#{practice_id}",
            payment_intent_id=pi,
            amount_cents=started.amount_cents,
            allocation=[list(x) for x in started.allocation],
            paylink_id=started.paylink_id,
            plan_id=started.plan_id,
            instalment=started.instalment,
            expires_at=_epoch(at + EVENT_KEEP),
        ).save()

    def started_intent(self, payment_intent_id: str) -> tuple[str, StartedIntent] | None:
        for item in StartedIntentItem.gsi1.query(f"STRIPE_START#{payment_intent_id}"):
            if not isinstance(item, StartedIntentItem):
                continue
            started = StartedIntent(
                payment_intent_id=item.payment_intent_id,
                amount_cents=int(item.amount_cents),
                allocation=_pairs(item.allocation),
                paylink_id=item.paylink_id,
                plan_id=item.plan_id,
                instalment=int(item.instalment or 0),
            )
            return str(item.gsi1sk).removeprefix("PRACTICE#"), started
        return None

    def mark_confirming(self, practice_id: str, started: StartedIntent, at: datetime) -> None:
        pk, pi = practice_pk(practice_id), started.payment_intent_id
        for patient_id, cents in started.allocation:
            ConfirmingItem(
                pk,
                f"PICONFIRM#{pi}#{patient_id}",
                gsi2pk=_patient_index(practice_id, patient_id),
                gsi2sk=f"PICONFIRM#{pi}",
                payment_intent_id=pi,
                patient_id=patient_id,
                amount_cents=cents,
                confirmed_at=_epoch(at),
                link_key=started.link_key,
                expires_at=_epoch(at + timedelta(days=1)),
            ).save()

    def unmark_confirming(self, practice_id: str, started: StartedIntent) -> None:
        for patient_id, _ in started.allocation:
            ConfirmingItem(practice_pk(practice_id), f"PICONFIRM#{started.payment_intent_id}#{patient_id}").delete()

    def confirming_for(self, practice_id: str, patient_id: str, since: datetime) -> list[tuple[str, int, str]]:
        """(PaymentIntent, cents for this patient, link key) confirmed since ``since``, every page."""
        return [
            (str(i.payment_intent_id), int(i.amount_cents), str(i.link_key or ""))
            for i in ConfirmingItem.gsi2.query(
                _patient_index(practice_id, patient_id), ConfirmingItem.gsi2sk.startswith("PICONFIRM#")
            )
            if isinstance(i, ConfirmingItem) and int(i.confirmed_at) >= _epoch(since)
        ]

    def reserve_refund(self, practice_id: str, payment_intent_id: str, amount: int, paid: int) -> int | None:
        """Hold ``amount`` against the payment if what is held stays within ``paid``; the new total held, or
        None when it would not fit (another refund got there first)."""
        if not 0 < amount <= paid:
            return None
        item = RefundHoldItem(practice_pk(practice_id), f"REFUNDHOLD#{payment_intent_id}")
        try:
            item.update(
                actions=[
                    RefundHoldItem.payment_intent_id.set(payment_intent_id),
                    RefundHoldItem.reserved_cents.add(amount),
                ],
                condition=(
                    RefundHoldItem.reserved_cents.does_not_exist() | (RefundHoldItem.reserved_cents <= paid - amount)
                ),
            )
        except UpdateError as exc:
            if _failed_condition(exc):
                return None
            raise
        return int(item.reserved_cents)

    def release_refund(self, practice_id: str, payment_intent_id: str, amount: int) -> None:
        RefundHoldItem(practice_pk(practice_id), f"REFUNDHOLD#{payment_intent_id}").update(
            actions=[RefundHoldItem.reserved_cents.add(-amount)]
        )

    # -- pay links -------------------------------------------------------------------------------
    def put_link(self, practice_id: str, link: PayLink) -> None:
        PayLinkItem(
            practice_pk(practice_id),
            f"PAYLINK#{link.id}",
            link_id=link.id,
            patient_id=link.patient_id,
            amount_cents=link.amount_cents,
            issued_at=link.created_at,
            link_expires_at=link.expires_at,
            channel=link.channel,
            plan_id=link.plan_id,
            instalment=link.instalment,
            paid_cents=0,
            # Kept a while after it stops working, so an old link says "expired" rather than "not found".
            expires_at=link.expires_at + int(timedelta(days=90).total_seconds()),
        ).save(condition=PayLinkItem.pk.does_not_exist())

    def link(self, practice_id: str, link_id: str) -> PayLink | None:
        try:
            return _link_from(PayLinkItem.get(practice_pk(practice_id), f"PAYLINK#{link_id}", consistent_read=True))
        except PayLinkItem.DoesNotExist:
            return None

    # -- payment plans ---------------------------------------------------------------------------
    def plan_rev(self, practice_id: str, patient_id: str) -> int:
        try:
            item = PlanLockItem.get(practice_pk(practice_id), f"PLANLOCK#{patient_id}", consistent_read=True)
        except PlanLockItem.DoesNotExist:
            return 0
        return int(item.rev)

    def put_plan(self, practice_id: str, plan: Plan, rev: int = 0) -> bool:
        """The plan and its instalments, if no other plan was made for the patient since ``rev`` was read
        (False: read again and check again)."""
        pk = practice_pk(practice_id)
        try:
            self._put_plan(pk, practice_id, plan, rev)
        except TransactWriteError:
            if self.plan_rev(practice_id, plan.patient_id) != rev:
                return False
            raise
        return True

    def _put_plan(self, pk: str, practice_id: str, plan: Plan, rev: int) -> None:
        with TransactWrite(connection=TableItem._get_connection().connection) as tx:
            tx.save(
                PlanLockItem(pk, f"PLANLOCK#{plan.patient_id}", patient_id=plan.patient_id, rev=rev + 1),
                condition=PlanLockItem.pk.does_not_exist() if rev == 0 else PlanLockItem.rev == rev,
            )
            tx.save(
                PlanItem(
                    pk,
                    plan_sk(plan.id),
                    gsi2pk=_patient_index(practice_id, plan.patient_id),
                    gsi2sk=f"PLAN#{plan.created_on.isoformat()}#{plan.id}",
                    plan_id=plan.id,
                    patient_id=plan.patient_id,
                    total_cents=plan.total_cents,
                    every=plan.every,
                    instalment_count=len(plan.instalments),
                    created_on=plan.created_on.isoformat(),
                    created_by=plan.created_by,
                    charged_at_start_cents=plan.charged_at_start_cents,
                ),
                condition=PlanItem.pk.does_not_exist(),
            )
            for inst in plan.instalments:
                tx.save(
                    InstalmentItem(
                        pk,
                        instalment_sk(plan.id, inst.number),
                        gsi1pk=instalment_bucket(practice_id, inst.due_on),
                        gsi1sk=f"{inst.due_on.isoformat()}#{plan.id}#{inst.number:02d}",
                        plan_id=plan.id,
                        patient_id=plan.patient_id,
                        number=inst.number,
                        of=len(plan.instalments),
                        due_on=inst.due_on.isoformat(),
                        amount_cents=inst.amount_cents,
                    ),
                    condition=InstalmentItem.pk.does_not_exist(),
                )

    def plan(self, practice_id: str, plan_id: str) -> Plan | None:
        pk = practice_pk(practice_id)
        try:
            header = PlanItem.get(pk, plan_sk(plan_id))
        except PlanItem.DoesNotExist:
            return None
        instalments = [
            _instalment_from(i)
            for i in InstalmentItem.query(pk, InstalmentItem.sk.startswith(f"{plan_sk(plan_id)}#INST#"))
        ]
        return Plan(
            id=header.plan_id,
            patient_id=header.patient_id,
            total_cents=int(header.total_cents),
            every=header.every,
            instalments=tuple(sorted(instalments, key=lambda i: i.number)),
            created_on=date.fromisoformat(header.created_on),
            created_by=header.created_by,
            charged_at_start_cents=(
                None if header.charged_at_start_cents is None else int(header.charged_at_start_cents)
            ),
        )

    def plans_for(self, practice_id: str, patient_id: str) -> list[Plan]:
        ids = [
            str(i.plan_id)
            for i in PlanItem.gsi2.query(_patient_index(practice_id, patient_id), PlanItem.gsi2sk.startswith("PLAN#"))
        ]
        return [p for p in (self.plan(practice_id, pid) for pid in ids) if p is not None]

    def instalments_due(self, practice_id: str, start: date, end: date) -> list[tuple[str, str, int, Instalment]]:
        """(plan id, patient id, instalment count, instalment) due in [start, end], one Query per month touched."""
        out = []
        month = date(start.year, start.month, 1)
        while month <= end:
            for item in InstalmentItem.gsi1.query(
                instalment_bucket(practice_id, month),
                InstalmentItem.gsi1sk.between(start.isoformat(), f"{end.isoformat()}~"),
            ):
                out.append((str(item.plan_id), str(item.patient_id), int(item.of), _instalment_from(item)))
            month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
        return out
