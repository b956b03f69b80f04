# ruff: noqa: E501 - message templates read better one per line
"""Message templates per practice in English and Spanish, and how they are rendered. Pure.

A template is text with ``{placeholders}``. A practice may override any template by name
(``<kind>.<part>.<language>``, e.g. ``reminder.sms.es``); what it does not override uses the defaults
below. Every rendering:
- shows times in the practice's zone with the zone named ("8:30 AM MST"), never UTC;
- for SMS, is plain GSM-7 text (so one segment holds 160 characters) and says "reply C to confirm"
  when a confirmation is wanted; no template may tell patients to reply CANCEL, STOP, START or YES for
  an appointment action (``lint``): those are carrier keywords;
- for email, ends with the practice's name, phone and postal address and an unsubscribe link, and
  carries ``List-Unsubscribe`` headers (added by the service).
"""

from __future__ import annotations

import html
import math
import re
import string
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.billing.model import display_cents
from chalicelib.reminders.model import (
    EMAIL,
    INSTALMENT_TOUCH,
    NOTICE_CANCELLED,
    NOTICE_MOVED,
    RECALL_TOUCH,
    REMINDER,
    SMS,
    PolicyError,
)

LANGUAGES = ("en", "es")
REPLY_CONFIRMED = "confirmed_reply"
REPLY_HELP = "help_reply"
REPLY_OPT_IN = "opt_in_reply"
REPLIES = (REPLY_CONFIRMED, REPLY_HELP, REPLY_OPT_IN)
PARTS = ("sms", "email_subject", "email")

PLACEHOLDERS = frozenset(
    {
        "practice_name",
        "practice_phone",
        "first_name",
        "when",
        "confirm_line",
        "confirm_url",
        "cancel_url",
        "reschedule_url",
        "book_url",
        "due_month",
        "survey_url",
        "amount",
        "instalment",
        "due_day",
        "due_date",
        "pay_url",
    }
)

# --- dates in words, without the process locale -------------------------------------------------------

_MONTHS = {
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    "es": (
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ),
}
_WEEKDAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
}


def format_when(at: datetime, zone: str, language: str) -> str:
    """An instant as the practice's local day and time with the zone named.

    en: "Thursday, April 22, 3:00 PM EDT"; es: "jueves, 22 de abril, 3:00 p. m. EDT".
    """
    lang = language if language in LANGUAGES else "en"
    local = at.astimezone(ZoneInfo(zone))
    hour = local.hour % 12 or 12
    clock = f"{hour}:{local.minute:02d}"
    weekday = _WEEKDAYS[lang][local.weekday()]
    month = _MONTHS[lang][local.month - 1]
    zone_name = local.tzname() or zone
    if lang == "es":
        meridiem = "a. m." if local.hour < 12 else "p. m."
        return f"{weekday}, {local.day} de {month}, {clock} {meridiem} {zone_name}"
    meridiem = "AM" if local.hour < 12 else "PM"
    return f"{weekday}, {month} {local.day}, {clock} {meridiem} {zone_name}"


def format_month(day: date, language: str) -> str:
    lang = language if language in LANGUAGES else "en"
    month = _MONTHS[lang][day.month - 1]
    return f"{month} de {day.year}" if lang == "es" else f"{month} {day.year}"


def format_day(day: date, language: str, weekday: bool = True) -> str:
    """A local date in words: en "Friday, December 11"; es "viernes, 11 de diciembre" (or without the weekday)."""
    lang = language if language in LANGUAGES else "en"
    month = _MONTHS[lang][day.month - 1]
    text = f"{day.day} de {month}" if lang == "es" else f"{month} {day.day}"
    return f"{_WEEKDAYS[lang][day.weekday()]}, {text}" if weekday else text


def display_phone(number: str) -> str:
    digits = re.sub(r"\D", "", number or "")
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) == 10:
        return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    return number or ""


# --- defaults ---------------------------------------------------------------------------------------

