"""Analytics, ROI and worklists: what each number means, computed from roll-up counters. Pure domain.

Roll-ups are maintained on write (see store.py): every counter is a sum over things that changed, each
thing contributing what its current state says (``appointment_counters``, ``patient_cell``,
``account_state``). A writer stores the contribution it applied next to the thing itself and moves the
counters by the difference, conditioned on both, so applying the same state twice moves nothing.

Definitions (``DEFINITIONS`` is what the API answers next to each number):
- no-show rate = no-shows / (completed + no-shows), by the visit's month (practice-local);
- cancellations: every cancelled visit but declined requests; late = cancelled less than 24 h before the
  start, when the cancellation time is known (an appointment imported already cancelled has none);
- confirmation rate before the day = visits held (completed or no-show) that were confirmed when their
  local day began / visits held that were on the book before their local day began (history imported
  after the fact is not counted: it shows no confirmation state);
- recall share = active patients (a completed visit in the last 18 months, this one included) whose latest
  open hygiene appointment is today or later / active patients;
- online collections = card payments through Stripe less their refunds; all collections = every payment
  and insurance payment less refunds, by the month posted; outstanding = what accounts owe now
  (billing's owed now: the ledger total less what is pending with insurance), credits apart.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.appointments.model import ACTIVE, CANCELLED, COMPLETED, CONFIRMED, NO_SHOW, REQUESTED, Appointment
from chalicelib.billing.model import (
    CHARGE,
    INSURANCE_PAYMENT,
    PAYMENT,
    REFUND,
    SOURCE_STRIPE,
    LedgerLine,
    balance_of,
)

MONTHS_SHOWN = 12  # the trend charts
ACTIVE_MONTHS = 18  # "seen in the last 18 months"
BASELINE_MONTHS = 3  # a measured baseline is the no-show rate of the first months with visits
LOOK_BACK_MONTHS = 24  # how far back a measured baseline looks
LATE_CANCEL = timedelta(hours=24)
AGING = (90, 60, 30)  # open balance buckets, in days since the oldest unpaid charge

# Counters of ANALYTICS_MONTH#<YYYY-MM> (flat Number attributes).
C_COMPLETED = "completed"
C_NO_SHOW = "no_show"
C_CANCELLED = "cancelled"
C_LATE = "cancelled_late"
C_TRACKED = "held_tracked"  # held and on the book before its local day began
C_CONFIRMED_BEFORE = "confirmed_before"
C_SELF_CONFIRMED = "self_confirmed"  # confirmed by the patient (page, link, SMS reply): no phone call
C_LAST_VISIT = "last_visit"  # patients whose last completed visit is in this month
HYGIENE_CELL = "hyg#"  # + YYYY-MM-DD: of those, how many hold their latest open hygiene visit that day
C_COLLECTED = "collected"
C_ONLINE = "collected_online"
C_CHARGED = "charged"
C_SMS_INBOUND = "sms_inbound"
C_SMS_PARTS = "sms_parts"
CHANNELS = ("sms", "email")
OUTCOMES = ("sent", "failed", "bounced", "opted_out")
# Totals of ANALYTICS_TOTALS (practice-wide, now).
T_OWED = "owed"
T_CREDIT = "credit"

SELF_ACTORS = ("patient:", "link:", "sms")  # history actors that are the patient acting (never a staff id)
TERMINAL = frozenset({COMPLETED, NO_SHOW, CANCELLED})


def message_counter(channel: str, outcome: str) -> str:
    return f"{channel}_{outcome}"


def month_of(day: date) -> str:
    return day.strftime("%Y-%m")


def add_months(month: str, n: int) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    index = year * 12 + mon - 1 + n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def months_ending(month: str, count: int) -> list[str]:
    """``count`` months up to and including ``month``, oldest first."""
    return [add_months(month, n) for n in range(1 - count, 1)]


def local_day(at: datetime, zone: str) -> date:
    return at.astimezone(ZoneInfo(zone)).date()


def day_start(day: date, zone: str) -> datetime:
    """The UTC instant a local day begins (DST-safe)."""
    return datetime.combine(day, time.min, ZoneInfo(zone)).astimezone(UTC)


# --- what one appointment contributes -----------------------------------------------------------------


def status_at(a: Appointment, at: datetime) -> str:
    """The appointment's status at an instant, from its history: the from-status of the first change
    after it, else the current status."""
    for h in a.history:
        if "->" in h.action and h.at > at:
            return h.action.split("->", 1)[0]
    return a.status


def _self_confirmed(a: Appointment) -> bool:
    confirmations = [h for h in a.history if h.action.endswith(f"->{CONFIRMED}") and h.at < a.start]
    return bool(confirmations) and confirmations[-1].by.startswith(SELF_ACTORS)


def appointment_counters(a: Appointment, zone: str) -> tuple[str, dict[str, int]]:
    """(visit month, counters) one appointment adds to its month's roll-up in its current state."""
    day = local_day(a.start, zone)
    counters: dict[str, int] = {}
    if a.status in (COMPLETED, NO_SHOW):
        counters[C_COMPLETED if a.status == COMPLETED else C_NO_SHOW] = 1
        begins = day_start(day, zone)
        if a.history and a.history[0].at < begins:
            counters[C_TRACKED] = 1
            if status_at(a, begins) == CONFIRMED:
                counters[C_CONFIRMED_BEFORE] = 1
    elif a.status == CANCELLED:
        cancelled = [h for h in a.history if h.action.endswith(f"->{CANCELLED}")]
        if cancelled and cancelled[-1].action == f"{REQUESTED}->{CANCELLED}":
            return month_of(day), {}  # a declined request was never a visit
        counters[C_CANCELLED] = 1
        if cancelled and a.start - cancelled[-1].at < LATE_CANCEL:
            counters[C_LATE] = 1
    if a.status in TERMINAL and counters and _self_confirmed(a):
        counters[C_SELF_CONFIRMED] = 1
    return month_of(day), counters


