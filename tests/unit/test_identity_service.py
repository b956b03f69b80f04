from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest

from chalicelib.adapters.messaging import Email, MemoryEmailSender, MemorySmsSender, Sms
from chalicelib.appointments.model import Appointment
from chalicelib.audit.service import Auditor, MemoryAuditLog
from chalicelib.identity.memory import MemoryCodes, MemoryRates, MemorySessions
from chalicelib.identity.model import (
    ChallengeRequired,
    CredentialsRejected,
    DirectoryBusy,
    contact_digest,
    session_practice,
)
from chalicelib.identity.service import (
    PatientSignIn,
    RateLimited,
    SessionResolver,
    SignedIn,
    my_profile,
    staff_sign_in,
    upcoming_appointments,
)
from chalicelib.patients.model import ContactLink, Guardian, Patient, contact_links_for, guardian_links_for
from chalicelib.platform.auth import PatientCaller, StaffCaller
from chalicelib.platform.clock import FixedClock
from chalicelib.platform.errors import ApiError, NotFound, TooManyRequests, Unauthorized, Unprocessable
from chalicelib.practices.model import AppointmentType, Practice, Provider
from tests import factories

KEY = b"unit-test-key"
START = datetime(2027, 3, 10, 15, 0, tzinfo=UTC)
AVA_PHONE = "+15555550121"


class FakePractices:
    def __init__(self, *practices: Practice) -> None:
        self.by_id = {p.id: p for p in practices}

    def get(self, practice_id: str) -> Practice | None:
        return self.by_id.get(practice_id)

    def providers(self, practice_id: str) -> list[Provider]:
        return [factories.provider()]

    def appointment_types(self, practice_id: str) -> list[AppointmentType]:
        return [factories.cleaning()]


class FakePatients:
    def __init__(self) -> None:
        self.patients: dict[tuple[str, str], Patient] = {}
        self.links: dict[str, list[ContactLink]] = {}

    def add(self, practice_id: str, p: Patient) -> Patient:
        self.patients[(practice_id, p.id)] = p
        self._link(practice_id, contact_links_for(p))
        return p

    def add_guardian(self, practice_id: str, g: Guardian) -> Guardian:
        self._link(practice_id, guardian_links_for(g))
        return g

    def _link(self, practice_id: str, links: list[ContactLink]) -> None:
        for link in links:
            self.links.setdefault(practice_id, []).append(link)

    def links_for_address(self, practice_id: str, address: str) -> list[ContactLink]:
        return [x for x in self.links.get(practice_id, []) if x.address == address]

    def get_many(self, practice_id: str, patient_ids: list[str]) -> list[Patient]:
        return [
            self.patients[(practice_id, i)] for i in dict.fromkeys(patient_ids) if (practice_id, i) in self.patients
        ]


class FakeAppointments:
    def __init__(self) -> None:
        self.rows: list[tuple[str, Appointment]] = []

    def add(self, practice_id: str, a: Appointment) -> None:
        self.rows.append((practice_id, a))

    def for_patient(self, practice_id: str, patient_id: str, start: datetime, end: datetime) -> list[Appointment]:
        return sorted(
            (a for p, a in self.rows if p == practice_id and a.patient_id == patient_id and start <= a.start <= end),
            key=lambda a: a.start,
        )


class ExplodingSms:
    def send(self, message: Sms) -> str:
        raise RuntimeError("carrier said no")


@dataclass
class World:
    clock: FixedClock = field(default_factory=lambda: FixedClock(START))
    practices: FakePractices = field(default_factory=lambda: FakePractices(factories.maple(), factories.birch()))
    patients: FakePatients = field(default_factory=FakePatients)
    appointments: FakeAppointments = field(default_factory=FakeAppointments)
    codes: MemoryCodes = field(default_factory=MemoryCodes)
    sessions: MemorySessions = field(default_factory=MemorySessions)
    rates: MemoryRates = field(default_factory=MemoryRates)
    email: MemoryEmailSender = field(default_factory=MemoryEmailSender)
    sms: MemorySmsSender = field(default_factory=MemorySmsSender)
    audit: MemoryAuditLog = field(default_factory=MemoryAuditLog)

    @property
    def auditor(self) -> Auditor:
        return Auditor(self.audit, self.clock)

    def sign_in(self, sms: object | None = None) -> PatientSignIn:
        return PatientSignIn(
            practices=self.practices,
            patients=self.patients,
            codes=self.codes,
            sessions=self.sessions,
            rates=self.rates,
            email=self.email,
            sms=sms or self.sms,  # type: ignore[arg-type]
            auditor=self.auditor,
            clock=self.clock,
            key=KEY,
        )

    def resolver(self) -> SessionResolver:
        return SessionResolver(self.sessions, self.clock, KEY)

    def last_code(self) -> str:
        text = (self.sms.sent or self.email.sent)[-1].text
        found = re.search(r"\b(\d{6})\b", text)
        assert found, text
        return found.group(1)

    def signed_in(self, contact: str = AVA_PHONE, practice_id: str = "P1") -> SignedIn:
        self.sign_in().request_code(practice_id, contact, "203.0.113.7")
        code = (self.sms.sent or self.email.sent)[-1]
        return self.sign_in().verify(practice_id, contact, _code_in(code))


