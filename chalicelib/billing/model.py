"""Billing domain: money, ledger lines and balances, payment amounts, instalments, statements, pay links,
and what a Stripe event means for the ledger. Pure: stdlib only.

Invariants:
- money is integer cents everywhere; ``Decimal`` appears only in ``parse_cents`` (text in) and never a float;
- a ledger line's ``amount_cents`` is positive, except an adjustment's, which carries its sign;
- a PaymentIntent pays once: ``apply_observation`` sets ``paid_cents`` only when it is still 0, and its
  refunds never exceed what it paid, whatever the order in which Stripe reports them.
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

CURRENCY = "usd"
MAX_CENTS = 100_000_000  # $1,000,000: more than any one dental line, small enough to catch typos
MIN_CHOSEN_CENTS = 100  # a chosen amount is at least $1 (the whole balance may be less)
MIN_CARD_CENTS = 50  # Stripe's smallest USD charge

# --- money ------------------------------------------------------------------------------------

# ASCII digits only ("१०" is not an amount); a leading "$" is fine, people type it.
_AMOUNT = re.compile(r"^(?P<sign>-)?\$?(?P<whole>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)?(?:\.(?P<frac>[0-9]+))?$")


class MoneyError(ValueError):
    """Text or a number that is not an amount of whole cents (the API answers 422)."""

    def __init__(self, message: str, code: str = "invalid_amount") -> None:
        super().__init__(message)
        self.code = code


def _decimal(value: object) -> Decimal:
    """The exact number in an amount given as text, an int or a Decimal (JSON numbers read as Decimals)."""
    if isinstance(value, bool | float):
        raise MoneyError('send amounts as text, e.g. "19.99"')
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        return value
    if not isinstance(value, str):
        raise MoneyError("amounts look like 19.99")
    text = value.strip()
    match = _AMOUNT.match(text)
    if not match or not (match["whole"] or match["frac"]):
        raise MoneyError("amounts look like 19.99")
    try:
        return Decimal(text.replace("$", "").replace(",", ""))
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only decimals
        raise MoneyError("amounts look like 19.99") from exc


def parse_cents(value: object, *, allow_negative: bool = False, allow_zero: bool = False) -> int:
    """Dollars ("19.99", "$1,234.50", 20, Decimal("8.2")) to integer cents; never through a float.

    Sub-cent amounts ("10.005") are refused rather than rounded: a payment system must not guess.
    """
    amount = _decimal(value)
    if not amount.is_finite():
        raise MoneyError("amounts look like 19.99")
    # Exponents first: 1e999999999 would overflow the multiplication and 1e-999999999 round to zero in it.
    if amount.copy_abs() > Decimal(MAX_CENTS).scaleb(-2):
        raise MoneyError("the amount is too large")
    if amount and amount.adjusted() < -2:
        raise MoneyError("amounts are in whole cents (at most two decimals)", code="sub_cent_amount")
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise MoneyError("amounts are in whole cents (at most two decimals)", code="sub_cent_amount")
    whole = int(cents)
    if whole < 0 and not allow_negative:
        raise MoneyError("the amount must be positive")
    if whole == 0 and not allow_zero:
        raise MoneyError("the amount must not be zero")
    if abs(whole) > MAX_CENTS:
        raise MoneyError("the amount is too large")
    return whole


def format_cents(cents: int) -> str:
    """1999 -> "19.99", -57 -> "-0.57"; exact for any integer."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d}"


