"""Two-way SMS: what to do with a text a patient (or guardian) sends to a practice's number.

SMS two-way messaging publishes each inbound text to an SNS topic as JSON with ``originationNumber``,
``destinationNumber``, ``messageBody`` and ``inboundMessageId``. Rules (DESIGN.md, case C11):
- Numbers are matched in E.164 whatever format a record holds them in.
- The practice is the one whose SMS number received the text; opt-out state is kept per practice and
  per number, so a guardian's STOP covers every dependant reached at that number, and another
  practice's patients with the same number are not touched by it.
- STOP and the carrier words opt out; CANCEL is one of them and never cancels an appointment: staff
  get a follow-up item instead. START/UNSTOP opt back in. HELP answers with the practice's name and
  phone. A yes-like reply confirms the next booked appointment of the people at that number.
  Anything else goes to the staff inbox, flagged "possible opt-out" when it reads like one.
- SNS delivers at least once: a message id seen before is ignored.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chalicelib.adapters.messaging import Sms
from chalicelib.appointments.model import Appointment
from chalicelib.patients.model import ContactLink, Patient
from chalicelib.platform.observability import logger
from chalicelib.practices.model import Practice
from chalicelib.reminders.model import (
    CONFIRM_REPLY,
    HELP,
    OPT_IN,
    OPT_OUT,
    POSSIBLE_OPT_OUT,
    REMINDABLE,
    InboxEntry,
    classify_inbound,
    e164,
    local_day,
    normalise_keyword,
    stored_forms,
)
from chalicelib.reminders.ports import Ports
from chalicelib.reminders.templates import REPLY_CONFIRMED, REPLY_HELP, REPLY_OPT_IN, MessageFacts, render

CONFIRM_WINDOW = timedelta(days=21)


@dataclass
class InboundResult:
    outcome: str  # the intent acted on, or why nothing was done
    practice_id: str = ""
    patient_ids: list[str] = field(default_factory=list)
    confirmed: list[str] = field(default_factory=list)
    replied: bool = False


def practice_for_number(ports: Ports, number: str) -> Practice | None:
    """The practice whose SMS number (settings ``sms_number``, else its phone) is ``number``.
    Practices are few per deployment: one paged Query of the practice list."""
    for practice_id in ports.practices.all_ids():
        practice = ports.practices.get(practice_id)
        if practice is not None and e164(str(practice.settings.get("sms_number") or practice.phone)) == number:
            return practice
    return None


def linked(ports: Ports, practice_id: str, number: str) -> list[ContactLink]:
    found: dict[str, ContactLink] = {}
    for form in stored_forms(number):
        for link in ports.patients.links_for_address(practice_id, form):
            found.setdefault(link.patient_id, link)
    return list(found.values())


def handle_inbound_sms(ports: Ports, message: dict[str, Any]) -> InboundResult:  # noqa: PLR0911 - one exit per keyword
    now = ports.clock.now()
    sender = e164(str(message.get("originationNumber", "")))
    receiver = e164(str(message.get("destinationNumber", "")))
    if not sender or not receiver:
        return InboundResult("unreadable")
    practice = practice_for_number(ports, receiver)
    if practice is None:
        logger.warning("inbound SMS to a number no practice holds")
        return InboundResult("unknown_number")
    message_id = str(message.get("inboundMessageId") or message.get("messageId") or "")
    if message_id and not ports.store.first_sight(practice.id, message_id, now):
        return InboundResult("duplicate", practice.id)
    body = str(message.get("messageBody", ""))[:1600]
    links = linked(ports, practice.id, sender)
    patient_ids = [link.patient_id for link in links]
    intent = classify_inbound(body)
    result = InboundResult(intent, practice.id, patient_ids)
    logger.info("inbound SMS", extra={"practice_id": practice.id, "intent": intent, "patients": len(patient_ids)})

    if intent == OPT_OUT:
        word = normalise_keyword(body)
        ports.store.set_sms_opt_out(practice.id, sender, True, word, now)
        if word == "cancel":
            _inbox(
                ports,
                practice.id,
                now,
                "opt_out_follow_up",
                sender,
                patient_ids,
                "Texted CANCEL: that is the carrier opt-out word, so texts to this number have stopped. "
                "No appointment was cancelled. Call to ask whether they meant to cancel a visit.",
            )
        return result
    if intent == OPT_IN:
        ports.store.set_sms_opt_out(practice.id, sender, False, normalise_keyword(body), now)
        try:
            ports.carrier.opt_in(sender)
        except Exception:  # SNS allows one opt-in per 30 days; our own state is what we send by
            logger.warning("carrier opt-in refused", extra={"practice_id": practice.id})
        result.replied = _reply(ports, practice, sender, REPLY_OPT_IN, links, now)
        return result
    if intent == HELP:
        result.replied = _reply(ports, practice, sender, REPLY_HELP, links, now, even_if_opted_out=True)
        return result
    if intent == CONFIRM_REPLY:
        confirmed = _confirm_next(ports, practice, links, now)
        result.confirmed = [a.id for a in confirmed]
        if confirmed:
            result.replied = _reply(ports, practice, sender, REPLY_CONFIRMED, links, now, confirmed[0])
            return result
        _inbox(ports, practice.id, now, "sms_reply", sender, patient_ids, body)
        result.outcome = "nothing_to_confirm"
        return result
    _inbox(
        ports,
        practice.id,
        now,
        POSSIBLE_OPT_OUT if intent == POSSIBLE_OPT_OUT else "sms_reply",
        sender,
        patient_ids,
        body,
    )
    return result


def _inbox(
    ports: Ports, practice_id: str, now: datetime, kind: str, address: str, patient_ids: list[str], text: str
) -> None:
    ports.store.add_inbox(
        practice_id,
        InboxEntry(
            id=uuid.uuid4().hex[:16],
            at=now,
            kind=kind,
            address=address,
            patient_ids=tuple(patient_ids),
            text=text,
        ),
    )


def _confirm_next(ports: Ports, practice: Practice, links: list[ContactLink], now: datetime) -> list[Appointment]:
    """Confirm the soonest booked appointment of the people at this number, and theirs on the same day."""
    upcoming: list[Appointment] = []
    for link in links:
        upcoming += [
            a
            for a in ports.appointments.for_patient(practice.id, link.patient_id, now, now + CONFIRM_WINDOW)
            if a.status in REMINDABLE and a.start > now
        ]
    unconfirmed = sorted((a for a in upcoming if a.status == "booked"), key=lambda a: a.start)
    if not unconfirmed:
        return []
    day = local_day(unconfirmed[0].start, practice.zone)
    confirmed = []
    for appointment in unconfirmed:
        if local_day(appointment.start, practice.zone) != day:
            continue
        done = ports.confirmer.confirm(practice.id, appointment.id, practice.zone, now, "sms")
        if done is not None:
            confirmed.append(done)
    return confirmed


def _reply(
    ports: Ports,
    practice: Practice,
    number: str,
    kind: str,
    links: list[ContactLink],
    now: datetime,
    appointment: Appointment | None = None,
    even_if_opted_out: bool = False,
) -> bool:
    state = ports.store.address(practice.id, number)
    if state.sms_opt_out and not even_if_opted_out:
        return False
    patient: Patient | None = None
    if appointment is not None:
        patient = ports.patients.get(practice.id, appointment.patient_id)
    elif links:
        patient = ports.patients.get(practice.id, links[0].patient_id)
    language = patient.language if patient else "en"
    facts = MessageFacts(
        kind=kind,
        language=language,
        practice_name=practice.name,
        practice_phone=practice.phone,
        practice_address=practice.address,
        zone=practice.zone,
        first_name=patient.given_name if patient else "",
        when=appointment.start if appointment else None,
    )
    text = render(facts, "sms").text
    origination = e164(str(practice.settings.get("sms_number") or practice.phone))
    try:
        ports.sms.send(Sms(to=number, text=text, origination=origination))
    except Exception:
        logger.warning("inbound reply failed", extra={"practice_id": practice.id})
        return False
    return True