@dataclass(frozen=True)
class Applied:
    """What the month counters hold for one appointment: kept with its patient's facts (``applied``)."""

    month: str = ""
    counters: Mapping[str, int] = field(default_factory=dict)

    def encode(self) -> str:
        return json.dumps({"m": self.month, "c": dict(sorted(self.counters.items()))}, separators=(",", ":"))

    @staticmethod
    def decode(raw: str | None) -> Applied | None:
        if not raw:
            return None
        data = json.loads(raw)
        return Applied(str(data.get("m", "")), {str(k): int(v) for k, v in (data.get("c") or {}).items()})


def encode_applied(applied: Mapping[str, Applied]) -> str:
    return json.dumps(
        {k: {"m": a.month, "c": dict(sorted(a.counters.items()))} for k, a in sorted(applied.items()) if a.counters},
        separators=(",", ":"),
    )


def decode_applied(raw: str | None) -> dict[str, Applied]:
    return {
        str(k): Applied(str(v.get("m", "")), {str(n): int(c) for n, c in (v.get("c") or {}).items()})
        for k, v in json.loads(raw or "{}").items()
    }


def applied_for(a: Appointment, zone: str) -> Applied:
    month, counters = appointment_counters(a, zone)
    return Applied(month if counters else "", counters)


Deltas = dict[str, dict[str, int]]  # month -> counter -> change


def add_deltas(into: Deltas, month: str, counters: Mapping[str, int], sign: int = 1) -> None:
    if not month:
        return
    bucket = into.setdefault(month, {})
    for name, value in counters.items():
        bucket[name] = bucket.get(name, 0) + sign * value


def moved(before: Applied | None, after: Applied) -> Deltas:
    """The counter changes that take a thing from what was applied to what its state says now."""
    out: Deltas = {}
    if before is not None:
        add_deltas(out, before.month, before.counters, -1)
    add_deltas(out, after.month, after.counters)
    return prune(out)


def prune(deltas: Deltas) -> Deltas:
    return {m: {k: v for k, v in c.items() if v} for m, c in deltas.items() if any(c.values())}


# --- messages ----------------------------------------------------------------------------------------------


