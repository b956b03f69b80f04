"""Feedback use cases: plan a survey when a visit is completed, take its answer, referral links and
new-patient requests, and the staff read models. Ports come in as one ``FeedbackPorts``.

Invariants:
- A survey goes out through the reminder engine as a touch of kind ``survey`` with the fixed id
  ``APPT#<appointment>#survey`` (created once), so it honours contact preferences (message type
  ``feedback``), opt-outs, suppressions and sending hours like every other message. Before that, one
  conditional write on SURVEYED#<patient> admits at most one survey per ``survey_every_months``.
- An answer is written once (conditional on the appointment having none), together with the ADDs to
  its month's roll-up, in one transaction: a reused link is refused (409) and counts nothing twice.
- A referral counts once: its item moves pending -> counted conditionally, in the transaction that
  bumps the roll-up, and only that writer creates the referrer's thank-you touch.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from chalicelib.appointments.events import STATUS_CHANGED, AppointmentChanged
from chalicelib.appointments.model import COMPLETED, Appointment
from chalicelib.feedback.links import referral_url
from chalicelib.feedback.model import (
    SURVEY_PURPOSE,
    Answer,
    FeedbackError,
    Referral,
    category,
    combined,
    month_of,
    months_back,
    months_before,
    referral_code,
    request_from_dict,
    settings_from_dict,
    valid_answer,
    well_formed_code,
)
from chalicelib.feedback.ports import FeedbackPorts
from chalicelib.identity.model import RateRule
from chalicelib.patients.model import Patient
from chalicelib.platform import signed
from chalicelib.platform.auth import PatientCaller
from chalicelib.platform.errors import ApiError, Conflict, NotFound, RetryLater, Unprocessable
from chalicelib.platform.observability import logger, metrics
from chalicelib.practices.model import Practice
from chalicelib.reminders.model import SMS, SURVEY_TOUCH, THANKS_TOUCH, InboxEntry, Touch, e164, normal_email
from chalicelib.reminders.service import guardian_recipients

PER_CLIENT = RateRule("newpatient_client", 5, timedelta(hours=1))
# Refused tries (422, unknown referral code) are counted apart with a higher cap: correcting typos
# never spends the allowance for real requests, while a script still meets a wall.
PER_CLIENT_INVALID = RateRule("newpatient_client_invalid", 30, timedelta(hours=1))
PER_CONTACT = RateRule("newpatient_contact", 2, timedelta(days=1))
PER_PRACTICE = RateRule("newpatient_practice", 200, timedelta(days=1))
LOW_SCORE = "low_score"
NEW_PATIENT = "new_patient_request"


class LinkExpired(ApiError):
    status = 410
    code = "link_expired"


def _now(ports: FeedbackPorts) -> datetime:
    return ports.clock.now().replace(microsecond=0)


def _practice(ports: FeedbackPorts, practice_id: str) -> Practice:
    practice = ports.reminders.practices.get(practice_id)
    if practice is None:
        raise NotFound("no such practice")
    return practice


def _invalid(exc: FeedbackError) -> ApiError:
    if exc.code == "referral_not_found":
        return NotFound(exc.message, code=exc.code)
    return Unprocessable(exc.message, code=exc.code)


# --- after a visit -----------------------------------------------------------------------------------


def on_appointment_changed(ports: FeedbackPorts, event: AppointmentChanged) -> None:
    """The bus consumer: a completed visit plans its survey and may count a referral. A feedback
    problem never fails the status change that raised it (logged with ids, counted)."""
    if event.kind != STATUS_CHANGED or event.status != COMPLETED:
        return
    try:
        appointment = ports.reminders.appointments.get(event.practice_id, event.appointment_id)
        if appointment is None or appointment.status != COMPLETED:
            return
        practice = ports.reminders.practices.get(event.practice_id)
        patient = ports.reminders.patients.get(event.practice_id, appointment.patient_id)
        if practice is None or patient is None:
            return
        plan_survey(ports, practice, appointment, patient)
        count_referral(ports, practice, appointment, patient)
    except Exception:
        logger.exception(
            "feedback after a visit failed",
            extra={"practice_id": event.practice_id, "appointment_id": event.appointment_id},
        )
        metrics.add_metric(name="FeedbackPlanFailed", unit="Count", value=1)


def plan_survey(ports: FeedbackPorts, practice: Practice, appointment: Appointment, patient: Patient) -> Touch | None:
    """The survey touch for a completed visit, or None (surveys off, inactive patient, surveyed lately)."""
    settings = ports.store.settings(practice.id)
    if not settings.survey_enabled or not patient.active:
        return None
    now = _now(ports)
    months = settings.survey_every_months
    cutoff = months_before(now, months) if months else now + timedelta(seconds=1)
    if not ports.store.claim_survey(practice.id, patient.id, appointment.id, now, cutoff):
        return None
    touch = Touch(
        practice_id=practice.id,
        id=f"APPT#{appointment.id}#survey",
        kind=SURVEY_TOUCH,
        key="survey",
        subject_id=appointment.id,
        patient_id=patient.id,
        due=now + timedelta(hours=settings.survey_delay_hours),
        channel=settings.survey_channel,
        fallback=True,
        planned_start=appointment.start,
        recipients=guardian_recipients(ports.reminders, practice.id, patient),
        created_at=now,
    )
    ports.reminders.store.create_touch(touch)
    return touch


def count_referral(ports: FeedbackPorts, practice: Practice, appointment: Appointment, patient: Patient) -> bool:
    """Count the referral that brought this patient, on their first completed visit, once."""
    referral = None
    for address in (e164(patient.phone), normal_email(patient.email)):
        found = ports.store.referral_for_address(practice.id, address) if address else None
        if found is not None and found.status == "pending" and found.referrer_id != patient.id:
            referral = found
            break
    if referral is None:
        return False
    earlier = ports.reminders.appointments.for_patient(
        practice.id, patient.id, appointment.start - timedelta(days=3 * 366), appointment.start
    )
    if any(a.id != appointment.id and a.status == COMPLETED for a in earlier):
        return False  # not their first visit: they were a patient before the referral
    now = _now(ports)
    if not ports.store.count_referral(practice.id, referral, patient.id, month_of(now, practice.zone), now):
        return False
    ports.reminders.store.create_touch(
        Touch(
            practice_id=practice.id,
            id=f"REFERRAL#{referral.id}#thanks",
            kind=THANKS_TOUCH,
            key="thanks",
            subject_id=appointment.id,
            patient_id=referral.referrer_id,
            due=now,
            channel=SMS,
            fallback=True,
            planned_start=appointment.start,
            created_at=now,
        )
    )
    metrics.add_metric(name="ReferralCounted", unit="Count", value=1)
    return True


# --- the survey page ------------------------------------------------------------------------------------


def _survey_claims(ports: FeedbackPorts, token: str) -> tuple[str, str]:
    try:
        claims = signed.verify(ports.signing_key(), token, SURVEY_PURPOSE, int(ports.clock.now().timestamp()))
    except signed.BadToken as exc:
        if exc.reason == signed.EXPIRED:
            raise LinkExpired("this survey link has expired") from exc
        raise NotFound("this survey link is not valid", code="link_invalid") from exc
    return str(claims.get("p", "")), str(claims.get("a", ""))


def _survey_target(ports: FeedbackPorts, token: str) -> tuple[Practice, Appointment]:
    practice_id, appointment_id = _survey_claims(ports, token)
    practice = ports.reminders.practices.get(practice_id)
    appointment = ports.reminders.appointments.get(practice_id, appointment_id)
    if practice is None or appointment is None:
        raise NotFound("this survey link is not valid", code="link_invalid")
    return practice, appointment


def _practice_card(practice: Practice) -> dict[str, Any]:
    return {"id": practice.id, "name": practice.name, "phone": practice.phone}


def open_survey(ports: FeedbackPorts, token: str) -> dict[str, Any]:
    """What the survey page shows before an answer; 409 once the survey was answered."""
    practice, appointment = _survey_target(ports, token)
    if ports.store.answer(practice.id, appointment.id) is not None:
        raise Conflict("this survey was already answered, thank you", code="already_answered")
    return {
        "practice": _practice_card(practice),
        "visit_date": appointment.start.astimezone(practice.tz).date().isoformat(),
    }


def answer_survey(ports: FeedbackPorts, token: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Record the answer once; every answer gets the review links; a low score opens an inbox item."""
    practice, appointment = _survey_target(ports, token)
    unknown = set(raw) - {"score", "comment", "language"}
    if unknown:
        raise Unprocessable(f"unknown field(s): {', '.join(sorted(unknown))}", code="invalid_answer")
    try:
        score, comment = valid_answer(raw.get("score"), raw.get("comment"))
    except FeedbackError as exc:
        raise _invalid(exc) from exc
    language = raw.get("language") if raw.get("language") in ("en", "es") else "en"
    now = _now(ports)
    answer = Answer(
        practice_id=practice.id,
        appointment_id=appointment.id,
        patient_id=appointment.patient_id,
        provider_id=appointment.provider_id,
        score=score,
        comment=comment,
        language=str(language),
        answered_at=now,
        month=month_of(now, practice.zone),
    )
    if not ports.store.record_answer(answer):
        raise Conflict("this survey was already answered, thank you", code="already_answered")
    settings = ports.store.settings(practice.id)
    low = score <= settings.low_score_max
    if low:
        visit = appointment.start.astimezone(practice.tz).date().isoformat()
        ports.reminders.store.add_inbox(
            practice.id,
            InboxEntry(
                id=f"survey-{appointment.id}",
                at=now,
                kind=LOW_SCORE,
                address="",
                patient_ids=(appointment.patient_id,),
                text=f"Survey score {score}/10 after the visit on {visit}." + (f"\n{comment}" if comment else ""),
            ),
        )
    metrics.add_metric(name="SurveyAnswered", unit="Count", value=1)
    return {"recorded": True, "follow_up": low, "practice": _practice_card(practice), **settings.public_links()}


