"""A patient's access log: audit events turned into who did what, in words a person can read. Pure.

The page holds the words (English and Spanish); this module decides which words: every event gets a
``Who`` (a kind, plus the staff member's role and name, or which job or link) and a phrase key from
``PHRASES``. Actions nobody mapped yet still read sensibly ("looked at" or "changed" part of the record,
by the verb at the end of the action code): a raw action code never reaches a patient.

Who is who, as the person reading sees it:
- a patient-session event whose contact holder is the reader is "you";
- one by the patient themselves, when a guardian reads a child's log, is the patient;
- one by another contact linked to the patient (a guardian) is "a guardian or family member";
- one by any other patient session (a refused attempt) is "someone else";
- staff events carry the role and display name the sign-in token held at the time; older events have
  neither, and read "Practice staff";
- jobs and links are named by what they are ("Automatic reminder", "a link we sent you", ...).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from chalicelib.audit.model import ACTOR_ANONYMOUS, ACTOR_JOB, ACTOR_PATIENT, ACTOR_STAFF, AuditEvent

ACCESS_LOG_READ = "access_log.read"
EXPORT = "patient.export"

# --- who ------------------------------------------------------------------------------------------

YOU = "you"
THE_PATIENT = "patient"
GUARDIAN = "guardian"
SOMEONE_ELSE = "someone_else"
STAFF = "staff"
JOB = "job"
LINK = "link"
UNKNOWN = "unknown"
WHO_KINDS = (YOU, THE_PATIENT, GUARDIAN, SOMEONE_ELSE, STAFF, JOB, LINK, UNKNOWN)

STAFF_ROLES = ("owner", "manager", "front_desk", "clinical")

JOBS = ("reminders", "waitlist", "payments", "import", "other")
_JOB_BY_ID = {
    "reminders": "reminders",
    "waitlist": "waitlist",
    "stripe": "payments",
    "import-cli": "import",
    "demo-loader": "import",
}

LINKS = ("message", "calendar", "share", "payment")


@dataclass(frozen=True)
class Who:
    kind: str  # one of WHO_KINDS
    role: str = ""  # staff: one of STAFF_ROLES, or "" when the event predates roles
    name: str = ""  # staff: display name from the token, or ""
    job: str = ""  # job: one of JOBS
    link: str = ""  # link: one of LINKS

    def as_dict(self) -> dict[str, str]:
        out = {"kind": self.kind}
        for key in ("role", "name", "job", "link"):
            value = getattr(self, key)
            if value:
                out[key] = value
        return out


def who_of(e: AuditEvent, reader_id: str, patient_id: str, linked: Collection[str]) -> Who:
    """``reader_id``: the contact holder reading the log; ``linked``: holder ids of the patient's links."""
    if e.actor_type == ACTOR_PATIENT:
        return Who(_session_holder(e.actor_id, reader_id, patient_id, linked))
    if e.actor_type == ACTOR_STAFF:
        role = e.actor_role if e.actor_role in STAFF_ROLES else ""
        return Who(STAFF, role=role, name=" ".join(e.actor_name.split())[:80])
    if e.actor_type == ACTOR_JOB:
        return Who(JOB, job=_job(e))
    if e.actor_type == ACTOR_ANONYMOUS:
        return Who(LINK, link=_link(e.actor_id))
    return Who(UNKNOWN)


def _session_holder(actor_id: str, reader_id: str, patient_id: str, linked: Collection[str]) -> str:
    if actor_id == reader_id:
        return YOU
    if actor_id == patient_id:
        return THE_PATIENT
    return GUARDIAN if actor_id in linked else SOMEONE_ELSE


def _job(e: AuditEvent) -> str:
    job = _JOB_BY_ID.get(e.actor_id, "")
    if not job:
        job = "import" if e.source.startswith("import:") else "other"
    return job


def _link(actor_id: str) -> str:
    if actor_id == "calendar_feed":
        return "calendar"
    for prefix, link in (("share:", "share"), ("paylink:", "payment")):
        if actor_id.startswith(prefix):
            return link
    return "message"


# --- what -----------------------------------------------------------------------------------------

VIEWED_SOMETHING = "viewed_something"
CHANGED_SOMETHING = "changed_something"