def message_outcome(
    status: str, channel: str, sent_channel: str, parts: int, at: datetime, zone: str
) -> tuple[str, dict[str, int]]:
    """(local month, counters) one recorded touch adds: sent (and its SMS parts) or failed, by channel."""
    month = month_of(local_day(at, zone))
    if status == "sent" and sent_channel in CHANNELS:
        counters = {message_counter(sent_channel, "sent"): 1}
        if sent_channel == "sms":
            counters[C_SMS_PARTS] = max(parts, 1)
        return month, counters
    if status == "failed" and channel in CHANNELS:
        return month, {message_counter(channel, "failed"): 1}
    return month, {}


# --- a patient's recall facts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PatientFacts:
    """Per patient, from their appointments (each entry set or removed as that appointment is tallied):
    completed visits (local day, hygiene?) and open hygiene appointments (local day)."""

    visits: Mapping[str, tuple[date, bool]] = field(default_factory=dict)
    upcoming: Mapping[str, date] = field(default_factory=dict)

    @property
    def last_visit(self) -> date | None:
        return max((d for d, _ in self.visits.values()), default=None)

    @property
    def last_hygiene(self) -> date | None:
        return max((d for d, h in self.visits.values() if h), default=None)

    @property
    def next_hygiene(self) -> date | None:
        """The latest open hygiene appointment: the patient holds a future one while it is today or later."""
        return max(self.upcoming.values(), default=None)

    def with_appointment(self, a: Appointment, zone: str, hygiene: bool) -> PatientFacts:
        visits, upcoming = dict(self.visits), dict(self.upcoming)
        visits.pop(a.id, None)
        upcoming.pop(a.id, None)
        day = local_day(a.start, zone)
        if a.status == COMPLETED:
            visits[a.id] = (day, hygiene)
        elif a.status in ACTIVE and hygiene:
            upcoming[a.id] = day
        return PatientFacts(visits, upcoming)

    def encode(self) -> tuple[str, str]:
        v = {k: f"{d.isoformat()}{'|h' if h else ''}" for k, (d, h) in sorted(self.visits.items())}
        u = {k: d.isoformat() for k, d in sorted(self.upcoming.items())}
        return json.dumps(v, separators=(",", ":")), json.dumps(u, separators=(",", ":"))

    @staticmethod
    def decode(visits: str | None, upcoming: str | None) -> PatientFacts:
        v: dict[str, tuple[date, bool]] = {}
        for k, text in json.loads(visits or "{}").items():
            day, _, flag = str(text).partition("|")
            v[str(k)] = (date.fromisoformat(day), flag == "h")
        u = {str(k): date.fromisoformat(str(d)) for k, d in json.loads(upcoming or "{}").items()}
        return PatientFacts(v, u)


def patient_cell(facts: PatientFacts) -> tuple[str, dict[str, int]]:
    """(month of the last visit, counters) a patient adds to the recall cells: one ``last_visit``, and one
    ``hyg#<day>`` for the day of their latest open hygiene appointment. Time passing needs no write: the
    reader counts only months in the active window and hygiene days from today on."""
    last = facts.last_visit
    if last is None:
        return "", {}
    counters = {C_LAST_VISIT: 1}
    if facts.next_hygiene is not None:
        counters[f"{HYGIENE_CELL}{facts.next_hygiene.isoformat()}"] = 1
    return month_of(last), counters


def cell_moved(before: PatientFacts, after: PatientFacts) -> Deltas:
    return moved(Applied(*patient_cell(before)), Applied(*patient_cell(after)))


# --- an account (a patient's ledger) ------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountState:
    balance_cents: int  # the ledger total (negative: a credit), insurance still pending included
    oldest_open: date | None  # the posting day of the oldest charge not yet paid off (payments go oldest first)
    months: Mapping[str, Mapping[str, int]]  # month -> collected / collected_online / charged
    # What the account owes now, as billing's balance says it (the total less what is pending with
    # insurance); this, not the ledger total, is "outstanding".
    owed_now_cents: int = 0

    def totals(self) -> dict[str, int]:
        return {T_OWED: self.owed_now_cents, T_CREDIT: max(-self.balance_cents, 0)}


