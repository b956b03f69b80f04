"""One-time code, patient session and rate counter items, and their repositories.

Keys (see chalicelib/platform/table.py):
  OTP#<contact digest>                 one pending code per contact; a new request replaces it
  SESSION#<token digest>               one item per signed-in session
  RATE#<scope>#<key digest>#<window>   one counter per key and fixed window

All three carry ``expires_at`` (the table's TTL attribute). TTL deletes late, so every read checks
expiry itself and every write states its invariant as a condition.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import JSONAttribute, ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, PutError, UpdateError

from chalicelib.identity.model import (
    MAX_ATTEMPTS,
    SESSION_ABSOLUTE,
    SESSION_IDLE,
    OneTimeCode,
    Session,
    session_expires_at,
)
from chalicelib.platform.table import TableItem, practice_pk

_CONDITION_FAILED = "ConditionalCheckFailedException"


def _failed_condition(exc: PutError | UpdateError | DeleteError) -> bool:
    return exc.cause_response_code == _CONDITION_FAILED


class OtpItem(TableItem, discriminator="Otp"):
    code_digest = UnicodeAttribute()
    channel = UnicodeAttribute()
    issued_at = NumberAttribute()
    attempts = NumberAttribute(default=0)


class SessionItem(TableItem, discriminator="PatientSession"):
    holder_id = UnicodeAttribute()
    patient_ids = ListAttribute(of=UnicodeAttribute, default=list)
    relations = JSONAttribute(default=dict)
    started_at = NumberAttribute()
    last_seen = NumberAttribute()


class RateItem(TableItem, discriminator="Rate"):
    hits = NumberAttribute(null=True)


def otp_sk(contact_digest: str) -> str:
    return f"OTP#{contact_digest}"


def session_sk(session_id: str) -> str:
    return f"SESSION#{session_id}"


def rate_sk(counter_key: str) -> str:
    return f"RATE#{counter_key}"


def _code(i: OtpItem) -> OneTimeCode:
    return OneTimeCode(i.code_digest, i.channel, int(i.issued_at), int(i.expires_at or 0), int(i.attempts or 0))


class DynamoCodes:
    """Pending one-time codes, by contact digest."""

    def put(self, practice_id: str, contact_digest: str, code: OneTimeCode) -> None:
        # Unconditional on purpose: the newest code replaces any earlier one (and its spent attempts);
        # the per-contact rate limit bounds how often that can happen.
        OtpItem(
            practice_pk(practice_id),
            otp_sk(contact_digest),
            code_digest=code.digest,
            channel=code.channel,
            issued_at=code.issued_at,
            attempts=0,
            expires_at=code.expires_at,
        ).save()

    def get(self, practice_id: str, contact_digest: str) -> OneTimeCode | None:
        try:
            return _code(OtpItem.get(practice_pk(practice_id), otp_sk(contact_digest), consistent_read=True))
        except OtpItem.DoesNotExist:
            return None

    def count_attempt(self, practice_id: str, contact_digest: str, now_epoch: int) -> OneTimeCode | None:
        """Spend one attempt atomically; None when there is no live code with attempts left."""
        item = OtpItem(practice_pk(practice_id), otp_sk(contact_digest))
        try:
            item.update(
                actions=[OtpItem.attempts.add(1)],
                condition=OtpItem.code_digest.exists()
                & (OtpItem.attempts < MAX_ATTEMPTS)
                & (OtpItem.expires_at > now_epoch),
            )
        except UpdateError as exc:
            if _failed_condition(exc):
                return None
            raise
        return _code(item)

    def consume(self, practice_id: str, contact_digest: str, digest: str) -> bool:
        """Delete the code if it is still the one that matched: a code signs in once."""
        try:
            OtpItem(practice_pk(practice_id), otp_sk(contact_digest)).delete(condition=OtpItem.code_digest == digest)
        except DeleteError as exc:
            if _failed_condition(exc):
                return False
            raise
        return True


def _session(practice_id: str, i: SessionItem) -> Session:
    return Session(
        id=str(i.sk).removeprefix("SESSION#"),
        practice_id=practice_id,
        holder_id=i.holder_id,
        patient_ids=tuple(str(p) for p in i.patient_ids or []),
        relations={str(k): str(v) for k, v in (i.relations or {}).items()},
        started_at=int(i.started_at),
        last_seen=int(i.last_seen),
    )


class DynamoSessions:
    """Patient sessions, by token digest."""

    def create(self, session: Session) -> None:
        SessionItem(
            practice_pk(session.practice_id),
            session_sk(session.id),
            holder_id=session.holder_id,
            patient_ids=list(session.patient_ids),
            relations=dict(session.relations),
            started_at=session.started_at,
            last_seen=session.last_seen,
            expires_at=session.expires_at,
        ).save(condition=SessionItem.pk.does_not_exist())

    def get(self, practice_id: str, session_id: str) -> Session | None:
        try:
            item = SessionItem.get(practice_pk(practice_id), session_sk(session_id), consistent_read=True)
        except SessionItem.DoesNotExist:
            return None
        return _session(practice_id, item)

    def touch(self, session: Session, now_epoch: int) -> bool:
        """Move last_seen to now, only while the session still exists and is alive."""
        item = SessionItem(practice_pk(session.practice_id), session_sk(session.id))
        try:
            item.update(
                actions=[
                    SessionItem.last_seen.set(now_epoch),
                    SessionItem.expires_at.set(session_expires_at(session.started_at, now_epoch)),
                ],
                condition=SessionItem.holder_id.exists()
                & (SessionItem.last_seen > now_epoch - int(SESSION_IDLE.total_seconds()))
                & (SessionItem.started_at > now_epoch - int(SESSION_ABSOLUTE.total_seconds())),
            )
        except UpdateError as exc:
            if _failed_condition(exc):
                return False
            raise
        return True

    def delete(self, practice_id: str, session_id: str) -> None:
        SessionItem(practice_pk(practice_id), session_sk(session_id)).delete()


class DynamoRates:
    """Fixed-window counters; one atomic conditional ADD per hit."""

    def hit(self, practice_id: str, counter_key: str, limit: int, expires_at: int) -> bool:
        """Count a hit; False (and nothing counted) once the window already holds ``limit`` hits."""
        actions: list[Any] = [
            RateItem.hits.add(1),
            RateItem.expires_at.set(expires_at),
            RateItem.item_type.set(RateItem),
        ]
        try:
            RateItem(practice_pk(practice_id), rate_sk(counter_key)).update(
                actions=actions,
                condition=RateItem.hits.does_not_exist() | (RateItem.hits < limit),
            )
        except UpdateError as exc:
            if _failed_condition(exc):
                return False
            raise
        return True
