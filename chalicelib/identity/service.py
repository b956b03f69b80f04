"""Sign-in use cases: patient one-time codes and sessions, the patient's own reads, staff password sign-in.

Ports come in as arguments (stores, clock, senders, signing key), so tests pass the in-memory
twins from ``chalicelib.identity.memory``; ``patient_sign_in(deps)`` and ``session_resolver(deps)``
wire the DynamoDB-backed ones.

Invariants:
- a code is stored only as a keyed digest; an attempt is counted by one conditional update, and a
  matching code is consumed by a conditional delete, so a code signs in at most once and a sixth
  attempt is refused whatever it says;
- asking for a code answers the same whether or not the contact is on file: the same checks, rate
  counters and code write happen either way, and only a contact on file is sent the code;
- a session is stored under its token's digest; the token names its practice, and every read is
  scoped to that practice and to the patients the contact was linked to when it signed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from chalicelib.adapters.messaging import Email, EmailSender, Sms, SmsSender
from chalicelib.appointments.model import Appointment
from chalicelib.audit.model import ACTOR_PATIENT
from chalicelib.audit.service import Auditor
from chalicelib.identity.model import (
    CODE_EXHAUSTED,
    CODE_EXPIRED,
    CODE_WRONG,
    PER_CLIENT,
    PER_CONTACT,
    SESSION_IDLE,
    SMS,
    ChallengeRequired,
    Contact,
    CredentialsRejected,
    DirectoryBusy,
    InvalidCode,
    InvalidContact,
    LinkView,
    OneTimeCode,
    RateRule,
    Session,
    clean_code,
    client_digest,
    code_digest,
    code_message,
    contact_digest,
    epoch,
    issue_code,
    new_session_token,
    normalise_contact,
    refusal,
    same_digest,
    session_members,
    session_practice,
    token_digest,
    upcoming_until,
    valid_practice_id,
)
from chalicelib.patients.model import ContactLink, Patient
from chalicelib.platform.auth import PatientCaller, StaffCaller
from chalicelib.platform.clock import Clock
from chalicelib.platform.errors import NotFound, RetryLater, TooManyRequests, Unauthorized, Unprocessable
from chalicelib.platform.observability import logger
from chalicelib.practices.model import AppointmentType, Practice, Provider

if TYPE_CHECKING:
    from chalicelib.identity.cognito import CognitoDirectory
    from chalicelib.platform.deps import Deps

# --- ports --------------------------------------------------------------------------------------


class CodeStore(Protocol):
    def put(self, practice_id: str, contact_digest: str, code: OneTimeCode) -> None: ...
    def get(self, practice_id: str, contact_digest: str) -> OneTimeCode | None: ...
    def count_attempt(self, practice_id: str, contact_digest: str, now_epoch: int) -> OneTimeCode | None: ...
    def consume(self, practice_id: str, contact_digest: str, digest: str) -> bool: ...


class SessionStore(Protocol):
    def create(self, session: Session) -> None: ...
    def get(self, practice_id: str, session_id: str) -> Session | None: ...
    def touch(self, session: Session, now_epoch: int) -> bool: ...
    def delete(self, practice_id: str, session_id: str) -> None: ...


class RateStore(Protocol):
    def hit(self, practice_id: str, counter_key: str, limit: int, expires_at: int) -> bool: ...


class PracticeReader(Protocol):
    def get(self, practice_id: str) -> Practice | None: ...


class PracticeResources(PracticeReader, Protocol):
    def providers(self, practice_id: str) -> list[Provider]: ...
    def appointment_types(self, practice_id: str) -> list[AppointmentType]: ...


class PatientDirectory(Protocol):
    def links_for_address(self, practice_id: str, address: str) -> list[ContactLink]: ...
    def get_many(self, practice_id: str, patient_ids: list[str]) -> list[Patient]: ...


class PatientReader(Protocol):
    def get_many(self, practice_id: str, patient_ids: list[str]) -> list[Patient]: ...


class AppointmentReader(Protocol):
    def for_patient(self, practice_id: str, patient_id: str, start: datetime, end: datetime) -> list[Appointment]: ...


class StaffDirectory(Protocol):
    def password_sign_in(self, username: str, password: str) -> tuple[str, int]:
        """(ID token, seconds it lives); raises CredentialsRejected, ChallengeRequired or DirectoryBusy."""
        ...


class StaffVerifier(Protocol):
    def verify(self, token: str) -> StaffCaller: ...


# --- results ------------------------------------------------------------------------------------


class RateLimited(RetryLater):
    """Sign-in code requests past a cap."""


@dataclass(frozen=True)
class SignedInContact(PatientCaller):
    """A PatientCaller that also knows how the contact relates to each patient."""

    relations: tuple[tuple[str, str], ...] = ()

    def relation(self, patient_id: str) -> str:
        return dict(self.relations).get(patient_id, "self" if patient_id == self.holder_id else "guardian")


@dataclass(frozen=True)
class Member:
    """A patient the signed-in contact may act for."""

    patient: Patient
    relation: str  # self | guardian
    is_minor: bool = False


@dataclass(frozen=True)
class SignedIn:
    token: str
    expires_in: int
    members: list[Member]


@dataclass(frozen=True)
class Profile:
    practice: Practice
    members: list[Member]

    @property
    def language(self) -> str:
        """The language to speak to the contact in: its own patient's, else its first patient's."""
        return _language(self.members) if self.members else "en"


@dataclass(frozen=True)
class UpcomingVisit:
    appointment: Appointment
    patient: Patient
    type_name: str | None
    provider_name: str | None


@dataclass(frozen=True)
class Upcoming:
    practice: Practice
    visits: list[UpcomingVisit]


@dataclass(frozen=True)
class StaffSession:
    id_token: str
    expires_in: int
    practice_id: str
    role: str


# --- patient sign-in ----------------------------------------------------------------------------


def _contact(raw: str) -> Contact:
    try:
        return normalise_contact(raw)
    except InvalidContact as exc:
        raise Unprocessable(str(exc), code="invalid_contact") from exc


def _practice_or_404(practices: PracticeReader, practice_id: str) -> Practice:
    practice = practices.get(practice_id) if valid_practice_id(practice_id) else None
    if practice is None:
        raise NotFound("no such practice")
    return practice


@dataclass(frozen=True)
class Household:
    """Who a contact may act for: its holder (patient or guardian) and the active linked patients."""

    holder_id: str
    members: list[Member]


def _household(patients: PatientReader, practice_id: str, links: Sequence[ContactLink]) -> Household:
    if not links:
        return Household("", [])
    wanted = list(dict.fromkeys(x.patient_id for x in links))
    active = {p.id: p for p in patients.get_many(practice_id, wanted) if p.active}
    holder, ids, relations = session_members(
        LinkView(x.patient_id, x.relation, x.holder_id) for x in links if x.patient_id in active
    )
    return Household(holder, [Member(active[pid], relations[pid]) for pid in ids])


class PatientSignIn:
    """Passwordless sign-in for one practice's patients and guardians."""

    def __init__(
        self,
        *,
        practices: PracticeReader,
        patients: PatientDirectory,
        codes: CodeStore,
        sessions: SessionStore,
        rates: RateStore,
        email: EmailSender,
        sms: SmsSender,
        auditor: Auditor,
        clock: Clock,
        key: bytes,
    ) -> None:
        self.practices = practices
        self.patients = patients
        self.codes = codes
        self.sessions = sessions
        self.rates = rates
        self.email = email
        self.sms = sms
        self.auditor = auditor
        self.clock = clock
        self.key = key

    def request_code(self, practice_id: str, raw_contact: str, client: str) -> None:
        """Send a code to a contact on file; answer identically for one that is not."""
        practice = _practice_or_404(self.practices, practice_id)
        contact = _contact(raw_contact)
        now = self.clock.now()
        self._limit(practice_id, PER_CLIENT, client_digest(self.key, client or "unknown"), now)
        cd = contact_digest(self.key, practice_id, contact.address)
        self._limit(practice_id, PER_CONTACT, cd, now)
        code, pending = issue_code(self.key, practice_id, contact, now)
        # Stored for unknown contacts too, so that verifying answers alike for both.
        self.codes.put(practice_id, cd, pending)
        household = _household(
            self.patients, practice_id, self.patients.links_for_address(practice_id, contact.address)
        )
        if household.members:
            self._send(practice, contact, code, _language(household.members))

    def verify(self, practice_id: str, raw_contact: str, raw_code: str) -> SignedIn:
        contact = _contact(raw_contact)
        try:
            code = clean_code(raw_code)
        except InvalidCode as exc:
            raise Unprocessable(str(exc), code="invalid_field") from exc
        if not valid_practice_id(practice_id):
            raise _refused(CODE_EXPIRED)
        now = self.clock.now()
        cd = contact_digest(self.key, practice_id, contact.address)
        pending = self.codes.count_attempt(practice_id, cd, epoch(now))
        if pending is None:
            raise _refused(refusal(self.codes.get(practice_id, cd), now))
        if not same_digest(pending.digest, code_digest(self.key, practice_id, contact.address, code)):
            if pending.is_exhausted:
                raise _refused(CODE_EXHAUSTED)
            raise Unauthorized(
                f"that code is not right; {pending.attempts_left} attempt(s) left",
                code=CODE_WRONG,
            )
        if not self.codes.consume(practice_id, cd, pending.digest):
            raise _refused(CODE_EXPIRED)  # used by a concurrent request, or replaced by a newer code
        household = _household(
            self.patients, practice_id, self.patients.links_for_address(practice_id, contact.address)
        )
        if not household.members:
            raise Unauthorized("there is no patient on file for this contact", code="no_patients")
        return self._open_session(practice_id, household, now)

    def sign_out(self, token: str) -> None:
        """Forget the session; signing out twice, or with an unknown token, is not an error."""
        practice_id = session_practice(token)
        if practice_id is not None:
            self.sessions.delete(practice_id, token_digest(self.key, token))

    def _open_session(self, practice_id: str, household: Household, now: datetime) -> SignedIn:
        relations = {m.patient.id: m.relation for m in household.members}
        token = new_session_token(practice_id)
        session = Session(
            id=token_digest(self.key, token),
            practice_id=practice_id,
            holder_id=household.holder_id,
            patient_ids=tuple(relations),
            relations=relations,
            started_at=epoch(now),
            last_seen=epoch(now),
        )
        self.sessions.create(session)
        self.auditor.record(
            practice_id,
            actor_type=ACTOR_PATIENT,
            actor_id=session.holder_id,
            action="session.start",
            patient_ids=session.patient_ids,
            record=f"session:{session.id[:16]}",
        )
        logger.info("patient signed in", extra={"practice_id": practice_id, "patients": len(household.members)})
        return SignedIn(token, int(SESSION_IDLE.total_seconds()), household.members)

    def _limit(self, practice_id: str, rule: RateRule, digest: str, now: datetime) -> None:
        if not self.rates.hit(practice_id, rule.counter_key(digest, now), rule.limit, rule.window_end(now)):
            wait = rule.retry_after(now)
            logger.info("sign-in code rate limited", extra={"practice_id": practice_id, "scope": rule.scope})
            raise RateLimited(f"too many code requests; try again in {max(1, wait // 60)} minute(s)", wait)

    def _send(self, practice: Practice, contact: Contact, code: str, language: str) -> None:
        message = code_message(language, practice.name, code, contact.channel)
        try:
            if contact.channel == SMS:
                sent = self.sms.send(Sms(to=contact.address, text=message.text))
            else:
                sent = self.email.send(Email(to=contact.address, subject=message.subject, text=message.text))
        except Exception as exc:
            # Answering differently (a 500) would tell the caller that the contact is on file.
            logger.warning(
                "sign-in code not sent",
                extra={"practice_id": practice.id, "channel": contact.channel, "error": type(exc).__name__},
            )
            return
        logger.info("sign-in code sent", extra={"practice_id": practice.id, "channel": contact.channel, "id": sent})