def account_state(lines: Iterable[LedgerLine]) -> AccountState:
    """Balance, aging and monthly money of one account, from its ledger lines (integer cents). Owed
    now is billing's ``balance_of`` of the same lines, so analytics and the account pages agree."""
    lines = list(lines)
    open_debits: list[list[Any]] = []  # [day, cents left], oldest first
    credit = 0
    months: dict[str, dict[str, int]] = {}

    def count(month: str, name: str, cents: int) -> None:
        bucket = months.setdefault(month, {})
        bucket[name] = bucket.get(name, 0) + cents

    for line in sorted(lines, key=lambda x: (x.posted_on, x.id)):
        month = month_of(line.posted_on)
        if line.kind in (PAYMENT, INSURANCE_PAYMENT):
            count(month, C_COLLECTED, line.amount_cents)
            if line.source == SOURCE_STRIPE:
                count(month, C_ONLINE, line.amount_cents)
        elif line.kind == REFUND:
            count(month, C_COLLECTED, -line.amount_cents)
            if line.source == SOURCE_STRIPE:
                count(month, C_ONLINE, -line.amount_cents)
        elif line.kind == CHARGE:
            count(month, C_CHARGED, line.amount_cents)
        effect = line.effect_cents
        if effect > 0:
            used = min(credit, effect)
            credit -= used
            if effect - used:
                open_debits.append([line.posted_on, effect - used])
        elif effect < 0:
            left = -effect
            while left and open_debits:
                take = min(left, open_debits[0][1])
                open_debits[0][1] -= take
                left -= take
                if not open_debits[0][1]:
                    open_debits.pop(0)
            credit += left
    owed = sum(int(d[1]) for d in open_debits)
    return AccountState(
        balance_cents=owed - credit,
        oldest_open=open_debits[0][0] if open_debits else None,
        months={m: {k: v for k, v in c.items() if v} for m, c in months.items() if any(c.values())},
        owed_now_cents=balance_of(lines).owed_now_cents,
    )


def account_moved(before: AccountState | None, after: AccountState) -> tuple[Deltas, dict[str, int]]:
    """(month deltas, totals deltas) from one account state to the next."""
    out: Deltas = {}
    if before is not None:
        for m, c in before.months.items():
            add_deltas(out, m, c, -1)
    for m, c in after.months.items():
        add_deltas(out, m, c)
    old = before.totals() if before is not None else {T_OWED: 0, T_CREDIT: 0}
    totals = {k: v - old[k] for k, v in after.totals().items() if v - old[k]}
    return prune(out), totals


def aging_bucket(oldest_open: date, today: date) -> int | None:
    """90, 60 or 30 (days past), or None when the oldest unpaid charge is younger than 30 days."""
    age = (today - oldest_open).days
    return next((b for b in AGING if age >= b), None)


# --- reading the roll-ups -------------------------------------------------------------------------------------