_CONFIRM_LINE = {
    "en": ("Reply C to confirm.", "You're confirmed."),
    "es": ("Responda C para confirmar.", "Su cita está confirmada."),
}
# An email reply reaches nobody who reads "C": emails ask for the confirm link instead.
_CONFIRM_LINE_EMAIL = {
    "en": "Please confirm with the link below.",
    "es": "Por favor, confirme con el enlace de abajo.",
}

DEFAULTS: dict[str, str] = {
    # reminders
    "reminder.sms.en": "{practice_name}: Hi {first_name}, see you {when}. {confirm_line} Reschedule: {reschedule_url}",
    "reminder.sms.es": "{practice_name}: Hola {first_name}, le esperamos el {when}. {confirm_line} Cambiar: {reschedule_url}",
    "reminder.email_subject.en": "Reminder: {practice_name} on {when}",
    "reminder.email_subject.es": "Recordatorio: {practice_name} el {when}",
    "reminder.email.en": (
        "Hi {first_name},\n\n"
        "This is a reminder of your appointment at {practice_name} on {when}.\n\n"
        "{confirm_line}\n"
        "Confirm: {confirm_url}\n"
        "Reschedule: {reschedule_url}\n"
        "Cancel: {cancel_url}\n\n"
        "Questions? Call us at {practice_phone}.\n\n"
        "See you soon,\n{practice_name}"
    ),
    "reminder.email.es": (
        "Hola {first_name}:\n\n"
        "Le recordamos su cita en {practice_name} el {when}.\n\n"
        "{confirm_line}\n"
        "Confirmar: {confirm_url}\n"
        "Cambiar la cita: {reschedule_url}\n"
        "Cancelar la cita: {cancel_url}\n\n"
        "¿Preguntas? Llámenos al {practice_phone}.\n\n"
        "Hasta pronto,\n{practice_name}"
    ),
    # an appointment moved
    "moved.sms.en": "{practice_name}: {first_name}, your appointment moved to {when}. {confirm_line} Reschedule: {reschedule_url}",
    "moved.sms.es": "{practice_name}: {first_name}, su cita cambió al {when}. {confirm_line} Cambiar: {reschedule_url}",
    "moved.email_subject.en": "Your appointment moved: {practice_name} on {when}",
    "moved.email_subject.es": "Su cita cambió: {practice_name} el {when}",
    "moved.email.en": (
        "Hi {first_name},\n\n"
        "Your appointment at {practice_name} moved. It is now on {when}.\n\n"
        "{confirm_line}\n"
        "Confirm: {confirm_url}\n"
        "Reschedule: {reschedule_url}\n"
        "Cancel: {cancel_url}\n\n"
        "Questions? Call us at {practice_phone}.\n\n{practice_name}"
    ),
    "moved.email.es": (
        "Hola {first_name}:\n\n"
        "Su cita en {practice_name} cambió. Ahora es el {when}.\n\n"
        "{confirm_line}\n"
        "Confirmar: {confirm_url}\n"
        "Cambiar la cita: {reschedule_url}\n"
        "Cancelar la cita: {cancel_url}\n\n"
        "¿Preguntas? Llámenos al {practice_phone}.\n\n{practice_name}"
    ),
    # an appointment was cancelled
    "cancelled.sms.en": "{practice_name}: {first_name}, your appointment on {when} is cancelled. Book again: {book_url}",
    "cancelled.sms.es": "{practice_name}: {first_name}, su cita del {when} está cancelada. Reservar otra: {book_url}",
    "cancelled.email_subject.en": "Cancelled: {practice_name} on {when}",
    "cancelled.email_subject.es": "Cita cancelada: {practice_name} el {when}",
    "cancelled.email.en": (
        "Hi {first_name},\n\n"
        "Your appointment at {practice_name} on {when} is cancelled.\n\n"
        "Book a new time: {book_url}\n"
        "Questions? Call us at {practice_phone}.\n\n{practice_name}"
    ),
    "cancelled.email.es": (
        "Hola {first_name}:\n\n"
        "Su cita en {practice_name} del {when} está cancelada.\n\n"
        "Reservar otra cita: {book_url}\n"
        "¿Preguntas? Llámenos al {practice_phone}.\n\n{practice_name}"
    ),
    # recall
    "recall.sms.en": "{practice_name}: Hi {first_name}, your next cleaning is due in {due_month}. Book online: {book_url}",
    "recall.sms.es": "{practice_name}: Hola {first_name}, su próxima limpieza es en {due_month}. Reserve aquí: {book_url}",
    "recall.email_subject.en": "Time for your next cleaning at {practice_name}",
    "recall.email_subject.es": "Es hora de su próxima limpieza en {practice_name}",
    "recall.email.en": (
        "Hi {first_name},\n\n"
        "Your next cleaning and check-up at {practice_name} is due in {due_month}.\n\n"
        "Book a hygiene visit online: {book_url}\n"
        "Or call us at {practice_phone}.\n\n"
        "See you soon,\n{practice_name}"
    ),
    "recall.email.es": (
        "Hola {first_name}:\n\n"
        "Su próxima limpieza y revisión en {practice_name} es en {due_month}.\n\n"
        "Reserve una cita de higiene en línea: {book_url}\n"
        "O llámenos al {practice_phone}.\n\n"
        "Hasta pronto,\n{practice_name}"
    ),
    # after a visit: the survey (chalicelib/feedback) and thanks for a referral
    "survey.sms.en": "{practice_name}: Thanks for visiting, {first_name}! How likely are you to recommend us? It takes a few taps: {survey_url}",
    "survey.sms.es": "{practice_name}: Gracias por su visita, {first_name}. ¿Nos recomendaría? Solo unos toques: {survey_url}",
    "survey.email_subject.en": "How was your visit to {practice_name}?",
    "survey.email_subject.es": "¿Qué tal su visita a {practice_name}?",
    "survey.email.en": (
        "Hi {first_name},\n\n"
        "Thank you for visiting {practice_name}. How likely are you to recommend us to a friend?\n\n"
        "Answer in a few taps: {survey_url}\n\n"
        "Questions? Call us at {practice_phone}.\n\n{practice_name}"
    ),
    "survey.email.es": (
        "Hola {first_name}:\n\n"
        "Gracias por visitar {practice_name}. ¿Qué tan probable es que nos recomiende a un amigo?\n\n"
        "Responda en unos toques: {survey_url}\n\n"
        "¿Preguntas? Llámenos al {practice_phone}.\n\n{practice_name}"
    ),
    "referral_thanks.sms.en": "{practice_name}: Thank you, {first_name}! A friend you referred has had their first visit with us.",
    "referral_thanks.sms.es": "{practice_name}: ¡Gracias, {first_name}! Una persona que nos recomendó ya tuvo su primera visita.",
    "referral_thanks.email_subject.en": "Thank you for referring a friend to {practice_name}",
    "referral_thanks.email_subject.es": "Gracias por recomendar {practice_name}",
    "referral_thanks.email.en": (
        "Hi {first_name},\n\n"
        "A friend you referred has had their first visit at {practice_name}. Thank you for trusting us with the people you care about.\n\n"
        "{practice_name}"
    ),
    "referral_thanks.email.es": (
        "Hola {first_name}:\n\n"
        "Una persona que nos recomendó ya tuvo su primera visita en {practice_name}. Gracias por su confianza.\n\n"
        "{practice_name}"
    ),
    # a payment-plan instalment falls due (chalicelib/reminders/instalments.py)
    "instalment.sms.en": "{practice_name}: payment {instalment}, {amount}, due {due_date}. Pay: {pay_url} Call {practice_phone}",
    "instalment.sms.es": "{practice_name}: pago {instalment}, {amount}, vence {due_date}. Pagar: {pay_url} Tel. {practice_phone}",
    "instalment.email_subject.en": "Payment {instalment} of your plan with {practice_name} is due {due_day}",
    "instalment.email_subject.es": "El pago {instalment} de su plan con {practice_name} vence el {due_day}",
    "instalment.email.en": (
        "Hi {first_name},\n\n"
        "Payment {instalment} of your payment plan with {practice_name}, {amount}, is due on {due_day}.\n\n"
        "Pay securely online: {pay_url}\n"
        "You will be asked for the patient's date of birth before the amount is shown.\n\n"
        "Already paid? Thank you, there is nothing more to do.\n"
        "Questions? Call us at {practice_phone}.\n\n{practice_name}"
    ),
    "instalment.email.es": (
        "Hola {first_name}:\n\n"
        "El pago {instalment} de su plan de pagos con {practice_name}, de {amount}, vence el {due_day}.\n\n"
        "Pague en línea de forma segura: {pay_url}\n"
        "Le pediremos la fecha de nacimiento del paciente antes de mostrar el importe.\n\n"
        "¿Ya pagó? Gracias, no tiene que hacer nada más.\n"
        "¿Preguntas? Llámenos al {practice_phone}.\n\n{practice_name}"
    ),
    # replies to inbound texts
    "confirmed_reply.sms.en": "{practice_name}: Thank you, {first_name}. You're confirmed for {when}.",
    "confirmed_reply.sms.es": "{practice_name}: Gracias, {first_name}. Su cita del {when} está confirmada.",
    "help_reply.sms.en": "{practice_name} appointment messages. Questions? Call {practice_phone}.",
    "help_reply.sms.es": "Mensajes de citas de {practice_name}. ¿Preguntas? Llame al {practice_phone}.",
    "opt_in_reply.sms.en": "{practice_name}: You will get appointment texts again. Questions? Call {practice_phone}.",
    "opt_in_reply.sms.es": "{practice_name}: Volverá a recibir mensajes de sus citas. ¿Preguntas? Llame al {practice_phone}.",
}