def display_cents(cents: int) -> str:
    """1999 -> "$19.99", 123456 -> "$1,234.56", -57 -> "-$0.57"."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{part:02d}"


def total_cents(amounts: Iterable[int]) -> int:
    total = 0
    for amount in amounts:
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise TypeError("money is integer cents")
        total += amount
    return total


# --- ids --------------------------------------------------------------------------------------

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


def valid_id(value: object) -> bool:
    """Ids that may go into a key: no '#', no spaces, at most 64 characters."""
    return isinstance(value, str) and bool(_ID.match(value))


# --- ledger -----------------------------------------------------------------------------------

CHARGE = "charge"
INSURANCE_ESTIMATE = "insurance_estimate"
INSURANCE_PAYMENT = "insurance_payment"
PAYMENT = "payment"
ADJUSTMENT = "adjustment"
REFUND = "refund"
KINDS = (CHARGE, INSURANCE_ESTIMATE, INSURANCE_PAYMENT, PAYMENT, ADJUSTMENT, REFUND)
STAFF_KINDS = (CHARGE, INSURANCE_ESTIMATE, INSURANCE_PAYMENT, PAYMENT, ADJUSTMENT)  # refunds go through Stripe

SOURCE_STAFF = "staff"
SOURCE_IMPORT = "import"
SOURCE_STRIPE = "stripe"

_SIGN = {CHARGE: 1, INSURANCE_ESTIMATE: 0, INSURANCE_PAYMENT: -1, PAYMENT: -1, ADJUSTMENT: 1, REFUND: 1}


@dataclass(frozen=True)
class LedgerLine:
    id: str
    patient_id: str
    kind: str
    amount_cents: int  # positive; an adjustment's carries its sign (a discount is negative)
    posted_on: date  # the practice's local date
    description: str = ""
    invoice_id: str = ""  # the statement or invoice number it belongs to, if any
    claim_id: str = ""  # the insurance claim of an estimate or an insurance payment
    payment_intent_id: str = ""
    refund_id: str = ""
    source: str = SOURCE_STAFF
    posted_by: str = ""  # staff sub, "import", "stripe"

    @property
    def effect_cents(self) -> int:
        """What the line adds to what is owed (payments subtract, estimates change nothing)."""
        return _SIGN[self.kind] * self.amount_cents


class LineError(ValueError):
    def __init__(self, message: str, code: str = "invalid_line") -> None:
        super().__init__(message)
        self.code = code


def check_line(line: LedgerLine) -> LedgerLine:
    """The rules a line must meet before it is written, whoever posts it."""
    if line.kind not in KINDS:
        raise LineError(f"kind is one of {', '.join(KINDS)}", code="invalid_kind")
    if not valid_id(line.patient_id) or not valid_id(line.id):
        raise LineError("ids are letters, digits, '.', '_', ':' and '-'", code="invalid_id")
    if not isinstance(line.amount_cents, int) or isinstance(line.amount_cents, bool):
        raise LineError("amounts are integer cents")
    if line.amount_cents == 0 or abs(line.amount_cents) > MAX_CENTS:
        raise LineError("the amount must not be zero or too large", code="invalid_amount")
    if line.kind != ADJUSTMENT and line.amount_cents < 0:
        raise LineError("only adjustments can be negative", code="invalid_amount")
    if line.kind == INSURANCE_ESTIMATE and not line.claim_id:
        raise LineError("an insurance estimate needs the claim it belongs to (claim_id)", code="claim_required")
    for ref in (line.invoice_id, line.claim_id):
        if ref and not valid_id(ref):
            raise LineError("references are letters, digits, '.', '_', ':' and '-'", code="invalid_reference")
    if len(line.description) > 200:
        raise LineError("the description is at most 200 characters", code="invalid_description")
    return line


def ordered(lines: Iterable[LedgerLine]) -> list[LedgerLine]:
    return sorted(lines, key=lambda x: (x.posted_on, x.id))


@dataclass(frozen=True)
class Balance:
    total_cents: int  # everything owed on the account (negative: the practice owes the patient)
    pending_insurance_cents: int  # expected from insurance on claims not yet paid
    owed_now_cents: int  # what the patient owes today: the total less what insurance is expected to pay
    credit_cents: int  # money paid beyond what is owed now: max(0, pending - total)

    @property
    def summary(self) -> str:
        """The balance in plain words, for the page and messages."""
        parts = []
        if self.owed_now_cents:
            parts.append(f"You owe {display_cents(self.owed_now_cents)} now.")
        elif not self.credit_cents:
            parts.append("You owe nothing now.")
        if self.credit_cents:  # a family can owe on one member and have a credit on another: say both
            parts.append(f"You have a credit of {display_cents(self.credit_cents)}.")
        if self.pending_insurance_cents:
            parts.append(
                f"{display_cents(self.pending_insurance_cents)} is waiting on your insurance; "
                "you may owe part of it once they pay."
            )
        return " ".join(parts)


def balance_of(lines: Iterable[LedgerLine]) -> Balance:
    """Insurance estimates count as pending until an insurance payment arrives for their claim; then the
    claim is settled and whatever insurance did not pay is the patient's (write-offs are adjustments)."""
    total = 0
    estimates: dict[str, int] = {}
    settled: set[str] = set()
    for line in lines:
        total += line.effect_cents
        if line.kind == INSURANCE_ESTIMATE:
            estimates[line.claim_id] = estimates.get(line.claim_id, 0) + line.amount_cents
        elif line.kind == INSURANCE_PAYMENT and line.claim_id:
            settled.add(line.claim_id)
    pending = sum(max(0, amount) for claim, amount in estimates.items() if claim not in settled)
    # Owed now and credit are the two sides of one number, so money paid beyond what is owed now always shows
    # as a credit, even while insurance is pending (a $65 overpayment on "$65 now, $120 with insurance" is a
    # $65 credit, not hidden inside the pending amount).
    now = total - pending
    return Balance(
        total_cents=total,
        pending_insurance_cents=pending,
        owed_now_cents=max(0, now),
        credit_cents=max(0, -now),
    )


