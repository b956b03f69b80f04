"""Feedback for the demo practice: review links and social profiles, a few answered surveys on recent
completed visits, one counted referral by the showcase patient, and an unanswered survey link for the
showcase patient's last completed visit (the stack prints it; the browser tests answer it).

Cheap on purpose: a handful of Queries (recent local days) and about a dozen writes; idempotent.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from chalicelib.appointments.model import COMPLETED, Appointment
from chalicelib.appointments.store import AppointmentStore
from chalicelib.feedback.links import survey_url
from chalicelib.feedback.model import Answer, FeedbackSettings, Referral, month_of, referral_code
from chalicelib.feedback.store import FeedbackStore
from chalicelib.platform.secrets import token_signing_key
from chalicelib.platform.settings import get_settings

SETTINGS = FeedbackSettings(
    review_links={
        "google": "https://search.google.com/local/writereview?placeid=demo-maple-family-dental",
        "yelp": "https://www.yelp.com/writeareview/biz/demo-maple-family-dental",
        "facebook": "https://www.facebook.com/demo.maple.family.dental/reviews",
    },
    social={
        "facebook": "https://www.facebook.com/demo.maple.family.dental",
        "instagram": "https://www.instagram.com/demo.maple.family.dental",
    },
)
SCORES = (
    (10, ""),
    (9, "Friendly front desk and no waiting."),
    (8, ""),
    (10, "Best cleaning I've had."),
    (5, "Parking was hard."),
)


def _recent_completed(store: AppointmentStore, practice_id: str, anchor: date, wanted: int) -> list[Appointment]:
    found: list[Appointment] = []
    for back in range(1, 15):
        for a in store.on_day(practice_id, anchor - timedelta(days=back)):
            if a.status == COMPLETED:
                found.append(a)
        if len(found) >= wanted:
            break
    return found[:wanted]


def load_feedback_demo(practice_id: str, zone: str, anchor: date, showcase_patient_id: str) -> str:
    """Seed the demo's feedback; returns the showcase patient's unanswered survey link ("" if none)."""
    feedback = FeedbackStore()
    if feedback.settings(practice_id).version == 0:
        feedback.save_settings(practice_id, SETTINGS, 0)
    appointments = AppointmentStore()
    recent = _recent_completed(appointments, practice_id, anchor, len(SCORES) + 1)
    for a, (score, comment) in zip(recent, SCORES, strict=False):
        answered = a.end + timedelta(hours=3)
        feedback.record_answer(  # False (nothing written) when a second load finds it answered
            Answer(
                practice_id, a.id, a.patient_id, a.provider_id, score, comment, "en", answered, month_of(answered, zone)
            )
        )
    key = token_signing_key()
    code = referral_code(key, practice_id, showcase_patient_id)
    feedback.save_code(practice_id, code, showcase_patient_id)
    friend = recent[len(SCORES)] if len(recent) > len(SCORES) else None
    # The made-up friend's "address" marks the demo referral as written (a second load skips it).
    if friend is not None and feedback.referral_for_address(practice_id, "demo-referral") is None:
        referral = Referral("demo-referral", showcase_patient_id, code, friend.start - timedelta(days=7))
        feedback.add_referral(practice_id, referral, ["demo-referral"])
        feedback.count_referral(practice_id, referral, friend.patient_id, month_of(friend.end, zone), friend.end)
    now = datetime.now(ZoneInfo(zone))
    mine = appointments.for_patient(practice_id, showcase_patient_id, now - timedelta(days=400), now)
    done = [a for a in mine if a.status == COMPLETED and feedback.answer(practice_id, a.id) is None]
    if not done:
        return ""
    return survey_url(get_settings().web_base_url, key, practice_id, done[-1].id, now)