# --- referrals ------------------------------------------------------------------------------------------


def my_referral(ports: FeedbackPorts, caller: PatientCaller, patient_id: str = "") -> dict[str, Any]:
    """The signed-in patient's referral code and link (a guardian's session: the first patient's)."""
    chosen = patient_id or (caller.holder_id if caller.owns(caller.holder_id) else "")
    if not chosen and caller.patient_ids:
        chosen = caller.patient_ids[0]
    if not chosen or not caller.owns(chosen):
        raise NotFound("no such patient")
    practice = _practice(ports, caller.practice_id)
    code = referral_code(ports.signing_key(), practice.id, chosen)
    ports.store.save_code(practice.id, code, chosen)
    settings = ports.store.settings(practice.id)
    return {
        "patient_id": chosen,
        "code": code,
        "url": referral_url(ports.web_base_url, practice.id, code),
        "practice": _practice_card(practice),
        "rewards": {
            "enabled": settings.rewards_enabled,
            "text": settings.reward_text if settings.rewards_enabled else "",
        },
    }


def check_referral(ports: FeedbackPorts, practice_id: str, code: str) -> dict[str, Any]:
    practice = _practice(ports, practice_id)
    code = (code or "").upper()
    if not well_formed_code(code) or ports.store.code_owner(practice.id, code) is None:
        raise NotFound("that referral code is not known", code="referral_not_found")
    return {"valid": True, "code": code, "practice": _practice_card(practice)}