def add_balances(balances: Iterable[Balance]) -> Balance:
    """A family's balance: owed-now and credit are summed per member, never netted across members."""
    items = list(balances)
    return Balance(
        total_cents=sum(b.total_cents for b in items),
        pending_insurance_cents=sum(b.pending_insurance_cents for b in items),
        owed_now_cents=sum(b.owed_now_cents for b in items),
        credit_cents=sum(b.credit_cents for b in items),
    )


def invoice_balance(lines: Iterable[LedgerLine], invoice_id: str) -> int:
    return sum(line.effect_cents for line in lines if line.invoice_id == invoice_id)


# --- paying -----------------------------------------------------------------------------------


# What limits an amount: the balance owed now, what a pay link asks for, or a plan instalment's due amount.
LIMIT_BALANCE = "balance"
LIMIT_LINK = "link"
LIMIT_INSTALMENT = "instalment"
_OVER = {
    LIMIT_BALANCE: ("the {amount} owed now", "amount_over_balance"),
    LIMIT_LINK: ("the {amount} this link asks for", "amount_over_link"),
    LIMIT_INSTALMENT: ("the {amount} this instalment asks for", "amount_over_instalment"),
}


def payable_amount(requested: int | None, owed_now: int, asked: int | None = None, asked_for: str = LIMIT_LINK) -> int:
    """The amount to charge, by the one rule for every way of paying (the patient page, pay links, plan links).

    The whole of what may be paid (what is owed now or, when ``asked`` is given, what a pay link or a plan
    instalment asks for, never more than what is owed now) may always be paid, even under $1; a chosen part of
    it is at least $1 and at most the whole. Stripe's $0.50 card minimum applies to all of them. ``asked_for``
    names what ``asked`` is (``LIMIT_LINK`` or ``LIMIT_INSTALMENT``), for the answer when an amount is too large.
    """
    limit, limited_by = owed_now, LIMIT_BALANCE
    if asked is not None and asked < owed_now:
        limit, limited_by = asked, asked_for if asked_for in _OVER else LIMIT_LINK
    if limit <= 0:
        raise MoneyError("there is nothing to pay", code="nothing_owed")
    amount = limit if requested is None else requested
    if amount <= 0:
        raise MoneyError("the amount must be positive")
    if amount > limit:
        words, code = _OVER[limited_by]
        raise MoneyError(f"the amount is more than {words.format(amount=display_cents(limit))}", code=code)
    if amount < MIN_CHOSEN_CENTS and amount != limit:
        raise MoneyError(
            f"a part payment is at least {display_cents(MIN_CHOSEN_CENTS)} (or pay the whole {display_cents(limit)})",
            code="amount_too_small",
        )
    if amount < MIN_CARD_CENTS:
        raise MoneyError(
            f"card payments start at {display_cents(MIN_CARD_CENTS)}; please pay this at the front desk",
            code="below_card_minimum",
        )
    return amount


