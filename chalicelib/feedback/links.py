"""Survey links: a single-purpose signed token (chalicelib/platform/signed.py) naming the practice and
the appointment, valid ``SURVEY_LIFETIME``. Single use is the store's job: an answer is written once
(attribute_not_exists). Pure: stdlib only."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from chalicelib.feedback.model import SURVEY_LIFETIME, SURVEY_PURPOSE
from chalicelib.platform import signed


def survey_token(key: bytes, practice_id: str, appointment_id: str, now: datetime) -> str:
    return signed.sign(
        key, SURVEY_PURPOSE, {"p": practice_id, "a": appointment_id}, int((now + SURVEY_LIFETIME).timestamp())
    )


def survey_url(
    web_base_url: str, key: bytes, practice_id: str, appointment_id: str, now: datetime, language: str = ""
) -> str:
    token = survey_token(key, practice_id, appointment_id, now)
    lang = f"&lang={quote(language)}" if language in ("es",) else ""
    return f"{web_base_url}/survey/?t={token}{lang}"


def referral_url(web_base_url: str, practice_id: str, code: str) -> str:
    return f"{web_base_url}/practice/?practice={quote(practice_id)}&ref={quote(code)}"