def _refused(reason: str) -> Unauthorized:
    messages = {
        CODE_EXPIRED: "that code has expired or was already used; ask for a new one",
        CODE_EXHAUSTED: "too many wrong attempts; ask for a new code",
    }
    return Unauthorized(messages.get(reason, "that code is not right"), code=reason)


def _language(members: list[Member]) -> str:
    holder = next((m for m in members if m.relation == "self"), members[0])
    return holder.patient.language or "en"


# --- sessions -----------------------------------------------------------------------------------


class SessionResolver:
    """Turns a bearer token into a caller; refreshes ``last_seen`` by a conditional update."""

    def __init__(self, sessions: SessionStore, clock: Clock, key: bytes) -> None:
        self.sessions = sessions
        self.clock = clock
        self.key = key

    def resolve(self, token: str) -> PatientCaller | None:
        practice_id = session_practice(token)
        if practice_id is None:
            return None
        session = self.sessions.get(practice_id, token_digest(self.key, token))
        now = self.clock.now()
        if session is None or not session.is_alive(now):
            return None
        if session.needs_touch(now) and not self.sessions.touch(session, epoch(now)):
            return None  # signed out or timed out between the read and the refresh
        return SignedInContact(
            practice_id=practice_id,
            session_id=session.id,
            holder_id=session.holder_id,
            patient_ids=session.patient_ids,
            relations=tuple(session.relations.items()),
        )


