"""Billing use cases: the ledger, statements, card payments, the Stripe webhook, pay links, plans, refunds.

Ports come in as arguments (store, patients, practices, payment gateway, senders, auditor, clock, rates,
signing key), so tests pass in-memory twins; ``billing(deps)`` wires the real ones.

Invariants:
- the webhook applies an event only when its signature checks out on the raw body, records each event id
  once, and moves a PaymentIntent's state only from the revision it read, in one transaction with the
  ledger lines; so each PaymentIntent is paid into the ledger once and refunded at most what it paid;
- a Stripe failure (decline, network, refusal) leaves the ledger as it was and answers a 4xx with a code;
- a patient reaches only the patients of their session; any other id answers 404, as a missing one does,
  and the attempt is audited as ``access_denied``.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.adapters.messaging import Email, EmailSender, Sms, SmsSender
from chalicelib.adapters.stripe_gateway import (
    CardDeclined,
    ConfirmedIntent,
    GatewayError,
    GatewayNotConfigured,
    GatewayRejected,
    IntentNotFound,
    PaymentGateway,
    SignatureInvalid,
)
from chalicelib.audit.model import ACTOR_ANONYMOUS, ACTOR_JOB, ACTOR_PATIENT, ACTOR_STAFF
from chalicelib.audit.service import Auditor
from chalicelib.billing.csv_lines import CsvFileError, RowError, parse_ledger_csv
from chalicelib.billing.model import (
    ADJUSTMENT,
    CURRENCY,
    LIMIT_INSTALMENT,
    LIMIT_LINK,
    LINK_OPEN,
    LINK_PAID,
    SOURCE_STAFF,
    STAFF_KINDS,
    Applied,
    Balance,
    DueInstalment,
    Instalment,
    IntentState,
    LedgerLine,
    LineError,
    MoneyError,
    Observation,
    PayLink,
    Plan,
    StartedIntent,
    Statement,
    add_balances,
    allocate,
    apply_observation,
    balance_of,
    build_statement,
    charged_cents,
    check_line,
    decode_allocation,
    display_cents,
    encode_allocation,
    fit_allocation,
    link_amount,
    link_days,
    link_state,
    make_plan,
    observation_from,
    ordered,
    parse_cents,
    parse_month,
    pay_link_message,
    payable_amount,
    plans_against,
    postable_on,
    posting_range,
    receipt_message,
    statement_months,
    valid_id,
)
from chalicelib.billing.store import APPLIED, CONFLICT, DUPLICATE
from chalicelib.identity.model import RateRule
from chalicelib.patients.model import ContactLink, Patient
from chalicelib.platform import signed
from chalicelib.platform.auth import PatientCaller
from chalicelib.platform.clock import Clock
from chalicelib.platform.errors import (
    ApiError,
    BadRequest,
    Conflict,
    NotFound,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
)
from chalicelib.platform.observability import logger
from chalicelib.practices.model import Practice

if TYPE_CHECKING:
    from chalicelib.platform.deps import Deps

PAY_PURPOSE = "pay"
PAY_SESSION_PURPOSE = "pay-session"
PAY_SESSION = timedelta(minutes=30)
PAY_PAGE_PATH = "/patient/pay/"  # the page reads the token from the URL fragment, which never reaches a server
CONFIRM_PENDING = timedelta(hours=1)  # a confirmed card whose webhook is not in yet counts as paid this long
PER_LINK = RateRule("paylink", 5, timedelta(hours=1))  # birth-date answers per link per hour
MAX_FAMILY = 10
MAX_IMPORT_BYTES = 2 * 1024 * 1024
COMMIT_ATTEMPTS = 8
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# --- errors ---------------------------------------------------------------------------------------


class PaymentDeclined(ApiError):
    status = 402
    code = "card_declined"


class Gone(ApiError):
    status = 410
    code = "gone"


class LinkClosed(Gone):
    """A pay link that no longer works (paid, expired); the answer names the practice so the page can say
    whom to call. Only a link whose signature checked out gets here, so this tells nobody anything new."""

    def __init__(self, message: str, code: str, practice: Practice | None) -> None:
        super().__init__(message, code=code)
        self.practice = practice

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.practice is not None:
            error["practice"] = {"name": self.practice.name, "phone": self.practice.phone}
            error["phone"] = self.practice.phone
        return {"error": error}


class RowsRejected(Unprocessable):
    """A CSV with bad rows: nothing was written; every problem is listed."""

    def __init__(self, rows: list[RowError]) -> None:
        super().__init__(f"{len(rows)} row(s) need fixing; nothing was imported", code="invalid_rows")
        self.rows = rows

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "rows": [{"row": r.row, "message": r.message} for r in self.rows[:200]],
            }
        }


# Why a pay link was not sent, in words staff can pass on (codes from reminders.contact.send_block_reason).
BLOCKED_WORDS = {
    "sms_opted_out": "this number texted STOP; the patient can text START to the practice to get texts again",
    "sms_blocked_opted_out": "the carrier has this number opted out of texts",
    "email_suppressed": "this email address bounced or reported our mail; ask the patient for another",
    "email_unsubscribed": "the patient unsubscribed from billing emails",
    "billing_texts_off": "the patient turned off billing texts; send it by email or change their preferences",
    "billing_emails_off": "the patient turned off billing emails; send it by text or change their preferences",
}
SUPPRESSED = {"email_suppressed"}


def _money(exc: MoneyError | LineError) -> Unprocessable:
    return Unprocessable(str(exc), code=exc.code)


def _gateway_error(exc: GatewayError) -> ApiError:
    """A message a person can act on; the ledger is untouched in every case."""
    if isinstance(exc, CardDeclined):
        reason = exc.message.rstrip(". ") or "the card was declined"
        return PaymentDeclined(f"{reason}. Nothing was charged.", code=exc.code or "card_declined")
    if isinstance(exc, GatewayRejected):
        return Unprocessable(f"the card processor refused this: {exc.message}", code="payment_rejected")
    if isinstance(exc, GatewayNotConfigured):
        return Conflict("card payments are not available right now; please call the practice", code="payments_off")
    return Conflict(
        "we could not reach the card processor; nothing was charged, please try again in a minute",
        code="payments_unavailable",
    )


def _already_paid() -> Conflict:
    return Conflict("this payment has already been made; nothing more was charged", code="already_paid")


# --- ports ----------------------------------------------------------------------------------------


class BillingStore(Protocol):
    def lines_for(self, practice_id: str, patient_id: str) -> list[LedgerLine]: ...
    def add_line(self, practice_id: str, line: LedgerLine) -> bool: ...
    def put_lines(self, practice_id: str, lines: Sequence[LedgerLine]) -> None: ...
    def claim_invoice(self, practice_id: str, invoice_id: str, patient_id: str) -> str: ...
    def invoice_patient(self, practice_id: str, invoice_id: str) -> str | None: ...
    def guarantor_members(self, practice_id: str, guarantor_id: str) -> list[str]: ...
    def intent(self, practice_id: str, payment_intent_id: str) -> IntentState | None: ...
    def practice_of_intent(self, payment_intent_id: str) -> str | None: ...
    def event_seen(self, practice_id: str, event_id: str) -> bool: ...
    def commit(
        self, practice_id: str, event_id: str, event_type: str, before: IntentState, applied: Applied, now: datetime
    ) -> str: ...
    def claim_receipt(self, practice_id: str, payment_intent_id: str) -> bool: ...
    def release_receipt(self, practice_id: str, payment_intent_id: str) -> None: ...
    def put_link(self, practice_id: str, link: PayLink) -> None: ...
    def link(self, practice_id: str, link_id: str) -> PayLink | None: ...
    def plan_rev(self, practice_id: str, patient_id: str) -> int: ...
    def put_plan(self, practice_id: str, plan: Plan, rev: int = 0) -> bool: ...
    def put_started(self, practice_id: str, started: StartedIntent, at: datetime) -> None: ...
    def started_intent(self, payment_intent_id: str) -> tuple[str, StartedIntent] | None: ...
    def mark_confirming(self, practice_id: str, started: StartedIntent, at: datetime) -> None: ...
    def unmark_confirming(self, practice_id: str, started: StartedIntent) -> None: ...
    def confirming_for(self, practice_id: str, patient_id: str, since: datetime) -> list[tuple[str, int, str]]: ...
    def reserve_refund(self, practice_id: str, payment_intent_id: str, amount: int, paid: int) -> int | None: ...
    def release_refund(self, practice_id: str, payment_intent_id: str, amount: int) -> None: ...
    def plan(self, practice_id: str, plan_id: str) -> Plan | None: ...
    def plans_for(self, practice_id: str, patient_id: str) -> list[Plan]: ...
    def instalments_due(self, practice_id: str, start: date, end: date) -> list[tuple[str, str, int, Any]]: ...


class PatientReader(Protocol):
    def get(self, practice_id: str, patient_id: str) -> Patient | None: ...
    def get_many(self, practice_id: str, patient_ids: list[str]) -> list[Patient]: ...
    def links_for_patient(self, practice_id: str, patient_id: str) -> list[ContactLink]: ...


class PracticeReader(Protocol):
    def get(self, practice_id: str) -> Practice | None: ...


class RateStore(Protocol):
    def hit(self, practice_id: str, counter_key: str, limit: int, expires_at: int) -> bool: ...


# --- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    type: str  # staff | patient | anonymous | job
    id: str


@dataclass(frozen=True)
class Account:
    patient: Patient
    lines: list[LedgerLine]
    balance: Balance


@dataclass(frozen=True)
class Overview:
    practice: Practice
    accounts: list[Account]
    family: Balance
    months: list[str]
    plans: list[Plan]


@dataclass(frozen=True)
class StatementView:
    practice: Practice
    statement: Statement
    guarantor_name: str
    names: dict[str, str]


@dataclass(frozen=True)
class PaymentStart:
    payment_intent_id: str
    client_secret: str
    amount_cents: int
    currency: str
    publishable_key: str
    allocation: list[tuple[str, int]]


@dataclass(frozen=True)
class ImportResult:
    lines: int
    patients: int


@dataclass(frozen=True)
class RefundResult:
    refund_id: str
    amount_cents: int
    status: str
    refunded_cents: int
    refundable_cents: int


@dataclass(frozen=True)
class SentLink:
    link: PayLink
    url: str
    sent_to: str  # masked


@dataclass(frozen=True)
class LinkStatus:
    practice: Practice
    link: PayLink
    status: str  # open | paid | expired


@dataclass(frozen=True)
class VerifiedLink:
    practice: Practice
    patient: Patient
    link: PayLink
    amount_cents: int  # what the link asks for now
    balance: Balance
    session: str
    session_expires_in: int


@dataclass(frozen=True)
class LinkBalance:
    practice: Practice
    link: PayLink
    status: str  # open | paid | expired
    amount_cents: int  # what the link asks for now (0 once paid)
    balance: Balance


@dataclass(frozen=True)
class WebhookOutcome:
    outcome: str  # applied | duplicate | ignored
    event_id: str


# --- helpers --------------------------------------------------------------------------------------


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()


def _mask(address: str) -> str:
    if "@" in address:
        name, _, domain = address.partition("@")
        return f"{name[:1]}***@{domain}"
    return f"***{address[-4:]}"


def parse_day(text: object, name: str) -> date:
    if not isinstance(text, str) or not _DATE.match(text):
        raise Unprocessable(f"{name} looks like 2027-03-14", code="invalid_date")
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise Unprocessable(f"{name} is not a real date", code="invalid_date") from exc


def _text(value: object, name: str, max_length: int = 200) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > max_length:
        raise Unprocessable(f"{name} is text of at most {max_length} characters", code="invalid_field")
    return value.strip()


def amount_or_none(value: object, *, allow_negative: bool = False) -> int | None:
    """An optional amount from a request body (dollars, as text or an exact JSON number)."""
    if value is None:
        return None
    try:
        return parse_cents(value, allow_negative=allow_negative)
    except MoneyError as exc:
        raise _money(exc) from exc


class Billing:
    def __init__(
        self,
        *,
        store: BillingStore,
        patients: PatientReader,
        practices: PracticeReader,
        gateway: PaymentGateway,
        email: EmailSender,
        sms: SmsSender,
        auditor: Auditor,
        clock: Clock,
        rates: RateStore,
        key: bytes,
        web_base_url: str,
        ledger_changed: Callable[[str, list[str]], None] | None = None,
        blocked: Callable[[str, str, str, str], str] | None = None,
    ) -> None:
        self.store = store
        # (practice, patient, channel, address) -> why a billing message must not go there ("" if it may)
        self.blocked = blocked or (lambda practice_id, patient_id, channel, address: "")
        self.ledger_changed = ledger_changed or (lambda practice_id, patient_ids: None)  # analytics roll-ups
        self.patients = patients
        self.practices = practices
        self.gateway = gateway
        self.email = email
        self.sms = sms
        self.auditor = auditor
        self.clock = clock
        self.rates = rates
        self.key = key
        self.web_base_url = web_base_url.rstrip("/")

    # -- shared ----------------------------------------------------------------------------------
    def _practice(self, practice_id: str) -> Practice:
        practice = self.practices.get(practice_id) if valid_id(practice_id) else None
        if practice is None:
            raise NotFound("no such practice")
        return practice

    def _patient(self, practice_id: str, patient_id: str) -> Patient:
        patient = self.patients.get(practice_id, patient_id) if valid_id(patient_id) else None
        if patient is None:
            raise NotFound("no such patient")
        return patient

    def _epoch(self) -> int:
        return int(self.clock.now().timestamp())

    def _today(self, practice: Practice) -> date:
        return self.clock.now().astimezone(practice.tz).date()

    def _audit(self, practice_id: str, actor: Actor, action: str, patient_ids: Sequence[str], record: str) -> None:
        self.auditor.record(
            practice_id,
            actor_type=actor.type,
            actor_id=actor.id,
            action=action,
            patient_ids=list(patient_ids) or [""],
            record=record,
            source="api" if actor.type != ACTOR_JOB else f"job:{actor.id}",
        )

    def _account(self, practice_id: str, patient: Patient) -> Account:
        lines = ordered(self.store.lines_for(practice_id, patient.id))
        return Account(patient, lines, balance_of(lines))

    def _owned(self, caller: PatientCaller, patient_id: str) -> None:
        """404 for another family's patient, exactly as for a missing one; the attempt is audited."""
        if not caller.owns(patient_id):
            self.auditor.record(
                caller.practice_id,
                actor_type=ACTOR_PATIENT,
                actor_id=caller.holder_id,
                action="access_denied",
                patient_ids=[patient_id if valid_id(patient_id) else ""],
                record=f"ledger:{patient_id[:64]}",
            )
            raise NotFound("no such patient")

    # -- staff: the ledger -----------------------------------------------------------------------
    def post_line(self, practice_id: str, patient_id: str, body: dict[str, Any], staff_id: str) -> LedgerLine:
        practice = self._practice(practice_id)
        patient = self._patient(practice_id, patient_id)
        kind = body.get("kind")
        if kind not in STAFF_KINDS:
            raise Unprocessable(f"kind is one of {', '.join(STAFF_KINDS)}", code="invalid_kind")
        amount = amount_or_none(body.get("amount"), allow_negative=kind == ADJUSTMENT)
        if amount is None:
            raise Unprocessable('amount is required, e.g. "19.99"', code="invalid_amount")
        today = self._today(practice)
        posted_on = parse_day(body["posted_on"], "posted_on") if body.get("posted_on") else today
        if not postable_on(posted_on, today):
            first, last = posting_range(today)
            raise Unprocessable(
                f"posted_on is a date from {first.isoformat()} to {last.isoformat()}", code="invalid_posted_on"
            )
        external = _text(body.get("external_id"), "external_id", 64)
        line = LedgerLine(
            id=f"ext-{_digest(external)[:24]}" if external else uuid.uuid4().hex,
            patient_id=patient.id,
            kind=str(kind),
            amount_cents=amount,
            posted_on=posted_on,
            description=_text(body.get("description"), "description"),
            invoice_id=_text(body.get("invoice_id"), "invoice_id", 64),
            claim_id=_text(body.get("claim_id"), "claim_id", 64),
            source=SOURCE_STAFF,
            posted_by=staff_id,
        )
        try:
            check_line(line)
        except LineError as exc:
            raise _money(exc) from exc
        if line.invoice_id and self.store.claim_invoice(practice_id, line.invoice_id, patient.id) != patient.id:
            raise Conflict("that invoice number belongs to another patient", code="invoice_taken")
        if not self.store.add_line(practice_id, line):
            raise Conflict("a line with this external_id is already on the ledger", code="duplicate_line")
        self.ledger_changed(practice_id, [patient.id])
        self._audit(practice_id, Actor(ACTOR_STAFF, staff_id), "ledger.write", [patient.id], f"ledger:{line.id}")
        return line

    def import_lines(self, practice_id: str, raw: bytes, staff_id: str, source: str = "csv") -> ImportResult:
        practice = self._practice(practice_id)
        if len(raw) > MAX_IMPORT_BYTES:
            raise Unprocessable(f"the file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB", code="too_large")
        try:
            parsed = parse_ledger_csv(raw, posted_by=staff_id, source=source)
        except CsvFileError as exc:
            raise Unprocessable(str(exc), code="invalid_file") from exc
        wanted = list(dict.fromkeys(x.patient_id for x in parsed.lines))
        known = {p.id for p in self.patients.get_many(practice_id, wanted)}
        errors = list(parsed.errors)
        for line in parsed.lines:
            if line.patient_id not in known:
                errors.append(RowError(parsed.rows[line.id], f"no patient {line.patient_id} in this practice"))
        today = self._today(practice)
        first, last = posting_range(today)
        for line in parsed.lines:
            if not postable_on(line.posted_on, today):
                errors.append(
                    RowError(parsed.rows[line.id], f"the date is from {first.isoformat()} to {last.isoformat()}")
                )
        claimed: set[tuple[str, str]] = set()
        for line in parsed.lines:
            if not line.invoice_id or line.patient_id not in known or (line.invoice_id, line.patient_id) in claimed:
                continue
            claimed.add((line.invoice_id, line.patient_id))
            if self.store.claim_invoice(practice_id, line.invoice_id, line.patient_id) != line.patient_id:
                errors.append(RowError(parsed.rows[line.id], f"invoice {line.invoice_id} belongs to another patient"))
        if errors:
            raise RowsRejected(sorted(errors, key=lambda e: e.row))
        if not parsed.lines:
            raise Unprocessable("the file has no lines", code="invalid_file")
        self.store.put_lines(practice_id, parsed.lines)
        self.ledger_changed(practice_id, sorted(known))
        self._audit(practice_id, Actor(ACTOR_STAFF, staff_id), "ledger.import", sorted(known), "ledger:import")
        logger.info("ledger lines imported", extra={"practice_id": practice_id, "lines": len(parsed.lines)})
        return ImportResult(len(parsed.lines), len(known))

    def staff_ledger(self, practice_id: str, patient_id: str, staff_id: str) -> Account:
        self._practice(practice_id)
        patient = self._patient(practice_id, patient_id)
        self._audit(practice_id, Actor(ACTOR_STAFF, staff_id), "ledger.read", [patient.id], f"ledger:{patient.id}")
        return self._account(practice_id, patient)

    def staff_statement(self, practice_id: str, guarantor_id: str, month: str, staff_id: str) -> StatementView:
        practice = self._practice(practice_id)
        members = self.store.guarantor_members(practice_id, guarantor_id) if valid_id(guarantor_id) else []
        if not members:
            raise NotFound("no such guarantor")
        return self._statement(practice, guarantor_id, members, month, Actor(ACTOR_STAFF, staff_id))

    def _statement(
        self, practice: Practice, guarantor_id: str, member_ids: Sequence[str], month: str, actor: Actor
    ) -> StatementView:
        try:
            start, end = parse_month(month)
        except ValueError as exc:
            raise Unprocessable(str(exc), code="invalid_month") from exc
        patients = self.patients.get_many(practice.id, list(member_ids))
        lines = [x for p in patients for x in self.store.lines_for(practice.id, p.id)]
        statement = build_statement(guarantor_id, [p.id for p in patients], lines, start, end)
        names = {p.id: p.display_name for p in patients}
        self._audit(practice.id, actor, "statement.read", list(names), f"statement:{guarantor_id}:{month}")
        return StatementView(practice, statement, names.get(guarantor_id, "") or _family_name(patients), names)

    # -- staff: refunds --------------------------------------------------------------------------
    def refund(
        self, practice_id: str, payment_intent_id: str, requested: int | None, staff_id: str, idempotency_key: str = ""
    ) -> RefundResult:
        practice = self._practice(practice_id)
        state = self.store.intent(practice_id, payment_intent_id) if valid_id(payment_intent_id) else None
        if state is None or not state.paid_cents:
            raise NotFound("no such card payment")
        left = state.paid_cents - state.refund_target_cents  # refunds Stripe reported count, even if not yet written
        if left <= 0:
            raise Unprocessable("this payment has been refunded in full", code="nothing_to_refund")
        amount = left if requested is None else requested
        if amount > left:
            raise Unprocessable(
                f"at most {display_cents(left)} is left to refund on this payment", code="refund_exceeds_payment"
            )
        # The check above reads; this one writes: the amount is held against the payment (held + amount <= paid,
        # a conditional write) before Stripe is asked, so refunds at the same instant cannot pass what was paid.
        held = self.store.reserve_refund(practice_id, payment_intent_id, amount, state.paid_cents)
        if held is None:
            raise Unprocessable(
                "another refund of this payment was just made; at most what is left can be refunded, "
                "so look at the payment again",
                code="refund_exceeds_payment",
            )
        key = idempotency_key or f"chairside-refund-{_digest(practice_id, payment_intent_id, held, amount)[:40]}"
        try:
            created = self.gateway.refund(
                payment_intent_id=payment_intent_id,
                amount_cents=amount,
                metadata={"practice_id": practice_id, "refunded_by": staff_id},
                idempotency_key=key,
            )
        except GatewayError as exc:
            self.store.release_refund(practice_id, payment_intent_id, amount)
            raise _gateway_error(exc) from exc
        if created.id in dict(state.refund_ids) or created.amount_cents != amount:
            # Stripe replayed a refund we already hold for (same idempotency key), or refunded another amount:
            # hold exactly what this call added at Stripe.
            again = created.amount_cents if created.id not in dict(state.refund_ids) else 0
            self.store.release_refund(practice_id, payment_intent_id, amount - again)
        patients = [p for p, _ in state.allocation]
        self._audit(
            practice_id, Actor(ACTOR_STAFF, staff_id), "payment.refund", patients, f"payment:{payment_intent_id}"
        )
        if created.status == "succeeded":
            seen = Observation(payment_intent_id, {}, refund_id=created.id, refund_cents=created.amount_cents)
            _, state = self._apply(
                practice_id, f"chairside:{created.id}", "refund.requested", seen, self._today(practice)
            )
        # A pending refund is written when Stripe reports it succeeded (refund.updated).
        return RefundResult(
            created.id, created.amount_cents, created.status, state.refunded_cents, state.refundable_cents
        )

    # -- staff: pay links and plans ----------------------------------------------------------------
    def send_pay_link(
        self,
        practice_id: str,
        patient_id: str,
        channel: str,
        requested: int | None,
        staff_id: str,
        plan_id: str = "",
        instalment: int = 0,
    ) -> SentLink:
        practice = self._practice(practice_id)
        patient = self._patient(practice_id, patient_id)
        if channel not in ("sms", "email"):
            raise Unprocessable("channel is sms or email", code="invalid_channel")
        to = self._address(practice_id, patient, channel)
        if not to:
            raise Unprocessable(f"there is no {channel} contact on file for this patient", code="no_contact")
        reason = self.blocked(practice_id, patient.id, channel, to)
        if reason:
            raise Conflict(f"not sent: {BLOCKED_WORDS.get(reason, reason.replace('_', ' '))}", code=reason)
        link, url, days = self._new_link(practice, patient, requested, plan_id, instalment, channel)
        message = pay_link_message(patient.language, channel, practice.name, link.amount_cents, url, days)
        try:
            if channel == "sms":
                self.sms.send(Sms(to=to, text=message.text))
            else:
                self.email.send(Email(to=to, subject=message.subject, text=message.text))
        except Exception as exc:
            logger.warning("pay link not sent", extra={"practice_id": practice_id, "error": type(exc).__name__})
            raise Conflict("the message could not be sent; the link below still works", code="send_failed") from exc
        self._audit(practice_id, Actor(ACTOR_STAFF, staff_id), "paylink.send", [patient.id], f"paylink:{link.id}")
        return SentLink(link, url, _mask(to))

    def _new_link(
        self, practice: Practice, patient: Patient, requested: int | None, plan_id: str, instalment: int, channel: str
    ) -> tuple[PayLink, str, int]:
        if patient.birth_date is None:
            raise Unprocessable(
                "a pay link asks for the patient's date of birth; add it to the patient first",
                code="birth_date_required",
            )
        account = self._account(practice.id, patient)
        owed = account.balance.owed_now_cents
        try:
            if plan_id:
                due = self._instalment_due(practice.id, patient.id, plan_id, instalment, account.lines)
                amount = payable_amount(None, owed, due, LIMIT_INSTALMENT)
            else:
                amount = payable_amount(requested, owed)
        except MoneyError as exc:
            raise _money(exc) from exc
        days = link_days(practice.settings)
        now = self.clock.now()
        expires = now + timedelta(days=days)
        link = PayLink(
            id=uuid.uuid4().hex[:20],
            patient_id=patient.id,
            amount_cents=amount,
            created_at=int(now.timestamp()),
            expires_at=int(expires.timestamp()),
            channel=channel,
            plan_id=plan_id,
            instalment=instalment if plan_id else 0,
        )
        self.store.put_link(practice.id, link)
        token = signed.sign(self.key, PAY_PURPOSE, {"p": practice.id, "l": link.id}, int(expires.timestamp()))
        return link, f"{self.web_base_url}{PAY_PAGE_PATH}#{token}", days

    def _instalment_due(
        self, practice_id: str, patient_id: str, plan_id: str, number: int, lines: Sequence[LedgerLine]
    ) -> int:
        plan = self._plan(practice_id, patient_id, plan_id, lines)
        if plan is None:
            raise NotFound("no such payment plan")
        inst = next((i for i in plan.instalments if i.number == number), None)
        if inst is None:
            raise Unprocessable("no such instalment in this plan", code="invalid_instalment")
        if inst.is_paid:
            raise Unprocessable("this instalment is paid", code="nothing_owed")
        return inst.due_cents

    def _address(self, practice_id: str, patient: Patient, channel: str) -> str:
        """The patient's own phone or email, else a guardian's."""
        own = patient.phone if channel == "sms" else patient.email
        if own:
            return own
        links = [x for x in self.patients.links_for_patient(practice_id, patient.id) if x.channel == channel]
        return links[0].address if links else ""

    def create_plan(
        self,
        practice_id: str,
        patient_id: str,
        count: int,
        first_due: date,
        every: str,
        requested: int | None,
        staff_id: str,
    ) -> Plan:
        practice = self._practice(practice_id)
        patient = self._patient(practice_id, patient_id)
        for _ in range(COMMIT_ATTEMPTS):
            # Read the patient's plan revision first: a plan made after this read moves it, and then the
            # conditional write below fails and the check runs again on what is there now.
            rev = self.store.plan_rev(practice_id, patient.id)
            account = self._account(practice_id, patient)
            owed = account.balance.owed_now_cents
            in_plans = sum(p.due_cents for p in self._plans(practice_id, patient.id, account.lines))
            try:
                total = payable_amount(requested, owed)
                plan = make_plan(
                    uuid.uuid4().hex[:20],
                    patient.id,
                    total,
                    count,
                    first_due,
                    every,
                    self._today(practice),
                    staff_id,
                    charged_at_start=charged_cents(account.lines),
                )
            except MoneyError as exc:
                raise _money(exc) from exc
            except ValueError as exc:
                raise Unprocessable(str(exc), code="invalid_plan") from exc
            if in_plans + total > owed:
                free = max(0, owed - in_plans)
                raise Unprocessable(
                    f"{display_cents(in_plans)} of the {display_cents(owed)} owed is already in a payment plan; "
                    f"a new plan can be for at most {display_cents(free)}",
                    code="plan_exceeds_balance",
                )
            if self.store.put_plan(practice_id, plan, rev):
                break
        else:
            raise Conflict("another plan is being made for this patient; try again", code="busy")
        self._audit(practice_id, Actor(ACTOR_STAFF, staff_id), "plan.create", [patient.id], f"plan:{plan.id}")
        return plan

    def staff_plans(self, practice_id: str, patient_id: str, staff_id: str) -> list[Plan]:
        self._practice(practice_id)
        patient = self._patient(practice_id, patient_id)
        self._audit(practice_id, Actor(ACTOR_STAFF, staff_id), "plan.read", [patient.id], f"plans:{patient.id}")
        return self._plans(practice_id, patient.id, self._account(practice_id, patient).lines)

    # -- the reminder engine's view ----------------------------------------------------------------
    def instalments_due_between(self, practice_id: str, start: date, end: date) -> list[DueInstalment]:
        """Unpaid instalments due from ``start`` to ``end`` (local dates, both included), oldest first, each
        asking for what it asks once the patient's plans are capped by what the patient owes now (so one paid
        off at the desk or on the patient page is not due). One ledger and plans read per patient found."""
        found = [x for x in self.store.instalments_due(practice_id, start, end) if not x[3].is_paid]
        now: dict[tuple[str, int], Instalment] = {}
        for patient_id in dict.fromkeys(patient_id for _, patient_id, _, _ in found):
            for plan in self._plans(practice_id, patient_id, self.store.lines_for(practice_id, patient_id)):
                now.update({(plan.id, i.number): i for i in plan.instalments})
        out = []
        for plan_id, patient_id, of, inst in found:
            capped = now.get((plan_id, inst.number), inst)
            if not capped.is_paid:
                out.append(
                    DueInstalment(practice_id, plan_id, patient_id, inst.number, of, inst.due_on, capped.due_cents)
                )
        return out

    def instalment_pay_url(self, practice_id: str, plan_id: str, number: int) -> str:
        """A fresh signed pay link for one instalment, for a reminder to carry (nothing is sent here)."""
        practice = self._practice(practice_id)
        plan = self.store.plan(practice_id, plan_id) if valid_id(plan_id) else None
        if plan is None:
            raise NotFound("no such payment plan")
        patient = self._patient(practice_id, plan.patient_id)
        link, url, _ = self._new_link(practice, patient, None, plan_id, number, "reminder")
        self._audit(practice_id, Actor(ACTOR_JOB, "reminders"), "paylink.create", [patient.id], f"paylink:{link.id}")
        return url

    # -- patients ----------------------------------------------------------------------------------
    def overview(self, caller: PatientCaller) -> Overview:
        practice = self._practice(caller.practice_id)
        accounts = [
            self._account(practice.id, p)
            for p in self.patients.get_many(practice.id, list(caller.patient_ids))
            if p.active
        ]
        plans = [plan for a in accounts for plan in self._plans(practice.id, a.patient.id, a.lines)]
        self._audit(
            practice.id,
            Actor(ACTOR_PATIENT, caller.holder_id),
            "billing.read",
            [a.patient.id for a in accounts],
            "billing:overview",
        )
        return Overview(
            practice,
            accounts,
            add_balances(a.balance for a in accounts),
            statement_months([x for a in accounts for x in a.lines]),
            plans,
        )

    def patient_ledger(self, caller: PatientCaller, patient_id: str) -> Account:
        self._owned(caller, patient_id)
        patient = self._patient(caller.practice_id, patient_id)
        self._audit(
            caller.practice_id,
            Actor(ACTOR_PATIENT, caller.holder_id),
            "ledger.read",
            [patient.id],
            f"ledger:{patient.id}",
        )
        return self._account(caller.practice_id, patient)

    def patient_statement(self, caller: PatientCaller, month: str) -> StatementView:
        practice = self._practice(caller.practice_id)
        return self._statement(
            practice, caller.holder_id, caller.patient_ids, month, Actor(ACTOR_PATIENT, caller.holder_id)
        )

    def start_payment(
        self, caller: PatientCaller, patient_ids: list[str] | None, requested: int | None
    ) -> PaymentStart:
        practice = self._practice(caller.practice_id)
        wanted = list(dict.fromkeys(patient_ids)) if patient_ids else list(caller.patient_ids)
        if len(wanted) > MAX_FAMILY:
            raise Unprocessable(f"at most {MAX_FAMILY} patients per payment", code="too_many_patients")
        for patient_id in wanted:
            self._owned(caller, patient_id)
        accounts = [self._account(practice.id, p) for p in self.patients.get_many(practice.id, wanted)]
        actor = Actor(ACTOR_PATIENT, caller.holder_id)
        return self._start(practice, accounts, requested, actor, {"source": "patient"})

    def _start(
        self,
        practice: Practice,
        accounts: list[Account],
        requested: int | None,
        actor: Actor,
        extra: dict[str, str],
        cap: int | None = None,
        cap_for: str = LIMIT_LINK,
    ) -> PaymentStart:
        """``cap``: what a pay link asks for now (``cap_for`` says whether a link's or a plan instalment's)."""
        owed = [(a.patient.id, a.balance.owed_now_cents) for a in accounts]
        total = sum(c for _, c in owed)
        try:
            amount = payable_amount(requested, total, cap, cap_for)
            allocation = allocate(amount, owed)
            metadata = {"practice_id": practice.id, "alloc": encode_allocation(allocation), **extra}
        except MoneyError as exc:
            raise _money(exc) from exc
        # The same ask against the same ledger reuses one PaymentIntent (Stripe replays the key for 24 h);
        # a new line or a different amount makes a new one.
        fingerprint = _digest(*sorted(x.id for a in accounts for x in a.lines))
        key = f"chairside-pi-{_digest(practice.id, metadata['alloc'], amount, sorted(extra.items()), fingerprint)[:40]}"
        try:
            created = self.gateway.create_intent(
                amount_cents=amount, currency=CURRENCY, metadata=metadata, idempotency_key=key
            )
        except GatewayError as exc:
            logger.info("payment not started", extra={"practice_id": practice.id, "kind": exc.kind})
            raise _gateway_error(exc) from exc
        self.store.put_started(
            practice.id,
            StartedIntent(
                created.id,
                amount,
                tuple(allocation),
                paylink_id=extra.get("paylink_id", ""),
                plan_id=extra.get("plan_id", ""),
                instalment=int(extra.get("instalment", "0") or 0),
            ),
            self.clock.now(),
        )
        self._audit(practice.id, actor, "payment.start", [p for p, _ in allocation], f"payment:{created.id}")
        return PaymentStart(
            created.id, created.client_secret, amount, CURRENCY, self.gateway.publishable_key, allocation
        )

    def confirm_card(self, payment_intent_id: str, client_secret: object, card_token: object) -> ConfirmedIntent:
        """Confirm a PaymentIntent with a Stripe.js card token; the client secret is the proof, as for Stripe.js
        itself. For pages whose Stripe.js cannot confirm with the Card Element (localstripe's stand-in)."""
        if (
            not valid_id(payment_intent_id)
            or not isinstance(client_secret, str)
            or not 0 < len(client_secret) <= 200
            or not isinstance(card_token, str)
            or not card_token.startswith("tok_")
            or len(card_token) > 100
        ):
            raise Unprocessable("send the payment's client_secret and a card_token (tok_...)", code="invalid_field")
        checked = self._check_still_owed(payment_intent_id)
        if checked is not None:
            # Counted as paid by the next confirm until its webhook is in (a second tab, a double click).
            self.store.mark_confirming(checked[0], checked[1], self.clock.now())
        try:
            done = self.gateway.confirm_card(
                payment_intent_id=payment_intent_id, client_secret=client_secret, card_token=card_token
            )
        except GatewayError as exc:
            if checked is not None:
                self.store.unmark_confirming(checked[0], checked[1])
            if isinstance(exc, IntentNotFound):
                raise NotFound("no such payment") from exc
            if isinstance(exc, GatewayRejected) and exc.code == "payment_intent_unexpected_state":
                raise _already_paid() from exc
            raise _gateway_error(exc) from exc
        if checked is not None and done.status not in ("succeeded", "processing", "requires_capture"):
            # No money is on its way: declined, or 3-D Secure left to finish (abandoned, it must not block
            # the patient's next try for an hour; finished after all, the extra shows as a credit).
            self.store.unmark_confirming(checked[0], checked[1])
        practice_id = done.metadata.get("practice_id", "")
        if valid_id(practice_id) and self.practices.get(practice_id) is not None:
            patients = [p for p, _ in decode_allocation(done.metadata.get("alloc", ""))]
            actor = Actor(ACTOR_ANONYMOUS, "client-secret")
            self._audit(practice_id, actor, "payment.confirm", patients, f"payment:{payment_intent_id}")
        return done

    def _check_still_owed(self, payment_intent_id: str) -> tuple[str, StartedIntent] | None:
        """Before a card is charged: the PaymentIntent must still fit what is owed now (another payment may
        have landed since it was made) and, for a pay link, what the link still asks for. Nothing is sent to
        Stripe otherwise. A PaymentIntent we did not start (or started before this check existed) passes."""
        found = self.store.started_intent(payment_intent_id)
        if found is None:
            return None
        practice_id, started = found
        practice = self.practices.get(practice_id) if valid_id(practice_id) else None
        if practice is None:
            return None
        state = self.store.intent(practice.id, payment_intent_id)
        if state is not None and state.paid_cents:
            raise _already_paid()
        patients = self.patients.get_many(practice.id, [p for p, _ in started.allocation])
        owed: dict[str, int] = {}
        ledgers: dict[str, list[LedgerLine]] = {}  # the ledger as it is, which the plans are capped by
        on_the_way: dict[str, int] = {}  # per link key, cards confirmed whose webhook is not in yet
        for p in patients:
            ledgers[p.id], owed[p.id] = self._still_owed(practice.id, p, payment_intent_id, on_the_way)
        allowed = sum(owed.values())
        by_link = False
        if started.paylink_id:
            link = self.store.link(practice.id, started.paylink_id)
            if link is not None:
                # A card on its way for another instalment is not in the ledger or on its instalment yet: the plans
                # are capped by the ledger as it is, or that card would settle this link's (later) instalment.
                due = self._plan_due(practice.id, link, ledgers.get(link.patient_id, []))
                asks = link_amount(link, owed.get(link.patient_id, 0), due)
                link_left = max(0, asks - on_the_way.get(started.link_key, 0))
                by_link = link_left < allowed
                allowed = min(allowed, link_left)
        if started.amount_cents > allowed:
            if by_link:
                now = f"this link asks for {display_cents(allowed)} now" if allowed else "this link is paid"
            else:
                now = f"{display_cents(allowed)} is owed now" if allowed else "nothing is owed now"
            raise Unprocessable(
                f"this payment of {display_cents(started.amount_cents)} is more than what is left to pay: {now} "
                "(another payment has come in). Nothing was charged; start the payment again for the new amount.",
                code="amount_exceeds_balance",
            )
        return practice.id, started

    def _still_owed(
        self, practice_id: str, patient: Patient, payment_intent_id: str, on_the_way: dict[str, int]
    ) -> tuple[list[LedgerLine], int]:
        """The patient's ledger lines, and what they owe now less cards confirmed in the last hour for other
        PaymentIntents whose money the ledger does not hold yet (Stripe's webhook is on its way); those are also
        added to ``on_the_way`` by link key."""
        account = self._account(practice_id, patient)
        owed = account.balance.owed_now_cents
        since = self.clock.now() - CONFIRM_PENDING
        for pi, cents, key in self.store.confirming_for(practice_id, patient.id, since):
            if pi == payment_intent_id:
                continue
            other = self.store.intent(practice_id, pi)
            if other is None or not other.paid_cents:
                owed -= cents
                if key:
                    on_the_way[key] = on_the_way.get(key, 0) + cents
        return account.lines, max(0, owed)

    # -- pay links (public, signed) ---------------------------------------------------------------
    def _link_from_token(self, token: str, purpose: str = PAY_PURPOSE) -> tuple[Practice, PayLink]:
        try:
            claims = signed.verify(self.key, token, purpose, self._epoch())
        except signed.BadToken as exc:
            if exc.reason == signed.EXPIRED:
                practice_id = str(exc.claims.get("p", ""))
                known = self.practices.get(practice_id) if valid_id(practice_id) else None
                raise LinkClosed(
                    "this link has expired; ask the practice for a new one", "link_expired", known
                ) from exc
            raise NotFound("this link is not valid", code="link_invalid") from exc
        practice_id, link_id = str(claims.get("p", "")), str(claims.get("l", ""))
        practice = self._practice(practice_id)
        link = self.store.link(practice_id, link_id) if valid_id(link_id) else None
        if link is None:
            raise NotFound("this link is not valid", code="link_invalid")
        return practice, link

    def _link_state(self, practice: Practice, link: PayLink) -> tuple[str, Account]:
        patient = self._patient(practice.id, link.patient_id)
        account = self._account(practice.id, patient)
        due = self._plan_due(practice.id, link, account.lines)
        state = link_state(link, self._epoch(), account.balance.owed_now_cents, due)
        return state, account

    def _plan_due(self, practice_id: str, link: PayLink, lines: Sequence[LedgerLine]) -> int | None:
        """What a plan link's instalment still asks for (None for a link of no plan), with the patient's plans
        capped by what the patient owes now (``lines``: the patient's ledger)."""
        if not link.plan_id:
            return None
        plan = self._plan(practice_id, link.patient_id, link.plan_id, lines)
        inst = next((i for i in plan.instalments if i.number == link.instalment), None) if plan else None
        return inst.due_cents if inst else 0

    def _plans(self, practice_id: str, patient_id: str, lines: Sequence[LedgerLine]) -> list[Plan]:
        """The patient's plans as they stand against their ledger ``lines``: open instalments never ask for more
        than is owed now (``cap_plans``), so money paid outside the plans' links settles their last instalments
        first. Every reader of plans (staff, the patient page, pay links, reminders, the new-plan check) uses it."""
        return plans_against(self.store.plans_for(practice_id, patient_id), lines)

    def _plan(self, practice_id: str, patient_id: str, plan_id: str, lines: Sequence[LedgerLine]) -> Plan | None:
        """One of the patient's plans, capped with the others by what the patient owes now. The plan itself is
        read by its key (a strongly consistent read), so a plan made a moment ago is there even when the
        patient's plan index has not caught up yet."""
        plan = self.store.plan(practice_id, plan_id) if valid_id(plan_id) else None
        if plan is None or plan.patient_id != patient_id:
            return None
        others = [p for p in self.store.plans_for(practice_id, patient_id) if p.id != plan.id]
        return next(p for p in plans_against([*others, plan], lines) if p.id == plan.id)

    def open_link(self, token: str) -> LinkStatus:
        practice, link = self._link_from_token(token)
        state, _ = self._link_state(practice, link)
        self._audit(practice.id, Actor(ACTOR_ANONYMOUS, f"paylink:{link.id}"), "paylink.open", [link.patient_id], "")
        return LinkStatus(practice, link, state)

    def verify_link(self, token: str, birth_date: object) -> VerifiedLink:
        practice, link = self._link_from_token(token)
        state, account = self._link_state(practice, link)
        self._refuse_closed(state, practice)
        now = self.clock.now()
        if not self.rates.hit(
            practice.id,
            PER_LINK.counter_key(_digest("paylink", link.id)[:32], now),
            PER_LINK.limit,
            PER_LINK.window_end(now),
        ):
            raise TooManyRequests("too many tries; wait an hour or call the practice", code="rate_limited")
        given = parse_day(birth_date, "birth_date")
        actor = Actor(ACTOR_ANONYMOUS, f"paylink:{link.id}")
        if account.patient.birth_date != given:
            self._audit(practice.id, actor, "paylink.verify_failed", [link.patient_id], f"paylink:{link.id}")
            raise Unauthorized("that date of birth does not match our records", code="identity_mismatch")
        self._audit(practice.id, actor, "paylink.verified", [link.patient_id], f"paylink:{link.id}")
        session = signed.sign(
            self.key, PAY_SESSION_PURPOSE, {"p": practice.id, "l": link.id}, int((now + PAY_SESSION).timestamp())
        )
        amount = link_amount(link, account.balance.owed_now_cents, self._plan_due(practice.id, link, account.lines))
        return VerifiedLink(
            practice, account.patient, link, amount, account.balance, session, int(PAY_SESSION.total_seconds())
        )

    def _verified_link(self, token: str, session: object) -> tuple[Practice, PayLink]:
        """The link, if ``session`` is the pay session its birth-date check gave out (and still fresh)."""
        practice, link = self._link_from_token(token)
        if not isinstance(session, str):
            raise Unauthorized("confirm the date of birth first", code="identity_check_required")
        try:
            claims = signed.verify(self.key, session, PAY_SESSION_PURPOSE, self._epoch())
        except signed.BadToken as exc:
            raise Unauthorized("confirm the date of birth again", code="identity_check_required") from exc
        if claims.get("p") != practice.id or claims.get("l") != link.id:
            raise Unauthorized("confirm the date of birth again", code="identity_check_required")
        return practice, link

    def link_balance(self, token: str, session: object) -> LinkBalance:
        """What the link's patient owes now and whether the link is still open, for a verified pay session
        (so the page can show the new balance once Stripe's webhook has paid the ledger)."""
        practice, link = self._verified_link(token, session)
        state, account = self._link_state(practice, link)
        due = self._plan_due(practice.id, link, account.lines)
        amount = link_amount(link, account.balance.owed_now_cents, due) if state == LINK_OPEN else 0
        actor = Actor(ACTOR_ANONYMOUS, f"paylink:{link.id}")
        self._audit(practice.id, actor, "paylink.balance", [link.patient_id], f"paylink:{link.id}")
        return LinkBalance(practice, link, state, amount, account.balance)

    def pay_link(self, token: str, session: object, requested: int | None) -> PaymentStart:
        practice, link = self._verified_link(token, session)
        state, account = self._link_state(practice, link)
        self._refuse_closed(state, practice)
        cap = link_amount(link, account.balance.owed_now_cents, self._plan_due(practice.id, link, account.lines))
        extra = {"source": "paylink", "paylink_id": link.id}
        if link.plan_id:
            extra |= {"plan_id": link.plan_id, "instalment": str(link.instalment)}
        actor = Actor(ACTOR_ANONYMOUS, f"paylink:{link.id}")
        return self._start(
            practice, [account], requested, actor, extra, cap, LIMIT_INSTALMENT if link.plan_id else LIMIT_LINK
        )

    @staticmethod
    def _refuse_closed(state: str, practice: Practice) -> None:
        if state == LINK_PAID:
            raise LinkClosed("this balance has been paid; thank you", "link_paid", practice)
        if state != LINK_OPEN:
            raise LinkClosed("this link has expired; ask the practice for a new one", "link_expired", practice)

    # -- the Stripe webhook -------------------------------------------------------------------------
    def handle_webhook(self, raw: bytes, signature: str | None) -> WebhookOutcome:
        try:
            event = self.gateway.verify_event(raw, signature)
        except SignatureInvalid as exc:
            logger.warning("stripe webhook refused", extra={"reason": str(exc)[:60]})
            raise BadRequest("the Stripe signature does not match this body", code="invalid_signature") from exc
        event_id, event_type = event.get("id"), event.get("type")
        data = event.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        if not isinstance(event_id, str) or not valid_id(event_id) or not isinstance(obj, dict):
            return WebhookOutcome("ignored", "")
        seen = observation_from(str(event_type), obj)
        if seen is None or not valid_id(seen.payment_intent_id):
            return WebhookOutcome("ignored", event_id)
        practice_id = seen.metadata.get("practice_id") or self.store.practice_of_intent(seen.payment_intent_id) or ""
        practice = self.practices.get(practice_id) if valid_id(practice_id) else None
        if practice is None:
            logger.info("stripe event for no practice of ours", extra={"type": event_type})
            return WebhookOutcome("ignored", event_id)
        if self.store.event_seen(practice.id, event_id):
            return WebhookOutcome(DUPLICATE, event_id)
        created = event.get("created")
        at = datetime.fromtimestamp(created, UTC) if isinstance(created, int) else self.clock.now()
        outcome, state = self._apply(practice.id, event_id, str(event_type), seen, at.astimezone(practice.tz).date())
        self._send_receipt(practice, state)
        return WebhookOutcome(outcome, event_id)

    def _apply(
        self, practice_id: str, event_id: str, event_type: str, seen: Observation, on: date
    ) -> tuple[str, IntentState]:
        """Read, decide, commit; again from a fresh read when another delivery moved the state first."""
        for _ in range(COMMIT_ATTEMPTS):
            before = self.store.intent(practice_id, seen.payment_intent_id) or IntentState(seen.payment_intent_id)
            allocation = self._allocation(practice_id, seen) if not before.paid_cents else []
            applied = apply_observation(before, seen, allocation, on)
            outcome = self.store.commit(practice_id, event_id, event_type, before, applied, self.clock.now())
            if outcome == DUPLICATE:
                return DUPLICATE, self.store.intent(practice_id, seen.payment_intent_id) or before
            if outcome == APPLIED:
                if applied.lines:
                    self.ledger_changed(practice_id, list(dict.fromkeys(x.patient_id for x in applied.lines)))
                    self._audit(
                        practice_id,
                        Actor(ACTOR_JOB, "stripe"),
                        "payment.applied" if applied.newly_paid else "refund.applied",
                        list(dict.fromkeys(x.patient_id for x in applied.lines)),
                        f"payment:{seen.payment_intent_id}",
                    )
                return APPLIED, applied.state
            assert outcome == CONFLICT
        # Stripe retries a non-2xx delivery later; by then the other writer has finished.
        raise Conflict("the payment is being recorded by another request; try again", code="busy")

    def _allocation(self, practice_id: str, seen: Observation) -> list[tuple[str, int]]:
        """Where received money goes: our allocation metadata, else the patient or the invoice's patient."""
        if not seen.paid_cents:
            return []
        meta = seen.metadata
        asked = decode_allocation(meta.get("alloc", ""))
        if asked:
            return fit_allocation(asked, seen.paid_cents)
        patient_id = meta.get("patient_id", "")
        if not patient_id and valid_id(meta.get("invoice_id", "")):
            patient_id = self.store.invoice_patient(practice_id, meta["invoice_id"]) or ""
        if valid_id(patient_id):
            return [(patient_id, seen.paid_cents)]
        logger.warning("stripe payment with no patient", extra={"practice_id": practice_id})
        return []

    def _send_receipt(self, practice: Practice, state: IntentState) -> None:
        """One receipt per payment: the first delivery to claim it sends; a failed send gives the claim back."""
        if not state.paid_cents or not state.allocation:
            return
        if not self.store.claim_receipt(practice.id, state.payment_intent_id):
            return
        patient = self.patients.get(practice.id, state.allocation[0][0])
        to = self._address(practice.id, patient, "email") if patient else ""
        if not to or patient is None or self.blocked(practice.id, "", "email", to) in SUPPRESSED:
            return  # a receipt is owed, not marketing: only a bounced or complained-about address stops it
        message = receipt_message(
            patient.language,
            practice.name,
            state.paid_cents,
            state.paid_on or self._today(practice),
            state.payment_intent_id[-10:],
        )
        try:
            self.email.send(Email(to=to, subject=message.subject, text=message.text))
        except Exception as exc:
            self.store.release_receipt(practice.id, state.payment_intent_id)
            logger.warning("receipt not sent", extra={"practice_id": practice.id, "error": type(exc).__name__})
            return
        self._audit(
            practice.id, Actor(ACTOR_JOB, "stripe"), "receipt.sent", [patient.id], f"payment:{state.payment_intent_id}"
        )


