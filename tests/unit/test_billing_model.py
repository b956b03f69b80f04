"""The billing domain: balances, allocation, statements, pay links, plans and what Stripe events mean."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

import pytest

from chalicelib.billing.model import (
    ADJUSTMENT,
    CHARGE,
    INSURANCE_ESTIMATE,
    INSURANCE_PAYMENT,
    LINK_EXPIRED,
    LINK_OPEN,
    LINK_PAID,
    PAYMENT,
    REFUND,
    Instalment,
    IntentState,
    LedgerLine,
    LineError,
    MoneyError,
    Observation,
    PayLink,
    Plan,
    add_balances,
    allocate,
    apply_observation,
    balance_of,
    build_statement,
    cap_plans,
    charged_cents,
    check_line,
    decode_allocation,
    encode_allocation,
    fit_allocation,
    instalment_dates,
    link_amount,
    link_state,
    make_plan,
    observation_from,
    parse_month,
    pay_link_message,
    payable_amount,
    plans_against,
    postable_on,
    posting_range,
    statement_months,
)

DAY = date(2027, 3, 10)


def line(kind: str, cents: int, on: date = DAY, pid: str = "PAT-A", claim: str = "", n: str = "") -> LedgerLine:
    return LedgerLine(n or f"{kind}-{cents}-{on}", pid, kind, cents, on, claim_id=claim)


# --- balances ---------------------------------------------------------------------------------


def test_the_balance_separates_what_is_owed_now_from_what_insurance_should_pay() -> None:
    b = balance_of([line(CHARGE, 20000), line(INSURANCE_ESTIMATE, 12000, claim="CL1")])
    assert (b.total_cents, b.pending_insurance_cents, b.owed_now_cents, b.credit_cents) == (20000, 12000, 8000, 0)
    assert "$80.00" in b.summary
    assert "$120.00 is waiting on your insurance" in b.summary


def test_an_insurance_payment_settles_its_claim_and_the_shortfall_becomes_the_patients() -> None:
    b = balance_of(
        [
            line(CHARGE, 20000),
            line(INSURANCE_ESTIMATE, 12000, claim="CL1"),
            line(INSURANCE_PAYMENT, 10000, claim="CL1"),
        ]
    )
    assert (b.total_cents, b.pending_insurance_cents, b.owed_now_cents) == (10000, 0, 10000)


def test_overpaying_leaves_a_credit_and_nothing_owed() -> None:
    b = balance_of([line(CHARGE, 5000), line(PAYMENT, 6000)])
    assert (b.total_cents, b.owed_now_cents, b.credit_cents) == (-1000, 0, 1000)
    assert b.summary == "You have a credit of $10.00."


def test_adjustments_carry_their_sign_and_refunds_add_back_to_the_balance() -> None:
    b = balance_of([line(CHARGE, 5000), line(ADJUSTMENT, -1000), line(PAYMENT, 4000), line(REFUND, 500)])
    assert b.total_cents == 500


def test_a_familys_balance_never_nets_one_members_credit_against_anothers_debt() -> None:
    family = add_balances([balance_of([line(CHARGE, 5000)]), balance_of([line(PAYMENT, 2000, pid="K1")])])
    assert (family.owed_now_cents, family.credit_cents, family.total_cents) == (5000, 2000, 3000)


@pytest.mark.parametrize(
    ("kind", "cents", "claim", "code"),
    [
        ("payment", -100, "", "invalid_amount"),
        ("charge", 0, "", "invalid_amount"),
        ("insurance_estimate", 100, "", "claim_required"),
        ("bonus", 100, "", "invalid_kind"),
    ],
)
def test_lines_that_break_the_rules_are_refused(kind: str, cents: int, claim: str, code: str) -> None:
    with pytest.raises(LineError) as refused:
        check_line(LedgerLine("L1", "PAT-A", kind, cents, DAY, claim_id=claim))
    assert refused.value.code == code


def test_ids_with_key_separators_are_refused() -> None:
    with pytest.raises(LineError):
        check_line(LedgerLine("L1", "PAT#B", CHARGE, 100, DAY))


# --- allocation -------------------------------------------------------------------------------


def test_a_family_payment_fills_each_members_balance_in_turn() -> None:
    assert allocate(7000, [("K1", 5000), ("K2", 2500), ("K3", 0)]) == [("K1", 5000), ("K2", 2000)]
    with pytest.raises(MoneyError):
        allocate(8000, [("K1", 5000), ("K2", 2500)])


def test_the_allocation_travels_in_metadata_and_back() -> None:
    text = encode_allocation([("K1", 5000), ("K2", 2000)])
    assert decode_allocation(text) == [("K1", 5000), ("K2", 2000)]
    assert decode_allocation("not json") == []
    assert decode_allocation('{"K#1": 5}') == []
    assert decode_allocation('{"K1": 1.5}') == []


def test_a_received_amount_that_differs_from_the_ask_is_still_placed_exactly() -> None:
    assert fit_allocation([("K1", 5000), ("K2", 2000)], 6000) == [("K1", 5000), ("K2", 1000)]
    assert fit_allocation([("K1", 5000), ("K2", 2000)], 7500) == [("K1", 5500), ("K2", 2000)]


# --- plans ------------------------------------------------------------------------------------


def test_monthly_instalments_keep_their_day_and_clamp_to_the_end_of_short_months() -> None:
    assert instalment_dates(date(2027, 1, 31), 4) == [
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
    ]
    assert instalment_dates(date(2027, 12, 15), 2, "2weeks") == [date(2027, 12, 15), date(2027, 12, 29)]


def test_a_plan_splits_the_total_and_cannot_start_in_the_past() -> None:
    plan = make_plan("PL1", "PAT-A", 10000, 3, date(2027, 4, 1), "month", today=DAY)
    assert [i.amount_cents for i in plan.instalments] == [3333, 3333, 3334]
    assert [i.due_on for i in plan.instalments] == [date(2027, 4, 1), date(2027, 5, 1), date(2027, 6, 1)]
    with pytest.raises(MoneyError):
        make_plan("PL2", "PAT-A", 10000, 3, date(2027, 3, 9), "month", today=DAY)


def test_a_plans_first_instalment_is_due_at_most_a_year_from_today() -> None:
    assert make_plan("PL1", "PAT-A", 10000, 3, date(2028, 3, 10), "month", today=DAY).instalments[0].due_on == (
        date(2028, 3, 10)
    )
    with pytest.raises(MoneyError) as late:
        make_plan("PL2", "PAT-A", 10000, 3, date(2028, 3, 11), "month", today=DAY)
    assert late.value.code == "invalid_due_date"
    assert "2028-03-10" in str(late.value)
    with pytest.raises(MoneyError):
        make_plan("PL3", "PAT-A", 10000, 3, date(2099, 1, 1), "month", today=DAY)


def test_a_plan_whose_instalments_would_be_under_a_dollar_is_refused_and_says_how_many_fit() -> None:
    with pytest.raises(MoneyError) as small:
        make_plan("PL1", "PAT-A", 100, 60, date(2027, 4, 1), "week", today=DAY)
    assert small.value.code == "instalment_too_small"
    assert str(small.value) == (
        "each instalment must be at least $1.00: $1.00 in 60 instalments is $0.01 each; ask for it in one payment"
    )
    with pytest.raises(MoneyError) as split:
        make_plan("PL3", "PAT-A", 599, 6, date(2027, 4, 1), "week", today=DAY)
    assert "make it 5 instalments or fewer" in str(split.value)
    assert [i.amount_cents for i in make_plan("PL4", "PAT-A", 600, 6, DAY, "week", today=DAY).instalments] == [100] * 6


def test_a_plan_of_one_instalment_may_be_a_whole_amount_under_a_dollar() -> None:
    assert [i.amount_cents for i in make_plan("PL1", "PAT-A", 75, 1, DAY, "month", today=DAY).instalments] == [75]


# --- one rule for how much may be paid --------------------------------------------------------


def test_the_whole_of_what_a_link_or_instalment_asks_may_be_paid_even_under_a_dollar() -> None:
    assert payable_amount(None, 10000, asked=50) == 50
    assert payable_amount(50, 10000, asked=50) == 50  # typed exactly
    assert payable_amount(None, 60, asked=3333) == 60  # never more than is owed now
    with pytest.raises(MoneyError) as part:
        payable_amount(60, 10000, asked=80)
    assert part.value.code == "amount_too_small"


def test_an_amount_over_what_a_link_asks_names_the_link_or_the_instalment_not_the_balance() -> None:
    with pytest.raises(MoneyError) as over_instalment:
        payable_amount(3251, 6500, asked=3250, asked_for="instalment")
    assert over_instalment.value.code == "amount_over_instalment"
    assert str(over_instalment.value) == "the amount is more than the $32.50 this instalment asks for"
    with pytest.raises(MoneyError) as over_link:
        payable_amount(1001, 7000, asked=1000, asked_for="link")
    assert (over_link.value.code, str(over_link.value)) == (
        "amount_over_link",
        "the amount is more than the $10.00 this link asks for",
    )
    with pytest.raises(MoneyError) as over_balance:
        payable_amount(7001, 7000, asked=9000, asked_for="link")  # the balance limits, so the balance is named
    assert (over_balance.value.code, str(over_balance.value)) == (
        "amount_over_balance",
        "the amount is more than the $70.00 owed now",
    )


def test_under_stripes_50_cent_minimum_nothing_is_payable_by_card_and_the_answer_says_so() -> None:
    with pytest.raises(MoneyError) as tiny:
        payable_amount(None, 10000, asked=30)
    assert tiny.value.code == "below_card_minimum"
    assert "front desk" in str(tiny.value)


# --- plans against what is owed now -----------------------------------------------------------


def plan_of(
    plan_id: str,
    *amounts: int,
    first: date = date(2027, 4, 1),
    paid: tuple[int, ...] = (),
    charged: int | None = None,
) -> Plan:
    items = tuple(
        Instalment(n + 1, first.replace(month=first.month + n), a, paid[n] if n < len(paid) else 0)
        for n, a in enumerate(amounts)
    )
    return Plan(plan_id, "PAT-A", sum(amounts), "month", items, created_on=DAY, charged_at_start_cents=charged)


def dues(plans: list[Plan]) -> list[list[int]]:
    return [[i.due_cents for i in p.instalments] for p in plans]


def test_a_plan_paid_off_outside_its_links_reads_settled() -> None:
    """$65 in 2 x $32.50; the first paid by its link, the rest on the patient page: nothing is owed now."""
    [plan] = cap_plans([plan_of("PL1", 3250, 3250, paid=(3250,))], owed_now=0)
    assert [(i.paid_cents, i.covered_cents, i.due_cents, i.is_paid) for i in plan.instalments] == [
        (3250, 0, 0, True),
        (0, 3250, 0, True),
    ]
    assert plan.due_cents == 0


def test_a_balance_partly_paid_outside_the_plan_shrinks_the_last_instalments_first() -> None:
    plans = cap_plans([plan_of("PL1", 3333, 3333, 3334)], owed_now=5000)
    assert dues(plans) == [[3333, 1667, 0]]
    assert [i.covered_cents for i in plans[0].instalments] == [0, 1666, 3334]


def test_plans_within_what_is_owed_now_are_unchanged() -> None:
    plans = [plan_of("PL1", 3333, 3333, 3334)]
    assert cap_plans(plans, owed_now=10000) == plans
    assert cap_plans(plans, owed_now=25000) == plans  # a new charge since: the plan still asks what it asked
    assert dues(cap_plans([plan_of("PL1", 3250, 3250)], owed_now=-500)) == [[0, 0]]  # a credit settles all


def test_a_visit_charged_after_a_settled_plan_is_owed_outside_it_and_the_plan_stays_settled() -> None:
    """Payments pay the oldest debt first: the $40 charged after the $65 plan was made is not the plan's."""
    settled = plan_of("PL1", 3250, 3250, paid=(3250,), charged=6500)
    assert dues(cap_plans([settled], owed_now=4000, charged_now=10500)) == [[0, 0]]
    assert dues(cap_plans([settled], owed_now=7250, charged_now=10500)) == [[0, 3250]]  # $32.50 of it still owed
    legacy = plan_of("PL0", 3250, 3250, paid=(3250,))  # made before plans kept what was charged: owed now caps it
    assert dues(cap_plans([legacy], owed_now=4000, charged_now=10500)) == [[0, 3250]]