class RequestRateLimited(RetryLater):
    """New-patient requests past one of their caps."""


def _limit(ports: FeedbackPorts, practice_id: str, rule: RateRule, key: str, now: datetime) -> None:
    digest = hmac.new(ports.signing_key(), f"{rule.scope}\x1f{key}".encode(), hashlib.sha256).hexdigest()[:24]
    if not ports.rates.hit(practice_id, rule.counter_key(digest, now), rule.limit, rule.window_end(now)):
        logger.info("new-patient request rate limited", extra={"practice_id": practice_id, "scope": rule.scope})
        raise RequestRateLimited(
            "too many requests; please call the practice or try again later", rule.retry_after(now)
        )


def request_visit(ports: FeedbackPorts, practice_id: str, raw: dict[str, Any], client: str) -> dict[str, Any]:
    """A public new-patient request: validated first (a refused one counts only against the client's
    higher cap on refused tries), then rate-limited per client, per phone or email and per practice,
    then one staff inbox item (and a pending referral when a known code came with it)."""
    practice = _practice(ports, practice_id)
    now = _now(ports)
    client = client or "unknown"
    try:
        request = request_from_dict(raw)
    except FeedbackError as exc:
        _limit(ports, practice.id, PER_CLIENT_INVALID, client, now)
        raise _invalid(exc) from exc
    referrer = None
    if request.referral_code:
        referrer = ports.store.code_owner(practice.id, request.referral_code)
        if referrer is None:
            _limit(ports, practice.id, PER_CLIENT_INVALID, client, now)
            raise NotFound("that referral code is not known", code="referral_not_found")
    _limit(ports, practice.id, PER_CLIENT, client, now)
    _limit(ports, practice.id, PER_CONTACT, request.phone or request.email, now)
    _limit(ports, practice.id, PER_PRACTICE, "all", now)
    request_id = secrets.token_hex(8)
    ports.reminders.store.add_inbox(
        practice.id,
        InboxEntry(
            id=f"newpatient-{request_id}",
            at=now,
            kind=NEW_PATIENT,
            address=request.phone or request.email,
            patient_ids=(referrer,) if referrer else (),
            text=request.inbox_text(referred=referrer is not None),
        ),
    )
    if referrer is not None:
        ports.store.add_referral(
            practice.id, Referral(request_id, referrer, request.referral_code, now), request.addresses()
        )
    logger.info("new-patient request", extra={"practice_id": practice.id, "referred": referrer is not None})
    return {"received": True, "referred": referrer is not None}


