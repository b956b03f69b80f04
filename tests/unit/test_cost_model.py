"""The cost model multiplies counts by the unit prices of one settings file, SMS apart."""

from __future__ import annotations

from decimal import Decimal

from bench import deploy
from chalicelib.platform.prices import PRICES

COUNTS = {"appointments_month": 500.0, "early_share": 0.3, "phone_share": 0.9, "email_share": 0.8}


def test_every_unit_price_is_a_positive_decimal() -> None:
    assert PRICES
    assert all(isinstance(v, Decimal) and v > 0 for v in PRICES.values())


def test_sms_is_reported_apart_from_everything_else() -> None:
    cost = deploy.monthly_cost(deploy.monthly_usage(COUNTS))
    parts = {k: v for k, v in cost.items() if k not in {"total_excl_sms", "sms"}}
    assert cost["total_excl_sms"] == sum(parts.values(), Decimal(0))
    assert cost["sms"] > 0


def test_doubling_the_sms_price_changes_only_the_sms_line(monkeypatch: object) -> None:
    before = deploy.monthly_cost(deploy.monthly_usage(COUNTS))
    doubled = {**PRICES, "sms_outbound_part": PRICES["sms_outbound_part"] * 2}
    monkeypatch.setattr(deploy, "PRICES", doubled)  # type: ignore[attr-defined]
    after = deploy.monthly_cost(deploy.monthly_usage(COUNTS))
    assert after["total_excl_sms"] == before["total_excl_sms"]
    assert after["sms"] > before["sms"]


def test_patients_without_a_phone_get_no_text() -> None:
    usage = deploy.monthly_usage({**COUNTS, "phone_share": 0.0})
    assert usage["sms_out_parts"] == 0
    assert usage["emails"] > 0