def test_a_refund_of_the_money_that_settled_a_plan_makes_it_ask_again() -> None:
    lines = [
        line(CHARGE, 6500, n="crown"),
        line(PAYMENT, 3250, n="by-link"),
        line(PAYMENT, 3250, n="on-the-page"),
    ]
    plan = plan_of("PL1", 3250, 3250, paid=(3250,), charged=charged_cents(lines[:1]))
    assert dues(plans_against([plan], lines)) == [[0, 0]]
    assert dues(plans_against([plan], [*lines, line(REFUND, 3250, n="refund")])) == [[0, 3250]]
    assert dues(plans_against([plan], [*lines, line(CHARGE, 4000, n="cleaning")])) == [[0, 0]]


def test_what_is_charged_is_charges_and_positive_adjustments_less_insurance_estimates() -> None:
    lines = [
        line(CHARGE, 10000, n="a"),
        line(ADJUSTMENT, 500, n="b"),
        line(ADJUSTMENT, -2000, n="c"),
        line(REFUND, 700, n="d"),
        line(INSURANCE_ESTIMATE, 3000, claim="CL1", n="e"),
        line(PAYMENT, 900, n="f"),
        line(INSURANCE_PAYMENT, 2500, claim="CL1", n="g"),
    ]
    assert charged_cents(lines) == 7500