# --- the patient's own reads --------------------------------------------------------------------


def _relation(caller: PatientCaller, patient_id: str) -> str:
    if isinstance(caller, SignedInContact):
        return caller.relation(patient_id)
    return "self" if patient_id == caller.holder_id else "guardian"


def _caller_members(patients: PatientReader, caller: PatientCaller) -> list[Member]:
    """The caller's patients that still exist and are active, in session order."""
    found = {p.id: p for p in patients.get_many(caller.practice_id, list(caller.patient_ids)) if p.active}
    return [Member(found[pid], _relation(caller, pid)) for pid in caller.patient_ids if pid in found]


def my_profile(
    practices: PracticeReader, patients: PatientReader, auditor: Auditor, caller: PatientCaller, now: datetime
) -> Profile:
    practice = _practice_or_404(practices, caller.practice_id)
    today = now.astimezone(practice.tz).date()
    members = [replace(m, is_minor=m.patient.is_minor_on(today)) for m in _caller_members(patients, caller)]
    auditor.record(
        caller.practice_id,
        actor_type=ACTOR_PATIENT,
        actor_id=caller.holder_id,
        action="patient.read",
        patient_ids=[m.patient.id for m in members],
        record="profile",
    )
    return Profile(practice, members)


def upcoming_appointments(
    practices: PracticeResources,
    patients: PatientReader,
    appointments: AppointmentReader,
    auditor: Auditor,
    caller: PatientCaller,
    now: datetime,
) -> Upcoming:
    """Active appointments of every linked patient from now to a year ahead, by start."""
    practice = _practice_or_404(practices, caller.practice_id)
    members = _caller_members(patients, caller)
    until = upcoming_until(now)
    found: list[tuple[Appointment, Patient]] = []
    for m in members:
        for a in appointments.for_patient(caller.practice_id, m.patient.id, now, until):
            if a.is_active and now <= a.start < until:
                found.append((a, m.patient))
    found.sort(key=lambda pair: (pair[0].start, pair[0].id))
    types: dict[str, str] = {}
    providers: dict[str, str] = {}
    if found:  # two small queries, only when there is something to name
        types = {t.id: t.name for t in practices.appointment_types(caller.practice_id)}
        providers = {p.id: p.name for p in practices.providers(caller.practice_id)}
    auditor.record(
        caller.practice_id,
        actor_type=ACTOR_PATIENT,
        actor_id=caller.holder_id,
        action="appointments.list",
        patient_ids=[m.patient.id for m in members],
        record="appointments:upcoming",
    )
    return Upcoming(
        practice,
        [UpcomingVisit(a, p, types.get(a.type_id), providers.get(a.provider_id)) for a, p in found],
    )


