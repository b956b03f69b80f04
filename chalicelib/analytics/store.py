"""Analytics roll-ups on the single table (see chalicelib/platform/table.py), through the low-level client:
counters have dynamic names (a recall cell per hygiene day), and every write is an expression.

| item                 | SK                        | what                                                     |
|----------------------|---------------------------|----------------------------------------------------------|
| month roll-up        | ANALYTICS_MONTH#<YYYY-MM> | flat counters (model.py) bumped with ADD; local months    |
| totals               | ANALYTICS_TOTALS          | ``owed`` now (not what is pending with insurance) and    |
|                      |                           | ``credit`` of every account (cents)                      |
| patient tally        | TALLY#PATIENT#<patient>   | completed visits, open hygiene appointments, and what    |
|                      |                           | each appointment put in the counters (JSON), rev;        |
|                      |                           | GSI1 PRACTICE#<p>#RECALL / <last hygiene day>#<patient>  |
| account              | TALLY#ACCOUNT#<patient>   | balance, owed now, oldest unpaid charge, money by month, |
|                      |                           | rev;                                                     |
|                      |                           | GSI1 PRACTICE#<p>#OPENBAL / <oldest unpaid>#<patient>    |
|                      |                           | (sparse: only while the balance is above zero)           |

Invariants (the counters are always the sum of what each thing's stored contribution says):
- an appointment's counters move in one TransactWriteItems with its patient's item, which records what each of
  the patient's appointments put there (``applied``) and their recall facts, conditioned on that item's ``rev``:
  the change is computed from the appointment as read after it changed, so a change applied twice moves nothing,
  and of two racing writers the loser re-reads and applies only the difference (appointment items themselves
  are never written here);
- an account's money and totals move in one transaction with the account item, conditioned on its ``rev``;
  the state is recomputed from the patient's ledger read after the ``rev`` (consistent reads), so the last
  writer to succeed saw every line written before it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.expressions.update import Action

from chalicelib.analytics.model import (
    C_SMS_INBOUND,
    C_SMS_PARTS,
    CHANNELS,
    OUTCOMES,
    AccountState,
    Applied,
    Deltas,
    PatientFacts,
    decode_applied,
    encode_applied,
    message_counter,
)
from chalicelib.appointments.model import Appointment
from chalicelib.appointments.store import AppointmentItem, appointment_from
from chalicelib.billing.model import LedgerLine
from chalicelib.billing.store import LedgerLineItem, ledger_prefix, line_from
from chalicelib.platform.aws import client
from chalicelib.platform.table import TableItem, practice_pk

MAX_TRANSACTION_ITEMS = 100
MAX_COUNTERS_PER_UPDATE = 60  # keeps an UpdateExpression far below DynamoDB's 4 KB expression limit
BATCH_GET = 100
TOTALS_SK = "ANALYTICS_TOTALS"
_DESERIALIZE = TypeDeserializer()


def month_sk(month: str) -> str:
    return f"ANALYTICS_MONTH#{month}"


def recall_index(practice_id: str) -> str:
    return f"PRACTICE#{practice_id}#RECALL"


def balance_index(practice_id: str) -> str:
    return f"PRACTICE#{practice_id}#OPENBAL"


def _table() -> str:
    return str(TableItem.Meta.table_name)


def _key(practice_id: str, sk: str) -> dict[str, Any]:
    return {"PK": {"S": practice_pk(practice_id)}, "SK": {"S": sk}}


def _stamp() -> dict[str, str]:
    return {"S": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")}


def _plain(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _DESERIALIZE.deserialize(v) for k, v in raw.items()}


class AnalyticsMonthItem(TableItem, discriminator="AnalyticsMonth"):
    """The month roll-up as a typed item, for the counters other capabilities move inside their own
    pynamodb transactions (message outcomes, opt-outs, bounces, texts received). Other counters have
    dynamic names and are written through the low-level client; both only ever ADD."""

    month = UnicodeAttribute(null=True)
    sms_sent = NumberAttribute(null=True)
    sms_failed = NumberAttribute(null=True)
    sms_bounced = NumberAttribute(null=True)
    sms_opted_out = NumberAttribute(null=True)
    email_sent = NumberAttribute(null=True)
    email_failed = NumberAttribute(null=True)
    email_bounced = NumberAttribute(null=True)
    email_opted_out = NumberAttribute(null=True)
    sms_parts = NumberAttribute(null=True)
    sms_inbound = NumberAttribute(null=True)


TYPED_COUNTERS = frozenset({message_counter(c, o) for c in CHANNELS for o in OUTCOMES} | {C_SMS_PARTS, C_SMS_INBOUND})


def typed_month_update(
    practice_id: str, month: str, counters: Mapping[str, int]
) -> tuple[AnalyticsMonthItem, list[Action]]:
    """(item, actions) for ``TransactWrite.update``: ADD each of these counters to a month's roll-up."""
    actions: list[Action] = [AnalyticsMonthItem.item_type.set(AnalyticsMonthItem), AnalyticsMonthItem.month.set(month)]
    for name, value in sorted(counters.items()):
        if name not in TYPED_COUNTERS:
            raise ValueError(f"{name} is not a typed month counter")
        actions.append(getattr(AnalyticsMonthItem, name).add(value))
    return AnalyticsMonthItem(practice_pk(practice_id), month_sk(month)), actions


