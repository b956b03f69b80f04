"""Feedback domain: post-visit survey answers, review links, referrals and the monthly roll-ups. Pure.

Stdlib, ``phonenumbers`` and ``email_validator`` only.

Rules (issue 7):
- A survey asks 0-10 "how likely are you to recommend us" and an optional comment (at most
  ``MAX_COMMENT`` characters). Every answer is offered the practice's review links whatever the score
  (no review gating); a score at or below ``low_score_max`` (6 by default) also opens a staff inbox item.
- NPS = % promoters (9-10) - % detractors (0-6), a whole number from -100 to 100.
- A patient gets at most one survey per ``survey_every_months`` (6 by default).
- Referral codes are derived from the patient (HMAC), so a code cannot be guessed and one patient
  always has the same code; the code is also stored, so a forged one is simply not found.
- Rewards for referrals are off by default: some states restrict inducements for referrals in
  health care (anti-kickback and dental board rules), so a practice turns them on knowingly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from email_validator import EmailNotValidError, validate_email

SURVEY_PURPOSE = "feedback.survey"
SURVEY_LIFETIME = timedelta(days=30)
MAX_COMMENT = 1000
MAX_BODY_BYTES = 8 * 1024  # a survey answer or a new-patient request is small; spam-sized bodies are refused
SITES = ("google", "yelp", "facebook")
SOCIAL = ("facebook", "instagram", "x", "youtube", "tiktok", "linkedin")
CHANNELS = ("sms", "email")
PROMOTER, PASSIVE, DETRACTOR = "promoter", "passive", "detractor"
REWARDS_NOTE = (
    "Some states restrict rewards for patient referrals (anti-kickback and dental board rules). "
    "Check yours before turning rewards on."
)


class FeedbackError(ValueError):
    """Input that cannot be used, with a stable code and a message for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- settings -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedbackSettings:
    """A practice's feedback policy and public links. ``version`` 0 is the default (never saved)."""

    review_links: Mapping[str, str] = field(default_factory=dict)  # site -> https URL
    social: Mapping[str, str] = field(default_factory=dict)  # network -> https URL
    survey_enabled: bool = True
    survey_delay_hours: int = 2
    survey_channel: str = "sms"
    survey_every_months: int = 6
    low_score_max: int = 6
    rewards_enabled: bool = False
    reward_text: str = ""
    version: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "review_links": dict(self.review_links),
            "social": dict(self.social),
            "survey_enabled": self.survey_enabled,
            "survey_delay_hours": self.survey_delay_hours,
            "survey_channel": self.survey_channel,
            "survey_every_months": self.survey_every_months,
            "low_score_max": self.low_score_max,
            "rewards_enabled": self.rewards_enabled,
            "reward_text": self.reward_text,
            "rewards_note": REWARDS_NOTE,
        }

    def public_links(self) -> dict[str, Any]:
        return {
            "review_links": [{"site": s, "url": u} for s, u in self.review_links.items()],
            "social": [{"network": n, "url": u} for n, u in self.social.items()],
        }


_URL = re.compile(r"^https://[A-Za-z0-9.-]+(:\d+)?(/[^\s<>\"']*)?$")


def _links(raw: Any, allowed: tuple[str, ...], name: str) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        raise FeedbackError("invalid_settings", f"{name} maps a site name to an https URL")
    out: dict[str, str] = {}
    for site, url in raw.items():
        if site not in allowed:
            raise FeedbackError("invalid_settings", f"{name} takes {', '.join(allowed)}")
        if url in (None, ""):
            continue
        if not isinstance(url, str) or len(url) > 500 or not _URL.match(url):
            raise FeedbackError("invalid_settings", f"{name}.{site} is an https URL")
        out[str(site)] = url
    return out


