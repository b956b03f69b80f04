"""A patient's own data, for the patient (or their guardian) to download: a FHIR R4 Bundle, or CSV files in a
zip. Pure: no AWS imports; ``fhir.resources`` (heavy) is imported inside ``fhir_json`` only, so the API's
cold start never pays for it (tests/unit/test_domain_purity.py checks the app loads without it).

The Bundle (type ``collection``) holds, for one patient:
- Organization: the practice.
- Patient: name, birth date, phone and email (with SMS opt-out / email suppression extensions), the
  preferred language, the zone (the standard timezone extension) and the contact preferences (a Chairside
  extension: channels per message type, sending hours).
- RelatedPerson: one per guardian (or contact holder) linked to the patient.
- Appointment: status, type, start and end in the practice's offset, the provider as a participant's display.
- Account: the patient's account, its balance in a Chairside extension.
- ChargeItem: charges and adjustments (price as Money, USD).
- PaymentReconciliation: payments, insurance payments, refunds and insurance estimates (an estimate is a
  draft), linked to the Patient by a Chairside extension (the resource has no subject).
- DocumentReference: x-rays and photos, metadata only (kind, date taken, content type, size): no image
  bytes and no URL.
- Communication: reminders and notices sent; texts from the patient and the staff's replies, with their words.

Resource ids are UUIDs derived from (practice, kind, Chairside id), so two exports of the same data agree;
Chairside's own ids travel as identifiers, and references use each entry's ``urn:uuid:`` fullUrl.
The CSV zip holds one file per kind (patient, guardians, appointments, ledger, images, messages, preferences,
addresses) and a README; where an import format exists its column names are used (docs/import.md,
docs/billing.md), so the files read back in.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.appointments.model import (
    ARRIVED,
    BOOKED,
    CANCELLED,
    COMPLETED,
    CONFIRMED,
    NO_SHOW,
    REQUESTED,
    Appointment,
)
from chalicelib.billing.model import (
    ADJUSTMENT,
    CHARGE,
    INSURANCE_ESTIMATE,
    INSURANCE_PAYMENT,
    PAYMENT,
    REFUND,
    LedgerLine,
    balance_of,
    format_cents,
    ordered,
)
from chalicelib.images.model import KIND_LABELS, Image
from chalicelib.inbox.model import Item
from chalicelib.patients.model import ContactLink, Guardian, Patient
from chalicelib.practices.model import Practice
from chalicelib.reminders.model import CHANNELS, EMAIL, MESSAGE_TYPES, SENT, SMS, AddressState, ContactPrefs, Touch

FHIR = "fhir"
CSV = "csv"
FORMATS = (FHIR, CSV)

BASE = "https://fhir.chairside.example"  # .example is reserved: these names are Chairside's own, not a server
EXT = f"{BASE}/StructureDefinition/"
ID = f"{BASE}/id/"
TIMEZONE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/timezone"
ROLE_CODES = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
MODES = "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode"
BCP47 = "urn:ietf:bcp:47"
CURRENCY = "USD"
_E164 = re.compile(r"\+\d{8,15}")
_NAMESPACE = uuid.UUID("6f6d8a55-3f7e-4a39-9d1c-8f1c2b4d5e60")

# Inbox items whose text the patient wrote (the rest are staff tasks about them).
FROM_PATIENT = frozenset({"sms_reply", "possible_opt_out"})

_APPOINTMENT_STATUS = {
    REQUESTED: "proposed",
    BOOKED: "booked",
    CONFIRMED: "booked",
    ARRIVED: "arrived",
    COMPLETED: "fulfilled",
    CANCELLED: "cancelled",
    NO_SHOW: "noshow",
}
_CSV_STATUS = {
    REQUESTED: "Requested",
    BOOKED: "Scheduled",
    CONFIRMED: "Scheduled",
    ARRIVED: "Arrived",
    COMPLETED: "Complete",
    CANCELLED: "Cancelled",
    NO_SHOW: "Broken",
}
_LEDGER_WORDS = {
    CHARGE: "Charge",
    ADJUSTMENT: "Adjustment",
    PAYMENT: "Payment",
    INSURANCE_PAYMENT: "Insurance payment",
    INSURANCE_ESTIMATE: "Insurance estimate",
    REFUND: "Refund",
}
_TOUCH_WORDS = {
    "reminder": "Appointment reminder",
    "cancelled": "Cancellation notice",
    "moved": "Rescheduling notice",
    "recall": "Recall (time for a check-up)",
    "survey": "Feedback survey",
    "referral_thanks": "Referral thank-you",
}
_RELATIONSHIP_CODES = {"parent": "PRN", "guardian": "GUARD"}


@dataclass(frozen=True)
class ExportData:
    """Everything one export holds, read for one patient of one practice."""

    practice: Practice
    patient: Patient
    generated_at: datetime
    guardians: Sequence[Guardian] = ()
    links: Sequence[ContactLink] = ()  # every contact that may act for the patient (guardians' included)
    appointments: Sequence[Appointment] = ()
    type_names: dict[str, str] = field(default_factory=dict)
    provider_names: dict[str, str] = field(default_factory=dict)
    ledger: Sequence[LedgerLine] = ()
    images: Sequence[Image] = ()
    sent: Sequence[Touch] = ()
    received: Sequence[Item] = ()
    prefs: ContactPrefs = field(default_factory=ContactPrefs)
    sending_hours: dict[str, str] = field(default_factory=lambda: {"start": "08:00", "end": "21:00"})
    addresses: Sequence[AddressState] = ()


# --- helpers ----------------------------------------------------------------------------------------


def _uuid(practice_id: str, kind: str, key: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{practice_id}/{kind}/{key}"))


def _ref(rid: str) -> dict[str, str]:
    return {"reference": f"urn:uuid:{rid}"}


def _local(at: datetime, zone: str) -> str:
    return at.astimezone(ZoneInfo(zone)).isoformat(timespec="seconds")


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _money(cents: int) -> dict[str, Any]:
    return {"value": Decimal(cents).scaleb(-2), "currency": CURRENCY}  # exact, with its cents: 125.50, 10.00


def _identifier(kind: str, value: str) -> list[dict[str, str]]:
    return [{"system": f"{ID}{kind}", "value": value}]


def _telecom(phone: str, email: str, states: dict[str, AddressState]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if phone:
        point: dict[str, Any] = {"system": "phone", "value": phone, "use": "mobile"}
        state = states.get(phone)
        if state is not None:
            point["extension"] = [{"url": f"{EXT}sms-opt-out", "valueBoolean": state.sms_opt_out or state.sms_blocked}]
        out.append(point)
    if email:
        point = {"system": "email", "value": email}
        state = states.get(email)
        if state is not None:
            point["extension"] = [{"url": f"{EXT}email-suppressed", "valueBoolean": state.email_suppressed}]
        out.append(point)
    return out


def _time(hhmm: str) -> str:
    return f"{hhmm}:00"


def _last_reason(a: Appointment) -> str:
    for h in reversed(a.history):
        if h.action.endswith(f"->{CANCELLED}") and h.reason:
            return h.reason
    return ""


# --- FHIR -------------------------------------------------------------------------------------------


class _Ids:
    """The fullUrl uuid of every resource in one export."""

    def __init__(self, data: ExportData) -> None:
        self.p = data.practice.id
        self.organization = _uuid(self.p, "Organization", data.practice.id)
        self.patient = _uuid(self.p, "Patient", data.patient.id)
        self.account = _uuid(self.p, "Account", data.patient.id)

    def of(self, kind: str, key: str) -> str:
        return _uuid(self.p, kind, key)


def fhir_bundle(data: ExportData) -> dict[str, Any]:
    """The export as a FHIR R4 Bundle (a plain dict; ``fhir_json`` validates and serialises it)."""
    ids = _Ids(data)
    zone = data.practice.zone
    states = {s.address: s for s in data.addresses}
    resources: list[tuple[str, dict[str, Any]]] = [
        (ids.organization, _organization(data.practice, ids)),
        (ids.patient, _patient(data, ids, states)),
    ]
    resources += _related(data, ids, states)
    exported_appointments = set()
    for a in sorted(data.appointments, key=lambda x: (x.start, x.id)):
        exported_appointments.add(a.id)
        resources.append((ids.of("Appointment", a.id), _appointment(a, data, ids, zone)))
    lines = ordered(data.ledger)
    if lines:
        resources.append((ids.account, _account(data, ids, lines)))
    for line in lines:
        kind = "ChargeItem" if line.kind in (CHARGE, ADJUSTMENT) else "PaymentReconciliation"
        resources.append((ids.of(kind, line.id), _ledger_line(line, ids)))
    for image in sorted(data.images, key=lambda i: (i.taken_on, i.id)):
        if image.ready:
            resources.append((ids.of("DocumentReference", image.id), _image(image, ids)))
    resources += _communications(data, ids, exported_appointments)
    return {
        "resourceType": "Bundle",
        "id": ids.of("Bundle", f"{data.patient.id}/{_utc(data.generated_at)}"),
        "meta": {"lastUpdated": _local(data.generated_at, zone)},
        "identifier": {"system": f"{ID}export", "value": f"{data.patient.id}/{_utc(data.generated_at)}"},
        "type": "collection",
        "timestamp": _local(data.generated_at, zone),
        "entry": [{"fullUrl": f"urn:uuid:{rid}", "resource": {**r, "id": rid}} for rid, r in resources],
    }


def _organization(practice: Practice, ids: _Ids) -> dict[str, Any]:
    org: dict[str, Any] = {
        "resourceType": "Organization",
        "identifier": _identifier("practice", practice.id),
        "active": True,
        "name": practice.name,
    }
    telecom = [{"system": "phone", "value": practice.phone}] if practice.phone else []
    if practice.email:
        telecom.append({"system": "email", "value": practice.email})
    if telecom:
        org["telecom"] = telecom
    a = practice.address or {}
    if a:
        address = {
            "line": [a["line"]] if a.get("line") else None,
            "city": a.get("city"),
            "state": a.get("state"),
            "postalCode": a.get("postal_code"),
        }
        org["address"] = [{k: v for k, v in address.items() if v}]
    return org


def _preferences_extension(data: ExportData) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    for message_type in MESSAGE_TYPES:
        parts.append(
            {
                "url": "channel",
                "extension": [
                    {"url": "messageType", "valueCode": message_type},
                    *({"url": c, "valueBoolean": data.prefs.allows(message_type, c)} for c in CHANNELS),
                ],
            }
        )
    parts.append({"url": "sendingHoursStart", "valueTime": _time(data.sending_hours["start"])})
    parts.append({"url": "sendingHoursEnd", "valueTime": _time(data.sending_hours["end"])})
    return {"url": f"{EXT}contact-preferences", "extension": parts}


def _patient(data: ExportData, ids: _Ids, states: dict[str, AddressState]) -> dict[str, Any]:
    p = data.patient
    language = data.prefs.language or p.language or "en"
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": _identifier("patient", p.id),
        "active": p.active,
        "name": [{"use": "official", "family": p.family_name, "given": [p.given_name]}],
        "communication": [
            {
                "language": {
                    "coding": [{"system": BCP47, "code": language}],
                    "text": {"en": "English", "es": "Spanish"}.get(language, language),
                },
                "preferred": True,
            }
        ],
        "managingOrganization": _ref(ids.organization),
    }
    telecom = _telecom(p.phone, p.email, states)
    if telecom:
        resource["telecom"] = telecom
    if p.birth_date:
        resource["birthDate"] = p.birth_date.isoformat()
    extensions = [_preferences_extension(data)]
    if p.zone:
        extensions.insert(0, {"url": TIMEZONE_EXTENSION, "valueCode": p.zone})
    resource["extension"] = extensions
    return resource


def _related(data: ExportData, ids: _Ids, states: dict[str, AddressState]) -> list[tuple[str, dict[str, Any]]]:
    by_id = {g.id: g for g in data.guardians}
    holders: dict[str, list[ContactLink]] = {}
    for link in data.links:
        if link.relation == "guardian":
            holders.setdefault(link.holder_id, []).append(link)
    for gid in by_id:
        holders.setdefault(gid, [])
    out = []
    for holder_id in sorted(holders):
        g = by_id.get(holder_id)
        phone = g.phone if g else next((x.address for x in holders[holder_id] if x.channel == SMS), "")
        email = g.email if g else next((x.address for x in holders[holder_id] if x.channel == EMAIL), "")
        resource: dict[str, Any] = {
            "resourceType": "RelatedPerson",
            "identifier": _identifier("guardian", holder_id),
            "active": True,
            "patient": _ref(ids.patient),
        }
        if g is not None:
            relationship: dict[str, Any] = {"text": g.relationship}
            code = _RELATIONSHIP_CODES.get(g.relationship)
            if code:
                relationship["coding"] = [{"system": ROLE_CODES, "code": code}]
            resource["relationship"] = [relationship]
            resource["name"] = [{"family": g.family_name, "given": [g.given_name]}]
        telecom = _telecom(phone, email, states)
        if telecom:
            resource["telecom"] = telecom
        out.append((ids.of("RelatedPerson", holder_id), resource))
    return out


def _appointment(a: Appointment, data: ExportData, ids: _Ids, zone: str) -> dict[str, Any]:
    type_name = data.type_names.get(a.type_id, "")
    accepted = a.status in (CONFIRMED, ARRIVED, COMPLETED)
    participants: list[dict[str, Any]] = [
        {
            "actor": _ref(ids.patient),
            "required": "required",
            "status": "accepted" if accepted else "declined" if a.status == CANCELLED else "needs-action",
        }
    ]
    provider = data.provider_names.get(a.provider_id)
    if provider:
        participants.append({"actor": {"display": provider}, "required": "required", "status": "accepted"})
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "identifier": _identifier("appointment", a.id),
        "status": _APPOINTMENT_STATUS[a.status],
        "start": _local(a.start, zone),
        "end": _local(a.end, zone),
        "minutesDuration": int((a.end - a.start).total_seconds() // 60),
        "participant": participants,
    }
    if type_name:
        resource["appointmentType"] = {"text": type_name}
        resource["description"] = type_name
    if a.history:
        resource["created"] = _local(a.history[0].at, zone)
    reason = _last_reason(a) if a.status == CANCELLED else ""
    if reason:
        resource["cancelationReason"] = {"text": reason}
    return resource


def _account(data: ExportData, ids: _Ids, lines: list[LedgerLine]) -> dict[str, Any]:
    b = balance_of(lines)
    return {
        "resourceType": "Account",
        "identifier": _identifier("account", data.patient.id),
        "status": "active",
        "type": {"text": "Patient account"},
        "name": f"{data.practice.name} account",
        "subject": [_ref(ids.patient)],
        "owner": _ref(ids.organization),
        "extension": [
            {
                "url": f"{EXT}balance",
                "extension": [
                    {"url": "total", "valueMoney": _money(b.total_cents)},
                    {"url": "pendingInsurance", "valueMoney": _money(b.pending_insurance_cents)},
                    {"url": "owedNow", "valueMoney": _money(b.owed_now_cents)},
                    {"url": "credit", "valueMoney": _money(b.credit_cents)},
                ],
            }
        ],
    }


def _ledger_line(line: LedgerLine, ids: _Ids) -> dict[str, Any]:
    kind = {"url": f"{EXT}ledger-kind", "valueCode": line.kind}
    words = line.description or _LEDGER_WORDS[line.kind]
    if line.kind in (CHARGE, ADJUSTMENT):
        return {
            "resourceType": "ChargeItem",
            "identifier": _identifier("ledger-line", line.id),
            "extension": [kind],
            "status": "billed",
            "code": {"text": words},
            "subject": _ref(ids.patient),
            "occurrenceDateTime": line.posted_on.isoformat(),
            "priceOverride": _money(line.amount_cents),
            "account": [_ref(ids.account)],
        }
    resource: dict[str, Any] = {
        "resourceType": "PaymentReconciliation",
        "identifier": _identifier("ledger-line", line.id),
        "extension": [kind, {"url": f"{EXT}patient", "valueReference": _ref(ids.patient)}],
        "status": "draft" if line.kind == INSURANCE_ESTIMATE else "active",
        "created": line.posted_on.isoformat(),
        "paymentDate": line.posted_on.isoformat(),
        "paymentAmount": _money(line.amount_cents),
        "disposition": words,
        "requestor": _ref(ids.organization),
    }
    if line.payment_intent_id:
        resource["paymentIdentifier"] = {
            "system": "https://stripe.com/payment_intents",
            "value": line.payment_intent_id,
        }
    return resource


def _image(image: Image, ids: _Ids) -> dict[str, Any]:
    label = KIND_LABELS.get(image.kind, KIND_LABELS["other"])
    attachment: dict[str, Any] = {
        "contentType": image.content_type,
        "title": f"{label}, {image.taken_on.isoformat()}",
        "creation": image.taken_on.isoformat(),
    }
    if image.size:
        attachment["size"] = image.size
    return {
        "resourceType": "DocumentReference",
        "identifier": _identifier("image", image.id),
        "status": "current",
        "type": {"text": label},
        "category": [{"text": "Dental imaging"}],
        "subject": _ref(ids.patient),
        "date": _utc(image.created_at),
        "description": label,
        "content": [{"attachment": attachment}],
    }


def _medium(channel: str) -> list[dict[str, Any]]:
    code, words = ("SMSWRIT", "text message") if channel == SMS else ("EMAILWRIT", "email")
    return [{"coding": [{"system": MODES, "code": code}], "text": words}]


def _communications(data: ExportData, ids: _Ids, appointments: set[str]) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[datetime, str, dict[str, Any]]] = []
    for t in data.sent:
        if t.status != SENT or t.sent_at is None:
            continue
        resource: dict[str, Any] = {
            "resourceType": "Communication",
            "identifier": _identifier("message", t.id),
            "status": "completed",
            "category": [{"text": _TOUCH_WORDS.get(t.kind, t.kind)}],
            "medium": _medium(t.sent_channel or t.channel),
            "subject": _ref(ids.patient),
            "sent": _utc(t.sent_at),
            "recipient": [_ref(ids.patient)],
            "sender": _ref(ids.organization),
        }
        if t.kind != "recall" and t.subject_id in appointments:
            resource["about"] = [_ref(ids.of("Appointment", t.subject_id))]
        out.append((t.sent_at, ids.of("Communication", t.id), resource))
    for item in data.received:
        if item.kind not in FROM_PATIENT:
            continue
        channel = EMAIL if "@" in item.address else SMS
        received: dict[str, Any] = {
            "resourceType": "Communication",
            "identifier": _identifier("inbox", item.id),
            "status": "completed",
            "category": [{"text": "Message from the patient"}],
            "medium": _medium(channel),
            "subject": _ref(ids.patient),
            "received": _utc(item.at),
            "sender": _ref(ids.patient),
            "recipient": [_ref(ids.organization)],
        }
        if item.text:
            received["payload"] = [{"contentString": item.text}]
        out.append((item.at, ids.of("Communication", f"inbox/{item.id}"), received))
        for n, reply in enumerate(item.replies):
            out.append(
                (
                    reply.at,
                    ids.of("Communication", f"inbox/{item.id}/{n}"),
                    {
                        "resourceType": "Communication",
                        "identifier": _identifier("inbox-reply", f"{item.id}/{n}"),
                        "status": "completed",
                        "category": [{"text": "Reply from the practice"}],
                        "medium": _medium(reply.channel),
                        "subject": _ref(ids.patient),
                        "sent": _utc(reply.at),
                        "sender": _ref(ids.organization),
                        "recipient": [_ref(ids.patient)],
                        "inResponseTo": [_ref(ids.of("Communication", f"inbox/{item.id}"))],
                        "payload": [{"contentString": reply.text}],
                    },
                )
            )
    out.sort(key=lambda x: (x[0], x[1]))
    return [(rid, r) for _, rid, r in out]


def fhir_json(data: ExportData) -> str:
    """The Bundle validated with fhir.resources (R4B models: none of the resources used here changed from
    R4) and serialised from the validated model, so what is served is what was checked.

    Raises ``ValueError`` (pydantic's ValidationError) if a resource does not validate: a bug, never sent.
    """
    from fhir.resources.R4B.bundle import Bundle

    bundle = Bundle.model_validate(fhir_bundle(data))
    return bundle.model_dump_json(exclude_none=True)


# --- CSV --------------------------------------------------------------------------------------------


def _cell(value: object) -> str:
    """Text cells that spreadsheets would run as formulas get a leading quote; numbers and E.164 phone
    numbers (validated digits, nothing to run) are written as they are."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _E164.fullmatch(text):
        return f"'{text}"
    return text


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]], text_columns: Iterable[str] = ()) -> bytes:
    texts = {header.index(c) for c in text_columns}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) if i in texts else ("" if v is None else str(v)) for i, v in enumerate(row)])
    return ("\ufeff" + out.getvalue()).encode()  # a BOM so spreadsheet apps read UTF-8 (accents) right