# --- staff --------------------------------------------------------------------------------------


def staff_sign_in(directory: StaffDirectory, verifier: StaffVerifier, username: str, password: str) -> StaffSession:
    """Password sign-in through the staff directory; the token is verified before it is handed out."""
    try:
        id_token, expires_in = directory.password_sign_in(username, password)
    except CredentialsRejected as exc:
        raise Unauthorized("the email or password is not right", code="invalid_credentials") from exc
    except ChallengeRequired as exc:
        raise Unauthorized(
            f"this account must finish setting up first ({exc.challenge})", code="challenge_required"
        ) from exc
    except DirectoryBusy as exc:
        raise TooManyRequests("too many sign-in attempts; try again in a minute", code="rate_limited") from exc
    caller = verifier.verify(id_token)
    return StaffSession(id_token, expires_in, caller.practice_id, caller.role)


def staff_practice(practices: PracticeReader, caller: StaffCaller) -> Practice:
    return _practice_or_404(practices, caller.practice_id)


# --- wiring -------------------------------------------------------------------------------------


def patient_sign_in(d: Deps) -> PatientSignIn:
    from chalicelib.identity.store import DynamoCodes, DynamoRates, DynamoSessions
    from chalicelib.platform.secrets import token_signing_key

    return PatientSignIn(
        practices=d.practices,
        patients=d.patients,
        codes=DynamoCodes(),
        sessions=DynamoSessions(),
        rates=DynamoRates(),
        email=d.email,
        sms=d.sms,
        auditor=d.auditor,
        clock=d.clock,
        key=token_signing_key(),
    )


def session_resolver(d: Deps) -> SessionResolver:
    """The ``PatientSessions`` that ``Deps.patient_sessions`` builds on first use."""
    from chalicelib.identity.store import DynamoSessions
    from chalicelib.platform.secrets import token_signing_key

    return SessionResolver(DynamoSessions(), d.clock, token_signing_key())


def staff_directory() -> CognitoDirectory:
    from chalicelib.identity.cognito import CognitoDirectory
    from chalicelib.platform.settings import get_settings

    return CognitoDirectory(get_settings().cognito_client_id)