class Cancelled(Exception):
    """A condition of the transaction did not hold: something changed since it was read."""


# --- write builders (also used inside other capabilities' transactions) -----------------------------------


def add_update(practice_id: str, sk: str, counters: Mapping[str, int], item_type: str) -> dict[str, Any]:
    """One Update that ADDs each counter of a roll-up item (created by the first ADD)."""
    names = {f"#c{i}": name for i, name in enumerate(counters)}
    values: dict[str, Any] = {f":c{i}": {"N": str(v)} for i, v in enumerate(counters.values())}
    names.update({"#type": "type", "#updated": "updated_at"})
    values.update({":type": {"S": item_type}, ":at": _stamp()})
    adds = ", ".join(f"#c{i} :c{i}" for i in range(len(counters)))
    return {
        "Update": {
            "TableName": _table(),
            "Key": _key(practice_id, sk),
            "UpdateExpression": f"SET #type = :type, #updated = :at ADD {adds}",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }


def month_updates(practice_id: str, deltas: Deltas) -> list[dict[str, Any]]:
    return [
        add_update(practice_id, month_sk(month), counters, "AnalyticsMonth")
        for month, counters in sorted(deltas.items())
        if counters
    ]


def merge(into: Deltas, more: Deltas) -> Deltas:
    for month, counters in more.items():
        bucket = into.setdefault(month, {})
        for k, v in counters.items():
            bucket[k] = bucket.get(k, 0) + v
    return into


def transact(actions: list[dict[str, Any]]) -> None:
    """Raises ``Cancelled`` when a condition failed; other refusals (throttling, conflicts) propagate."""
    if not actions:
        return
    dynamodb = client("dynamodb")
    try:
        dynamodb.transact_write_items(TransactItems=actions)
    except dynamodb.exceptions.TransactionCanceledException as exc:
        reasons = exc.response.get("CancellationReasons", [])
        if any(r.get("Code") == "ConditionalCheckFailed" for r in reasons):
            raise Cancelled from exc
        raise


# --- what is stored ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredAppointment:
    appointment: Appointment
    version: int


@dataclass(frozen=True)
class StoredFacts:
    """A patient's item: recall facts, and what each of their appointments put in the counters."""

    patient_id: str
    rev: int  # 0: no item yet
    facts: PatientFacts = field(default_factory=PatientFacts)
    applied: Mapping[str, Applied] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredAccount:
    patient_id: str
    rev: int
    state: AccountState | None


@dataclass
class Change:
    """One transaction: patients' items (facts and applied tallies) and the month counters they move."""

    patients: list[tuple[StoredFacts, PatientFacts, dict[str, Applied]]] = field(default_factory=list)
    deltas: Deltas = field(default_factory=dict)
    counted: int = 0  # appointments whose counters moved

    def size(self) -> int:
        return len(self.patients) + sum(1 for c in self.deltas.values() if c)

    def fits(self) -> bool:
        """Within one transaction's 100 items, and every month's ADD within the expression limit."""
        widest = max((len(c) for c in self.deltas.values()), default=0)
        return self.size() <= MAX_TRANSACTION_ITEMS and widest <= MAX_COUNTERS_PER_UPDATE


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]  # plain values
    cursor: str  # "" at the end
    raw: list[dict[str, Any]] = field(default_factory=list)  # as DynamoDB answered (for typed items)