_FOOTER = {
    "en": "{practice_name} · {practice_phone}{address}\nDon't want these emails? Unsubscribe: {unsubscribe_url}",
    "es": "{practice_name} · {practice_phone}{address}\n¿No quiere recibir estos correos? Darse de baja: {unsubscribe_url}",
}

TEMPLATE_NAMES = frozenset(DEFAULTS)


# --- checks -----------------------------------------------------------------------------------------

# A carrier keyword after "reply/text/send/responda..." within a few words: the patient would be told to
# send an opt-out (or opt-in) word for an appointment action, or the template invites the confusion.
_CARRIER_WORDS = (
    r"stop|stopall|unsubscribe|cancel|cancelar|end|quit|optout|opt[- ]out|revoke|remove|start|unstop|yes|arret"
)
_INSTRUCTION = re.compile(
    r"\b(reply|replying|text|txt|send|respond|answer|responda|responde|conteste|env[ií]e|escriba|mande)\b"
    r"(\W+\w+){0,3}?\W+[\"'“‘]?(" + _CARRIER_WORDS + r")\b",
    re.IGNORECASE,
)
_SHOUTED = re.compile(r"\b(STOP|STOPALL|UNSUBSCRIBE|CANCEL|END|QUIT|OPTOUT|REVOKE|START|UNSTOP|YES)\b")


