"""C10 — cents rounding: amounts are integer cents end to end; Decimal only where text comes in."""

from __future__ import annotations

import ast
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from chalicelib.billing.model import (
    CHARGE,
    LedgerLine,
    MoneyError,
    balance_of,
    display_cents,
    format_cents,
    parse_cents,
    payable_amount,
    split_instalments,
    total_cents,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("19.99", 1999),
        ("8.20", 820),
        ("8.29", 829),
        ("0.57", 57),
        ("100.00", 10000),
        ("8.2", 820),
        ("$1,234.50", 123450),
    ],
)
def test_dollar_text_becomes_exact_cents(text: str, cents: int) -> None:
    assert parse_cents(text) == cents


def test_exact_json_numbers_read_as_decimals_become_exact_cents() -> None:
    assert parse_cents(Decimal("19.99")) == 1999
    assert parse_cents(Decimal("10.500")) == 1050
    assert parse_cents(20) == 2000


@pytest.mark.parametrize("text", ["10.005", "0.001", "19.999", "1e-3"])
def test_sub_cent_amounts_are_refused_not_rounded(text: str) -> None:
    with pytest.raises(MoneyError) as refused:
        parse_cents(text)
    assert refused.value.code in {"sub_cent_amount", "invalid_amount"}


def test_ten_point_zero_zero_five_is_a_sub_cent_amount() -> None:
    with pytest.raises(MoneyError) as refused:
        parse_cents("10.005")
    assert refused.value.code == "sub_cent_amount"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (Decimal("1e999999999"), "invalid_amount"),  # would overflow the multiplication by 100
        (Decimal("-1e999999999"), "invalid_amount"),
        (Decimal("1E-999999999"), "sub_cent_amount"),  # would round to zero in it, and read as "zero"
        (Decimal("1000000.01"), "invalid_amount"),
    ],
)
def test_json_numbers_with_extreme_exponents_are_refused_for_what_they_are(value: Decimal, code: str) -> None:
    with pytest.raises(MoneyError) as refused:
        parse_cents(value, allow_negative=True)
    assert refused.value.code == code
    assert "zero" not in str(refused.value)


@pytest.mark.parametrize("value", [19.99, True, None, "abc", "", "1.2.3", "NaN", "Infinity", "--1", "1,00.00", [1]])
def test_floats_and_anything_that_is_not_a_decimal_amount_are_refused(value: object) -> None:
    with pytest.raises(MoneyError):
        parse_cents(value)


def test_zero_and_negative_are_refused_unless_asked_for() -> None:
    with pytest.raises(MoneyError):
        parse_cents("0")
    with pytest.raises(MoneyError):
        parse_cents("-5.00")
    assert parse_cents("-5.00", allow_negative=True) == -500
    assert parse_cents("0.00", allow_zero=True) == 0


def test_cents_format_back_to_the_same_text() -> None:
    assert [format_cents(c) for c in (1999, 820, 829, 57, -57, 0)] == ["19.99", "8.20", "8.29", "0.57", "-0.57", "0.00"]
    assert display_cents(123456) == "$1,234.56"
    assert display_cents(-57) == "-$0.57"


def test_a_hundred_dollars_in_three_instalments_is_3333_3333_3334() -> None:
    parts = split_instalments(parse_cents("100.00"), 3)
    assert parts == [3333, 3333, 3334]
    assert sum(parts) == 10000


@pytest.mark.parametrize(("total", "count"), [(10001, 7), (1, 1), (99999, 12), (6000, 60), (6059, 60)])
def test_instalments_always_add_up_to_the_total_and_the_last_takes_the_remainder(total: int, count: int) -> None:
    parts = split_instalments(total, count)
    assert sum(parts) == total
    assert len(set(parts[:-1])) <= 1
    assert parts[-1] >= parts[0]


def test_a_thousand_lines_of_ten_cents_total_exactly_ten_thousand_cents() -> None:
    lines = [LedgerLine(f"L{n}", "PAT-A", CHARGE, parse_cents("0.10"), posted_on=date(2027, 3, 1)) for n in range(1000)]
    assert balance_of(lines).total_cents == 10000
    assert sum(0.10 for _ in range(1000)) != 100.0  # what a float sum would have given
    assert total_cents(x.amount_cents for x in lines) == 10000


def test_totals_refuse_floats() -> None:
    with pytest.raises(TypeError):
        total_cents([100, 0.5])  # type: ignore[list-item]


@pytest.mark.parametrize(("balance", "cents"), [("19.99", 1999), ("8.20", 820), ("8.29", 829), ("0.57", 57)])
def test_paying_the_whole_balance_charges_exactly_its_cents(balance: str, cents: int) -> None:
    assert payable_amount(None, parse_cents(balance)) == cents


def test_a_chosen_amount_is_at_least_a_dollar_and_at_most_the_balance() -> None:
    assert payable_amount(100, 1999) == 100
    with pytest.raises(MoneyError) as small:
        payable_amount(99, 1999)
    assert small.value.code == "amount_too_small"
    with pytest.raises(MoneyError) as over:
        payable_amount(2000, 1999)
    assert over.value.code == "amount_over_balance"
    with pytest.raises(MoneyError):
        payable_amount(0, 1999)
    with pytest.raises(MoneyError):
        payable_amount(-100, 1999)
    with pytest.raises(MoneyError) as nothing:
        payable_amount(None, 0)
    assert nothing.value.code == "nothing_owed"


def test_no_billing_module_uses_float() -> None:
    for path in sorted((ROOT / "chalicelib" / "billing").glob("*.py")):
        tree = ast.parse(path.read_text())
        floats = [
            node.lineno
            for node in ast.walk(tree)
            if (isinstance(node, ast.Name) and node.id == "float" and path.name != "model.py")
            or (isinstance(node, ast.Constant) and isinstance(node.value, float))
        ]
        assert floats == [], f"{path.name} uses float at lines {floats}"


@pytest.mark.parametrize("text", ["१०", "١٠", "１０", "$१०.००", "1٫00", "10.٠٠"])
def test_digits_other_than_ascii_are_refused(text: str) -> None:
    with pytest.raises(MoneyError):
        parse_cents(text)


@pytest.mark.parametrize(("text", "cents"), [("$10", 1000), ("$10.50", 1050), (" $1,234.00 ", 123400)])
def test_a_leading_dollar_sign_is_accepted_because_people_type_it(text: str, cents: int) -> None:
    assert parse_cents(text) == cents