def encode_cursor(last: Mapping[str, Any] | None) -> str:
    if not last:
        return ""
    return base64.urlsafe_b64encode(json.dumps(last, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(text: str, index_pk: str) -> dict[str, Any] | None:
    """The DynamoDB start key a cursor holds; None for a cursor that is not one of this index's."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(raw, dict) or set(raw) != {"PK", "SK", "GSI1PK", "GSI1SK"}:
        return None
    if not all(isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in raw.values()):
        return None
    return raw if raw["GSI1PK"]["S"] == index_pk else None


# --- the repository ---------------------------------------------------------------------------------------


class AnalyticsStore:
    """Roll-up reads and writes for one practice per call."""

    # -- reads ----------------------------------------------------------------------------------------
    def _batch_get(self, keys: list[dict[str, Any]], consistent: bool = False) -> list[dict[str, Any]]:
        dynamodb = client("dynamodb")
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), BATCH_GET):
            request: dict[str, Any] = {
                _table(): {"Keys": keys[start : start + BATCH_GET], "ConsistentRead": consistent}
            }
            while request:
                answer = dynamodb.batch_get_item(RequestItems=request)
                found.extend(answer.get("Responses", {}).get(_table(), []))
                request = answer.get("UnprocessedKeys") or {}
        return found

    def months(self, practice_id: str, months: Sequence[str]) -> dict[str, dict[str, int]]:
        """Counters of each month asked for (absent months are empty): one BatchGetItem per 100 months."""
        out: dict[str, dict[str, int]] = {m: {} for m in months}
        keys = [_key(practice_id, month_sk(m)) for m in dict.fromkeys(months)]
        for raw in self._batch_get(keys):
            month = raw["SK"]["S"].split("#", 1)[1]
            out[month] = {k: int(v["N"]) for k, v in raw.items() if "N" in v and k != "expires_at"}
        return out

    def totals(self, practice_id: str) -> dict[str, int]:
        raw = client("dynamodb").get_item(TableName=_table(), Key=_key(practice_id, TOTALS_SK)).get("Item") or {}
        return {k: int(v["N"]) for k, v in raw.items() if "N" in v}

    def appointments(self, practice_id: str, ids: Sequence[str]) -> list[StoredAppointment]:
        """The appointments as stored (consistent reads)."""
        keys = [_key(practice_id, f"APPT#{i}") for i in dict.fromkeys(ids)]
        return [_stored_appointment(raw) for raw in self._batch_get(keys, consistent=True)]

    def appointment_pages(self, practice_id: str) -> Iterator[list[StoredAppointment]]:
        """Every appointment of the practice, a page (1 MB) at a time: Query PK, SK begins_with APPT#."""
        dynamodb = client("dynamodb")
        start: dict[str, Any] | None = None
        while True:
            params: dict[str, Any] = {
                "TableName": _table(),
                "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
                "ExpressionAttributeValues": {":pk": {"S": practice_pk(practice_id)}, ":prefix": {"S": "APPT#"}},
            }
            if start:
                params["ExclusiveStartKey"] = start
            answer = dynamodb.query(**params)
            yield [_stored_appointment(raw) for raw in answer.get("Items", [])]
            start = answer.get("LastEvaluatedKey")
            if not start:
                return

    def facts(self, practice_id: str, patient_ids: Sequence[str]) -> dict[str, StoredFacts]:
        keys = [_key(practice_id, f"TALLY#PATIENT#{p}") for p in dict.fromkeys(patient_ids)]
        out = {p: StoredFacts(p, 0) for p in patient_ids}
        for raw in self._batch_get(keys, consistent=True):
            item = _plain(raw)
            pid = str(item["patient_id"])
            facts = PatientFacts.decode(item.get("visits"), item.get("upcoming"))
            out[pid] = StoredFacts(pid, int(item["rev"]), facts, decode_applied(item.get("applied")))
        return out

    def account(self, practice_id: str, patient_id: str) -> StoredAccount:
        raw = client("dynamodb").get_item(
            TableName=_table(), Key=_key(practice_id, f"TALLY#ACCOUNT#{patient_id}"), ConsistentRead=True
        )
        item = _plain(raw.get("Item") or {})
        if not item:
            return StoredAccount(patient_id, 0, None)
        oldest = item.get("oldest_open")
        balance = int(item["balance"])
        state = AccountState(
            balance_cents=balance,
            oldest_open=date.fromisoformat(str(oldest)) if oldest else None,
            months=json.loads(str(item.get("months") or "{}")),
            # an item written before owed_now was kept added its positive balance to the owed total
            owed_now_cents=int(item["owed_now"]) if "owed_now" in item else max(balance, 0),
        )
        return StoredAccount(patient_id, int(item["rev"]), state)

    def ledger(self, practice_id: str, patient_id: str) -> list[LedgerLine]:
        """A patient's ledger, every page, read consistently (the account state depends on every line)."""
        return [
            line_from(i)
            for i in LedgerLineItem.query(
                practice_pk(practice_id), LedgerLineItem.sk.startswith(ledger_prefix(patient_id)), consistent_read=True
            )
        ]

    def ledger_patients(self, practice_id: str) -> Iterator[str]:
        """Every patient with ledger lines (back-fill): Query PK, SK begins_with LEDGER#, paged to the end."""
        seen = ""
        for item in LedgerLineItem.query(
            practice_pk(practice_id), LedgerLineItem.sk.startswith("LEDGER#"), attributes_to_get=["patient_id", "type"]
        ):
            if item.patient_id != seen:
                seen = item.patient_id
                yield seen

    def index_page(self, index_pk: str, *, below: str, limit: int, cursor: str, newest_first: bool) -> Page | None:
        """One page of a GSI1 partition with sort keys below ``below``; None for a cursor that is not its own."""
        params: dict[str, Any] = {
            "TableName": _table(),
            "IndexName": "GSI1",
            "KeyConditionExpression": "GSI1PK = :pk AND GSI1SK < :below",
            "ExpressionAttributeValues": {":pk": {"S": index_pk}, ":below": {"S": below}},
            "ScanIndexForward": not newest_first,
            "Limit": limit,
        }
        if cursor:
            start = decode_cursor(cursor, index_pk)
            if start is None:
                return None
            params["ExclusiveStartKey"] = start
        answer = client("dynamodb").query(**params)
        raw = answer.get("Items", [])
        return Page([_plain(i) for i in raw], encode_cursor(answer.get("LastEvaluatedKey")), raw)

    # -- writes ----------------------------------------------------------------------------------------
    def commit(self, practice_id: str, change: Change) -> None:
        """Raises ``Cancelled`` if any appointment or patient moved since it was read."""
        actions = [_facts_update(practice_id, s, facts, applied) for s, facts, applied in change.patients]
        actions += month_updates(practice_id, change.deltas)
        transact(actions)

    def commit_account(
        self, practice_id: str, stored: StoredAccount, state: AccountState, deltas: Deltas, totals: Mapping[str, int]
    ) -> None:
        actions = [_account_update(practice_id, stored, state), *month_updates(practice_id, deltas)]
        if totals:
            actions.append(add_update(practice_id, TOTALS_SK, totals, "AnalyticsTotals"))
        transact(actions)


def _stored_appointment(raw: Mapping[str, Any]) -> StoredAppointment:
    item = AppointmentItem.from_raw_data(dict(raw))
    return StoredAppointment(appointment_from(item), int(item.version or 0))


def _revision(rev: int, values: dict[str, Any]) -> str:
    values[":next"] = {"N": str(rev + 1)}
    if rev == 0:
        return "attribute_not_exists(PK)"
    values[":rev"] = {"N": str(rev)}
    return "rev = :rev"


def _facts_update(
    practice_id: str, s: StoredFacts, facts: PatientFacts, applied: Mapping[str, Applied]
) -> dict[str, Any]:
    visits, upcoming = facts.encode()
    values: dict[str, Any] = {
        ":applied": {"S": encode_applied(applied)},
        ":type": {"S": "PatientTally"},
        ":pid": {"S": s.patient_id},
        ":visits": {"S": visits},
        ":upcoming": {"S": upcoming},
        ":at": _stamp(),
    }
    condition = _revision(s.rev, values)
    sets = (
        "#type = :type, patient_id = :pid, visits = :visits, upcoming = :upcoming, applied = :applied, "
        "rev = :next, updated_at = :at"
    )
    removes = []
    if facts.last_hygiene is not None:
        values[":gpk"] = {"S": recall_index(practice_id)}
        values[":gsk"] = {"S": f"{facts.last_hygiene.isoformat()}#{s.patient_id}"}
        sets += ", GSI1PK = :gpk, GSI1SK = :gsk"
    else:
        removes += ["GSI1PK", "GSI1SK"]
    if facts.next_hygiene is not None:
        values[":next_hygiene"] = {"S": facts.next_hygiene.isoformat()}
        sets += ", next_hygiene = :next_hygiene"
    else:
        removes.append("next_hygiene")
    return {
        "Update": {
            "TableName": _table(),
            "Key": _key(practice_id, f"TALLY#PATIENT#{s.patient_id}"),
            "UpdateExpression": f"SET {sets}" + (f" REMOVE {', '.join(removes)}" if removes else ""),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#type": "type"},
            "ExpressionAttributeValues": values,
        }
    }


def _account_update(practice_id: str, s: StoredAccount, state: AccountState) -> dict[str, Any]:
    values: dict[str, Any] = {
        ":type": {"S": "AccountTally"},
        ":pid": {"S": s.patient_id},
        ":balance": {"N": str(state.balance_cents)},
        ":owed": {"N": str(state.owed_now_cents)},
        ":months": {"S": json.dumps(state.months, sort_keys=True, separators=(",", ":"))},
        ":at": _stamp(),
    }
    condition = _revision(s.rev, values)
    sets = (
        "#type = :type, patient_id = :pid, balance = :balance, owed_now = :owed, months = :months, "
        "rev = :next, updated_at = :at"
    )
    removes = []
    if state.balance_cents > 0 and state.oldest_open is not None:
        values[":oldest"] = {"S": state.oldest_open.isoformat()}
        values[":gpk"] = {"S": balance_index(practice_id)}
        values[":gsk"] = {"S": f"{state.oldest_open.isoformat()}#{s.patient_id}"}
        sets += ", oldest_open = :oldest, GSI1PK = :gpk, GSI1SK = :gsk"
    else:
        removes += ["oldest_open", "GSI1PK", "GSI1SK"]
    return {
        "Update": {
            "TableName": _table(),
            "Key": _key(practice_id, f"TALLY#ACCOUNT#{s.patient_id}"),
            "UpdateExpression": f"SET {sets}" + (f" REMOVE {', '.join(removes)}" if removes else ""),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#type": "type"},
            "ExpressionAttributeValues": values,
        }
    }