def allocate(amount: int, owed: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """Split a payment over family members in the order given, filling each one's owed-now in turn."""
    left = amount
    out: list[tuple[str, int]] = []
    for patient_id, cents in owed:
        take = min(left, max(0, cents))
        if take:
            out.append((patient_id, take))
            left -= take
    if left:
        raise MoneyError("the amount is more than what is owed", code="amount_over_balance")
    return out


@dataclass(frozen=True)
class StartedIntent:
    """A PaymentIntent we asked Stripe for, as we asked for it: checked again when the card is confirmed."""

    payment_intent_id: str
    amount_cents: int
    allocation: tuple[tuple[str, int], ...]
    paylink_id: str = ""
    plan_id: str = ""
    instalment: int = 0

    @property
    def link_key(self) -> str:
        """What a pay link's payment counts against: its plan instalment (each reminder mints a new link for
        the same instalment), else the link; empty for a payment from the patient page."""
        if self.plan_id:
            return f"plan:{self.plan_id}:{self.instalment}"
        return f"link:{self.paylink_id}" if self.paylink_id else ""


def fit_allocation(allocation: Sequence[tuple[str, int]], amount: int) -> list[tuple[str, int]]:
    """The allocation we asked for, adjusted to what was actually received (the first patient takes any excess)."""
    asked = sum(c for _, c in allocation)
    if not allocation or amount <= 0:
        return []
    if amount <= asked:
        return allocate(amount, allocation)
    first, cents = allocation[0]
    return [(first, cents + amount - asked), *allocation[1:]]


def encode_allocation(allocation: Sequence[tuple[str, int]]) -> str:
    """For PaymentIntent metadata (values are at most 500 characters)."""
    text = json.dumps(dict(allocation), separators=(",", ":"))
    if len(text) > 500:
        raise MoneyError("too many patients in one payment", code="too_many_patients")
    return text


def decode_allocation(text: str) -> list[tuple[str, int]]:
    try:
        raw = json.loads(text)
    except ValueError:
        return []
    if not isinstance(raw, dict):
        return []
    out = []
    for patient_id, cents in raw.items():
        if not valid_id(patient_id) or not isinstance(cents, int) or isinstance(cents, bool) or cents <= 0:
            return []
        out.append((patient_id, cents))
    return out


# --- payment plans ----------------------------------------------------------------------------

MAX_INSTALMENTS = 60
EVERY = ("week", "2weeks", "month")


def split_instalments(total: int, count: int) -> list[int]:
    """Equal instalments in cents; the last takes the remainder (10000 / 3 -> 3333, 3333, 3334).

    Each instalment is at least $1.00, the smallest part payment, so every one can be paid by its own link;
    a plan of one instalment is the whole amount, which ``payable_amount`` has judged already."""
    if not 1 <= count <= MAX_INSTALMENTS:
        raise MoneyError(f"a plan has 1 to {MAX_INSTALMENTS} instalments", code="invalid_instalments")
    if total <= 0:
        raise MoneyError("a plan is for more than nothing", code="invalid_amount")
    base = total // count
    if count > 1 and base < MIN_CHOSEN_CENTS:
        most = total // MIN_CHOSEN_CENTS
        fewer = f"; make it {most} instalments or fewer" if most > 1 else "; ask for it in one payment"
        raise MoneyError(
            f"each instalment must be at least {display_cents(MIN_CHOSEN_CENTS)}: {display_cents(total)} in "
            f"{count} instalments is {display_cents(base)} each{fewer}",
            code="instalment_too_small",
        )
    return [base] * (count - 1) + [total - base * (count - 1)]


def add_months(day: date, months: int, anchor_day: int | None = None) -> date:
    """The same day of the month ``months`` later, clamped to the month's end (Jan 31 -> Feb 28)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    wanted = anchor_day or day.day
    return date(year, month + 1, min(wanted, calendar.monthrange(year, month + 1)[1]))


def instalment_dates(first: date, count: int, every: str = "month") -> list[date]:
    if every not in EVERY:
        raise ValueError(f"every is one of {', '.join(EVERY)}")
    if every == "month":
        return [add_months(first, n, first.day) for n in range(count)]
    step = timedelta(weeks=1 if every == "week" else 2)
    return [first + step * n for n in range(count)]


@dataclass(frozen=True)
class Instalment:
    number: int  # 1-based
    due_on: date
    amount_cents: int
    paid_cents: int = 0  # paid through the plan's own links, as the webhook applied it
    covered_cents: int = 0  # paid some other way; worked out when the plan is read (``cap_plans``), never stored

    @property
    def due_cents(self) -> int:
        return max(0, self.amount_cents - self.paid_cents - self.covered_cents)

    @property
    def is_paid(self) -> bool:
        return self.due_cents == 0


@dataclass(frozen=True)
class Plan:
    id: str
    patient_id: str
    total_cents: int
    every: str
    instalments: tuple[Instalment, ...]
    created_on: date
    created_by: str = ""
    # ``charged_cents`` of the patient's ledger when the plan was made (None for plans made before it was kept)
    charged_at_start_cents: int | None = None

    @property
    def paid_cents(self) -> int:
        return sum(min(i.paid_cents, i.amount_cents) for i in self.instalments)

    @property
    def due_cents(self) -> int:
        """What the plan's instalments still ask for, all together."""
        return sum(i.due_cents for i in self.instalments)


def make_plan(
    plan_id: str,
    patient_id: str,
    total: int,
    count: int,
    first_due: date,
    every: str,
    today: date,
    by: str = "",
    charged_at_start: int | None = None,
) -> Plan:
    """``charged_at_start``: ``charged_cents`` of the ledger the plan's total was judged against."""
    if first_due < today:
        raise MoneyError("the first instalment cannot be due in the past", code="invalid_due_date")
    last_first = a_year_after(today)
    if first_due > last_first:
        raise MoneyError(
            f"the first instalment is due at most a year from today (by {last_first.isoformat()})",
            code="invalid_due_date",
        )
    amounts = split_instalments(total, count)
    dates = instalment_dates(first_due, count, every)
    return Plan(
        id=plan_id,
        patient_id=patient_id,
        total_cents=total,
        every=every,
        instalments=tuple(Instalment(n + 1, d, a) for n, (d, a) in enumerate(zip(dates, amounts, strict=True))),
        created_on=today,
        created_by=by,
        charged_at_start_cents=charged_at_start,
    )


def charged_cents(lines: Iterable[LedgerLine]) -> int:
    """Everything ever charged to the patient's own share on a ledger: charges and positive adjustments, less
    insurance estimates (what insurance was expected to pay of them). It grows only with new debt: payments,
    discounts, refunds (money given back for an old charge) and insurance payments leave it as it was."""
    total = 0
    for x in lines:
        if x.kind == CHARGE or (x.kind == ADJUSTMENT and x.amount_cents > 0):
            total += x.amount_cents
        elif x.kind == INSURANCE_ESTIMATE:
            total -= x.amount_cents
    return total


def cap_plans(plans: Sequence[Plan], owed_now: int, charged_now: int | None = None) -> list[Plan]:
    """A patient's plans as they stand against the ledger: open instalments never ask for more than the patient
    owes now of the debt the plans were made from.

    Money paid outside the plans' links (the patient page's "Pay now", the desk, insurance, a discount) lowers
    what is owed now; whatever the open instalments ask for beyond it is taken off the latest-due instalments
    first, as ``covered_cents`` (so a balance paid off leaves every instalment settled, and one partly paid
    shrinks the last instalments first). Payments pay the oldest debt first: what was charged after a plan was
    made (``charged_now`` less the plan's ``charged_at_start_cents``, both ``charged_cents``) is owed outside it,
    so a new visit does not make a settled plan ask again; a refund does (the money that settled it went back).
    The split is worked out from totals, so a few corners are approximate (the shortfall of a claim made after
    the plan counts as old debt; a positive adjustment counts as new debt); either way a plan never asks for
    more than is owed now. A plan made before plans kept ``charged_at_start_cents`` is capped by what is owed
    now alone. Pure and never stored: the plans are read this way wherever they are used.
    """

    def room(plan: Plan) -> int:
        start = plan.charged_at_start_cents
        new_debt = 0 if start is None or charged_now is None else max(0, charged_now - start)
        return max(0, owed_now - new_debt)

    due = {(p.id, i.number): i.due_cents for p in plans for i in p.instalments}
    covered: dict[tuple[str, int], int] = {}
    # The plans older than a given plan are carved from debt at least as old: each room bounds its own plan and
    # every plan with a smaller room, tightest first; taking off more only loosens the bounds already met.
    for limit in sorted({room(p) for p in plans}):
        group = [p for p in plans if room(p) <= limit]
        excess = sum(due[(p.id, i.number)] for p in group for i in p.instalments) - limit
        latest_first = sorted(
            ((i.due_on, p.created_on, p.id, i.number) for p in group for i in p.instalments if due[(p.id, i.number)]),
            reverse=True,
        )
        for _, _, plan_id, number in latest_first:
            if excess <= 0:
                break
            take = min(excess, due[(plan_id, number)])
            due[(plan_id, number)] -= take
            covered[(plan_id, number)] = covered.get((plan_id, number), 0) + take
            excess -= take
    if not covered:
        return list(plans)
    return [
        replace(
            p,
            instalments=tuple(
                replace(i, covered_cents=i.covered_cents + covered.get((p.id, i.number), 0)) for i in p.instalments
            ),
        )
        for p in plans
    ]


def plans_against(plans: Sequence[Plan], lines: Sequence[LedgerLine]) -> list[Plan]:
    """``cap_plans`` against a patient's ledger lines."""
    return cap_plans(plans, balance_of(lines).owed_now_cents, charged_cents(lines))


# --- statements -------------------------------------------------------------------------------

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
FIRST_YEAR = 2000  # the oldest statement month, and so the oldest date a ledger line may carry
LAST_YEAR = 2100
FIRST_POSTING_DAY = date(FIRST_YEAR, 1, 1)


def a_year_after(day: date) -> date:
    """The same date a year later (Feb 29 -> Feb 28)."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return day.replace(year=day.year + 1, day=28)


def posting_range(today: date) -> tuple[date, date]:
    """The dates a ledger line may be posted on: from 2000-01-01 to one year after today (and never past
    the last statement year), so every month a line lands in is a month whose statement opens."""
    return FIRST_POSTING_DAY, min(a_year_after(today), date(LAST_YEAR, 12, 31))


def postable_on(day: date, today: date) -> bool:
    first, last = posting_range(today)
    return first <= day <= last


def parse_month(text: str) -> tuple[date, date]:
    """ "2027-03" -> (2027-03-01, 2027-03-31)."""
    match = _MONTH.match(text or "")
    if not match:
        raise ValueError("a month looks like 2027-03")
    year, month = int(match[1]), int(match[2])
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"statements cover {FIRST_YEAR} to {LAST_YEAR}")
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


@dataclass(frozen=True)
class StatementTotals:
    charges_cents: int
    payments_cents: int  # patient and insurance payments, as a positive number
    adjustments_cents: int
    refunds_cents: int


@dataclass(frozen=True)
class Statement:
    guarantor_id: str
    patient_ids: tuple[str, ...]
    period_start: date
    period_end: date
    opening_cents: int
    lines: tuple[LedgerLine, ...]
    totals: StatementTotals
    closing: Balance  # as of the period's last day

    @property
    def closing_cents(self) -> int:
        return self.closing.total_cents

    @property
    def amount_due_cents(self) -> int:
        return self.closing.owed_now_cents


def build_statement(
    guarantor_id: str, patient_ids: Sequence[str], lines: Iterable[LedgerLine], start: date, end: date
) -> Statement:
    """Opening balance (everything before ``start``), the period's lines, and where it closed."""
    every = [x for x in ordered(lines) if x.posted_on <= end]
    before = [x for x in every if x.posted_on < start]
    during = [x for x in every if x.posted_on >= start]
    totals = StatementTotals(
        charges_cents=sum(x.amount_cents for x in during if x.kind == CHARGE),
        payments_cents=sum(x.amount_cents for x in during if x.kind in (PAYMENT, INSURANCE_PAYMENT)),
        adjustments_cents=sum(x.amount_cents for x in during if x.kind == ADJUSTMENT),
        refunds_cents=sum(x.amount_cents for x in during if x.kind == REFUND),
    )
    by_patient: dict[str, list[LedgerLine]] = {}
    for line in every:
        by_patient.setdefault(line.patient_id, []).append(line)
    return Statement(
        guarantor_id=guarantor_id,
        patient_ids=tuple(patient_ids),
        period_start=start,
        period_end=end,
        opening_cents=sum(x.effect_cents for x in before),
        lines=tuple(during),
        totals=totals,
        closing=add_balances(balance_of(v) for v in by_patient.values()),
    )


def statement_months(lines: Iterable[LedgerLine], limit: int = 24) -> list[str]:
    """Months with activity, newest first."""
    months = sorted(
        {x.posted_on.strftime("%Y-%m") for x in lines if FIRST_YEAR <= x.posted_on.year <= LAST_YEAR}, reverse=True
    )  # only months whose statement opens (lines posted before the range was enforced stay off the list)
    return months[:limit]


# --- pay links --------------------------------------------------------------------------------

DEFAULT_LINK_DAYS = 30
MAX_LINK_DAYS = 90
LINK_OPEN = "open"
LINK_PAID = "paid"
LINK_EXPIRED = "expired"


def link_days(settings: Mapping[str, object]) -> int:
    """The practice's pay-link lifetime (``pay_link_days``), within 1..90 days; 30 by default."""
    raw = settings.get("pay_link_days", DEFAULT_LINK_DAYS)
    if isinstance(raw, bool) or not isinstance(raw, int):
        return DEFAULT_LINK_DAYS
    return min(max(raw, 1), MAX_LINK_DAYS)


@dataclass(frozen=True)
class PayLink:
    id: str
    patient_id: str
    amount_cents: int  # the balance (or instalment) it was sent for
    created_at: int  # epoch seconds
    expires_at: int  # epoch seconds
    channel: str = ""
    plan_id: str = ""
    instalment: int = 0
    paid_cents: int = 0  # paid through this link, as the webhook applied it


def link_state(link: PayLink, now_epoch: int, owed_now: int, instalment_due: int | None = None) -> str:
    """A link stops working once what it was sent for is paid, through it or any other way."""
    if now_epoch >= link.expires_at:
        return LINK_EXPIRED
    still_due = instalment_due if link.plan_id and instalment_due is not None else owed_now
    if link.paid_cents >= link.amount_cents or still_due <= 0 or owed_now <= 0:
        return LINK_PAID
    return LINK_OPEN


def link_amount(link: PayLink, owed_now: int, instalment_due: int | None = None) -> int:
    """What the link asks for now: what it was sent for, less what was paid since, never above the balance."""
    asked = instalment_due if link.plan_id and instalment_due is not None else link.amount_cents - link.paid_cents
    return max(0, min(asked, owed_now))


# --- what Stripe tells us ---------------------------------------------------------------------

EVENT_PAYMENT_SUCCEEDED = "payment_intent.succeeded"
EVENT_CHARGE_SUCCEEDED = "charge.succeeded"
EVENT_CHARGE_REFUNDED = "charge.refunded"
REFUND_EVENTS = ("refund.created", "refund.updated", "charge.refund.updated")


@dataclass(frozen=True)
class Observation:
    """One thing Stripe reported about a PaymentIntent: money received, and/or refunds."""

    payment_intent_id: str
    metadata: Mapping[str, str]
    paid_cents: int = 0  # money received, if this event says so
    refund_id: str = ""
    refund_cents: int = 0  # one refund's amount, when the event is about a refund
    refunded_total_cents: int | None = None  # Stripe's running total of refunds, when the event carries it
    refunds: tuple[tuple[str, int], ...] = ()  # refund ids and amounts listed with a charge


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _meta(obj: Mapping[str, Any]) -> dict[str, str]:
    raw = obj.get("metadata") or {}
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}


