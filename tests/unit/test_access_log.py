"""A patient's access log in words: who (you, the patient, a guardian, staff by role and name, a job, a
link) and what (a phrase, never a raw action code), paged newest first, read-audited once per session."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chalicelib.audit import access
from chalicelib.audit.access import PHRASES, Who, entry_of, phrase_of, who_of
from chalicelib.audit.model import AuditEvent
from chalicelib.audit.service import ACCESS_PAGE_SIZE, MemoryAuditLog, access_log
from chalicelib.identity.service import SignedInContact
from chalicelib.patients.model import ContactLink
from chalicelib.platform.clock import FixedClock
from chalicelib.platform.errors import BadRequest, NotFound

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2027, 3, 10, 15, 0, tzinfo=UTC)


def event(
    actor_type: str = "staff",
    actor_id: str = "sub-1",
    action: str = "patient.read",
    patient_id: str = "K1",
    at: datetime = AT,
    role: str = "",
    name: str = "",
    source: str = "api",
    eid: str = "",
) -> AuditEvent:
    return AuditEvent(
        eid or f"e{at.timestamp():.0f}{action}", at, actor_type, actor_id, action, patient_id, "", source, role, name
    )


def caller(holder: str = "G1", patients: tuple[str, ...] = ("K1", "K2"), session: str = "s" * 43) -> SignedInContact:
    relation = "self" if patients == (holder,) else "guardian"
    return SignedInContact(
        practice_id="P1",
        session_id=session,
        holder_id=holder,
        patient_ids=patients,
        relations=tuple((p, relation) for p in patients),
    )


class Links:
    def __init__(self, *holders: str) -> None:
        self.holders = holders

    def links_for_patient(self, practice_id: str, patient_id: str) -> list[ContactLink]:
        return [ContactLink("+15555550140", "sms", patient_id, "guardian", h) for h in self.holders]


# --- who --------------------------------------------------------------------------------------------


def test_staff_are_named_by_the_role_and_name_their_token_carried() -> None:
    who = who_of(event(role="front_desk", name="Dana  Lee"), "G1", "K1", set())
    assert who == Who("staff", role="front_desk", name="Dana Lee")
    assert who.as_dict() == {"kind": "staff", "role": "front_desk", "name": "Dana Lee"}


def test_older_staff_events_without_role_or_name_are_just_practice_staff() -> None:
    assert who_of(event(), "G1", "K1", set()).as_dict() == {"kind": "staff"}
    assert who_of(event(role="clinical"), "G1", "K1", set()).as_dict() == {"kind": "staff", "role": "clinical"}
    assert who_of(event(role="made-up"), "G1", "K1", set()).as_dict() == {"kind": "staff"}


def test_the_reader_is_you_the_patient_is_the_patient_a_linked_contact_is_a_guardian_anyone_else_is_someone_else() -> (
    None
):
    linked = {"G1", "G2"}
    assert who_of(event("patient", "G1"), "G1", "K1", linked).kind == "you"
    assert who_of(event("patient", "K1"), "G1", "K1", linked).kind == "patient"
    assert who_of(event("patient", "G2"), "G1", "K1", linked).kind == "guardian"
    assert who_of(event("patient", "OTHER"), "G1", "K1", linked).kind == "someone_else"
    assert who_of(event("patient", "K1"), "K1", "K1", linked).kind == "you"


def test_jobs_and_links_say_what_they_are() -> None:
    assert who_of(event("job", "reminders"), "G1", "K1", set()) == Who("job", job="reminders")
    assert who_of(event("job", "waitlist"), "G1", "K1", set()) == Who("job", job="waitlist")
    assert who_of(event("job", "stripe"), "G1", "K1", set()) == Who("job", job="payments")
    assert who_of(event("job", "nightly", source="import:fhir"), "G1", "K1", set()) == Who("job", job="import")
    assert who_of(event("job", "something-new"), "G1", "K1", set()) == Who("job", job="other")
    assert who_of(event("anonymous", "signed_link"), "G1", "K1", set()) == Who("link", link="message")
    assert who_of(event("anonymous", "calendar_feed"), "G1", "K1", set()) == Who("link", link="calendar")
    assert who_of(event("anonymous", "share:abc"), "G1", "K1", set()) == Who("link", link="share")
    assert who_of(event("anonymous", "paylink:abc"), "G1", "K1", set()) == Who("link", link="payment")


# --- what -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "phrase"),
    [
        ("patient.read", "viewed_record"),
        ("preferences.update", "changed_preferences"),
        ("appointment.cancel", "cancelled_appointment"),
        ("appointment.no-show", "marked_no_show"),
        ("image.view", "viewed_image"),
        ("ledger.read", "viewed_ledger"),
        ("inbox.reply.sms", "replied_message"),
        ("patient.export", "exported_data"),
        ("access_log.read", "viewed_access_log"),
        ("access_denied", "refused"),
    ],
)
def test_known_actions_read_as_phrases(action: str, phrase: str) -> None:
    assert phrase_of(action) == phrase


def test_an_unmapped_action_still_reads_as_looking_or_changing_never_as_its_code() -> None:
    assert phrase_of("xray.thing.read") == "viewed_something"
    assert phrase_of("billing.statement_download") == "viewed_something"
    assert phrase_of("treatment_plan.update") == "changed_something"
    assert phrase_of("") == "changed_something"


def test_every_action_the_code_records_has_its_own_phrase() -> None:
    """Each action literal passed to an audit call somewhere in chalicelib maps to a phrase of its own."""
    recorded: set[str] = set()
    pattern = re.compile(r'"((?:[a-z_]+\.)+[a-z_-]+)"')
    for path in (ROOT / "chalicelib").rglob("*.py"):
        text = path.read_text()
        for line in text.splitlines():
            if "audit" in line or "action=" in line:
                recorded |= set(pattern.findall(line))
    actions = {a for a in recorded if a.split(".")[0] in access.AUDITED_AREAS} - access.PRACTICE_LEVEL
    assert actions, "the scan found the actions the code records"
    unmapped = sorted(a for a in actions if phrase_of(a) in {"viewed_something", "changed_something"})
    assert not unmapped, (
        f"give these audit actions a phrase in chalicelib/audit/access.py (_BY_ACTION) and its words in "
        f"web/patient/privacy-strings.js: {unmapped}"
    )


def test_every_phrase_and_who_word_is_in_both_languages_of_the_page() -> None:
    text = (ROOT / "web" / "patient" / "privacy-strings.js").read_text()
    en, _, es = text.partition("\n  es: {")
    for table in (en, es):
        for phrase in PHRASES:
            assert re.search(rf"\b{phrase}: ", table), phrase
        for kind in (*access.JOBS, *access.LINKS, *access.STAFF_ROLES):
            assert re.search(rf"\b{kind}: ", table), kind


def test_an_entry_carries_the_event_id_time_who_and_phrase_but_not_the_staff_id() -> None:
    e = event(role="owner", name="Kim Ortiz")
    entry = entry_of(e, "G1", "K1", set())
    assert (entry.id, entry.at, entry.what) == (e.id, AT, "viewed_record")
    assert "sub-1" not in repr(entry.who)


# --- the service -------------------------------------------------------------------------------------


def log_with(*events: AuditEvent) -> MemoryAuditLog:
    log = MemoryAuditLog()
    log.append("P1", events)
    return log


def test_a_guardian_pages_a_childs_log_newest_first_and_the_read_is_logged_once_per_session() -> None:
    clock = FixedClock(AT + timedelta(days=1))
    events = [event(at=AT - timedelta(minutes=i), eid=f"e{i:03d}") for i in range(ACCESS_PAGE_SIZE + 5)]
    log = log_with(*events)
    first = access_log(log, Links("G1"), clock, caller(), "K1")
    assert first.entries[0].what == "viewed_access_log" and first.entries[0].who.kind == "you"
    assert [e.id for e in first.entries[1:]] == [e.id for e in events[: ACCESS_PAGE_SIZE - 1]]
    assert first.cursor
    second = access_log(log, Links("G1"), clock, caller(), "K1", first.cursor)
    assert [e.id for e in second.entries] == [e.id for e in events[ACCESS_PAGE_SIZE - 1 :]]
    assert second.cursor == ""
    again = access_log(log, Links("G1"), clock, caller(), "K1")
    reads = [e for _, e in log.events if e.action == "access_log.read"]
    assert len(reads) == 1 and len(again.entries) == ACCESS_PAGE_SIZE
    access_log(log, Links("G1"), clock, caller(session="t" * 43), "K1")
    assert len([e for _, e in log.events if e.action == "access_log.read"]) == 2


def test_only_others_leaves_out_the_readers_own_activity() -> None:
    log = log_with(event("patient", "G1", "appointments.list"), event(role="clinical", action="image.view"))
    page = access_log(log, Links("G1"), FixedClock(AT), caller(), "K1", only_others=True)
    assert [(e.who.kind, e.what) for e in page.entries] == [("staff", "viewed_image")]


@pytest.mark.parametrize("patient_id", ["K9", "PAT-B", ""])
def test_an_unlinked_or_foreign_patient_is_a_404_and_the_attempt_is_audited(patient_id: str) -> None:
    log = log_with(event(patient_id="K9"))
    with pytest.raises(NotFound):
        access_log(log, Links("G1"), FixedClock(AT), caller(), patient_id)
    denied = [e for _, e in log.events if e.action == "access_denied"]
    assert len(denied) == 1 and denied[0].actor_id == "G1" and denied[0].patient_id == patient_id
    assert not [e for _, e in log.events if e.action == "access_log.read"]


def test_a_cursor_the_list_did_not_give_out_is_a_400() -> None:
    with pytest.raises(BadRequest):
        access_log(log_with(event()), Links(), FixedClock(AT), caller(), "K1", "not-a-cursor")
