from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

import pytest

from chalicelib.audit.model import AuditEvent
from chalicelib.dashboard.model import FilterError, parse_filter, to_csv
from chalicelib.inbox import model as inbox
from chalicelib.patients.search import plan, tokens_for
from chalicelib.settings.model import Settings, SettingsError, apply_change, changed_sections
from tests import factories

AT = datetime(2027, 3, 10, 14, 0, tzinfo=UTC)


def test_a_patient_is_indexed_by_name_words_phone_forms_and_email() -> None:
    p = dataclasses.replace(factories.patient("K1", phone="+15555550122"), given_name="María José", family_name="Núñez")
    tokens = tokens_for(p)
    assert {"n:maria", "n:jose", "n:nunez", "e:k1@example.test"} <= set(tokens)
    assert {"p:15555550122", "p:5555550122", "p:5550122"} <= set(tokens)


def test_a_query_becomes_prefixes_by_what_it_looks_like() -> None:
    assert plan("a") is None
    assert plan("(555) 555-01") == plan("555 555 01")
    assert plan("(555) 555-01") is not None and plan("(555) 555-01").prefixes == ("p:55555501",)  # type: ignore[union-attr]
    assert plan("Ana@Example") is not None and plan("Ana@Example").prefixes == ("e:ana@example",)  # type: ignore[union-attr]
    two = plan("ana garc")
    assert two is not None and two.prefixes == ("n:garc",) and two.also == ("ana",)
    assert two.matches(["n:ana", "n:garcia"]) and not two.matches(["n:bea", "n:garcia"])


def test_an_inbox_ref_round_trips_and_garbage_is_not_a_ref() -> None:
    item = inbox.Item("abc123", AT, "sms_reply")
    assert inbox.decode_ref(item.ref) == ("2027-03-10T14:00:00Z", "abc123")
    for junk in ("", "!!!", "bm9wZQ", "x" * 300):
        assert inbox.decode_ref(junk) is None


def test_closing_is_idempotent_and_a_closed_item_cannot_be_assigned() -> None:
    item = inbox.close(inbox.Item("a", AT, "sms_reply"), "s1", AT)
    assert item.status == "closed" and inbox.close(item, "s2", AT) == item
    with pytest.raises(inbox.InboxError):
        inbox.assign(item, "s1")


def test_a_reply_needs_text_of_a_sane_length() -> None:
    for bad in ("", "   ", None, 5, "x" * 1001):
        with pytest.raises(inbox.InboxError):
            inbox.valid_reply_text(bad)
    assert inbox.valid_reply_text(" ok ") == "ok"


def test_a_settings_change_keeps_sections_left_out_and_names_the_ones_changed() -> None:
    before = Settings(hours={"mon": [("08:00", "17:00")]})
    after = apply_change(before, {"version": 0, "quiet_hours": {"start": "09:00", "end": "20:00"}})
    assert after.version == 1 and after.hours == before.hours
    assert changed_sections(before, after) == ["quiet_hours"]
    with pytest.raises(SettingsError):
        apply_change(before, {"payments": {"text_to_pay": "yes"}})
    with pytest.raises(SettingsError):
        apply_change(before, {"hours": {"mon": [["17:00", "08:00"]]}})


def test_audit_filters_default_to_thirty_days_and_refuse_more_than_a_year() -> None:
    f = parse_filter({}, date(2027, 3, 10))
    assert f.start == datetime(2027, 2, 9, tzinfo=UTC) and f.end == datetime(2027, 3, 11, tzinfo=UTC)
    with pytest.raises(FilterError):
        parse_filter({"from": "2025-01-01", "to": "2027-01-01"}, date(2027, 3, 10))
    with pytest.raises(FilterError):
        parse_filter({"from": "yesterday"}, date(2027, 3, 10))


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_quoted() -> None:
    event = AuditEvent("e1", AT, "staff", "=HYPERLINK(1)", "patient.read", "K1", "patient:K1", "api")
    text = to_csv([event])
    assert "'=HYPERLINK(1)" in text and text.startswith("at,actor_type")