def _listed_refunds(charge: Mapping[str, Any]) -> tuple[tuple[str, int], ...]:
    refunds = charge.get("refunds")
    data = refunds.get("data") if isinstance(refunds, Mapping) else None
    out = []
    for r in data if isinstance(data, list) else []:
        if isinstance(r, Mapping) and r.get("status", "succeeded") == "succeeded" and isinstance(r.get("id"), str):
            out.append((str(r["id"]), _int(r.get("amount"))))
    return tuple(out)


def _from_intent(obj: Mapping[str, Any]) -> Observation | None:
    pi = obj.get("id")
    amount = _int(obj.get("amount_received")) or _int(obj.get("amount"))
    if not isinstance(pi, str) or not amount:
        return None
    return Observation(pi, _meta(obj), paid_cents=amount)


def _from_charge(obj: Mapping[str, Any]) -> Observation | None:
    pi = obj.get("payment_intent")
    if not isinstance(pi, str) or obj.get("status") == "failed":
        return None
    return Observation(pi, _meta(obj), paid_cents=_int(obj.get("amount_captured")) or _int(obj.get("amount")))


def _from_refunded_charge(obj: Mapping[str, Any]) -> Observation | None:
    paid = _from_charge(obj)
    if paid is None:
        return None
    return replace(paid, refunded_total_cents=_int(obj.get("amount_refunded")), refunds=_listed_refunds(obj))