# --- settings and staff views -------------------------------------------------------------------------


def settings_view(ports: FeedbackPorts, practice_id: str) -> dict[str, Any]:
    return ports.store.settings(_practice(ports, practice_id).id).as_dict()


def change_settings(ports: FeedbackPorts, practice_id: str, raw: dict[str, Any]) -> dict[str, Any]:
    practice = _practice(ports, practice_id)
    expected = raw.get("version")
    if isinstance(expected, bool) or not isinstance(expected, int) or expected < 0:
        raise Unprocessable("version (the version you are replacing) is required", code="version_required")
    try:
        settings = settings_from_dict({k: v for k, v in raw.items() if k not in ("version", "rewards_note")})
    except FeedbackError as exc:
        raise _invalid(exc) from exc
    if not ports.store.save_settings(practice.id, settings, expected):
        raise Conflict("someone saved the settings first; reload them", code="version_conflict")
    return ports.store.settings(practice.id).as_dict()


def public_links(ports: FeedbackPorts, practice_id: str) -> dict[str, Any]:
    practice = _practice(ports, practice_id)
    return {"practice_id": practice.id, **ports.store.settings(practice.id).public_links()}


def _months(ports: FeedbackPorts, practice: Practice, count: int) -> list[str]:
    return months_back(month_of(ports.clock.now(), practice.zone), count)


def summary(ports: FeedbackPorts, practice_id: str, months: int = 6) -> dict[str, Any]:
    """NPS, average score and counts by month and by provider, from the monthly roll-ups."""
    practice = _practice(ports, practice_id)
    rollups = ports.store.feedback_rollups(practice.id, _months(ports, practice, months))
    total = combined(rollups).as_dict()
    total.pop("month")
    return {"months": [r.as_dict() for r in rollups], "total": total}


def comments(ports: FeedbackPorts, practice_id: str, month: str = "") -> dict[str, Any]:
    """Answers of one local month (default: this one), newest first."""
    practice = _practice(ports, practice_id)
    month = month or month_of(ports.clock.now(), practice.zone)
    try:
        start_local = datetime.strptime(f"{month}-01", "%Y-%m-%d").replace(tzinfo=practice.tz)
    except ValueError as exc:
        raise Unprocessable("month is YYYY-MM", code="invalid_month") from exc
    next_month = (start_local + timedelta(days=32)).replace(day=1)
    found = ports.store.answers(practice.id, start_local, next_month)
    return {
        "month": month,
        "answers": [
            {
                "appointment_id": a.appointment_id,
                "patient_id": a.patient_id,
                "provider_id": a.provider_id,
                "score": a.score,
                "category": category(a.score),
                "comment": a.comment,
                "answered_at": a.answered_at.isoformat().replace("+00:00", "Z"),
            }
            for a in found
        ],
    }


def referrals(ports: FeedbackPorts, practice_id: str, months: int = 12) -> dict[str, Any]:
    """Referral counts by month and the leaderboard of referrers over the period."""
    practice = _practice(ports, practice_id)
    rollups = ports.store.feedback_rollups(practice.id, _months(ports, practice, months))
    total = combined(rollups)
    leaders = sorted(total.by_referrer.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    board = []
    for patient_id, count in leaders:
        patient = ports.reminders.patients.get(practice.id, patient_id)
        board.append({"patient_id": patient_id, "name": patient.display_name if patient else "", "referrals": count})
    return {
        "total": total.referrals,
        "months": [{"month": r.month, "referrals": r.referrals} for r in rollups],
        "leaderboard": board,
    }