def _int(raw: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FeedbackError("invalid_settings", f"{name} is a whole number from {low} to {high}")
    return value


def _bool(raw: Mapping[str, Any], name: str, default: bool) -> bool:
    value = raw.get(name, default)
    if not isinstance(value, bool):
        raise FeedbackError("invalid_settings", f"{name} is true or false")
    return value


def settings_from_dict(raw: Mapping[str, Any], version: int = 0) -> FeedbackSettings:
    """Validated settings from their JSON shape; missing fields take the defaults."""
    known = set(FeedbackSettings().as_dict()) - {"rewards_note"}
    unknown = set(raw) - known
    if unknown:
        raise FeedbackError("invalid_settings", f"unknown setting(s): {', '.join(sorted(unknown))}")
    channel = raw.get("survey_channel", "sms")
    if channel not in CHANNELS:
        raise FeedbackError("invalid_settings", "survey_channel is sms or email")
    reward_text = raw.get("reward_text", "")
    if not isinstance(reward_text, str) or len(reward_text) > 200:
        raise FeedbackError("invalid_settings", "reward_text is text of at most 200 characters")
    return FeedbackSettings(
        review_links=_links(raw.get("review_links", {}), SITES, "review_links"),
        social=_links(raw.get("social", {}), SOCIAL, "social"),
        survey_enabled=_bool(raw, "survey_enabled", True),
        survey_delay_hours=_int(raw, "survey_delay_hours", 2, 0, 72),
        survey_channel=str(channel),
        survey_every_months=_int(raw, "survey_every_months", 6, 0, 24),
        low_score_max=_int(raw, "low_score_max", 6, 0, 9),
        rewards_enabled=_bool(raw, "rewards_enabled", False),
        reward_text=reward_text.strip(),
        version=version,
    )


# --- survey answers -------------------------------------------------------------------------------


def valid_answer(score: Any, comment: Any) -> tuple[int, str]:
    """The score (a whole number 0-10) and the trimmed comment, or ``FeedbackError``."""
    if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 10:
        raise FeedbackError("invalid_score", "score is a whole number from 0 to 10")
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        raise FeedbackError("invalid_comment", "comment is text")
    text = comment.replace("\x00", "").strip()
    if len(text) > MAX_COMMENT:
        raise FeedbackError("comment_too_long", f"a comment has at most {MAX_COMMENT} characters")
    return score, text


def category(score: int) -> str:
    if score >= 9:
        return PROMOTER
    if score >= 7:
        return PASSIVE
    return DETRACTOR


def nps(promoters: int, passives: int, detractors: int) -> int | None:
    total = promoters + passives + detractors
    if total == 0:
        return None
    return round(100 * (promoters - detractors) / total)


def month_of(at: datetime, zone: str) -> str:
    """The practice-local month (YYYY-MM) an instant falls in."""
    return at.astimezone(ZoneInfo(zone)).strftime("%Y-%m")


def months_back(last: str, count: int) -> list[str]:
    """``count`` months ending with ``last`` (YYYY-MM), oldest first."""
    year, month = int(last[:4]), int(last[5:7])
    out = []
    for _ in range(count):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return list(reversed(out))


def months_before(at: datetime, months: int) -> datetime:
    """``at`` moved back ``months`` calendar months (the day clamped to the month's end)."""
    year, month = at.year, at.month - months
    while month < 1:
        year, month = year - 1, month + 12
    for day in range(at.day, 27, -1):
        try:
            return at.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    return at.replace(year=year, month=month, day=min(at.day, 28))


@dataclass(frozen=True)
class Answer:
    practice_id: str
    appointment_id: str
    patient_id: str
    provider_id: str
    score: int
    comment: str
    language: str
    answered_at: datetime
    month: str

    @property
    def category(self) -> str:
        return category(self.score)


# --- roll-ups ----------------------------------------------------------------------------------------
#
# One item per practice-month holds flat counters, each bumped with ADD in the write that records the
# answer or the referral: ``n`` answers, ``sum`` of scores, ``pro``/``pas``/``det`` per category,
# ``ref`` referrals counted, and per provider ``p#<provider>#n``, ``p#<provider>#sum``,
# ``p#<provider>#pro|pas|det``, per referrer ``r#<patient>``.


def answer_deltas(score: int, provider_id: str) -> dict[str, int]:
    short = {PROMOTER: "pro", PASSIVE: "pas", DETRACTOR: "det"}[category(score)]
    deltas = {"n": 1, "sum": score, short: 1}
    if provider_id:
        deltas.update({f"p#{provider_id}#n": 1, f"p#{provider_id}#sum": score, f"p#{provider_id}#{short}": 1})
    return deltas


def referral_deltas(referrer_id: str) -> dict[str, int]:
    return {"ref": 1, f"r#{referrer_id}": 1}


@dataclass(frozen=True)
class Scores:
    responses: int = 0
    score_sum: int = 0
    promoters: int = 0
    passives: int = 0
    detractors: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "responses": self.responses,
            "average": round(self.score_sum / self.responses, 2) if self.responses else None,
            "nps": nps(self.promoters, self.passives, self.detractors),
            "promoters": self.promoters,
            "passives": self.passives,
            "detractors": self.detractors,
        }


@dataclass(frozen=True)
class Rollup:
    month: str
    scores: Scores = field(default_factory=Scores)
    by_provider: Mapping[str, Scores] = field(default_factory=dict)
    referrals: int = 0
    by_referrer: Mapping[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "month": self.month,
            **self.scores.as_dict(),
            "by_provider": [{"provider_id": p, **s.as_dict()} for p, s in sorted(self.by_provider.items())],
            "referrals": self.referrals,
        }


def _scores(counters: Mapping[str, int], prefix: str = "") -> Scores:
    return Scores(
        responses=int(counters.get(f"{prefix}n", 0)),
        score_sum=int(counters.get(f"{prefix}sum", 0)),
        promoters=int(counters.get(f"{prefix}pro", 0)),
        passives=int(counters.get(f"{prefix}pas", 0)),
        detractors=int(counters.get(f"{prefix}det", 0)),
    )


def rollup_from_counters(month: str, counters: Mapping[str, int]) -> Rollup:
    providers = {k.split("#")[1] for k in counters if k.startswith("p#") and k.count("#") == 2}
    referrers = {k[2:]: int(v) for k, v in counters.items() if k.startswith("r#")}
    return Rollup(
        month=month,
        scores=_scores(counters),
        by_provider={p: _scores(counters, f"p#{p}#") for p in providers},
        referrals=int(counters.get("ref", 0)),
        by_referrer=referrers,
    )