def _code_in(message: Sms | Email) -> str:
    found = re.search(r"\b(\d{6})\b", message.text)
    assert found
    return found.group(1)


def _error(exc: pytest.ExceptionInfo[ApiError]) -> tuple[int, str]:
    return exc.value.status, exc.value.code


@pytest.fixture
def world() -> World:
    w = World()
    w.patients.add("P1", factories.patient("PAT-A", phone=AVA_PHONE))
    return w


# --- asking for a code --------------------------------------------------------------------------


def test_unknown_and_known_contacts_get_identical_answers_and_the_same_writes(world: World) -> None:
    known = world.sign_in().request_code("P1", "(555) 555-0121", "203.0.113.7")
    unknown = world.sign_in().request_code("P1", "(555) 555-0188", "203.0.113.7")
    assert known is None and unknown is None
    assert len(world.codes.items) == 2  # a code is stored for the unknown contact too
    assert sorted(world.rates.hits.values()) == [1, 1, 2]  # two contact counters, one client counter
    assert [m.to for m in world.sms.sent] == [AVA_PHONE]


def test_the_code_goes_by_sms_in_the_patients_language_naming_the_practice(world: World) -> None:
    world.patients.add("P1", dataclasses.replace(factories.patient("PAT-E", phone="+15555550131"), language="es"))
    world.sign_in().request_code("P1", "555 555 0131", "203.0.113.7")
    (sms,) = world.sms.sent
    assert sms.to == "+15555550131"
    assert "Maple Dental" in sms.text and "código" in sms.text


def test_an_email_contact_gets_the_code_by_email(world: World) -> None:
    world.sign_in().request_code("P1", "PAT-A@Example.test", "203.0.113.7")
    (mail,) = world.email.sent
    assert mail.to == "pat-a@example.test"
    assert mail.subject == "Your Maple Dental sign-in code"
    assert world.sms.sent == []


def test_the_code_is_never_stored_in_clear(world: World) -> None:
    world.sign_in().request_code("P1", AVA_PHONE, "203.0.113.7")
    code = world.last_code()
    (stored,) = world.codes.items.values()
    assert code not in repr(stored)
    assert AVA_PHONE not in repr(world.codes.items) and AVA_PHONE not in repr(world.rates.hits)
    assert re.fullmatch(r"[0-9a-f]{64}", stored.digest)


def test_an_unknown_practice_is_404_and_a_malformed_contact_is_422(world: World) -> None:
    with pytest.raises(NotFound):
        world.sign_in().request_code("P404", AVA_PHONE, "203.0.113.7")
    with pytest.raises(Unprocessable) as exc:
        world.sign_in().request_code("P1", "call me", "203.0.113.7")
    assert exc.value.code == "invalid_contact"


def test_a_failing_sender_still_answers_like_any_other_request(world: World) -> None:
    assert world.sign_in(sms=ExplodingSms()).request_code("P1", AVA_PHONE, "203.0.113.7") is None


def test_inactive_patients_are_not_sent_codes(world: World) -> None:
    world.patients.add("P1", dataclasses.replace(factories.patient("PAT-X", phone="+15555550150"), active=False))
    world.sign_in().request_code("P1", "+15555550150", "203.0.113.7")
    assert world.sms.sent == []


def test_code_requests_are_limited_per_contact(world: World) -> None:
    for i in range(5):
        world.sign_in().request_code("P1", AVA_PHONE, f"203.0.113.{i}")
    with pytest.raises(RateLimited) as exc:
        world.sign_in().request_code("P1", AVA_PHONE, "203.0.113.9")
    assert _error(exc) == (429, "rate_limited")
    assert 0 < exc.value.retry_after <= 15 * 60
    assert len(world.sms.sent) == 5
    world.clock.advance(minutes=15)
    world.sign_in().request_code("P1", AVA_PHONE, "203.0.113.9")
    assert len(world.sms.sent) == 6


