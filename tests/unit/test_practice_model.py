from __future__ import annotations

from datetime import date

import pytest

from chalicelib.patients.model import Patient, guardian_links_for
from chalicelib.practices.model import valid_hours, valid_zone
from tests import factories


def test_a_known_iana_zone_is_accepted_and_an_unknown_one_is_refused() -> None:
    assert valid_zone("America/Denver") == "America/Denver"
    with pytest.raises(ValueError, match="unknown time zone"):
        valid_zone("America/Springfield")
    with pytest.raises(ValueError):
        valid_zone("../../etc/passwd")


def test_opening_hours_must_be_clock_times_that_end_after_they_start() -> None:
    assert valid_hours({"mon": [("08:00", "12:00"), ("13:00", "17:00")]})["mon"][1] == ("13:00", "17:00")
    with pytest.raises(ValueError):
        valid_hours({"mon": [("17:00", "08:00")]})
    with pytest.raises(ValueError):
        valid_hours({"funday": [("08:00", "12:00")]})
    with pytest.raises(ValueError):
        valid_hours({"tue": [("8am", "12:00")]})


def test_a_patient_is_a_minor_until_their_eighteenth_birthday() -> None:
    kid = Patient("K1", "Kim", "Guard", birth_date=date(2009, 6, 1))
    assert kid.is_minor_on(date(2027, 5, 31))
    assert not kid.is_minor_on(date(2027, 6, 1))


def test_a_guardian_with_two_children_gets_a_link_per_child_and_channel() -> None:
    links = guardian_links_for(factories.guardian())
    assert {(link.patient_id, link.channel) for link in links} == {
        ("K1", "sms"),
        ("K2", "sms"),
        ("K1", "email"),
        ("K2", "email"),
    }
    assert {link.relation for link in links} == {"guardian"}