def combined(rollups: list[Rollup]) -> Rollup:
    """Several months as one (for totals and the referral leaderboard)."""
    counters: dict[str, int] = {}

    def bump(key: str, value: int) -> None:
        counters[key] = counters.get(key, 0) + value

    for r in rollups:
        for prefix, s in [("", r.scores), *((f"p#{p}#", s) for p, s in r.by_provider.items())]:
            for name, value in (
                ("n", s.responses),
                ("sum", s.score_sum),
                ("pro", s.promoters),
                ("pas", s.passives),
                ("det", s.detractors),
            ):
                bump(prefix + name, value)
        bump("ref", r.referrals)
        for who, count in r.by_referrer.items():
            bump(f"r#{who}", count)
    return rollup_from_counters("total", counters)


# --- referrals -----------------------------------------------------------------------------------------

_CODE_ALPHABET = re.compile(r"^[A-Z2-7]{8}$")


def referral_code(key: bytes, practice_id: str, patient_id: str) -> str:
    """A patient's 8-character referral code (base32, no ambiguous 0/1/8/9)."""
    mac = hmac.new(key, f"referral\x1f{practice_id}\x1f{patient_id}".encode(), hashlib.sha256).digest()
    return base64.b32encode(mac[:5]).decode("ascii")


def well_formed_code(code: str) -> bool:
    return bool(_CODE_ALPHABET.match(code or ""))


@dataclass(frozen=True)
class NewPatientRequest:
    """What someone who is not yet a patient asks for through the public page."""

    name: str
    phone: str  # E.164 or ""
    email: str  # normalised or ""
    reason: str
    preferred_times: str
    language: str = "en"
    referral_code: str = ""

    def addresses(self) -> list[str]:
        return [a for a in (self.phone, self.email) if a]

    def inbox_text(self, referred: bool) -> str:
        lines = [f"New patient request: {self.name}"]
        if self.phone:
            lines.append(f"Phone: {self.phone}")
        if self.email:
            lines.append(f"Email: {self.email}")
        if self.reason:
            lines.append(f"Reason: {self.reason}")
        if self.preferred_times:
            lines.append(f"Preferred times: {self.preferred_times}")
        if referred:
            lines.append(f"Referred by a patient (code {self.referral_code})")
        return "\n".join(lines)


def _text(raw: Mapping[str, Any], name: str, limit: int, required: bool = False) -> str:
    value = raw.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise FeedbackError("invalid_request", f"{name} is text")
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", value).strip()
    if required and not text:
        raise FeedbackError(f"{name}_required", f"{name} is required")
    if len(text) > limit:
        raise FeedbackError(f"{name}_too_long", f"{name} has at most {limit} characters")
    return text


def request_from_dict(raw: Mapping[str, Any], region: str = "US") -> NewPatientRequest:
    """A validated new-patient request: a name, and a phone or an email that can be reached."""
    unknown = set(raw) - {"name", "phone", "email", "reason", "preferred_times", "language", "referral_code"}
    if unknown:
        raise FeedbackError("invalid_request", f"unknown field(s): {', '.join(sorted(unknown))}")
    name = _text(raw, "name", 120, required=True)
    phone_raw = _text(raw, "phone", 40)
    email_raw = _text(raw, "email", 254)
    phone = ""
    if phone_raw:
        try:
            number = phonenumbers.parse(phone_raw, region)
        except phonenumbers.NumberParseException as exc:
            raise FeedbackError("invalid_phone", "that phone number does not look right") from exc
        if not phonenumbers.is_possible_number(number):
            raise FeedbackError("invalid_phone", "that phone number does not look right")
        phone = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    email = ""
    if email_raw:
        try:
            # test_environment admits the reserved .test domain demos use, as imports do; no DNS lookups.
            checked = validate_email(email_raw, check_deliverability=False, test_environment=True)
            email = checked.normalized.lower()
        except EmailNotValidError as exc:
            raise FeedbackError("invalid_email", "that email address does not look right") from exc
    if not phone and not email:
        raise FeedbackError("contact_required", "give a phone number or an email address")
    language = raw.get("language") or "en"
    if language not in ("en", "es"):
        raise FeedbackError("invalid_request", "language is en or es")
    code = _text(raw, "referral_code", 16).upper()
    if code and not well_formed_code(code):
        raise FeedbackError("referral_not_found", "that referral code is not known")
    return NewPatientRequest(
        name=name,
        phone=phone,
        email=email,
        reason=_text(raw, "reason", 500),
        preferred_times=_text(raw, "preferred_times", 200),
        language=str(language),
        referral_code=code,
    )


@dataclass(frozen=True)
class Referral:
    """A new-patient request that came through a referral link; counted once, on the first visit."""

    id: str
    referrer_id: str
    code: str
    created_at: datetime
    status: str = "pending"  # pending | counted
    patient_id: str = ""  # the new patient, once counted
