"""Feedback items on the single table, and their repository (see chalicelib/platform/table.py).

| item              | SK                         | what                                                            |
|-------------------|----------------------------|-----------------------------------------------------------------|
| settings          | FEEDBACK_SETTINGS          | review links, social profiles, survey policy, rewards; versioned |
| survey gate       | SURVEYED#<patient>         | when the patient was last sent a survey, and for which visit    |
| survey answer     | SURVEY#<appointment>       | score, comment, provider                                        |

Survey answers are also on GSI1: PRACTICE#<p>#FEEDBACK / <answered UTC>#<appointment> (comments by month).
| month roll-up     | FEEDBACK_MONTH#<YYYY-MM>   | flat counters bumped with ADD (see model.py, "roll-ups")        |
| referral code     | REFCODE#<code>             | the referring patient                                           |
| referral          | REFERRAL#<request id>      | referrer, code, pending -> counted                              |
| referred contact  | REFERRED#<E.164 or email>  | the referral a new patient's phone or email came with (first wins) |

Writes that must happen once are conditional; an answer and a counted referral are one
TransactWriteItems with their roll-up ADDs. Roll-up counters have dynamic names (per provider, per
referrer), so those writes use the low-level client; the items are still typed here for reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import PutError

from chalicelib.feedback.model import (
    Answer,
    FeedbackSettings,
    Referral,
    Rollup,
    answer_deltas,
    referral_deltas,
    rollup_from_counters,
    settings_from_dict,
)
from chalicelib.platform.aws import client
from chalicelib.platform.table import TableItem, practice_pk

SETTINGS_SK = "FEEDBACK_SETTINGS"
BATCH_GET = 100


def feedback_index(practice_id: str) -> str:
    return f"PRACTICE#{practice_id}#FEEDBACK"


def iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FeedbackSettingsItem(TableItem, discriminator="FeedbackSettings"):
    data = UnicodeAttribute()
    version = NumberAttribute()


class SurveyAnswerItem(TableItem, discriminator="SurveyAnswer"):
    appointment_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    provider_id = UnicodeAttribute(default="")
    score = NumberAttribute()
    comment = UnicodeAttribute(default="")
    language = UnicodeAttribute(default="en")
    answered_at = UTCDateTimeAttribute()
    month = UnicodeAttribute()


class SurveyGateItem(TableItem, discriminator="SurveyGate"):
    last_at = UnicodeAttribute()
    appointment_id = UnicodeAttribute()


class FeedbackMonthItem(TableItem, discriminator="FeedbackMonth"):
    """Counters are dynamic attributes (read through the low-level client); typed here so the
    discriminator is known."""

    month = UnicodeAttribute()


class RefCodeItem(TableItem, discriminator="ReferralCode"):
    patient_id = UnicodeAttribute()


class ReferralItem(TableItem, discriminator="Referral"):
    referral_id = UnicodeAttribute()
    referrer_id = UnicodeAttribute()
    code = UnicodeAttribute()
    status = UnicodeAttribute(default="pending")
    patient_id = UnicodeAttribute(default="")


class ReferredItem(TableItem, discriminator="Referred"):
    referral_id = UnicodeAttribute()


def _failed(exc: Exception) -> bool:
    return getattr(exc, "cause_response_code", "") == "ConditionalCheckFailedException"


def _cancelled_by_condition(exc: Exception) -> bool:
    reasons = getattr(exc, "response", {}).get("CancellationReasons", [])
    return any(r.get("Code") == "ConditionalCheckFailed" for r in reasons)


def _table() -> str:
    return str(TableItem.Meta.table_name)


def _add_update(practice_id: str, month: str, deltas: dict[str, int], at: datetime) -> dict[str, Any]:
    """One Update that ADDs each counter of a month's roll-up item (created by the first ADD)."""
    names = {f"#c{i}": name for i, name in enumerate(deltas)}
    values: dict[str, Any] = {f":c{i}": {"N": str(v)} for i, v in enumerate(deltas.values())}
    values[":type"] = {"S": "FeedbackMonth"}
    values[":month"] = {"S": month}
    values[":at"] = {"S": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")}
    names.update({"#type": "type", "#month": "month", "#updated": "updated_at"})
    adds = ", ".join(f"#c{i} :c{i}" for i in range(len(deltas)))
    return {
        "Update": {
            "TableName": _table(),
            "Key": {"PK": {"S": practice_pk(practice_id)}, "SK": {"S": f"FEEDBACK_MONTH#{month}"}},
            "UpdateExpression": f"SET #type = :type, #month = :month, #updated = :at ADD {adds}",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }


def _answer(i: SurveyAnswerItem, practice_id: str) -> Answer:
    return Answer(
        practice_id=practice_id,
        appointment_id=i.appointment_id,
        patient_id=i.patient_id,
        provider_id=i.provider_id or "",
        score=int(i.score),
        comment=i.comment or "",
        language=i.language or "en",
        answered_at=i.answered_at,
        month=i.month,
    )


class FeedbackStore:
    """Repository for the feedback items of one practice per call."""

    # -- settings --------------------------------------------------------------------------------------
    def settings(self, practice_id: str) -> FeedbackSettings:
        try:
            item = FeedbackSettingsItem.get(practice_pk(practice_id), SETTINGS_SK)
        except FeedbackSettingsItem.DoesNotExist:
            return FeedbackSettings()
        return settings_from_dict(json.loads(item.data), version=int(item.version))

    def save_settings(self, practice_id: str, settings: FeedbackSettings, expected_version: int) -> bool:
        body = {k: v for k, v in settings.as_dict().items() if k not in ("version", "rewards_note")}
        item = FeedbackSettingsItem(
            practice_pk(practice_id), SETTINGS_SK, data=json.dumps(body), version=expected_version + 1
        )
        condition = (
            FeedbackSettingsItem.pk.does_not_exist()
            if expected_version == 0
            else FeedbackSettingsItem.version == expected_version
        )
        try:
            item.save(condition=condition)
        except PutError as exc:
            if _failed(exc):
                return False
            raise
        return True

    # -- surveys ---------------------------------------------------------------------------------------
    def claim_survey(
        self, practice_id: str, patient_id: str, appointment_id: str, now: datetime, cutoff: datetime
    ) -> bool:
        """At most one survey per patient per period: one conditional update of SURVEYED#<patient>
        (absent, older than ``cutoff``, or already for this same visit: a re-delivered event)."""
        try:
            client("dynamodb").update_item(
                TableName=_table(),
                Key={"PK": {"S": practice_pk(practice_id)}, "SK": {"S": f"SURVEYED#{patient_id}"}},
                UpdateExpression="SET #type = :type, last_at = :now, appointment_id = :a",
                ConditionExpression="attribute_not_exists(PK) OR last_at < :cutoff OR appointment_id = :a",
                ExpressionAttributeNames={"#type": "type"},
                ExpressionAttributeValues={
                    ":type": {"S": "SurveyGate"},
                    ":now": {"S": iso(now)},
                    ":a": {"S": appointment_id},
                    ":cutoff": {"S": iso(cutoff)},
                },
            )
        except client("dynamodb").exceptions.ConditionalCheckFailedException:
            return False
        return True

    def record_answer(self, answer: Answer) -> bool:
        item = SurveyAnswerItem(
            practice_pk(answer.practice_id),
            f"SURVEY#{answer.appointment_id}",
            gsi1pk=feedback_index(answer.practice_id),
            gsi1sk=f"{iso(answer.answered_at)}#{answer.appointment_id}",
            appointment_id=answer.appointment_id,
            patient_id=answer.patient_id,
            provider_id=answer.provider_id,
            score=answer.score,
            comment=answer.comment,
            language=answer.language,
            answered_at=answer.answered_at,
            month=answer.month,
        )
        put = {
            "Put": {
                "TableName": _table(),
                "Item": item.serialize(),
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }
        deltas = answer_deltas(answer.score, answer.provider_id)
        return self._transact([put, _add_update(answer.practice_id, answer.month, deltas, answer.answered_at)])

    def _transact(self, actions: list[dict[str, Any]]) -> bool:
        dynamodb = client("dynamodb")
        try:
            dynamodb.transact_write_items(TransactItems=actions)
        except dynamodb.exceptions.TransactionCanceledException as exc:
            if _cancelled_by_condition(exc):
                return False
            raise
        return True

    def answer(self, practice_id: str, appointment_id: str) -> Answer | None:
        try:
            item = SurveyAnswerItem.get(practice_pk(practice_id), f"SURVEY#{appointment_id}", consistent_read=True)
        except SurveyAnswerItem.DoesNotExist:
            return None
        return _answer(item, practice_id)

    def answers(self, practice_id: str, since: datetime, until: datetime) -> list[Answer]:
        """Answers given in [since, until), newest first (Query GSI1, paged to the end)."""
        found: Iterator[SurveyAnswerItem] = SurveyAnswerItem.gsi1.query(
            feedback_index(practice_id),
            SurveyAnswerItem.gsi1sk.between(iso(since), iso(until)),
            scan_index_forward=False,
        )
        return [_answer(i, practice_id) for i in found if i.answered_at < until]

    def feedback_rollups(self, practice_id: str, months: list[str]) -> list[Rollup]:
        """The roll-ups of ``months`` (YYYY-MM, any order; empty months are zeros): BatchGetItem, every
        unprocessed key retried. This is what analytics reads."""
        dynamodb = client("dynamodb")
        counters: dict[str, dict[str, int]] = {}
        keys = [
            {"PK": {"S": practice_pk(practice_id)}, "SK": {"S": f"FEEDBACK_MONTH#{m}"}} for m in dict.fromkeys(months)
        ]
        for start in range(0, len(keys), BATCH_GET):
            request: dict[str, Any] = {_table(): {"Keys": keys[start : start + BATCH_GET]}}
            while request:
                answer = dynamodb.batch_get_item(RequestItems=request)
                for raw in answer.get("Responses", {}).get(_table(), []):
                    month = raw["SK"]["S"].split("#", 1)[1]
                    counters[month] = {k: int(v["N"]) for k, v in raw.items() if "N" in v and k != "expires_at"}
                request = answer.get("UnprocessedKeys") or {}
        return [rollup_from_counters(m, counters.get(m, {})) for m in months]

    # -- referrals -------------------------------------------------------------------------------------
    def save_code(self, practice_id: str, code: str, patient_id: str) -> None:
        try:
            RefCodeItem(practice_pk(practice_id), f"REFCODE#{code}", patient_id=patient_id).save(
                condition=RefCodeItem.pk.does_not_exist()
            )
        except PutError as exc:
            if not _failed(exc):
                raise

    def code_owner(self, practice_id: str, code: str) -> str | None:
        try:
            return str(RefCodeItem.get(practice_pk(practice_id), f"REFCODE#{code}").patient_id)
        except RefCodeItem.DoesNotExist:
            return None

    def add_referral(self, practice_id: str, referral: Referral, addresses: list[str]) -> None:
        ReferralItem(
            practice_pk(practice_id),
            f"REFERRAL#{referral.id}",
            referral_id=referral.id,
            referrer_id=referral.referrer_id,
            code=referral.code,
            status=referral.status,
            created_at=referral.created_at,
        ).save(condition=ReferralItem.pk.does_not_exist())
        for address in addresses:
            try:  # the first referral a contact came with is the one that counts
                ReferredItem(practice_pk(practice_id), f"REFERRED#{address}", referral_id=referral.id).save(
                    condition=ReferredItem.pk.does_not_exist()
                )
            except PutError as exc:
                if not _failed(exc):
                    raise

    def referral_for_address(self, practice_id: str, address: str) -> Referral | None:
        try:
            link = ReferredItem.get(practice_pk(practice_id), f"REFERRED#{address}")
            item = ReferralItem.get(practice_pk(practice_id), f"REFERRAL#{link.referral_id}", consistent_read=True)
        except (ReferredItem.DoesNotExist, ReferralItem.DoesNotExist):
            return None
        return Referral(item.referral_id, item.referrer_id, item.code, item.created_at, item.status, item.patient_id)

    def count_referral(self, practice_id: str, referral: Referral, patient_id: str, month: str, at: datetime) -> bool:
        """pending -> counted and the roll-up ADDs, in one transaction: a referral counts once."""
        mark = {
            "Update": {
                "TableName": _table(),
                "Key": {"PK": {"S": practice_pk(practice_id)}, "SK": {"S": f"REFERRAL#{referral.id}"}},
                "UpdateExpression": "SET #status = :counted, patient_id = :patient",
                "ConditionExpression": "#status = :pending",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {
                    ":counted": {"S": "counted"},
                    ":pending": {"S": "pending"},
                    ":patient": {"S": patient_id},
                },
            }
        }
        return self._transact([mark, _add_update(practice_id, month, referral_deltas(referral.referrer_id), at)])
