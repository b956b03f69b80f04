"""1,000 practices' peak minute stays well inside one partition's limits on every key."""

from __future__ import annotations

import pytest

from bench import deploy

COUNTS = {"appointments_month": 540.0, "early_share": 0.32, "phone_share": 1.0, "email_share": 0.8}


def test_the_hottest_key_of_a_thousand_practices_uses_at_most_a_tenth_of_its_partition() -> None:
    _, share = deploy.peak_minute_heat(COUNTS, practices=1000)
    assert share <= 0.10


def test_per_practice_keys_do_not_heat_up_with_more_practices() -> None:
    # Only the practice list is shared; every other key carries one practice's load, so the hottest
    # key of a thousand practices is either that list or a practice's own key, exactly as hot as with ten.
    key_small, share_small = deploy.peak_minute_heat(COUNTS, practices=10)
    key_large, share_large = deploy.peak_minute_heat(COUNTS, practices=1000)
    assert key_large == "GSI1:PRACTICES" or share_large == pytest.approx(share_small)
    assert share_large < 0.10
    assert key_small.startswith(("PK:", "GSI1:", "GSI2:"))