def test_a_new_visit_with_insurance_pending_does_not_shrink_an_older_plan_and_payments_pay_older_debt_first() -> None:
    """Alex's crown: $185 with $120 expected from insurance, $65 in a plan. A $40 cleaning with $30 expected from
    insurance adds $10 owed now, all of it new; when insurance pays $100 on the crown the $20 short is owed too,
    and older than the cleaning. Payments pay the older debt first."""
    crown = [line(CHARGE, 18500, n="crown"), line(INSURANCE_ESTIMATE, 12000, claim="CL1", n="crown-est")]
    plan = plan_of("PL1", 3250, 3250, charged=charged_cents(crown))
    visit = [line(CHARGE, 4000, n="cleaning"), line(INSURANCE_ESTIMATE, 3000, claim="CL2", n="cleaning-est")]
    assert dues(plans_against([plan], crown + visit)) == [[3250, 3250]]
    insurance = [line(INSURANCE_PAYMENT, 10000, claim="CL1", n="crown-ins")]
    assert dues(plans_against([plan], crown + visit + insurance)) == [[3250, 3250]]
    # $95 owed, $35 paid at the desk: $60 left, $10 of it the cleaning's, so the crown's plan asks at most $50.
    paid = [line(PAYMENT, 3500, n="desk")]
    assert dues(plans_against([plan], crown + visit + insurance + paid)) == [[3250, 1750]]
    paid += [line(PAYMENT, 5000, n="desk-2")]  # $10 left, all of it the cleaning's
    assert dues(plans_against([plan], crown + visit + insurance + paid)) == [[0, 0]]


