"""A patient's contact record (addresses with opt-out and suppression state, preferences) and the
changes patients, guardians and staff make to it, including the one-click email unsubscribe."""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any

from chalicelib.patients.model import Patient
from chalicelib.platform import signed
from chalicelib.platform.errors import NotFound, Unprocessable
from chalicelib.practices.model import Practice
from chalicelib.reminders.model import (
    EMAIL,
    MESSAGE_TYPES,
    SMS,
    PolicyError,
    e164,
    normal_email,
    prefs_from_dict,
)
from chalicelib.reminders.ports import Ports
from chalicelib.reminders.service import UNSUBSCRIBE_PURPOSE, address_digest, contact_addresses, refresh_patient
from chalicelib.reminders.templates import display_phone


def send_block_reason(ports: Ports, practice_id: str, patient_id: str, channel: str, address: str, kind: str) -> str:
    """Why a message of type ``kind`` must not go to ``address`` now ("" when it may): the number texted
    STOP or the carrier has it opted out, the email bounced, complained or unsubscribed from ``kind``, or
    the patient turned ``kind`` off on that channel. For one-off sends by staff (inbox replies, pay links);
    the sweep decides the same things per touch. Addresses are matched as stored: E.164, lower-case email."""
    normal = e164(address) if channel == SMS else normal_email(address)
    reason = ports.store.address(practice_id, normal or address).blocked_reason(kind)
    if reason:
        return reason
    if patient_id and kind in MESSAGE_TYPES and not ports.store.prefs(practice_id, patient_id).allows(kind, channel):
        return f"{kind}_{'texts' if channel == SMS else 'emails'}_off"
    return ""


def _status(channel: str, state: Any) -> str:
    if channel == SMS:
        if state.sms_opt_out:
            return "opted_out"
        if state.sms_blocked:
            return "sms_blocked_opted_out"
        return "active"
    return "suppressed" if state.email_suppressed else "active"


_LABELS = {
    "opted_out": {"en": "Opted out of texts", "es": "No recibe mensajes de texto"},
    "sms_blocked_opted_out": {"en": "SMS blocked (opted out)", "es": "SMS bloqueado (baja)"},
    "suppressed": {"en": "Email suppressed", "es": "Correo suspendido"},
    "active": {"en": "Active", "es": "Activo"},
}


def contact_record(ports: Ports, practice: Practice, patient: Patient) -> dict[str, Any]:
    """What staff and the patient see: each address with its state, the preferences, and how to opt back in."""
    prefs = ports.store.prefs(practice.id, patient.id)
    own = {e164(patient.phone), normal_email(patient.email)}
    number = display_phone(str(practice.settings.get("sms_number") or practice.phone))
    addresses = []
    for state in contact_addresses(ports, practice.id, patient):
        status = _status(state.channel, state)
        entry: dict[str, Any] = {
            "address": state.address,
            "channel": state.channel,
            "relation": "self" if state.address in own else "guardian",
            "status": status,
            "label": _LABELS[status]["en"],
        }
        if state.channel == SMS:
            entry["sms_opt_out"] = state.sms_opt_out
            entry["sms_blocked_opted_out"] = state.sms_blocked
            if status != "active":
                entry["opt_in_help"] = f"To get texts again, text START to {number}."
        else:
            entry["email_suppressed"] = state.email_suppressed
            entry["suppressed_reason"] = state.suppressed_reason
            entry["soft_bounces"] = state.soft_bounces
            entry["unsubscribed"] = sorted(state.unsubscribed)
        addresses.append(entry)
    hours = prefs.sending_hours or ports.store.policy(practice.id).sending_hours
    return {
        "patient_id": patient.id,
        "language": prefs.language or patient.language or "en",
        "zone": patient.zone or practice.zone,
        "zone_is_patients": bool(patient.zone),
        "addresses": addresses,
        "preferences": prefs.as_dict(),
        # What the sweep uses: the patient's own sending hours, else the practice's policy (08:00-21:00 by default).
        "sending_hours": hours.as_dict(),
        "sending_hours_source": "patient" if prefs.sending_hours else "practice",
        "sms_number": number,
        "message_types": list(MESSAGE_TYPES),
    }


def update_preferences(
    ports: Ports, practice: Practice, patient: Patient, raw: dict[str, Any], by: str
) -> dict[str, Any]:
    """Apply a preferences change (fields left out stay as they are) and re-plan upcoming touches.

    A ``patient_id`` in the body is ignored: the path (checked against the caller) says whose it is.
    Turning email back on for a type also lifts that type's unsubscribe on the patient's own address.
    """
    body = {k: v for k, v in raw.items() if k != "patient_id"}
    current = ports.store.prefs(practice.id, patient.id)
    try:
        prefs = prefs_from_dict(body, current)
    except PolicyError as exc:
        raise Unprocessable(str(exc), code="invalid_preferences") from exc
    ports.store.save_prefs(practice.id, patient.id, prefs, by, ports.clock.now())
    email = normal_email(patient.email)
    if email:
        for message_type, choice in (body.get("channels") or {}).items():
            if choice.get(EMAIL) is True:
                ports.store.resubscribe_email(practice.id, email, message_type)
    refresh_patient(ports, practice.id, patient.id)
    return contact_record(ports, practice, patient)


def unsubscribe(ports: Ports, token: str, now: datetime) -> tuple[str, str]:
    """Apply an unsubscribe link (RFC 8058 one-click or a person's click); returns (practice id, type).
    Clicking twice is harmless. A bad or foreign token is a 404, like anything missing."""
    key = ports.signing_key()
    try:
        claims = signed.verify(key, token, UNSUBSCRIBE_PURPOSE, int(now.timestamp()))
    except signed.BadToken as exc:
        raise NotFound("this unsubscribe link is not valid") from exc
    practice_id, patient_id = str(claims.get("p", "")), str(claims.get("t", ""))
    message_type, digest = str(claims.get("m", "")), str(claims.get("h", ""))
    patient = ports.patients.get(practice_id, patient_id)
    if patient is None or message_type not in MESSAGE_TYPES:
        raise NotFound("this unsubscribe link is not valid")
    candidates = [normal_email(patient.email)] + [
        normal_email(link.address) for link in ports.patients.links_for_patient(practice_id, patient_id)
    ]
    for email in filter(None, candidates):
        if hmac.compare_digest(address_digest(key, email), digest):
            ports.store.unsubscribe_email(practice_id, email, message_type)
            return practice_id, message_type
    raise NotFound("this unsubscribe link is not valid")