def test_code_requests_are_limited_per_client(world: World) -> None:
    for i in range(20):
        world.sign_in().request_code("P1", f"+1555555{1000 + i}", "203.0.113.7")
    with pytest.raises(TooManyRequests):
        world.sign_in().request_code("P1", AVA_PHONE, "203.0.113.7")
    world.sign_in().request_code("P1", AVA_PHONE, "198.51.100.1")  # another client is not held up
    assert [m.to for m in world.sms.sent] == [AVA_PHONE]


# --- verifying ----------------------------------------------------------------------------------


def test_the_right_code_opens_a_session_for_the_patient(world: World) -> None:
    signed_in = world.signed_in()
    assert session_practice(signed_in.token) == "P1"
    assert signed_in.expires_in == 900
    assert [(m.patient.id, m.relation) for m in signed_in.members] == [("PAT-A", "self")]
    (stored,) = world.sessions.items.values()
    assert signed_in.token not in repr(stored)
    caller = world.resolver().resolve(signed_in.token)
    assert caller is not None
    assert (caller.practice_id, caller.holder_id, caller.patient_ids) == ("P1", "PAT-A", ("PAT-A",))
    assert [(e.action, e.patient_id, e.actor_type) for _, e in world.audit.events] == [
        ("session.start", "PAT-A", "patient")
    ]


def test_the_code_expires_at_ten_minutes(world: World) -> None:
    world.sign_in().request_code("P1", AVA_PHONE, "203.0.113.7")
    code = world.last_code()
    world.clock.advance(minutes=10)
    with pytest.raises(Unauthorized) as exc:
        world.sign_in().verify("P1", AVA_PHONE, code)
    assert _error(exc) == (401, "code_expired")


def test_the_code_still_works_a_second_before_ten_minutes(world: World) -> None:
    world.sign_in().request_code("P1", AVA_PHONE, "203.0.113.7")
    world.clock.advance(minutes=9, seconds=59)
    assert world.sign_in().verify("P1", AVA_PHONE, world.last_code()).members


def test_a_wrong_code_says_how_many_attempts_are_left(world: World) -> None:
    world.sign_in().request_code("P1", AVA_PHONE, "203.0.113.7")
    wrong = "000000" if world.last_code() != "000000" else "111111"
    with pytest.raises(Unauthorized) as exc:
        world.sign_in().verify("P1", AVA_PHONE, wrong)
    assert _error(exc) == (401, "invalid_code")
    assert "4 attempt" in exc.value.message


def test_the_sixth_attempt_fails_even_with_the_right_code(world: World) -> None:
    world.sign_in().request_code("P1", AVA_PHONE, "203.0.113.7")
    code = world.last_code()
    wrong = "000000" if code != "000000" else "111111"
    outcomes = []
    for _ in range(5):
        with pytest.raises(Unauthorized) as exc:
            world.sign_in().verify("P1", AVA_PHONE, wrong)
        outcomes.append(exc.value.code)
    assert outcomes == ["invalid_code"] * 4 + ["code_exhausted"]
    with pytest.raises(Unauthorized) as exc:
        world.sign_in().verify("P1", AVA_PHONE, code)
    assert _error(exc) == (401, "code_exhausted")
    assert world.sessions.items == {}


def test_a_new_code_replaces_the_old_one_and_its_spent_attempts(world: World) -> None:
    world.sign_in().request_code("P1", AVA_PHONE, "203.0.113.7")
    first = world.last_code()
    world.sign_in().request_code("P1", AVA_PHONE, "203.0.113.7")
    second = world.last_code()
    if first != second:
        with pytest.raises(Unauthorized):
            world.sign_in().verify("P1", AVA_PHONE, first)
    assert world.sign_in().verify("P1", AVA_PHONE, second).members


def test_a_code_signs_in_only_once(world: World) -> None:
    world.sign_in().request_code("P1", AVA_PHONE, "203.0.113.7")
    code = world.last_code()
    world.sign_in().verify("P1", AVA_PHONE, code)
    with pytest.raises(Unauthorized) as exc:
        world.sign_in().verify("P1", AVA_PHONE, code)
    assert _error(exc) == (401, "code_expired")