def test_payments_settle_the_older_plan_first_and_leave_the_newer_one_what_is_still_owed() -> None:
    """$100 charged, plan A for it; $50 charged, plan B for that; then $120 paid at the desk. The oldest debt is
    paid first: A's $100, then $20 of B's $50, so A is settled and B asks for the $30 still owed, its last
    instalment shrinking first. A $10 charge after B is outside both."""
    a = plan_of("PLA", 5000, 5000, first=date(2027, 4, 1), charged=10000)
    b = plan_of("PLB", 2500, 2500, first=date(2027, 4, 10), charged=15000)
    assert dues(cap_plans([a, b], owed_now=3000, charged_now=15000)) == [[0, 0], [2500, 500]]
    assert dues(cap_plans([a, b], owed_now=3000, charged_now=16000)) == [[0, 0], [2000, 0]]
    assert dues(cap_plans([a, b], owed_now=15000, charged_now=15000)) == [[5000, 5000], [2500, 2500]]


def test_across_two_plans_the_latest_due_instalments_are_settled_first() -> None:
    early = plan_of("PL1", 2000, 2000, first=date(2027, 4, 1))  # April, May
    late = plan_of("PL2", 1000, 1000, first=date(2027, 4, 15))  # April 15, May 15
    assert dues(cap_plans([early, late], owed_now=3500)) == [[2000, 500], [1000, 0]]
    assert dues(cap_plans([early, late], owed_now=0)) == [[0, 0], [0, 0]]