def _from_refund(obj: Mapping[str, Any]) -> Observation | None:
    pi, rid, amount = obj.get("payment_intent"), obj.get("id"), _int(obj.get("amount"))
    if not isinstance(pi, str) or not isinstance(rid, str) or obj.get("status") != "succeeded" or not amount:
        return None
    return Observation(pi, _meta(obj), refund_id=rid, refund_cents=amount)


_READERS = {
    EVENT_PAYMENT_SUCCEEDED: _from_intent,
    EVENT_CHARGE_SUCCEEDED: _from_charge,
    EVENT_CHARGE_REFUNDED: _from_refunded_charge,
    **dict.fromkeys(REFUND_EVENTS, _from_refund),
}


def observation_from(event_type: str, obj: Mapping[str, Any]) -> Observation | None:
    """None for events that change nothing here (unknown types, failures, pending refunds)."""
    reader = _READERS.get(event_type)
    return reader(obj) if reader else None


@dataclass(frozen=True)
class IntentState:
    """What the ledger holds for one PaymentIntent (one item, rewritten under an optimistic revision)."""

    payment_intent_id: str
    rev: int = 0  # 0: not stored yet
    allocation: tuple[tuple[str, int], ...] = ()  # patient id -> cents paid, once paid
    paid_cents: int = 0
    refund_ids: tuple[tuple[str, int], ...] = ()  # every refund seen by id
    refund_seen_cents: int = 0  # the largest running total Stripe reported
    refunded: tuple[tuple[str, int], ...] = ()  # refund cents written to each patient's ledger
    paid_on: date | None = None
    invoice_id: str = ""
    paylink_id: str = ""
    plan_id: str = ""
    instalment: int = 0

    @property
    def refunded_cents(self) -> int:
        return sum(c for _, c in self.refunded)

    @property
    def refundable_cents(self) -> int:
        return self.paid_cents - self.refunded_cents

    @property
    def refund_target_cents(self) -> int:
        """Sum of known refunds or Stripe's running total, whichever is larger, never above what was paid.

        Both are lower bounds of what Stripe has refunded, and both reach it once every event is in, so
        the result grows monotonically to the same value in any delivery order.
        """
        return min(self.paid_cents, max(sum(c for _, c in self.refund_ids), self.refund_seen_cents))