def _bool(value: bool) -> str:
    return "yes" if value else "no"


def csv_files(data: ExportData) -> dict[str, bytes]:
    """One CSV per kind, by file name."""
    p, zone = data.patient, data.practice.zone
    files = {
        "patient.csv": _csv(
            ("PatNum", "FName", "LName", "Birthdate", "WirelessPhone", "Email", "Language", "PatStatus", "TimeZone"),
            [
                (
                    p.id,
                    p.given_name,
                    p.family_name,
                    p.birth_date.isoformat() if p.birth_date else "",
                    p.phone,
                    p.email,
                    data.prefs.language or p.language,
                    "Patient" if p.active else "Inactive",
                    p.zone,
                )
            ],
            ("FName", "LName", "Email"),
        ),
        "guardians.csv": _csv(
            ("id", "given_name", "family_name", "relationship", "phone", "email"),
            [(g.id, g.given_name, g.family_name, g.relationship, g.phone, g.email) for g in data.guardians],
            ("given_name", "family_name", "relationship", "email"),
        ),
        "appointments.csv": _csv(
            (
                "AptNum",
                "PatNum",
                "AptDateTime",
                "TimeZone",
                "Length",
                "ProvNum",
                "ProvName",
                "Op",
                "AptType",
                "AptStatus",
                "Confirmed",
                "start_utc",
                "status",
            ),
            [
                (
                    a.id,
                    p.id,
                    a.start.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M"),
                    zone,
                    int((a.end - a.start).total_seconds() // 60),
                    a.provider_id,
                    data.provider_names.get(a.provider_id, ""),
                    a.operatory_id,
                    data.type_names.get(a.type_id, ""),
                    _CSV_STATUS[a.status],
                    "1" if a.status == CONFIRMED else "",
                    _utc(a.start),
                    a.status,
                )
                for a in sorted(data.appointments, key=lambda x: (x.start, x.id))
            ],
            ("ProvName", "AptType"),
        ),
        "ledger.csv": _csv(
            (
                "patient_id",
                "date",
                "kind",
                "amount",
                "amount_cents",
                "line_id",
                "description",
                "invoice_id",
                "claim_id",
            ),
            [
                (
                    p.id,
                    x.posted_on.isoformat(),
                    x.kind,
                    format_cents(x.amount_cents),
                    x.amount_cents,
                    x.id,
                    x.description,
                    x.invoice_id,
                    x.claim_id,
                )
                for x in ordered(data.ledger)
            ],
            ("description",),
        ),
        "images.csv": _csv(
            ("id", "kind", "label", "taken_on", "content_type", "size_bytes", "width", "height", "added_utc"),
            [
                (
                    i.id,
                    i.kind,
                    KIND_LABELS.get(i.kind, KIND_LABELS["other"]),
                    i.taken_on.isoformat(),
                    i.content_type,
                    i.size,
                    i.width,
                    i.height,
                    _utc(i.created_at),
                )
                for i in sorted(data.images, key=lambda x: (x.taken_on, x.id))
                if i.ready
            ],
        ),
        "messages.csv": _csv(
            ("at_utc", "at_local", "direction", "channel", "kind", "appointment_id", "text"),
            _message_rows(data),
            ("text",),
        ),
        "preferences.csv": _csv(("setting", "value"), _preference_rows(data)),
        "addresses.csv": _csv(
            ("address", "channel", "sms_opted_out", "email_suppressed", "unsubscribed_types"),
            [
                (
                    s.address,
                    s.channel,
                    _bool(s.sms_opt_out or s.sms_blocked) if s.channel == SMS else "",
                    _bool(s.email_suppressed) if s.channel == EMAIL else "",
                    " ".join(sorted(s.unsubscribed)),
                )
                for s in data.addresses
            ],
            ("address",),
        ),
    }
    return files


def _message_rows(data: ExportData) -> list[tuple[object, ...]]:
    zone = data.practice.zone
    rows: list[tuple[datetime, tuple[object, ...]]] = []
    for t in data.sent:
        if t.status == SENT and t.sent_at is not None:
            subject = "" if t.kind in ("recall", "instalment") else t.subject_id  # the column is appointment_id
            row = (_utc(t.sent_at), _local(t.sent_at, zone), "sent", t.sent_channel or t.channel, t.kind, subject, "")
            rows.append((t.sent_at, row))
    for item in data.received:
        if item.kind not in FROM_PATIENT:
            continue
        channel = EMAIL if "@" in item.address else SMS
        rows.append((item.at, (_utc(item.at), _local(item.at, zone), "received", channel, item.kind, "", item.text)))
        for reply in item.replies:
            row = (_utc(reply.at), _local(reply.at, zone), "sent", reply.channel, "reply", "", reply.text)
            rows.append((reply.at, row))
    rows.sort(key=lambda r: r[0])
    return [r for _, r in rows]


def _preference_rows(data: ExportData) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = [
        ("language", data.prefs.language or data.patient.language or "en"),
        ("zone", data.patient.zone or data.practice.zone),
        ("sending_hours_start", data.sending_hours["start"]),
        ("sending_hours_end", data.sending_hours["end"]),
    ]
    for message_type in MESSAGE_TYPES:
        for channel in CHANNELS:
            rows.append((f"{message_type}.{channel}", _bool(data.prefs.allows(message_type, channel))))
    return rows


README = """Your data from {practice}, for {name}, as of {when}.

One file per kind, comma separated, UTF-8. Times are in the practice's time zone ({zone}) unless the
column says utc. Money is in US dollars (amount) and cents (amount_cents).

  patient.csv       your details as the practice has them
  guardians.csv     guardians linked to you
  appointments.csv  every appointment on file, past and upcoming
  ledger.csv        charges, payments, adjustments and refunds on your account
  images.csv        x-rays and photos on file (the list only; ask the practice or use the patient page for the images)
  messages.csv      reminders and notices sent to you, texts you sent and the practice's replies
  preferences.csv   how and when you want to be contacted
  addresses.csv     your phone numbers and email addresses, and whether texts or emails are blocked

The same data as a FHIR R4 Bundle (for other health apps) is on the patient page too.
"""


def csv_zip(data: ExportData) -> bytes:
    """The CSV files and a README in one zip (stored in a fixed order with the export's time, so two
    exports of the same data at the same instant are the same bytes)."""
    local = data.generated_at.astimezone(ZoneInfo(data.practice.zone))
    stamp = (local.year, local.month, local.day, local.hour, local.minute, local.second)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        readme = README.format(
            practice=data.practice.name,
            name=data.patient.display_name,
            when=local.strftime("%Y-%m-%d %H:%M %Z"),
            zone=data.practice.zone,
        )
        files = {"README.txt": readme.encode(), **csv_files(data)}
        for name, body in files.items():
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, body)
    return out.getvalue()


def filename(data: ExportData, fmt: str) -> str:
    day: date = data.generated_at.astimezone(ZoneInfo(data.practice.zone)).date()
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in data.patient.id)[:64]
    return f"chairside-{safe}-{day.isoformat()}." + ("fhir.json" if fmt == FHIR else "csv.zip")