# --- statements -------------------------------------------------------------------------------


def test_a_statement_has_the_opening_balance_the_months_lines_and_the_amount_due() -> None:
    lines = [
        line(CHARGE, 10000, date(2027, 2, 3), n="a"),
        line(PAYMENT, 4000, date(2027, 2, 20), n="b"),
        line(CHARGE, 25000, date(2027, 3, 4), n="c"),
        line(INSURANCE_ESTIMATE, 15000, date(2027, 3, 4), claim="CL9", n="d"),
        line(PAYMENT, 2000, date(2027, 3, 15), pid="K1", n="e"),
        line(REFUND, 500, date(2027, 3, 16), pid="K1", n="f"),
        line(CHARGE, 9900, date(2027, 4, 1), n="g"),  # next month: not on March's statement
    ]
    start, end = parse_month("2027-03")
    s = build_statement("G1", ["PAT-A", "K1"], lines, start, end)
    assert s.opening_cents == 6000
    assert [x.id for x in s.lines] == ["c", "d", "e", "f"]
    assert (s.totals.charges_cents, s.totals.payments_cents, s.totals.refunds_cents) == (25000, 2000, 500)
    assert s.closing_cents == 6000 + 25000 - 2000 + 500
    assert s.closing.pending_insurance_cents == 15000
    assert s.amount_due_cents == 31000 - 15000 + 0  # PAT-A owes 16000 now; K1 has a 1500 credit, not netted
    assert statement_months(lines) == ["2027-04", "2027-03", "2027-02"]


@pytest.mark.parametrize("text", ["2027-13", "27-03", "2027-3", "", "2027-03-01", "1999-01"])
def test_months_look_like_2027_03(text: str) -> None:
    with pytest.raises(ValueError):
        parse_month(text)


# --- pay links --------------------------------------------------------------------------------


def test_a_pay_link_stops_working_once_what_it_was_sent_for_is_paid() -> None:
    link = PayLink("L1", "PAT-A", 5000, created_at=0, expires_at=1000)
    assert link_state(link, 10, owed_now=5000) == LINK_OPEN
    assert link_state(link, 10, owed_now=0) == LINK_PAID  # paid at the desk
    assert link_state(PayLink("L1", "PAT-A", 5000, 0, 1000, paid_cents=5000), 10, owed_now=900) == LINK_PAID
    assert link_state(link, 1000, owed_now=5000) == LINK_EXPIRED
    assert link_amount(link, owed_now=3000) == 3000  # never more than is owed now


def test_an_instalment_link_asks_for_the_instalment() -> None:
    link = PayLink("L1", "PAT-A", 3333, 0, 1000, plan_id="PL1", instalment=1)
    assert link_amount(link, owed_now=10000, instalment_due=3333) == 3333
    assert link_state(link, 10, owed_now=6667, instalment_due=0) == LINK_PAID


# --- Stripe events ----------------------------------------------------------------------------

META = {"practice_id": "P1", "alloc": '{"PAT-A":12500}'}


def pi_succeeded(amount: int = 12500, meta: dict[str, str] | None = None) -> dict[str, Any]:
    return {"id": "pi_1", "object": "payment_intent", "amount": amount, "metadata": meta or META}