_BY_ACTION = {
    # the record itself
    "patient.read": "viewed_record",
    "patient.family.read": "viewed_family",
    "patient.search": "found_in_search",
    "import.write": "updated_from_records",
    "session.start": "signed_in",
    ACCESS_LOG_READ: "viewed_access_log",
    EXPORT: "exported_data",
    "access_denied": "refused",
    # contact details and preferences
    "contact.read": "viewed_contact",
    "preferences.read": "viewed_preferences",
    "preferences.update": "changed_preferences",
    "email.unsubscribe": "unsubscribed_email",
    "messages.read": "viewed_messages",
    "inbox.read": "viewed_messages",
    "inbox.assign": "handled_message",
    "inbox.close": "handled_message",
    # appointments
    "appointments.list": "viewed_appointments",
    "appointment.read": "viewed_appointments",
    "appointments.requests.read": "viewed_appointments",
    "day_sheet.read": "viewed_appointments",
    "reminders.read": "viewed_reminders",
    "appointment.book": "booked_appointment",
    "appointment.request": "requested_appointment",
    "appointment.approve": "approved_request",
    "appointment.decline": "declined_request",
    "appointment.confirm": "confirmed_appointment",
    "appointment.cancel": "cancelled_appointment",
    "appointment.reschedule": "rescheduled_appointment",
    "appointment.arrive": "checked_in",
    "appointment.complete": "completed_visit",
    "appointment.no-show": "marked_no_show",
    "appointment.calendar": "downloaded_calendar",
    "calendar.feed.read": "read_calendar_feed",
    "calendar.feed.create": "created_calendar_feed",
    "calendar.feed.revoke": "stopped_calendar_feed",
    "waitlist.join": "joined_waitlist",
    "waitlist.leave": "left_waitlist",
    "waitlist.read": "viewed_waitlist",
    "waitlist.offer_sent": "offered_earlier_time",
    "waitlist.offer_read": "viewed_offer",
    "waitlist.accept": "accepted_offer",
    # x-rays and photos
    "image.list": "viewed_images",
    "image.view": "viewed_image",
    "image.download": "downloaded_images",
    "image.upload": "added_image",
    "image.share_create": "shared_images",
    "image.share_open": "opened_shared_images",
    "image.share_revoke": "stopped_sharing_images",
    # billing
    "billing.read": "viewed_ledger",
    "ledger.read": "viewed_ledger",
    "statement.read": "viewed_statement",
    "plan.read": "viewed_payment_plans",
    "ledger.write": "changed_ledger",
    "ledger.import": "changed_ledger",
    "plan.create": "created_payment_plan",
    "paylink.create": "sent_pay_link",
    "paylink.send": "sent_pay_link",
    "paylink.open": "opened_pay_link",
    "paylink.verified": "opened_pay_link",
    "paylink.balance": "viewed_ledger",  # the pay page reads the balance after paying
    "paylink.verify_failed": "pay_link_check_failed",
    "payment.start": "started_payment",
    "payment.confirm": "paid",
    "payment.applied": "paid",
    "payment.refund": "refunded",
    "refund.applied": "refunded",
    "receipt.sent": "sent_receipt",
    # feedback
    "feedback.comments.read": "viewed_feedback",
    "feedback.referrals.read": "viewed_referrals",
}
_BY_PREFIX = (("inbox.reply.", "replied_message"),)
# The areas (first part of an action code) whose events name a patient; a unit test checks that every
# action the code records in them has a phrase of its own. Practice-level actions (settings, policy,
# closures, an import run as a whole, the audit export) never name a patient, so never reach a log.
AUDITED_AREAS = frozenset(
    {
        "access_denied", "access_log", "appointment", "appointments", "billing", "calendar", "contact", "day_sheet",
        "email", "feedback", "image", "import", "inbox", "ledger", "messages", "patient", "paylink", "payment",
        "plan", "preferences", "receipt", "refund", "reminders", "session", "statement", "waitlist",
    }
)  # fmt: skip
PRACTICE_LEVEL = frozenset({"import.run", "feedback.settings.change"})
_READ_VERBS = {"read", "list", "view", "search", "open", "get", "export", "download"}

PHRASES: tuple[str, ...] = tuple(
    dict.fromkeys([*_BY_ACTION.values(), *(p for _, p in _BY_PREFIX), VIEWED_SOMETHING, CHANGED_SOMETHING])
)


def phrase_of(action: str) -> str:
    """The phrase key for an action code; unmapped codes fall back on their last verb."""
    if action in _BY_ACTION:
        return _BY_ACTION[action]
    for prefix, phrase in _BY_PREFIX:
        if action.startswith(prefix):
            return phrase
    verb = action.replace("-", ".").replace("_", ".").rsplit(".", 1)[-1]
    return VIEWED_SOMETHING if verb in _READ_VERBS else CHANGED_SOMETHING


# --- entries --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccessEntry:
    id: str
    at: datetime
    who: Who
    what: str  # one of PHRASES


def entry_of(e: AuditEvent, reader_id: str, patient_id: str, linked: Collection[str]) -> AccessEntry:
    return AccessEntry(e.id, e.at, who_of(e, reader_id, patient_id, linked), phrase_of(e.action))


def hide_own(e: AuditEvent, reader_id: str) -> bool:
    """True for the reader's own activity (what "only others" leaves out)."""
    return e.actor_type == ACTOR_PATIENT and e.actor_id == reader_id