@dataclass(frozen=True)
class Applied:
    state: IntentState
    lines: tuple[LedgerLine, ...] = ()
    newly_paid: bool = False


def payment_line_id(payment_intent_id: str) -> str:
    return f"stripe-{payment_intent_id}"


def apply_observation(
    state: IntentState,
    seen: Observation,
    allocation: Sequence[tuple[str, int]],
    on: date,
) -> Applied:
    """The next state and the ledger lines to write. ``allocation`` is where the money goes (from metadata
    or the invoice), used only the first time money is seen; empty when it cannot be placed."""
    new = state
    lines: list[LedgerLine] = []
    newly_paid = False
    if seen.paid_cents and not state.paid_cents and allocation and sum(c for _, c in allocation) == seen.paid_cents:
        new = replace(
            new,
            allocation=tuple(allocation),
            paid_cents=seen.paid_cents,
            paid_on=on,
            invoice_id=seen.metadata.get("invoice_id", ""),
            paylink_id=seen.metadata.get("paylink_id", ""),
            plan_id=seen.metadata.get("plan_id", ""),
            instalment=_instalment(seen.metadata.get("instalment", "")),
        )
        newly_paid = True
        for patient_id, cents in allocation:
            lines.append(
                LedgerLine(
                    id=payment_line_id(seen.payment_intent_id),
                    patient_id=patient_id,
                    kind=PAYMENT,
                    amount_cents=cents,
                    posted_on=on,
                    description="Card payment, thank you",
                    invoice_id=new.invoice_id,
                    payment_intent_id=seen.payment_intent_id,
                    source=SOURCE_STRIPE,
                    posted_by=SOURCE_STRIPE,
                )
            )
    known = dict(new.refund_ids)
    for rid, cents in ((seen.refund_id, seen.refund_cents), *seen.refunds):
        if rid and cents and rid not in known:
            known[rid] = cents
    new = replace(
        new,
        refund_ids=tuple(sorted(known.items())),
        refund_seen_cents=max(new.refund_seen_cents, seen.refunded_total_cents or 0),
    )
    refund_lines, refunded = _refund_lines(new, on, seen.refund_id)
    new = replace(new, refunded=refunded)
    return Applied(new, tuple(lines) + refund_lines, newly_paid)