def test_events_that_change_nothing_read_as_none() -> None:
    assert observation_from("customer.created", {"id": "cus_1"}) is None
    assert observation_from("payment_intent.payment_failed", {"id": "pi_1", "amount": 100}) is None
    assert observation_from("refund.created", {"id": "re_1", "payment_intent": "pi_1", "status": "pending"}) is None
    assert observation_from("charge.succeeded", {"payment_intent": "pi_1", "status": "failed", "amount": 5}) is None


def test_a_payment_intent_pays_the_ledger_once() -> None:
    seen = observation_from("payment_intent.succeeded", pi_succeeded())
    assert seen is not None
    first = apply_observation(IntentState("pi_1"), seen, [("PAT-A", 12500)], DAY)
    assert first.newly_paid
    assert [(x.kind, x.amount_cents, x.payment_intent_id) for x in first.lines] == [(PAYMENT, 12500, "pi_1")]
    charge = observation_from("charge.succeeded", {"payment_intent": "pi_1", "amount": 12500, "status": "succeeded"})
    assert charge is not None
    again = apply_observation(first.state, charge, [("PAT-A", 12500)], DAY)
    assert again.lines == () and not again.newly_paid


def test_money_with_nowhere_to_go_is_not_written() -> None:
    seen = Observation("pi_1", {}, paid_cents=500)
    assert apply_observation(IntentState("pi_1"), seen, [], DAY).lines == ()


def refund_event(rid: str, cents: int) -> tuple[str, dict[str, Any]]:
    return "refund.created", {"id": rid, "payment_intent": "pi_1", "amount": cents, "status": "succeeded"}


def refunded_charge(total: int, listed: list[tuple[str, int]] | None = None) -> tuple[str, dict[str, Any]]:
    obj: dict[str, Any] = {
        "id": "ch_1",
        "payment_intent": "pi_1",
        "amount": 12500,
        "amount_refunded": total,
        "status": "succeeded",
        "metadata": META,
    }
    if listed is not None:
        obj["refunds"] = {"data": [{"id": r, "amount": c, "status": "succeeded"} for r, c in listed]}
    return "charge.refunded", obj


EVENTS = [
    ("payment_intent.succeeded", pi_succeeded()),
    ("charge.succeeded", {"payment_intent": "pi_1", "amount": 12500, "status": "succeeded", "metadata": META}),
    refund_event("re_1", 3000),
    refunded_charge(3000),
    refund_event("re_2", 2000),
    refunded_charge(5000, [("re_1", 3000), ("re_2", 2000)]),
]


def run(events: list[tuple[str, dict[str, Any]]]) -> tuple[IntentState, list[LedgerLine]]:
    state = IntentState("pi_1")
    written: list[LedgerLine] = []
    for kind, obj in events:
        seen = observation_from(kind, obj)
        assert seen is not None
        applied = apply_observation(state, seen, [("PAT-A", seen.paid_cents)] if seen.paid_cents else [], DAY)
        state = applied.state
        written.extend(applied.lines)
    return state, written


@pytest.mark.parametrize("order", list(itertools.permutations(range(len(EVENTS))))[::37])
def test_every_delivery_order_reaches_the_same_final_state(order: tuple[int, ...]) -> None:
    state, written = run([EVENTS[i] for i in order])
    assert (state.paid_cents, state.refunded_cents) == (12500, 5000)
    assert sum(x.amount_cents for x in written if x.kind == PAYMENT) == 12500
    assert sum(x.amount_cents for x in written if x.kind == REFUND) == 5000
    assert balance_of(written).total_cents == -12500 + 5000


def test_partial_refunds_add_up_and_repeats_count_once() -> None:
    state, written = run(
        [EVENTS[0], refund_event("re_1", 3000), refund_event("re_1", 3000), refund_event("re_2", 2000)]
    )
    assert state.refunded_cents == 5000
    assert [x.amount_cents for x in written if x.kind == REFUND] == [3000, 2000]