def test_verifying_an_unknown_contact_answers_like_a_wrong_code(world: World) -> None:
    world.sign_in().request_code("P1", "+15555550188", "203.0.113.7")
    world.sign_in().request_code("P1", AVA_PHONE, "203.0.113.7")
    wrong = "000000" if world.last_code() != "000000" else "111111"
    with pytest.raises(Unauthorized) as unknown:
        world.sign_in().verify("P1", "+15555550188", wrong)
    with pytest.raises(Unauthorized) as known:
        world.sign_in().verify("P1", AVA_PHONE, wrong)
    assert (unknown.value.code, unknown.value.message) == (known.value.code, known.value.message)


def test_a_code_for_one_contact_does_not_sign_in_another(world: World) -> None:
    world.patients.add("P1", factories.patient("PAT-B", phone="+15555550122"))
    world.sign_in().request_code("P1", AVA_PHONE, "203.0.113.7")
    world.sign_in().request_code("P1", "+15555550122", "203.0.113.7")
    ava_code = _code_in(world.sms.sent[0])
    if ava_code != _code_in(world.sms.sent[1]):
        with pytest.raises(Unauthorized):
            world.sign_in().verify("P1", "+15555550122", ava_code)


def test_a_guardian_session_lists_both_children(world: World) -> None:
    for kid in ("K1", "K2"):
        world.patients.add("P1", factories.patient(kid, phone="", email=f"{kid.lower()}@example.test"))
    world.patients.add_guardian("P1", factories.guardian("G1", ("K1", "K2")))
    signed_in = world.signed_in("+15555550140")
    assert [(m.patient.id, m.relation) for m in signed_in.members] == [("K1", "guardian"), ("K2", "guardian")]
    caller = world.resolver().resolve(signed_in.token)
    assert caller is not None and caller.holder_id == "G1" and caller.patient_ids == ("K1", "K2")


def test_a_shared_family_phone_is_self_for_the_parent_and_guardian_for_the_children(world: World) -> None:
    world.patients.add("P1", factories.patient("MOM", phone="+15555550140"))
    for kid in ("K1", "K2"):
        world.patients.add("P1", factories.patient(kid, phone="", email=f"{kid.lower()}@example.test"))
    world.patients.add_guardian("P1", factories.guardian("G1", ("K1", "K2")))
    signed_in = world.signed_in("+15555550140")
    assert [(m.patient.id, m.relation) for m in signed_in.members] == [
        ("MOM", "self"),
        ("K1", "guardian"),
        ("K2", "guardian"),
    ]


# --- sessions -----------------------------------------------------------------------------------


def test_sign_out_ends_the_session(world: World) -> None:
    token = world.signed_in().token
    world.sign_in().sign_out(token)
    assert world.resolver().resolve(token) is None
    world.sign_in().sign_out(token)  # twice is fine
    world.sign_in().sign_out("rubbish")


def test_an_idle_session_expires_after_15_minutes(world: World) -> None:
    token = world.signed_in().token
    world.clock.advance(minutes=14, seconds=59)
    assert world.resolver().resolve(token) is not None
    world.clock.advance(minutes=15)
    assert world.resolver().resolve(token) is None


def test_a_used_session_stays_alive_past_15_minutes_but_not_past_12_hours(world: World) -> None:
    token = world.signed_in().token
    for _ in range(12 * 6 - 1):
        world.clock.advance(minutes=10)
        assert world.resolver().resolve(token) is not None
    world.clock.advance(minutes=10)  # 12 hours after sign-in
    assert world.resolver().resolve(token) is None


def test_a_token_relabelled_with_another_practice_resolves_to_nothing(world: World) -> None:
    token = world.signed_in().token
    secret = token.split(".", 1)[1]
    assert world.resolver().resolve(f"P2.{secret}") is None
    assert world.resolver().resolve(secret) is None
    assert world.resolver().resolve(token + "x") is None


# --- the patient's own reads --------------------------------------------------------------------


def _caller(world: World, token: str) -> PatientCaller:
    caller = world.resolver().resolve(token)
    assert caller is not None
    return caller


