"""Inbound SMS keywords and what they change (case C11), on in-memory twins."""

from __future__ import annotations

import pytest

from chalicelib.reminders.inbound import handle_inbound_sms
from chalicelib.reminders.model import (
    CONFIRM_REPLY,
    HELP,
    OPT_IN,
    OPT_OUT,
    OTHER,
    POSSIBLE_OPT_OUT,
    classify_inbound,
)
from tests import factories
from tests.unit.test_reminder_service import Practice, utc

PAT_B = "+15555550123"


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("Stop ", OPT_OUT),
        ("STOP", OPT_OUT),
        ("stop.", OPT_OUT),
        ("cancel", OPT_OUT),
        ("STOPALL", OPT_OUT),
        ("Unsubscribe", OPT_OUT),
        ("end", OPT_OUT),
        ("quit", OPT_OUT),
        ("opt out", OPT_OUT),
        ("REVOKE", OPT_OUT),
        ("start", OPT_IN),
        ("UNSTOP", OPT_IN),
        ("help", HELP),
        ("c", CONFIRM_REPLY),
        ("C", CONFIRM_REPLY),
        ("Yes!", CONFIRM_REPLY),
        ("ok", CONFIRM_REPLY),
        ("👍", CONFIRM_REPLY),
        ("👍🏽", CONFIRM_REPLY),
        ("Sí", CONFIRM_REPLY),
        ("please stop texting me thanks", POSSIBLE_OPT_OUT),
        ("don't text me anymore", POSSIBLE_OPT_OUT),
        ("no me envíen más mensajes", POSSIBLE_OPT_OUT),
        ("Can I come at 3 instead?", OTHER),
        ("yes but can we move it to Friday", OTHER),
    ],
)
def test_inbound_texts_are_read_as_whole_message_keywords(text: str, intent: str) -> None:
    assert classify_inbound(text) == intent


def _practice() -> Practice:
    p = Practice(utc("2027-04-01T15:00"))
    p.patient("PAT-B", phone="(555) 555-0123", email="pat.b@example.test")
    return p


def _text(p: Practice, body: str, sender: str = PAT_B, to: str = "+15555550100", mid: str = "") -> str:
    message = {"originationNumber": sender, "destinationNumber": to, "messageBody": body, "inboundMessageId": mid}
    return handle_inbound_sms(p.ports, message).outcome


def test_stop_from_a_number_stored_in_another_format_opts_out_its_e164_form() -> None:
    p = _practice()
    assert _text(p, "Stop ") == OPT_OUT
    assert p.store.address(p.id, PAT_B).sms_opt_out
    assert p.texts.sent == []  # the carrier answers STOP; we send nothing to an opted-out number


def test_cancel_is_an_opt_out_plus_a_staff_task_and_the_visit_stays_booked() -> None:
    p = _practice()
    p.book("A1", "PAT-B", utc("2027-04-20T14:00"))
    _text(p, "cancel")
    assert p.world.appointments[(p.id, "A1")].status == "booked"
    assert p.store.address(p.id, PAT_B).sms_opt_out
    (task,) = p.store.inbox(p.id)
    assert task.kind == "opt_out_follow_up" and task.patient_ids == ("PAT-B",)


def test_a_guardian_number_opts_out_for_every_child() -> None:
    p = _practice()
    for kid in ("K1", "K2"):
        p.patient(kid, phone="", email="")
    p.world.add_guardian(p.id, factories.guardian("G1", ("K1", "K2")))
    p.book("K1-1", "K1", utc("2027-04-20T14:00"))
    p.book("K2-1", "K2", utc("2027-04-20T15:00"))
    _text(p, "STOP", sender="+15555550140")
    p.sweep(utc("2027-04-18T14:00"))
    p.sweep(utc("2027-04-18T15:00"))
    assert p.texts.sent == []
    assert {e.to for e in p.emails.sent} == {"g1@example.test"}


def test_an_opt_out_at_one_practice_leaves_another_practice_alone() -> None:
    p = _practice()
    p.world.add_practice(factories.birch())
    p.world.add_patient("P2", factories.patient("PAT-B2", phone=PAT_B))
    _text(p, "STOP")
    assert p.store.address("P1", PAT_B).sms_opt_out
    assert not p.store.address("P2", PAT_B).sms_opt_out


def test_yes_confirms_the_soonest_booked_visit_and_replies_in_the_patients_time() -> None:
    p = _practice()
    p.book("A1", "PAT-B", utc("2027-04-20T14:00"))
    p.book("A2", "PAT-B", utc("2027-04-27T14:00"))
    p.clock.at = utc("2027-04-18T15:00")
    assert _text(p, "Yes") == CONFIRM_REPLY
    assert p.world.appointments[(p.id, "A1")].status == "confirmed"
    assert p.world.appointments[(p.id, "A2")].status == "booked"
    (reply,) = p.texts.sent
    assert reply.to == PAT_B and "confirmed for Tuesday, April 20, 10:00 AM EDT" in reply.text


def test_a_yes_with_nothing_to_confirm_goes_to_staff() -> None:
    p = _practice()
    assert _text(p, "ok") == "nothing_to_confirm"
    assert [e.kind for e in p.store.inbox(p.id)] == ["sms_reply"]


def test_help_is_answered_even_after_an_opt_out() -> None:
    p = _practice()
    _text(p, "STOP")
    _text(p, "HELP")
    (reply,) = p.texts.sent
    assert "Maple Dental" in reply.text and "(555) 555-0100" in reply.text


def test_start_opts_back_in_and_says_so() -> None:
    p = _practice()
    _text(p, "STOP")
    _text(p, "START")
    assert not p.store.address(p.id, PAT_B).sms_opt_out
    assert "appointment texts again" in p.texts.sent[0].text


def test_a_text_to_a_number_no_practice_holds_changes_nothing() -> None:
    p = _practice()
    assert _text(p, "STOP", to="+15555550999") == "unknown_number"
    assert not p.store.address(p.id, PAT_B).sms_opt_out


def test_a_redelivered_text_is_handled_once() -> None:
    p = _practice()
    _text(p, "running 10 minutes late", mid="m-1")
    assert _text(p, "running 10 minutes late", mid="m-1") == "duplicate"
    assert len(p.store.inbox(p.id)) == 1