def test_refunds_never_exceed_what_was_paid() -> None:
    state, written = run([EVENTS[0], refund_event("re_1", 10000), refund_event("re_2", 9000), refunded_charge(99999)])
    assert state.refunded_cents == 12500
    assert state.refundable_cents == 0
    assert sum(x.amount_cents for x in written if x.kind == REFUND) == 12500


def test_a_refund_seen_before_the_payment_is_written_once_the_payment_arrives() -> None:
    state, written = run([refund_event("re_1", 3000), EVENTS[0]])
    assert (state.paid_cents, state.refunded_cents) == (12500, 3000)
    assert [x.kind for x in written] == [PAYMENT, REFUND]


def test_a_family_payment_is_refunded_from_the_last_member_paid_first() -> None:
    seen = Observation("pi_9", {}, paid_cents=7000)
    paid = apply_observation(IntentState("pi_9"), seen, [("K1", 5000), ("K2", 2000)], DAY)
    refund = apply_observation(paid.state, Observation("pi_9", {}, refund_id="re_1", refund_cents=3000), [], DAY)
    assert [(x.patient_id, x.amount_cents) for x in refund.lines] == [("K2", 2000), ("K1", 1000)]


# --- issue 5: posting dates and statement months agree --------------------------------------------


def test_lines_may_be_posted_from_2000_to_a_year_from_today() -> None:
    assert posting_range(date(2027, 3, 10)) == (date(2000, 1, 1), date(2028, 3, 10))


def test_a_year_from_the_29th_of_february_is_the_28th() -> None:
    assert posting_range(date(2028, 2, 29))[1] == date(2029, 2, 28)


@pytest.mark.parametrize(
    ("day", "ok"),
    [(date(1800, 1, 1), False), (date(1999, 12, 31), False), (date(2000, 1, 1), True), (date(2099, 1, 1), False)],
)
def test_only_days_in_the_posting_range_are_postable(day: date, ok: bool) -> None:
    assert postable_on(day, date(2027, 3, 10)) is ok


def test_every_listed_statement_month_opens_even_with_old_lines_from_before_the_range() -> None:
    lines = [line(CHARGE, 100, on=date(1800, 1, 1)), line(CHARGE, 200, on=date(2027, 3, 1))]
    months = statement_months(lines)
    assert months == ["2027-03"]
    for month in months:
        parse_month(month)


def test_a_pay_link_message_names_the_amount_asked_in_english_and_spanish() -> None:
    en = pay_link_message("en", "sms", "Maple Dental", 1000, "https://x.example.test/p", 30)
    es = pay_link_message("es", "email", "Maple Dental", 1000, "https://x.example.test/p", 30)
    assert "please pay $10.00" in en.text and "balance" not in en.text
    assert "le pide pagar $10.00" in es.text and "saldo" not in es.text + es.subject


def test_paying_twice_what_is_owed_now_while_insurance_is_pending_shows_the_excess_as_a_credit() -> None:
    lines = [
        line(CHARGE, 18500),
        line(INSURANCE_ESTIMATE, 12000, claim="CL1"),
        line(PAYMENT, 6500, n="pi-1"),
        line(PAYMENT, 6500, n="pi-2"),
    ]
    b = balance_of(lines)
    assert (b.owed_now_cents, b.credit_cents, b.pending_insurance_cents) == (0, 6500, 12000)
    assert b.summary.startswith("You have a credit of $65.00. $120.00 is waiting on your insurance")


def test_once_insurance_pays_the_credit_is_still_the_same_65_dollars() -> None:
    lines = [
        line(CHARGE, 18500),
        line(INSURANCE_ESTIMATE, 12000, claim="CL1"),
        line(PAYMENT, 6500, n="pi-1"),
        line(PAYMENT, 6500, n="pi-2"),
        line(INSURANCE_PAYMENT, 12000, claim="CL1"),
    ]
    b = balance_of(lines)
    assert (b.owed_now_cents, b.credit_cents, b.pending_insurance_cents) == (0, 6500, 0)