def _instalment(text: str) -> int:
    return int(text) if text.isdigit() and len(text) <= 3 else 0


def _refund_lines(
    state: IntentState, on: date, refund_id: str
) -> tuple[tuple[LedgerLine, ...], tuple[tuple[str, int], ...]]:
    """Refund lines for what the target exceeds what is written, taken back from the last-paid patient first."""
    delta = state.refund_target_cents - state.refunded_cents
    done = dict(state.refunded)
    if delta <= 0:
        return (), state.refunded
    target = state.refund_target_cents
    lines = []
    for patient_id, paid in reversed(state.allocation):
        take = min(delta, paid - done.get(patient_id, 0))
        if take <= 0:
            continue
        done[patient_id] = done.get(patient_id, 0) + take
        delta -= take
        lines.append(
            LedgerLine(
                id=f"stripe-{state.payment_intent_id}-refund-{target}",
                patient_id=patient_id,
                kind=REFUND,
                amount_cents=take,
                posted_on=on,
                description="Card refund",
                invoice_id=state.invoice_id,
                payment_intent_id=state.payment_intent_id,
                refund_id=refund_id,
                source=SOURCE_STRIPE,
                posted_by=SOURCE_STRIPE,
            )
        )
        if not delta:
            break
    return tuple(lines), tuple(sorted(done.items()))


# --- messages ---------------------------------------------------------------------------------

_TEXTS = {
    "en": {
        "link_sms": "{practice}: please pay {amount}. Pay securely online: {url} (link valid {days} days)",
        "link_subject": "A payment request from {practice}",
        "link_body": (
            "{practice} asks you to pay {amount}.\n\nPay securely online: {url}\n\n"
            "You will be asked for the patient's date of birth. The link works for {days} days.\n"
        ),
        "receipt_subject": "Receipt: your payment to {practice}",
        "receipt_body": (
            "Thank you. {practice} received your card payment of {amount} on {day}.\n\n"
            "Reference: {reference}\n\nKeep this email for your records.\n"
        ),
    },
    "es": {
        "link_sms": "{practice}: le pedimos pagar {amount}. Pague en línea de forma segura: {url} (válido {days} días)",
        "link_subject": "Una solicitud de pago de {practice}",
        "link_body": (
            "{practice} le pide pagar {amount}.\n\nPague en línea de forma segura: {url}\n\n"
            "Se le pedirá la fecha de nacimiento del paciente. El enlace es válido {days} días.\n"
        ),
        "receipt_subject": "Recibo: su pago a {practice}",
        "receipt_body": (
            "Gracias. {practice} recibió su pago con tarjeta de {amount} el {day}.\n\n"
            "Referencia: {reference}\n\nGuarde este correo para sus registros.\n"
        ),
    },
}


@dataclass(frozen=True)
class Message:
    subject: str
    text: str


def pay_link_message(language: str, channel: str, practice: str, amount: int, url: str, days: int) -> Message:
    texts = _TEXTS.get(language, _TEXTS["en"])
    values = {"practice": practice, "amount": display_cents(amount), "url": url, "days": days}
    if channel == "sms":
        return Message("", texts["link_sms"].format(**values))
    return Message(texts["link_subject"].format(**values), texts["link_body"].format(**values))


def receipt_message(language: str, practice: str, amount: int, day: date, reference: str) -> Message:
    texts = _TEXTS.get(language, _TEXTS["en"])
    values = {"practice": practice, "amount": display_cents(amount), "day": day.isoformat(), "reference": reference}
    return Message(texts["receipt_subject"].format(**values), texts["receipt_body"].format(**values))


@dataclass(frozen=True)
class DueInstalment:
    """An unpaid instalment, for the reminder engine."""

    practice_id: str
    plan_id: str
    patient_id: str
    number: int
    of: int
    due_on: date
    amount_due_cents: int