def _family_name(patients: list[Patient]) -> str:
    return f"The {patients[0].family_name} family" if patients else ""


# --- wiring -----------------------------------------------------------------------------------------


def gateway_for(d: Deps) -> PaymentGateway:
    """The Stripe gateway, built on first use and kept in the container (tests put a fake there)."""
    gateway: PaymentGateway | None = d.extras.get("payments")
    if gateway is None:
        from chalicelib.adapters.stripe_gateway import StripeGateway

        gateway = d.extras["payments"] = StripeGateway.from_env()
    return gateway


def billing(d: Deps) -> Billing:
    from chalicelib.analytics.handlers import ledger_changed
    from chalicelib.billing.store import BillingStore as DynamoBillingStore
    from chalicelib.identity.store import DynamoRates
    from chalicelib.platform.secrets import token_signing_key
    from chalicelib.platform.settings import get_settings

    store = d.extras.get("billing_store")
    if store is None:
        store = d.extras["billing_store"] = DynamoBillingStore()
    return Billing(
        store=store,
        patients=d.patients,
        practices=d.practices,
        gateway=gateway_for(d),
        email=d.email,
        sms=d.sms,
        auditor=d.auditor,
        clock=d.clock,
        rates=DynamoRates(),
        key=token_signing_key(),
        web_base_url=get_settings().web_base_url,
        ledger_changed=ledger_changed,
        blocked=_billing_blocks(d),
    )


def _billing_blocks(d: Deps) -> Callable[[str, str, str, str], str]:
    """Opt-outs, suppressions and billing channel choices, as the reminder engine keeps them."""

    def blocked(practice_id: str, patient_id: str, channel: str, address: str) -> str:
        from chalicelib.reminders.contact import send_block_reason
        from chalicelib.reminders.handlers import ports_for

        return send_block_reason(ports_for(d), practice_id, patient_id, channel, address, "billing")

    return blocked


def instalments_due_between(practice_id: str, start: date, end: date) -> list[DueInstalment]:
    """For the reminder engine: unpaid instalments due from ``start`` to ``end`` (practice-local dates)."""
    from chalicelib.platform.deps import deps

    return billing(deps()).instalments_due_between(practice_id, start, end)


def instalment_pay_url(practice_id: str, plan_id: str, number: int) -> str:
    """For the reminder engine: a signed pay link for one instalment, to put in the reminder."""
    from chalicelib.platform.deps import deps

    return billing(deps()).instalment_pay_url(practice_id, plan_id, number)
