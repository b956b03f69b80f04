"""Signed tokens (chalicelib/platform/signed.py) and the appointment links built on them."""

from __future__ import annotations

import pytest

from chalicelib.platform import signed

KEY = b"unit-test-key"
NOW = 1_800_000_000


def test_a_token_verifies_for_its_purpose_and_returns_its_claims() -> None:
    token = signed.sign(KEY, "appt.confirm", {"p": "P1", "a": "A1"}, expires_at=NOW + 60)
    claims = signed.verify(KEY, token, "appt.confirm", NOW)
    assert claims == {"u": "appt.confirm", "p": "P1", "a": "A1", "x": NOW + 60}


def test_a_token_for_one_purpose_never_verifies_for_another() -> None:
    token = signed.sign(KEY, "appt.confirm", {"a": "A1"}, expires_at=NOW + 60)
    with pytest.raises(signed.BadToken) as err:
        signed.verify(KEY, token, "appt.cancel", NOW)
    assert err.value.reason == signed.WRONG_PURPOSE


def test_an_expired_token_is_refused_but_says_what_it_was_about() -> None:
    token = signed.sign(KEY, "appt.confirm", {"a": "A1"}, expires_at=NOW)
    with pytest.raises(signed.BadToken) as err:
        signed.verify(KEY, token, "appt.confirm", NOW)
    assert err.value.reason == signed.EXPIRED
    assert err.value.claims["a"] == "A1"


def test_a_token_signed_with_another_key_or_edited_is_refused() -> None:
    token = signed.sign(KEY, "appt.confirm", {"a": "A1"})
    with pytest.raises(signed.BadToken) as err:
        signed.verify(b"other-key", token, "appt.confirm", NOW)
    assert err.value.reason == signed.BAD_SIGNATURE
    forged = signed.sign(b"other-key", "appt.confirm", {"a": "A2"}).split(".")[0] + "." + token.split(".")[1]
    with pytest.raises(signed.BadToken):
        signed.verify(KEY, forged, "appt.confirm", NOW)


@pytest.mark.parametrize("garbage", ["", ".", "a.b.c", "x" * 2000, "Ü.Ü", "abc", "%00.%00", "e30.e30"])
def test_garbage_is_a_malformed_or_bad_token_never_a_crash(garbage: str) -> None:
    with pytest.raises(signed.BadToken):
        signed.verify(KEY, garbage, "appt.confirm", NOW)


def test_a_token_is_url_path_safe() -> None:
    token = signed.sign(KEY, "appt.confirm", {"p": "P1", "a": "A1/+="}, expires_at=NOW)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
