"""The single DynamoDB table. Every item of a practice lives under ``PK = PRACTICE#<practice id>``.

Entity key templates (the capability ``store.py`` modules define the items):

| entity            | PK                | SK                                   | GSI1PK / GSI1SK                                   | GSI2PK / GSI2SK                                  |
|-------------------|-------------------|--------------------------------------|---------------------------------------------------|--------------------------------------------------|
| practice          | PRACTICE#<p>      | PRACTICE                             | PRACTICES / PRACTICE#<p>                          |                                                  |
| provider          | PRACTICE#<p>      | PROVIDER#<id>                        |                                                   |                                                  |
| operatory         | PRACTICE#<p>      | OPERATORY#<id>                       |                                                   |                                                  |
| appointment type  | PRACTICE#<p>      | APPTTYPE#<id>                        |                                                   |                                                  |
| patient           | PRACTICE#<p>      | PATIENT#<id>                         |                                                   |                                                  |
| guardian          | PRACTICE#<p>      | GUARDIAN#<id>                        |                                                   |                                                  |
| contact link      | PRACTICE#<p>      | CONTACT#<e164 or email>#PATIENT#<id> | CONTACT#<e164 or email> / PRACTICE#<p>#PATIENT#<id> | PRACTICE#<p>#PATIENT#<id> / LINK#<e164 or email> |
| appointment       | PRACTICE#<p>      | APPT#<id>                            | PRACTICE#<p>#DAY#<local date> / <start UTC>#<id>  | PRACTICE#<p>#PATIENT#<id> / APPT#<start UTC>#<id> |
| slot lock         | PRACTICE#<p>      | LOCK#PROVIDER#<id>#<UTC hour> or LOCK#OPERATORY#<id>#<UTC hour> (attributes u00..u55: holder appointment id) | |                                  |
| pending request   | PRACTICE#<p>      | REQUEST#<appointment id>             |                                                   |                                                  |
| closure           | PRACTICE#<p>      | CLOSURE#<id>                         |                                                   |                                                  |
| waitlist entry    | PRACTICE#<p>      | WAIT#<id>                            |                                                   | PRACTICE#<p>#PATIENT#<id> / WAIT#<id>            |
| waitlist key      | PRACTICE#<p>      | WAITKEY#<patient>#<A#<appointment> or T#<type>#<provider>#<earliest>#<latest>> (entry_id: the holder; TTL) | |                  |
| waitlist offer    | PRACTICE#<p>      | OFFER#<id>                           | WAITLIST#OFFERS#OPEN / <next batch UTC>#<p>#<id> (only while open) |                                 |
| calendar feed     | PRACTICE#<p>      | FEED#<contact holder id>             |                                                   |                                                  |
| audit event       | PRACTICE#<p>      | AUDIT#<UTC instant>#<id> (staff events also carry actor_role, actor_name) |     | PRACTICE#<p>#PATIENT#<id> / AUDIT#<UTC>#<id>     |
| audit-once mark   | PRACTICE#<p>      | AUDITONCE#<key> (e.g. ACCESSLOG#<patient>#<session digest>; TTL) |                      |                                                  |
| one-time code     | PRACTICE#<p>      | OTP#<contact digest>                 |                                                   |                                                  |
| patient session   | PRACTICE#<p>      | SESSION#<token digest>               |                                                   |                                                  |
| rate counter      | PRACTICE#<p>      | RATE#<scope>#<key digest>#<window>   |                                                   |                                                  |
| import run        | PRACTICE#<p>      | IMPORT#<UTC instant>#<id>            |                                                   |                                                  |
| ledger line       | PRACTICE#<p>      | LEDGER#<patient>#<line id>           |                                                   |                                                  |
| invoice number    | PRACTICE#<p>      | INVOICE#<invoice id>                 |                                                   |                                                  |
| Stripe event      | PRACTICE#<p>      | STRIPE_EVENT#<event id>              |                                                   |                                                  |
| PaymentIntent     | PRACTICE#<p>      | PI#<payment intent id>               | STRIPE_PI#<pi id> / PRACTICE#<p>                  |                                                  |
| receipt claim     | PRACTICE#<p>      | RECEIPT#<payment intent id>          |                                                   |                                                  |
| pay link          | PRACTICE#<p>      | PAYLINK#<link id>                    |                                                   |                                                  |
| payment plan      | PRACTICE#<p>      | PLAN#<plan id>                       |                                                   | PRACTICE#<p>#PATIENT#<id> / PLAN#<created>#<plan> |
| plan instalment   | PRACTICE#<p>      | PLAN#<plan id>#INST#<nn>             | PRACTICE#<p>#INSTALMENTS#<YYYY-MM> / <due>#<plan>#<nn> |                                                  |
| image (x-ray/photo) | PRACTICE#<p>    | IMAGE#<image id>                     |                                                   | PRACTICE#<p>#PATIENT#<id> / IMAGE#<taken on>#<image id> |
| image share link  | PRACTICE#<p>      | SHARE#<share id>                     |                                                   | PRACTICE#<p>#PATIENT#<id> / SHARE#<created UTC>#<share id> |
| reminder policy   | PRACTICE#<p>      | REMINDER_POLICY (current), REMINDER_POLICY#<version, 6 digits> (history) |                   |                                                  |
| reminder touch    | PRACTICE#<p>      | TOUCH#<touch id> (see below)         | PRACTICE#<p>#DUE#<UTC date> / <due UTC>#<touch id> (only while pending, claimed or sending) | PRACTICE#<p>#PATIENT#<id> / MSG#<due UTC>#<touch id> |
| reminder sweep    | PRACTICE#<p>      | REMINDER_SWEEP (watermark, next daily-job runs) |                                        |                                                  |
| contact address   | PRACTICE#<p>      | ADDRESS#<E.164 or email> (opt-out, carrier block, suppression, soft bounces) |            |                                                  |
| contact prefs     | PRACTICE#<p>      | CONTACTPREFS#<patient id>            |                                                   |                                                  |
| reminder day cap  | PRACTICE#<p>      | REMINDED#<patient id>#<local date>   |                                                   |                                                  |
| plan again        | PRACTICE#<p>      | REPLAN#<appointment id> (TTL; written when planning an appointment's touches failed) |  |                                                  |
| staff inbox item  | PRACTICE#<p>      | INBOX#<UTC instant>#<id> (chalicelib/inbox/store.py) | PRACTICE#<p>#INBOX#OPEN / <UTC>#<id> (only while open) | PRACTICE#<p>#PATIENT#<first patient> / INBOX#<UTC>#<id> |
| patient search token | PRACTICE#<p>   | FIND#<n:word, p:digits or e:email>#<patient id> |                                        |                                                  |
| patient search set | PRACTICE#<p>     | FINDSET#<patient id> (tokens last written) |                                             |                                                  |
| practice settings | PRACTICE#<p>      | SETTINGS (current), SETTINGS#<version, 6 digits> (history) |                              |                                                  |
| inbound SMS seen  | PRACTICE#<p>      | INBOUND#<provider message id>        |                                                   |                                                  |
| recall record     | PRACTICE#<p>      | RECALL#<patient id>                  |                                                   |                                                  |
| feedback settings | PRACTICE#<p>      | FEEDBACK_SETTINGS (review links, social, survey policy, rewards; versioned) |         |                                                  |
| survey gate       | PRACTICE#<p>      | SURVEYED#<patient id> (last survey sent, for which visit) |                              |                                                  |
| survey answer     | PRACTICE#<p>      | SURVEY#<appointment id>              | PRACTICE#<p>#FEEDBACK / <answered UTC>#<appointment id> |                                         |
| feedback roll-up  | PRACTICE#<p>      | FEEDBACK_MONTH#<YYYY-MM> (practice-local month; counters, see below) |                    |                                                  |
| referral code     | PRACTICE#<p>      | REFCODE#<code>                       |                                                   |                                                  |
| referral          | PRACTICE#<p>      | REFERRAL#<request id>                |                                                   |                                                  |
| referred contact  | PRACTICE#<p>      | REFERRED#<E.164 or email>            |                                                   |                                                  |
| analytics month   | PRACTICE#<p>      | ANALYTICS_MONTH#<YYYY-MM> (practice-local month; counters, see below) |                   |                                                  |
| analytics totals  | PRACTICE#<p>      | ANALYTICS_TOTALS (owed, credit: every account now) |                                     |                                                  |
| recall facts      | PRACTICE#<p>      | TALLY#PATIENT#<patient id>           | PRACTICE#<p>#RECALL / <last hygiene visit>#<patient> (once a hygiene visit is completed) |             |
| account tally     | PRACTICE#<p>      | TALLY#ACCOUNT#<patient id>           | PRACTICE#<p>#OPENBAL / <oldest unpaid charge>#<patient> (only while the balance is above 0) |          |

Access patterns (all Query or GetItem; no Scan anywhere; every Query pages to the end):

| pattern                                          | how                                                       |
|--------------------------------------------------|-----------------------------------------------------------|
| a practice by id                                 | GetItem PRACTICE#<p> / PRACTICE                           |
| all practices (sweeps iterate practices)         | Query GSI1 PRACTICES                                      |
| providers / operatories / types / patients of p  | Query PK, SK begins_with PROVIDER# / OPERATORY# / ...      |
| one entity by id                                 | GetItem PK, <PREFIX>#<id>                                 |
| patients reachable from a phone or email in p    | Query PK, SK begins_with CONTACT#<address>#               |
| practices and patients holding a phone (inbound) | Query GSI1 CONTACT#<address>                              |
| a practice's appointments on a local day         | Query GSI1 PRACTICE#<p>#DAY#<date> (sorted by start)      |
| a patient's appointments in a time range         | Query GSI2 PRACTICE#<p>#PATIENT#<id>, SK between APPT#..  |
| book / move / cancel without double booking      | TransactWriteItems: the APPT# item (version condition) with every LOCK# hour item whose 5-minute units it takes or gives back, each unit conditional on absent-or-this-appointment |
| pending requests of a practice                   | Query PK, SK begins_with REQUEST#; BatchGetItem the APPT# items |
| closures of a practice                           | Query PK, SK begins_with CLOSURE#                         |
| waiting entries of a practice (offer matching)   | Query PK, SK begins_with WAIT#, filter status = waiting   |
| a patient's waitlist entries                     | Query GSI2 PRACTICE#<p>#PATIENT#<id>, SK begins_with WAIT# |
| join the waitlist once per request               | TransactWriteItems: WAIT# (absent) with WAITKEY# (absent, or held by an entry no longer active) |
| open offers whose next batch is due (job)        | Query GSI1 WAITLIST#OFFERS#OPEN, SK <= <now>              |
| take an offer (first acceptor wins)              | in the booking transaction: OFFER# status open -> taken, WAIT# waiting -> fulfilled |
| a contact's calendar feed                        | GetItem FEED#<holder>                                     |
| phones and emails that may act for a patient    | Query GSI2 PRACTICE#<p>#PATIENT#<id>, SK begins_with LINK# |
| a patient's access log (audit events)            | Query GSI2 PRACTICE#<p>#PATIENT#<id>, SK begins_with AUDIT#, descending; a page is Limit n+1 from ExclusiveStartKey (the cursor: the last SK shown); "only others": filter actor <> the reader |
| audit a patient's look at their log (once a session) | TransactWriteItems: Put AUDITONCE#ACCESSLOG#<patient>#<session> (attribute_not_exists) + Put AUDIT# (attribute_not_exists) |
| a patient's data export                          | GetItem PATIENT#; Query GSI2 PRACTICE#<p>#PATIENT#<id> for LINK#, APPT#, IMAGE#, MSG#, INBOX#; Query PK LEDGER#<patient>#; BatchGetItem GUARDIAN#; GetItem CONTACTPREFS#, REMINDER_POLICY; BatchGetItem ADDRESS# |
| the practice audit trail, newest first           | Query PK, SK begins_with AUDIT#, descending               |
| a practice's import runs, newest first           | Query PK, SK begins_with IMPORT#, descending              |
| one-time code / session / rate counter           | GetItem; writes are conditional or atomic ADD             |
| a patient's ledger (a family's: one per member)  | Query PK, SK begins_with LEDGER#<patient>#                |
| the patient an invoice number belongs to         | GetItem INVOICE#<id>                                      |
| the practice of a PaymentIntent (bare events)    | Query GSI1 STRIPE_PI#<pi>                                 |
| a patient's payment plans                        | Query GSI2 PRACTICE#<p>#PATIENT#<id>, SK begins_with PLAN# |
| a plan's instalments                             | Query PK, SK begins_with PLAN#<plan>#INST#                |
| instalments due in a date range (reminders)      | Query GSI1 PRACTICE#<p>#INSTALMENTS#<month> per month, SK between <start> and <end>~ |
| a patient's images, newest taken first (gallery) | Query GSI2 PRACTICE#<p>#PATIENT#<id>, SK begins_with IMAGE#, descending |
| images by id (view, bulk download, share open)   | GetItem / BatchGetItem IMAGE#<id> (ownership checked on the items) |
| the image an upload belongs to (S3 event)        | GetItem IMAGE#<id>; the practice and id come from the key incoming/<p>/<id> |
| finish processing an upload (once)               | UpdateItem IMAGE#<id> condition status = awaiting_upload  |
| a patient's share links, newest first            | Query GSI2 PRACTICE#<p>#PATIENT#<id>, SK begins_with SHARE#, descending |
| open or revoke a share link                      | GetItem SHARE#<id> (practice and id from the signed token); revoke: UpdateItem condition revoked_at absent |
| touches due from the watermark to now (sweep)    | Query GSI1 PRACTICE#<p>#DUE#<UTC date> per UTC day, SK between <after>+1s and <now>~ (sparse: open touches only) |
| an appointment's touches (plan, staff history)   | Query PK, SK begins_with TOUCH#APPT#<appointment id>#     |
| a patient's recall touches                       | Query PK, SK begins_with TOUCH#RECALL#<patient id>#       |
| a plan's instalment reminders                    | Query PK, SK begins_with TOUCH#PLAN#<plan id>#; created by a conditional Put per instalment |
| messages sent to a patient, newest first         | Query GSI2 PRACTICE#<p>#PATIENT#<id>, SK begins_with MSG#, descending |
| claim due touches (each once)                    | TransactWriteItems of up to 100 Update TOUCH#<id>, each condition (status = pending AND due = <read>) OR (status = claimed AND claimed_until < now); cancelled (one taken, or a conflict): UpdateItem each with the same condition |
| the sweep's re-read of a batch                   | BatchGetItem APPT#, PATIENT#, CONTACTPREFS#, REMINDED#, RECALL# (100 keys a request, ProjectionExpression: the fields deciding and rendering read), then ADDRESS# |
| hand a touch to the provider (right before)      | UpdateItem TOUCH#<id> status claimed -> sending, condition claimed_until = <our lease> (a group of ``SEND_GROUP`` > 1: one TransactWriteItems; cancelled: UpdateItem each) |
| record a group's outcomes (right after it)       | TransactWriteItems: Put TOUCH#<id> each condition status IN (sending, unknown) AND claimed_until = <our lease>, Update ANALYTICS_MONTH#<m> ADD sent/failed/parts; cancelled by a condition: the same per touch (one transaction each) |
| give up on a send left sending past its lease    | UpdateItem TOUCH#<id> status sending -> unknown (never sent again), condition claimed_until = <its lease> |
| record a batch's skips and re-timings            | BatchWriteItem REMINDED#; the touches as in "record a sweep's outcomes" below |
| appointments to plan again (each sweep)          | Query PK, SK begins_with REPLAN#; DeleteItem once planned |
| send-limit counters (routes that send messages)  | UpdateItem RATE#send.<route>#<digest>#<window> ADD hits, condition hits < limit (chalicelib/platform/limits.py) |
| a practice's SMS number (inbound texts)          | Query GSI1 PRACTICES, compare each practice's sms_number / phone |
| the staff inbox, newest first                    | Query PK, SK begins_with INBOX#, descending               |
| open inbox items, newest first (dashboard)       | Query GSI1 PRACTICE#<p>#INBOX#OPEN, descending (sparse: closing removes the keys) |
| messages received from a patient (patient card)  | Query GSI2 PRACTICE#<p>#PATIENT#<id>, SK begins_with INBOX#, descending |
| assign / reply / close an inbox item             | PutItem INBOX#... condition rev = <rev read>              |
| find patients by name, phone or email start      | Query PK, SK begins_with FIND#<kind>:<prefix> per prefix; BatchGetItem PATIENT# |
| re-index a patient (write, rename, import)       | BatchGetItem FINDSET#, BatchWriteItem: delete stale FIND#, put new FIND# and FINDSET# |
| back-fill the search index                       | Query PK, SK begins_with PATIENT#, then as above per 100 patients |
| settings in force / their history                | GetItem SETTINGS; Query PK, SK begins_with SETTINGS#, descending |
| change settings                                  | TransactWriteItems: SETTINGS (condition version = n, or absent for n = 0), SETTINGS#<n+1> (absent), PRACTICE (hours, settings) |
| audit trail for UTC days (browse, CSV)           | Query PK, SK between AUDIT#<from> and AUDIT#<to>, descending; by patient: GSI2 between the same |
| the practice's patients (recall pass)            | Query PK, SK begins_with PATIENT#                         |
| plan a survey at most once per period            | UpdateItem SURVEYED#<patient> condition absent OR last_at < <cutoff> OR appointment_id = <this visit> |
| answer a survey (once) and roll it up            | TransactWriteItems: Put SURVEY#<appointment> (attribute_not_exists) + Update FEEDBACK_MONTH#<month> ADD counters |
| survey answers of a month, newest first          | Query GSI1 PRACTICE#<p>#FEEDBACK, SK between <month start> and <month end>, descending |
| feedback roll-ups of some months (analytics)     | BatchGetItem FEEDBACK_MONTH#<month> (``FeedbackStore.feedback_rollups(practice_id, months)``) |
| a referral code's patient                        | GetItem REFCODE#<code> (absent: a forged code, 404)      |
| the referral a new patient came with             | GetItem REFERRED#<address>, then REFERRAL#<id>            |
| count a referral (once)                          | TransactWriteItems: Update REFERRAL#<id> condition status = pending + Update FEEDBACK_MONTH#<month> ADD |
| count appointments into the roll-ups (event, import, back-fill) | BatchGetItem APPT# and TALLY#PATIENT# (consistent), then TransactWriteItems: Update TALLY#PATIENT# SET applied, facts condition rev = <read>, Update ANALYTICS_MONTH#<m> ADD (appointment items are never written) |
| back-fill the roll-ups                           | Query PK, SK begins_with APPT# (paged), as above per page; Query PK, SK begins_with LEDGER# (paged), accounts as below |
| refresh an account (after ledger writes)         | GetItem TALLY#ACCOUNT# (consistent), Query PK, SK begins_with LEDGER#<patient># (consistent), TransactWriteItems: Update TALLY#ACCOUNT# condition rev = <read>, ANALYTICS_MONTH# ADD, ANALYTICS_TOTALS ADD |
| record a sweep's outcomes and count them         | TransactWriteItems (90 touches a time): Put TOUCH# condition status = claimed, Update ANALYTICS_MONTH#<m> ADD sent/failed/parts |
| count an opt-out, carrier block, suppression, unsubscribe, text received | TransactWriteItems: Update ADDRESS# condition "not yet in that state" (or Put INBOUND# attribute_not_exists) + Update ANALYTICS_MONTH#<m> ADD |
| a 12-month analytics load                        | GetItem PRACTICE, GetItem SETTINGS, BatchGetItem ANALYTICS_MONTH# (24 months), BatchGetItem FEEDBACK_MONTH# (12), GetItem ANALYTICS_TOTALS |
| worklists: overdue recall / aged balances / open inbox | Query GSI1 PRACTICE#<p>#RECALL, SK < <bound>, descending / GSI1 PRACTICE#<p>#OPENBAL, SK < <today-30>~ / GSI1 PRACTICE#<p>#INBOX#OPEN; one page (Limit) per call, the cursor is the LastEvaluatedKey |
| worklist: tomorrow's unconfirmed                 | Query GSI1 PRACTICE#<p>#DAY#<tomorrow> (the day index), keep status booked |

Expiring items (codes, sessions, counters, slot locks, waitlist entries and offers) carry ``expires_at`` (epoch seconds), the table's TTL attribute.
TTL deletes late, so readers check expiry themselves. Sign-in invariants (chalicelib/identity/store.py):
a code attempt is one conditional ADD (code exists, attempts < 5, not expired); a matching code is consumed
by a delete conditioned on its digest (signs in once); a session's ``last_seen`` moves by a conditional SET
(exists, not idle, within 12 hours), so a signed-out session is never recreated; a rate counter is a
conditional ADD per fixed window (``hits`` below the limit). Digests are HMAC-SHA256 under the token key.
Payment invariants (chalicelib/billing/store.py): applying a Stripe event is one TransactWriteItems of the
event record (attribute_not_exists: an event applies once), the PaymentIntent's next state (attribute_not_exists
or ``rev`` = the revision read: a PaymentIntent pays once, refunds never pass what it paid) and the ledger lines it
produces (attribute_not_exists); a receipt is sent by whoever puts RECEIPT#<pi> first. Statements are computed
from the ledger on request, not stored.
Import invariants (chalicelib/imports/store.py): ids derive from (source system, type, source id); a record
whose ``source_hash`` matches the stored one is not written; contact links are written before the records
granting them; an update is one TransactWriteItems of the item (conditional on the ``source_hash`` compared,
or on ``version`` for appointments) and the deletes of the links it revokes.
Image invariants (chalicelib/images/store.py): an image is written once (attribute_not_exists) as
``awaiting_upload`` with a TTL (an upload never sent is forgotten) and leaves that state once, by an update
conditioned on it, which also removes the TTL; only ``ready`` images are shown to patients. A share item keeps
a TTL 90 days past its link's expiry; its link is a signed token, so no token is stored.
Reminder invariants (chalicelib/reminders/store.py): touch ids are deterministic
(``APPT#<appointment>#reminder#<rule>#<planned start>``, ``APPT#<appointment>#cancelled``,
``APPT#<appointment>#moved#<new start>``, ``RECALL#<patient>#<due date>#<n>``, ``PLAN#<plan>#<n>#<due date>``
for a payment-plan instalment), so a touch is created once
(attribute_not_exists) however often its event is delivered; the planner cancels or re-times only pending touches
(condition status = pending); a sweep claims each touch with one conditional update and owns it until it records
the outcome (the claim's lease runs out only if that sweep died); right before the provider call the touch becomes
``sending`` under that lease and its outcome is written right after, so a touch still ``sending`` past its lease
may have gone out: it becomes ``unknown`` and is never sent again (at most once); the due index is per UTC day,
sorted by due instant, and a touch leaves it when it is sent, skipped, cancelled, failed or unknown. A daily job runs once per local day
because its next run is moved by a compare-and-set on REMINDER_SWEEP. Address state is keyed by E.164 (or the
lower-cased email) per practice; a soft bounce is counted once per sent message (condition: message id not in
``soft_bounce_messages``). The policy moves from version n to n+1 in one transaction conditioned on version n.
Feedback roll-ups (chalicelib/feedback/store.py, read by analytics through
``FeedbackStore.feedback_rollups(practice_id, months)`` -> ``feedback.model.Rollup``): one FEEDBACK_MONTH#<YYYY-MM>
item per practice and local month, flat Number attributes bumped with ADD in the same transaction as the write
they count: ``n`` answers, ``sum`` of scores (0-10), ``pro`` / ``pas`` / ``det`` promoters (9-10), passives (7-8)
and detractors (0-6); per provider ``p#<provider id>#n``, ``#sum``, ``#pro``, ``#pas``, ``#det``; ``ref`` referrals
counted and ``r#<referrer patient id>`` per referrer. NPS = round(100 * (pro - det) / n). Surveys and referral
thank-yous are reminder touches (kinds ``survey``, ``referral_thanks``; ids ``APPT#<appointment>#survey``,
``REFERRAL#<id>#thanks``); low scores and new-patient requests are INBOX# items (kinds ``low_score``,
``new_patient_request``).
Analytics roll-ups (chalicelib/analytics/store.py and model.py): ANALYTICS_MONTH#<YYYY-MM> holds flat Number counters
bumped with ADD, never SET: by the visit's local month ``completed``, ``no_show``, ``cancelled``, ``cancelled_late``,
``held_tracked``, ``confirmed_before``, ``self_confirmed``; by the send's local month ``sms_sent``, ``sms_failed``,
``sms_parts``, ``email_sent``, ``email_failed``, and by the state change's ``sms_bounced`` (carrier block),
``sms_opted_out``, ``email_bounced`` (suppression), ``email_opted_out``, ``sms_inbound``; by the posting month
``collected``, ``collected_online``, ``charged`` (cents); by the last completed visit's month ``last_visit`` and
``hyg#<YYYY-MM-DD>`` (of those patients, the day of their latest open hygiene appointment; the recall share sums the
18-month window's cells from today on). Each patient's TALLY#PATIENT# item carries ``applied`` (what each of their
appointments' states put in the counters); a change, computed from the appointment as read after it changed, moves
counters by the difference in one transaction conditioned on that item's ``rev``, so applying a change twice moves
nothing and the loser of a race re-reads and applies only the rest.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import (
    DiscriminatorAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model


def practice_pk(practice_id: str) -> str:
    return f"PRACTICE#{practice_id}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Gsi1(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "GSI1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True, attr_name="GSI1PK")
    gsi1sk = UnicodeAttribute(range_key=True, attr_name="GSI1SK")


class Gsi2(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "GSI2"
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True, attr_name="GSI2PK")
    gsi2sk = UnicodeAttribute(range_key=True, attr_name="GSI2SK")


class TableItem(Model):
    """Base of every item; the ``type`` attribute tells which entity an item is."""

    class Meta:
        table_name = os.environ.get("TABLE_NAME", "chairside")
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        billing_mode = "PAY_PER_REQUEST"

    pk = UnicodeAttribute(hash_key=True, attr_name="PK")
    sk = UnicodeAttribute(range_key=True, attr_name="SK")
    item_type = DiscriminatorAttribute(attr_name="type")
    gsi1pk = UnicodeAttribute(null=True, attr_name="GSI1PK")
    gsi1sk = UnicodeAttribute(null=True, attr_name="GSI1SK")
    gsi2pk = UnicodeAttribute(null=True, attr_name="GSI2PK")
    gsi2sk = UnicodeAttribute(null=True, attr_name="GSI2SK")
    created_at = UTCDateTimeAttribute(default=_utcnow)
    updated_at = UTCDateTimeAttribute(default=_utcnow)
    expires_at = NumberAttribute(null=True)

    gsi1 = Gsi1()
    gsi2 = Gsi2()


def create_table(wait: bool = True) -> None:
    """Create the table with its indexes and TTL (local stack and tests; prod uses infra/)."""
    if not TableItem.exists():
        TableItem.create_table(wait=wait, billing_mode="PAY_PER_REQUEST")
    from chalicelib.platform.aws import client

    client("dynamodb").update_time_to_live(
        TableName=TableItem.Meta.table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
    )