def test_me_lists_each_patient_with_relation_and_minor_flag_and_audits_each_read(world: World) -> None:
    world.patients.add("P1", factories.patient("MOM", phone="+15555550140"))
    kid = dataclasses.replace(factories.patient("K1", phone="", email="k1@example.test"), birth_date=date(2015, 6, 1))
    world.patients.add("P1", kid)
    world.patients.add_guardian("P1", factories.guardian("G1", ("K1",)))
    caller = _caller(world, world.signed_in("+15555550140").token)
    world.audit.events.clear()
    profile = my_profile(world.practices, world.patients, world.auditor, caller, world.clock.now())
    assert profile.practice.name == "Maple Dental"
    assert [(m.patient.id, m.relation, m.is_minor) for m in profile.members] == [
        ("MOM", "self", False),
        ("K1", "guardian", True),
    ]
    assert [(e.actor_type, e.actor_id, e.action, e.patient_id) for _, e in world.audit.events] == [
        ("patient", "MOM", "patient.read", "MOM"),
        ("patient", "MOM", "patient.read", "K1"),
    ]


def test_upcoming_appointments_are_every_linked_patients_active_visits_in_the_next_year_by_start(
    world: World,
) -> None:
    for kid in ("K1", "K2"):
        world.patients.add("P1", factories.patient(kid, phone="", email=f"{kid.lower()}@example.test"))
    world.patients.add("P1", factories.patient("OTHER", phone="+15555550160"))
    world.patients.add_guardian("P1", factories.guardian("G1", ("K1", "K2")))
    day = timedelta(days=1)
    world.appointments.add("P1", factories.appointment("A-late", "K1", START + 30 * day))
    world.appointments.add("P1", factories.appointment("A-soon", "K2", START + 2 * day))
    world.appointments.add("P1", factories.appointment("A-past", "K1", START - 2 * day))
    world.appointments.add("P1", factories.appointment("A-gone", "K2", START + 3 * day, status="cancelled"))
    world.appointments.add("P1", factories.appointment("A-far", "K2", START + 400 * day))
    world.appointments.add("P1", factories.appointment("A-other", "OTHER", START + day))
    world.appointments.add("P2", factories.appointment("A-p2", "K1", START + day))
    caller = _caller(world, world.signed_in("+15555550140").token)
    world.audit.events.clear()
    upcoming = upcoming_appointments(
        world.practices, world.patients, world.appointments, world.auditor, caller, world.clock.now()
    )
    assert [(v.appointment.id, v.patient.id) for v in upcoming.visits] == [("A-soon", "K2"), ("A-late", "K1")]
    assert {(v.type_name, v.provider_name) for v in upcoming.visits} == {("Cleaning", "Dr. DR1")}
    assert [(e.action, e.actor_id, e.patient_id) for _, e in world.audit.events] == [
        ("appointments.list", "G1", "K1"),
        ("appointments.list", "G1", "K2"),
    ]


def test_a_patient_deactivated_after_sign_in_is_no_longer_listed(world: World) -> None:
    caller = _caller(world, world.signed_in().token)
    world.patients.patients[("P1", "PAT-A")].active = False
    profile = my_profile(world.practices, world.patients, world.auditor, caller, world.clock.now())
    assert profile.members == []


# --- staff --------------------------------------------------------------------------------------


class FakeDirectory:
    def __init__(self, outcome: Exception | None = None) -> None:
        self.outcome = outcome

    def password_sign_in(self, username: str, password: str) -> tuple[str, int]:
        if self.outcome:
            raise self.outcome
        return "id.token.value", 3600


class FakeVerifier:
    def verify(self, token: str) -> StaffCaller:
        assert token == "id.token.value"
        return StaffCaller("P1", "sub-1", "front_desk", "fd@example.test")


def test_staff_sign_in_returns_the_token_with_practice_and_role() -> None:
    session = staff_sign_in(FakeDirectory(), FakeVerifier(), "fd@example.test", "pw")
    assert (session.id_token, session.expires_in, session.practice_id, session.role) == (
        "id.token.value",
        3600,
        "P1",
        "front_desk",
    )


@pytest.mark.parametrize(
    ("outcome", "status", "code"),
    [
        (CredentialsRejected(), 401, "invalid_credentials"),
        (ChallengeRequired("NEW_PASSWORD_REQUIRED"), 401, "challenge_required"),
        (DirectoryBusy(), 429, "rate_limited"),
    ],
)
def test_staff_sign_in_refusals_are_client_errors(outcome: Exception, status: int, code: str) -> None:
    with pytest.raises(ApiError) as exc:
        staff_sign_in(FakeDirectory(outcome), FakeVerifier(), "fd@example.test", "pw")
    assert _error(exc) == (status, code)
    assert "pw" not in exc.value.message and "fd@example.test" not in exc.value.message


def test_contact_digests_differ_by_practice() -> None:
    assert contact_digest(KEY, "P1", AVA_PHONE) != contact_digest(KEY, "P2", AVA_PHONE)