def percent(numerator: int, denominator: int) -> str | None:
    """ "6.5" for 13/200; None when there is nothing to divide by (never a made-up zero)."""
    if denominator <= 0:
        return None
    value = Decimal(numerator * 100) / Decimal(denominator)
    return str(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def ratio(numerator: int, denominator: int) -> dict[str, Any]:
    return {"numerator": numerator, "denominator": denominator, "percent": percent(numerator, denominator)}


def _n(counters: Mapping[str, int], name: str) -> int:
    return int(counters.get(name, 0))


def month_figures(month: str, c: Mapping[str, int]) -> dict[str, Any]:
    """One month's appointment, message and collection figures (money included; the route drops it)."""
    completed, no_show = _n(c, C_COMPLETED), _n(c, C_NO_SHOW)
    return {
        "month": month,
        "completed": completed,
        "no_shows": no_show,
        "no_show_rate": ratio(no_show, completed + no_show),
        "cancellations": _n(c, C_CANCELLED),
        "late_cancellations": _n(c, C_LATE),
        "confirmed_before_day": ratio(_n(c, C_CONFIRMED_BEFORE), _n(c, C_TRACKED)),
        "self_confirmed": _n(c, C_SELF_CONFIRMED),
        "messages": {ch: {o: _n(c, message_counter(ch, o)) for o in OUTCOMES} for ch in CHANNELS},
        "sms_parts": _n(c, C_SMS_PARTS),
        "sms_inbound": _n(c, C_SMS_INBOUND),
        "collections_cents": _n(c, C_COLLECTED),
        "online_collections_cents": _n(c, C_ONLINE),
        "charges_cents": _n(c, C_CHARGED),
    }


def sum_counters(months: Iterable[Mapping[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in months:
        for k, v in c.items():
            out[k] = out.get(k, 0) + int(v)
    return out


def recall_share(cells: Mapping[str, Mapping[str, int]], this_month: str, today: date) -> dict[str, Any]:
    """Active patients holding a future hygiene appointment, from the recall cells of the active window."""
    window = months_ending(this_month, ACTIVE_MONTHS)
    active = holding = 0
    low = f"{HYGIENE_CELL}{today.isoformat()}"
    for month in window:
        c = cells.get(month, {})
        active += _n(c, C_LAST_VISIT)
        holding += sum(int(v) for k, v in c.items() if k.startswith(HYGIENE_CELL) and k >= low)
    return ratio(holding, active)


# --- ROI -------------------------------------------------------------------------------------------------------

DEFAULT_PRODUCTION_CENTS = 20000
DEFAULT_MINUTES_PER_CALL = 3


@dataclass(frozen=True)
class RoiInputs:
    """Practice settings (chalicelib/settings, section ``analytics``)."""

    baseline_no_show_bp: int | None = None  # basis points (650 = 6.5 %); None: measured from the first months
    production_per_visit_cents: int = DEFAULT_PRODUCTION_CENTS
    minutes_per_call: int = DEFAULT_MINUTES_PER_CALL
    staff_hour_cents: int = 0  # 0: staff time is shown in hours only, not counted as money

    @staticmethod
    def from_settings(raw: Mapping[str, Any] | None) -> RoiInputs:
        raw = raw or {}
        baseline = raw.get("baseline_no_show_bp")
        return RoiInputs(
            baseline_no_show_bp=int(baseline) if baseline is not None else None,
            production_per_visit_cents=int(raw.get("production_per_visit_cents", DEFAULT_PRODUCTION_CENTS)),
            minutes_per_call=int(raw.get("minutes_per_call", DEFAULT_MINUTES_PER_CALL)),
            staff_hour_cents=int(raw.get("staff_hour_cents", 0)),
        )


def cents(amount: Fraction | Decimal) -> int:
    """Whole cents, half up (away from zero for negatives)."""
    value = Decimal(amount.numerator) / Decimal(amount.denominator) if isinstance(amount, Fraction) else amount
    return int(value.quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def measured_baseline(history: Sequence[tuple[str, Mapping[str, int]]]) -> tuple[Fraction | None, list[str]]:
    """The no-show rate of the first ``BASELINE_MONTHS`` months that had visits (oldest first), and which."""
    used = [(m, c) for m, c in history if _n(c, C_COMPLETED) + _n(c, C_NO_SHOW) > 0][:BASELINE_MONTHS]
    held = sum(_n(c, C_COMPLETED) + _n(c, C_NO_SHOW) for _, c in used)
    if not held:
        return None, []
    return Fraction(sum(_n(c, C_NO_SHOW) for _, c in used), held), [m for m, _ in used]


def _tenths(value: Fraction) -> str:
    return str((Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _rate_text(rate: Fraction | None) -> str | None:
    return None if rate is None else _tenths(rate * 100)


def roi(
    period: Mapping[str, int],
    history: Sequence[tuple[str, Mapping[str, int]]],
    inputs: RoiInputs,
    prices: Mapping[str, Decimal],
) -> dict[str, Any]:
    """Return on the period's counters (the months shown). Every input and step is in the answer."""
    completed, no_show = _n(period, C_COMPLETED), _n(period, C_NO_SHOW)
    visits = completed + no_show
    current = Fraction(no_show, visits) if visits else None
    if inputs.baseline_no_show_bp is not None:
        baseline: Fraction | None = Fraction(inputs.baseline_no_show_bp, 10000)
        baseline_from: list[str] = []
    else:
        baseline, baseline_from = measured_baseline(history)
    recovered = (baseline - current) * visits if baseline is not None and current is not None else Fraction(0)
    production = cents(recovered * inputs.production_per_visit_cents)
    online = _n(period, C_ONLINE)
    emails = _n(period, message_counter("email", "sent"))
    sms_parts, inbound = _n(period, C_SMS_PARTS), _n(period, C_SMS_INBOUND)
    message_usd = (
        emails * prices["ses_email"]
        + sms_parts * (prices["sms_outbound_part"] + prices["sms_carrier_fee_part"])
        + inbound * prices["sms_inbound_part"]
    )
    message_cost = cents(message_usd * 100)
    calls = _n(period, C_SELF_CONFIRMED)
    minutes = calls * inputs.minutes_per_call
    staff_value = cents(Fraction(minutes * inputs.staff_hour_cents, 60))
    return {
        "inputs": {
            "baseline_no_show_percent": _rate_text(baseline),
            "baseline_source": "setting" if inputs.baseline_no_show_bp is not None else "measured",
            "baseline_months": baseline_from,
            "current_no_show_percent": _rate_text(current),
            "visits": visits,
            "production_per_visit_cents": inputs.production_per_visit_cents,
            "minutes_per_call": inputs.minutes_per_call,
            "staff_hour_cents": inputs.staff_hour_cents,
            "emails_sent": emails,
            "sms_parts_sent": sms_parts,
            "sms_received": inbound,
            "prices_usd": {k: str(prices[k]) for k in PRICED},
        },
        "recovered_visits": _tenths(recovered),
        "recovered_production_cents": production,
        "online_collections_cents": online,
        "message_cost_cents": message_cost,
        "confirmations_without_call": calls,
        "staff_minutes_saved": minutes,
        "staff_time_value_cents": staff_value,
        "net_cents": production + online + staff_value - message_cost,
        "method": ROI_METHOD,
    }


PRICED = ("ses_email", "sms_outbound_part", "sms_carrier_fee_part", "sms_inbound_part")
ROI_METHOD = (
    "recovered visits = (baseline no-show rate - current no-show rate) x visits held; "
    "recovered production = recovered visits x production per visit; "
    "message cost = emails x SES price + SMS parts x (SMS part + carrier fee) + texts received x inbound part; "
    "staff time saved = confirmations that needed no phone call x minutes per call (valued at the staff hour cost); "
    "net = recovered production + online collections + staff time value - message cost"
)

DEFINITIONS: dict[str, str] = {
    "no_show_rate": "no-shows / (completed + no-shows), by the visit's month",
    "cancellations": "cancelled visits (declined requests are not visits), by the visit's month",
    "late_cancellations": "cancelled less than 24 hours before the start (known for cancellations made here)",
    "confirmed_before_day": (
        "visits held (completed or no-show) confirmed when their local day began / visits held that were on the "
        "book before their day began"
    ),
    "messages": (
        "messages by channel and month: sent and failed by the reminder engine; bounced = addresses suppressed "
        "(bounce, complaint) or numbers the carrier blocks; opted out = STOP replies and email unsubscribes"
    ),
    "recall_share": (
        "active patients (a completed visit this month or in the 17 before) whose latest open hygiene "
        "appointment is today or later / active patients"
    ),
    "collections": "payments and insurance payments less refunds, by the month posted (cents)",
    "online_collections": "card payments made online (Stripe) less their refunds, by the month posted (cents)",
    "outstanding": "what accounts owe now, less what is pending with insurance (credits counted apart), in cents",
    "nps": "net promoter score = round(100 x (promoters 9-10 - detractors 0-6) / answers), by month",
    "referrals": "referred new patients whose first visit was completed, by month",
}
