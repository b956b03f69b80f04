"""The identity stores' conditional writes against moto's DynamoDB."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.identity.model import OneTimeCode, Session, epoch
from chalicelib.identity.store import DynamoCodes, DynamoRates, DynamoSessions, OtpItem, RateItem, SessionItem
from chalicelib.platform.table import practice_pk

NOW = epoch(datetime(2027, 3, 10, 15, 0, tzinfo=UTC))


def _code(digest: str = "d" * 64) -> OneTimeCode:
    return OneTimeCode(digest, "sms", NOW, NOW + 600)


def test_an_attempt_on_a_missing_code_counts_nothing_and_creates_nothing(aws: None) -> None:
    assert DynamoCodes().count_attempt("P1", "c1", NOW) is None
    assert list(OtpItem.query(practice_pk("P1"))) == []


def test_attempts_are_counted_atomically_up_to_five(aws: None) -> None:
    codes = DynamoCodes()
    codes.put("P1", "c1", _code())
    seen = [codes.count_attempt("P1", "c1", NOW) for _ in range(6)]
    assert [s.attempts if s else None for s in seen] == [1, 2, 3, 4, 5, None]
    stored = codes.get("P1", "c1")
    assert stored is not None and stored.attempts == 5


def test_no_attempt_is_counted_from_the_second_the_code_expires(aws: None) -> None:
    codes = DynamoCodes()
    codes.put("P1", "c1", _code())
    assert codes.count_attempt("P1", "c1", NOW + 599) is not None
    assert codes.count_attempt("P1", "c1", NOW + 600) is None


def test_a_code_is_consumed_once_and_only_if_it_is_still_the_same_code(aws: None) -> None:
    codes = DynamoCodes()
    codes.put("P1", "c1", _code("a" * 64))
    assert codes.consume("P1", "c1", "b" * 64) is False
    assert codes.consume("P1", "c1", "a" * 64) is True
    assert codes.consume("P1", "c1", "a" * 64) is False


def test_a_new_code_replaces_the_old_one_with_fresh_attempts(aws: None) -> None:
    codes = DynamoCodes()
    codes.put("P1", "c1", _code("a" * 64))
    codes.count_attempt("P1", "c1", NOW)
    codes.put("P1", "c1", _code("b" * 64))
    stored = codes.get("P1", "c1")
    assert stored is not None and (stored.digest, stored.attempts) == ("b" * 64, 0)


def _session(last_seen: int = NOW) -> Session:
    return Session("s" * 64, "P1", "H1", ("H1", "K1"), {"H1": "self", "K1": "guardian"}, NOW, last_seen)


def test_a_session_round_trips_and_is_created_once(aws: None) -> None:
    sessions = DynamoSessions()
    sessions.create(_session())
    assert sessions.get("P1", "s" * 64) == _session()
    assert sessions.get("P2", "s" * 64) is None
    with pytest.raises(Exception, match="ConditionalCheckFailed"):
        sessions.create(_session())


def test_touching_refreshes_last_seen_and_the_ttl(aws: None) -> None:
    sessions = DynamoSessions()
    sessions.create(_session())
    assert sessions.touch(_session(), NOW + 600) is True
    item = SessionItem.get(practice_pk("P1"), "SESSION#" + "s" * 64)
    assert (item.last_seen, item.expires_at) == (NOW + 600, NOW + 1500)


def test_touching_a_signed_out_session_does_not_bring_it_back(aws: None) -> None:
    sessions = DynamoSessions()
    sessions.create(_session())
    sessions.delete("P1", "s" * 64)
    assert sessions.touch(_session(), NOW + 60) is False
    assert sessions.get("P1", "s" * 64) is None


def test_touching_an_idle_or_too_old_session_fails(aws: None) -> None:
    sessions = DynamoSessions()
    sessions.create(_session())
    assert sessions.touch(_session(), NOW + 900) is False
    old = Session("o" * 64, "P1", "H1", ("H1",), {}, NOW - 12 * 3600 + 60, NOW)
    sessions.create(old)
    assert sessions.touch(old, NOW + 60) is False


def test_a_rate_counter_stops_at_its_limit_and_expires_with_its_window(aws: None) -> None:
    rates = DynamoRates()
    assert [rates.hit("P1", "contact#x#0", 2, NOW + 900) for _ in range(3)] == [True, True, False]
    item = RateItem.get(practice_pk("P1"), "RATE#contact#x#0")
    assert (item.hits, item.expires_at, item.item_type) == (2, NOW + 900, RateItem)
    assert rates.hit("P1", "contact#x#900", 2, NOW + 1800) is True
