"""Payment-plan instalment reminders through the reminder engine, on in-memory twins."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from chalicelib.billing.model import DueInstalment
from chalicelib.reminders import service
from chalicelib.reminders.instalments import instalment_ref, instalment_touch_id, plan_instalments
from chalicelib.reminders.memory import MemoryInstalments
from chalicelib.reminders.model import (
    DEFAULT_POLICY,
    ContactPrefs,
    InstalmentPolicy,
    PolicyError,
    policy_from_dict,
)
from tests import factories
from tests.unit.test_reminder_service import Practice, utc

PLAN = "a1b2c3d4e5f6a7b8c9d0"


def _practice(at: str, *, language: str = "en", due_on: date = date(2027, 4, 15), **patient: object) -> Practice:
    p = Practice(utc(at))
    person = replace(factories.patient("PAT-A", phone="+15555550123", email="pat.a@example.test"), language=language)
    p.world.add_patient(p.id, replace(person, **patient))  # type: ignore[arg-type]
    billing(p).add(DueInstalment(p.id, PLAN, "PAT-A", 2, 3, due_on, 3333))
    return p


def billing(p: Practice) -> MemoryInstalments:
    assert isinstance(p.ports.instalments, MemoryInstalments)
    return p.ports.instalments


def instalment_touches(p: Practice) -> list[str]:
    return [f"{t.id}@{t.due:%Y-%m-%dT%H:%MZ}:{t.status}" for t in p.store.all_touches(p.id) if t.kind == "instalment"]


def test_the_daily_planner_plans_one_reminder_three_days_before_the_due_date_at_ten_local() -> None:
    p = _practice("2027-04-12T05:40")  # the practice's first sweep runs the planner (01:40 EDT)
    p.sweep(utc("2027-04-12T05:40"))
    assert instalment_touches(p) == [f"PLAN#{PLAN}#2#2027-04-15@2027-04-12T14:00Z:pending"]  # 10:00 EDT


def test_an_instalment_further_ahead_than_the_lead_days_is_not_planned_yet() -> None:
    p = _practice("2027-04-11T05:40")
    p.sweep(utc("2027-04-11T05:40"))
    assert instalment_touches(p) == []


def test_the_touch_id_is_the_plan_the_instalment_number_and_the_due_date() -> None:
    touch_id = instalment_touch_id(PLAN, 2, date(2027, 4, 15))
    assert touch_id == f"PLAN#{PLAN}#2#2027-04-15"
    assert instalment_ref(touch_id) == (PLAN, 2, date(2027, 4, 15))
    assert instalment_ref("RECALL#PAT-A#2027-09-15#1") is None


def test_running_the_planner_again_plans_nothing_twice() -> None:
    p = _practice("2027-04-12T05:40")
    practice, policy = p.practice, p.store.policy(p.id)
    assert plan_instalments(p.ports, practice, policy, utc("2027-04-12T05:40")) == 1  # type: ignore[arg-type]
    assert plan_instalments(p.ports, practice, policy, utc("2027-04-12T05:41")) == 0  # type: ignore[arg-type]
    assert len(instalment_touches(p)) == 1


def test_the_reminder_goes_out_once_and_the_next_days_planner_does_not_plan_it_again() -> None:
    p = _practice("2027-04-12T05:40")
    p.sweep(utc("2027-04-12T05:40"))
    p.sweep(utc("2027-04-12T14:00"))
    assert len(p.emails.sent) == 1
    p.sweep(utc("2027-04-13T05:40"))  # the next local day's planner pass
    p.sweep(utc("2027-04-14T05:40"))
    p.sweep(utc("2027-04-14T14:00"))
    assert len(p.emails.sent) == 1
    assert instalment_touches(p) == [f"PLAN#{PLAN}#2#2027-04-15@2027-04-12T14:00Z:sent"]


def test_the_email_names_the_practice_the_amount_the_instalment_the_due_date_and_carries_one_pay_link() -> None:
    p = _practice("2027-04-12T05:40")
    p.sweep(utc("2027-04-12T05:40"))
    p.sweep(utc("2027-04-12T14:00"))
    [email] = p.emails.sent
    assert email.to == "pat.a@example.test"
    assert "Payment 2 of 3" in email.text and "$33.33" in email.text
    assert "Thursday, April 15" in email.text
    assert "Maple Dental" in email.subject and "(555) 555-0100" in email.text
    [(_, plan, number, url)] = billing(p).minted
    assert (plan, number) == (PLAN, 2)
    assert url in email.text and f'href="{url}"' in email.html
    assert "1 Maple Way, Springfield, NY 10001" in email.text
    assert email.headers["List-Unsubscribe"].startswith("<https://api.example.test/public/unsubscribe/")


def test_the_unsubscribe_link_of_an_instalment_email_is_for_billing_messages() -> None:
    assert service.message_type("instalment") == "billing"


def test_the_lead_days_come_from_the_policy() -> None:
    p = _practice("2027-04-10T05:40")
    body = {k: v for k, v in DEFAULT_POLICY.as_dict().items() if k != "version"}
    p.store.save_policy(
        p.id,
        policy_from_dict({**body, "instalments": {"lead_days": 5, "send_at": "09:15"}}),
        0,
        "s",
        utc("2027-04-01T00:00"),
    )
    p.sweep(utc("2027-04-10T05:40"))
    assert instalment_touches(p) == [f"PLAN#{PLAN}#2#2027-04-15@2027-04-10T13:15Z:pending"]  # 09:15 EDT


def test_a_policy_change_re_times_the_pending_instalment_reminder_and_leaves_a_sent_one_alone() -> None:
    p = _practice("2027-04-12T05:40")
    p.sweep(utc("2027-04-12T05:40"))
    assert instalment_touches(p) == [f"PLAN#{PLAN}#2#2027-04-15@2027-04-12T14:00Z:pending"]
    current = p.store.policy(p.id)
    body = {k: v for k, v in current.as_dict().items() if k != "version"}
    changed = {**body, "version": current.version, "instalments": {"lead_days": 1, "send_at": "09:00"}}
    service.change_policy(p.ports, p.id, changed, "owner-1")
    p.sweep(utc("2027-04-12T05:41"))  # the next sweep re-plans under the new version
    assert instalment_touches(p) == [f"PLAN#{PLAN}#2#2027-04-15@2027-04-14T13:00Z:pending"]  # 09:00 EDT, a day before
    p.sweep(utc("2027-04-12T14:00"))
    assert p.emails.sent == [], "not at the old time"
    p.sweep(utc("2027-04-14T13:00"))
    assert len(p.emails.sent) == 1
    again = p.store.policy(p.id)
    body = {k: v for k, v in again.as_dict().items() if k != "version"}
    service.change_policy(p.ports, p.id, {**body, "version": again.version, "instalments": {"lead_days": 0}}, "o")
    p.sweep(utc("2027-04-14T13:05"))
    assert instalment_touches(p) == [f"PLAN#{PLAN}#2#2027-04-15@2027-04-14T13:00Z:sent"]


@pytest.mark.parametrize(
    "raw",
    [{"lead_days": 31}, {"lead_days": -1}, {"lead_days": "3"}, {"channel": "fax"}, {"send_at": "25:00"}, {"when": 1}],
)
def test_instalment_policy_fields_are_validated(raw: dict[str, object]) -> None:
    with pytest.raises(PolicyError):
        policy_from_dict({"instalments": raw})


def test_the_instalment_policy_defaults_to_three_days_at_ten_by_email_and_round_trips() -> None:
    assert DEFAULT_POLICY.instalments == InstalmentPolicy()
    assert DEFAULT_POLICY.as_dict()["instalments"] == {"lead_days": 3, "send_at": "10:00", "channel": "email"}
    again = policy_from_dict({k: v for k, v in DEFAULT_POLICY.as_dict().items() if k != "version"})
    assert again.instalments == DEFAULT_POLICY.instalments


def test_an_instalment_due_today_is_reminded_now_when_the_planner_finds_it_late() -> None:
    p = _practice("2027-04-15T16:00", due_on=date(2027, 4, 15))  # noon EDT, first sweep of the practice
    p.sweep(utc("2027-04-15T16:00"))
    assert instalment_touches(p) == [f"PLAN#{PLAN}#2#2027-04-15@2027-04-15T16:00Z:sent"]
    assert len(p.emails.sent) == 1


def test_a_late_plan_found_in_quiet_hours_waits_for_the_sending_hours() -> None:
    p = _practice("2027-04-14T05:40", due_on=date(2027, 4, 15))  # 01:40 EDT: quiet
    p.sweep(utc("2027-04-14T05:40"))
    assert instalment_touches(p) == [f"PLAN#{PLAN}#2#2027-04-15@2027-04-14T12:00Z:pending"]  # 08:00 EDT
    p.sweep(utc("2027-04-14T11:59"))
    assert p.emails.sent == []


def test_the_patients_own_sending_hours_re_time_the_reminder_at_send_time() -> None:
    p = _practice("2027-04-12T05:40")
    p.store.save_prefs(
        p.id,
        "PAT-A",
        ContactPrefs(
            sending_hours=replace(
                DEFAULT_POLICY.sending_hours, start=DEFAULT_POLICY.sending_hours.start.replace(hour=11)
            )
        ),
        "PAT-A",
        utc("2027-04-01T00:00"),
    )
    p.sweep(utc("2027-04-12T05:40"))
    p.sweep(utc("2027-04-12T14:00"))  # 10:00 EDT, before the patient's 11:00
    assert p.emails.sent == []
    assert instalment_touches(p) == [f"PLAN#{PLAN}#2#2027-04-15@2027-04-12T15:00Z:pending"]
    p.sweep(utc("2027-04-12T15:00"))
    assert len(p.emails.sent) == 1


def test_an_instalment_paid_before_the_send_is_skipped_and_no_pay_link_is_made() -> None:
    p = _practice("2027-04-12T05:40")
    p.sweep(utc("2027-04-12T05:40"))
    billing(p).pay(p.id, PLAN, 2)
    p.sweep(utc("2027-04-12T14:00"))
    assert p.emails.sent == [] and p.texts.sent == []
    assert billing(p).minted == []
    [touch] = [t for t in p.store.all_touches(p.id) if t.kind == "instalment"]
    assert (touch.status, touch.reason) == ("skipped", "instalment_paid")


def test_sweeps_that_send_nothing_make_no_pay_link() -> None:
    p = _practice("2027-04-12T05:40")
    for at in ("2027-04-12T05:40", "2027-04-12T08:00", "2027-04-12T13:59"):
        p.sweep(utc(at))
    assert billing(p).minted == []


def test_billing_refusing_the_pay_link_skips_the_reminder_with_its_reason() -> None:
    p = _practice("2027-04-12T05:40")
    p.sweep(utc("2027-04-12T05:40"))
    billing(p).refuse = "birth_date_required"
    p.sweep(utc("2027-04-12T14:00"))
    assert p.emails.sent == []
    [touch] = [t for t in p.store.all_touches(p.id) if t.kind == "instalment"]
    assert (touch.status, touch.reason) == ("skipped", "pay_link_birth_date_required")


def test_a_patient_who_declined_billing_emails_gets_the_reminder_by_text_within_two_segments() -> None:
    p = _practice("2027-04-12T05:40")
    p.store.save_prefs(
        p.id, "PAT-A", ContactPrefs(channels={"billing": {"email": False}}), "PAT-A", utc("2027-04-01T00:00")
    )
    p.sweep(utc("2027-04-12T05:40"))
    p.sweep(utc("2027-04-12T14:00"))
    assert p.emails.sent == []
    [text] = p.texts.sent
    assert text.to == "+15555550123"
    assert "payment 2 of 3, $33.33, due April 15" in text.text
    assert billing(p).minted[0][3] in text.text
    from chalicelib.reminders.templates import sms_segments

    assert sms_segments(text.text) <= 2
    [touch] = [t for t in p.store.all_touches(p.id) if t.kind == "instalment"]
    assert "email_declined" in touch.notes


def test_a_patient_who_declined_billing_messages_on_both_channels_gets_none() -> None:
    p = _practice("2027-04-12T05:40")
    prefs = ContactPrefs(channels={"billing": {"email": False, "sms": False}})
    p.store.save_prefs(p.id, "PAT-A", prefs, "PAT-A", utc("2027-04-01T00:00"))
    p.sweep(utc("2027-04-12T05:40"))
    p.sweep(utc("2027-04-12T14:00"))
    assert p.emails.sent == [] and p.texts.sent == [] and billing(p).minted == []
    [touch] = [t for t in p.store.all_touches(p.id) if t.kind == "instalment"]
    assert (touch.status, touch.reason) == ("skipped", "no_channel")


def test_declining_appointment_reminder_emails_does_not_stop_billing_emails() -> None:
    p = _practice("2027-04-12T05:40")
    prefs = ContactPrefs(channels={"appointment_reminders": {"email": False}, "recall": {"email": False}})
    p.store.save_prefs(p.id, "PAT-A", prefs, "PAT-A", utc("2027-04-01T00:00"))
    p.sweep(utc("2027-04-12T05:40"))
    p.sweep(utc("2027-04-12T14:00"))
    assert len(p.emails.sent) == 1


def test_an_email_unsubscribed_from_billing_and_an_opted_out_number_get_nothing() -> None:
    p = _practice("2027-04-12T05:40")
    p.store.unsubscribe_email(p.id, "pat.a@example.test", "billing")
    p.store.set_sms_opt_out(p.id, "+15555550123", True, "STOP", utc("2027-04-01T00:00"))
    p.sweep(utc("2027-04-12T05:40"))
    p.sweep(utc("2027-04-12T14:00"))
    assert p.emails.sent == [] and p.texts.sent == []
    [touch] = [t for t in p.store.all_touches(p.id) if t.kind == "instalment"]
    assert touch.reason == "no_channel"
    assert {"email_unsubscribed", "sms_opted_out"} <= set(touch.notes)


def test_a_spanish_speaking_patient_gets_the_reminder_in_spanish() -> None:
    p = _practice("2027-04-12T05:40", language="es")
    p.sweep(utc("2027-04-12T05:40"))
    p.sweep(utc("2027-04-12T14:00"))
    [email] = p.emails.sent
    assert "El pago 2 de 3" in email.text and "jueves, 15 de abril" in email.text and "$33.33" in email.text
    assert "Darse de baja" in email.text


def test_a_patients_language_preference_wins_over_the_record() -> None:
    p = _practice("2027-04-12T05:40", language="en")
    p.store.save_prefs(p.id, "PAT-A", ContactPrefs(language="es"), "PAT-A", utc("2027-04-01T00:00"))
    p.sweep(utc("2027-04-12T05:40"))
    p.sweep(utc("2027-04-12T14:00"))
    assert "El pago 2 de 3" in p.emails.sent[0].text


def test_an_inactive_patient_gets_no_instalment_reminder() -> None:
    p = _practice("2027-04-12T05:40", active=False)
    p.sweep(utc("2027-04-12T05:40"))
    assert instalment_touches(p) == []


def test_billing_failing_while_planning_does_not_stop_the_sweep() -> None:
    p = _practice("2027-04-12T05:40")

    def broken(*_: object) -> list[DueInstalment]:
        raise RuntimeError("billing is down")

    billing(p).due_between = broken  # type: ignore[method-assign]
    report = p.sweep(utc("2027-04-12T05:40"))
    assert report.practices == 1
    assert instalment_touches(p) == []


def test_an_instalment_reminder_does_not_use_up_the_days_appointment_reminder() -> None:
    p = _practice("2027-04-12T05:40")
    p.book("A1", "PAT-A", utc("2027-04-14T14:00"))  # its 2-day text is due 2027-04-12 14:00Z too
    p.sweep(utc("2027-04-12T05:40"))
    p.sweep(utc("2027-04-12T14:00"))
    assert len(p.emails.sent) == 1  # the instalment
    assert len(p.texts.sent) == 1  # the appointment reminder


def test_a_suppressed_email_address_gets_no_reminder_and_the_text_goes_instead() -> None:
    p = _practice("2027-04-12T05:40")
    p.store.suppress_email(p.id, "pat.a@example.test", "bounce_permanent", utc("2027-04-01T00:00"))
    p.sweep(utc("2027-04-12T05:40"))
    p.sweep(utc("2027-04-12T14:00"))
    assert p.emails.sent == []
    assert [s.to for s in p.texts.sent] == ["+15555550123"]


def test_a_child_without_an_address_of_their_own_has_the_reminder_sent_to_the_guardian() -> None:
    p = _practice("2027-04-12T05:40", phone="", email="")
    p.world.add_guardian(p.id, factories.guardian("G1", ("PAT-A",)))
    p.sweep(utc("2027-04-12T05:40"))
    p.sweep(utc("2027-04-12T14:00"))
    assert [e.to for e in p.emails.sent] == ["g1@example.test"]