def lint(text: str) -> list[str]:
    """Problems with a template's wording, for people (empty when it is fine)."""
    problems = []
    found = _INSTRUCTION.search(text)
    if found:
        problems.append(f"tells patients to send the carrier keyword {found.group(3)!r}; use 'Reply C to confirm'")
    shouted = _SHOUTED.search(text)
    if shouted:
        problems.append(f"uses the carrier keyword {shouted.group(1)!r}")
    return problems


def placeholders(text: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise PolicyError(f"a template has unbalanced braces: {exc}") from exc


def validate_templates(overrides: Mapping[str, str]) -> None:
    """Raise PolicyError unless every override names a known template, uses known placeholders
    and passes ``lint``."""
    for name, text in overrides.items():
        if name not in TEMPLATE_NAMES:
            raise PolicyError(f"unknown template {name!r}")
        if len(text) > 4000 or not text.strip():
            raise PolicyError(f"template {name} must have 1-4000 characters")
        unknown = placeholders(text) - PLACEHOLDERS
        if unknown or any(not n or not n.isidentifier() for n in placeholders(text)):
            raise PolicyError(f"template {name} uses unknown placeholder(s): {', '.join(sorted(unknown))}")
        problems = lint(text)
        if problems:
            raise PolicyError(f"template {name} {problems[0]}")


# --- SMS text -----------------------------------------------------------------------------------

_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€")
_PLAIN = {"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "...", "·": "-", "\u00a0": " "}


def gsm7(text: str) -> str:
    """The text with every character outside the GSM-7 alphabet replaced by a plain one
    (accents dropped where GSM-7 has no accented letter), so an SMS is not sent as UCS-2."""
    out = []
    for ch in text:
        if ch in _GSM7 or ch in _GSM7_EXTENDED:
            out.append(ch)
        elif ch in _PLAIN:
            out.append(_PLAIN[ch])
        else:
            base = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
            out.append(base if base else "?")
    return "".join(out)


def sms_segments(text: str) -> int:
    """How many SMS segments a text takes (GSM-7: 160 in one, 153 per part; UCS-2: 70 / 67)."""
    if all(ch in _GSM7 or ch in _GSM7_EXTENDED for ch in text):
        units = sum(2 if ch in _GSM7_EXTENDED else 1 for ch in text)
        return 1 if units <= 160 else math.ceil(units / 153)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


# --- rendering ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageFacts:
    """Everything a message may say. Times are UTC; ``zone`` is the practice's."""

    kind: str  # reminder | moved | cancelled | recall | a reply
    language: str
    practice_name: str
    practice_phone: str
    practice_address: Mapping[str, str]
    zone: str
    first_name: str
    when: datetime | None = None
    confirmed: bool = False
    confirm_url: str = ""
    cancel_url: str = ""
    reschedule_url: str = ""
    book_url: str = ""
    unsubscribe_url: str = ""
    due: date | None = None
    sms_reschedule_url: str = ""  # the short link SMS carry instead of reschedule_url
    survey_url: str = ""  # the post-visit survey link (chalicelib/feedback/links.py)
    pay_url: str = ""  # an instalment's signed pay link (minted by billing right before the send)
    amount_cents: int | None = None  # what an instalment still asks for, integer cents
    instalment_number: int = 0
    instalment_of: int = 0
    due_on: date | None = None  # an instalment's due date (practice-local)


@dataclass(frozen=True)
class Rendered:
    text: str
    subject: str = ""
    html: str = ""


def template_for(name: str, overrides: Mapping[str, str]) -> str:
    return overrides.get(name) or DEFAULTS[name]


def _values(facts: MessageFacts) -> dict[str, str]:
    lang = facts.language if facts.language in LANGUAGES else "en"
    wanted, done = _CONFIRM_LINE[lang]
    return {
        "practice_name": facts.practice_name,
        "practice_phone": display_phone(facts.practice_phone),
        "first_name": facts.first_name,
        "when": format_when(facts.when, facts.zone, lang) if facts.when else "",
        "confirm_line": done if facts.confirmed else wanted,
        "confirm_url": facts.confirm_url,
        "cancel_url": facts.cancel_url,
        "reschedule_url": facts.reschedule_url,
        "book_url": facts.book_url,
        "due_month": format_month(facts.due, lang) if facts.due else "",
        "survey_url": facts.survey_url,
        "amount": display_cents(facts.amount_cents) if facts.amount_cents is not None else "",
        "instalment": (
            f"{facts.instalment_number} {'de' if lang == 'es' else 'of'} {facts.instalment_of}"
            if facts.instalment_number
            else ""
        ),
        "due_day": format_day(facts.due_on, lang) if facts.due_on else "",
        "due_date": format_day(facts.due_on, lang, weekday=False) if facts.due_on else "",
        "pay_url": facts.pay_url,
    }


def _fill(template: str, values: Mapping[str, str]) -> str:
    return string.Formatter().vformat(template, (), dict(values))


def render(facts: MessageFacts, channel: str, overrides: Mapping[str, str] | None = None) -> Rendered:
    """One message in the patient's language and the practice's zone."""
    lang = facts.language if facts.language in LANGUAGES else "en"
    chosen = overrides or {}
    values = _values(facts)
    if channel != SMS and not facts.confirmed:
        values["confirm_line"] = _CONFIRM_LINE_EMAIL[lang]
    if channel == SMS:
        if facts.sms_reschedule_url:
            values["reschedule_url"] = facts.sms_reschedule_url
        text = _fill(template_for(f"{facts.kind}.sms.{lang}", chosen), values)
        return Rendered(text=gsm7(_squash(text)))
    if channel != EMAIL:
        raise ValueError(f"unknown channel {channel!r}")
    subject = _fill(template_for(f"{facts.kind}.email_subject.{lang}", chosen), values)
    template = template_for(f"{facts.kind}.email.{lang}", chosen)
    if facts.confirmed or not facts.confirm_url:
        # No link to confirm what is confirmed already (or cannot be confirmed any more).
        template = "\n".join(line for line in template.split("\n") if "{confirm_url}" not in line)
    body = _fill(template, values)
    footer = _fill(
        _FOOTER[lang],
        {**values, "address": _address_line(facts.practice_address), "unsubscribe_url": facts.unsubscribe_url},
    )
    text = f"{body.rstrip()}\n\n--\n{footer}\n"
    return Rendered(text=text, subject=subject.replace("\n", " "), html=_html(text))


def _squash(text: str) -> str:
    return re.sub(r"[ \t]+", " ", text.replace("\n", " ")).strip()


def _address_line(address: Mapping[str, str]) -> str:
    parts = [address.get(k, "") for k in ("line", "line2", "city")]
    region = " ".join(p for p in (address.get("state", ""), address.get("postal_code", "")) if p)
    shown = ", ".join(p for p in [*parts, region] if p)
    return f"\n{shown}" if shown else ""


_URL = re.compile(r"https?://[^\s<>\"]+")


def _html(text: str) -> str:
    """The text body as simple HTML with working links (same words, so both parts say the same)."""
    escaped = html.escape(text)

    def link(match: re.Match[str]) -> str:
        url = match.group(0)
        return f'<a href="{url}">{url}</a>'

    paragraphs = [p for p in escaped.split("\n\n") if p.strip()]
    body = "".join(f"<p>{_URL.sub(link, p).replace(chr(10), '<br>')}</p>" for p in paragraphs)
    return f'<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">{body}</body></html>'


KIND_TEMPLATES = (REMINDER, NOTICE_MOVED, NOTICE_CANCELLED, RECALL_TOUCH, INSTALMENT_TOUCH)


def sample_facts(kind: str, language: str, **changes: Any) -> MessageFacts:
    """Facts with long, realistic values (for previews and the template tests): SMS links are the
    short ``/l/`` links (55-60 characters of token), email links the full action links."""
    short = "https://api.mapledental.example.test/l/" + "s" * 60
    base = MessageFacts(
        kind=kind,
        language=language,
        practice_name="Maple Family Dental",
        practice_phone="+15555550100",
        practice_address={"line": "1 Maple Way", "city": "Springfield", "state": "NY", "postal_code": "10001"},
        zone="America/New_York",
        first_name="Maximiliano",
        when=datetime.fromisoformat("2027-09-22T19:00:00+00:00"),
        confirm_url="https://patients.example.test/patient/?practice=P1#link=" + "x" * 160,
        cancel_url="https://patients.example.test/patient/?practice=P1#link=" + "y" * 160,
        reschedule_url="https://patients.example.test/patient/?practice=P1#link=" + "z" * 160,
        book_url="https://patients.example.test/patient/?practice=P1&book=hygiene",
        unsubscribe_url="https://api.example.test/public/unsubscribe/" + "u" * 120,
        due=date(2027, 9, 30),
        sms_reschedule_url=short,
        survey_url="https://patients.example.test/survey/?t=" + "v" * 130,
        # a real pay link is ~180 characters (a signed token in its fragment); this one is 200
        pay_url="https://patients.mapledental.example.test/patient/pay/#" + "p" * 145,
        amount_cents=123456,
        instalment_number=2,
        instalment_of=3,
        due_on=date(2027, 9, 29),
    )
    return MessageFacts(**{**base.__dict__, **changes})
