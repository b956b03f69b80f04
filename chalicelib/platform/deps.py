"""The ports a request or job uses, built once per Lambda container and replaceable in tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.adapters.messaging import EmailSender, SesEmailSender, SmsSender, SnsSmsSender
from chalicelib.appointments.events import AppointmentEvents
from chalicelib.appointments.store import AppointmentStore
from chalicelib.audit.service import Auditor
from chalicelib.audit.store import AuditStore
from chalicelib.patients.store import PatientStore
from chalicelib.platform.auth import PatientSessions, StaffTokenVerifier
from chalicelib.platform.clock import Clock, SystemClock
from chalicelib.platform.limits import Guarded
from chalicelib.platform.settings import get_settings
from chalicelib.practices.store import PracticeStore


@dataclass
class Deps:
    clock: Clock = field(default_factory=SystemClock)
    practices: PracticeStore = field(default_factory=PracticeStore)
    patients: PatientStore = field(default_factory=PatientStore)
    appointments: AppointmentStore = field(default_factory=AppointmentStore)
    audit_store: AuditStore = field(default_factory=AuditStore)
    appointment_events: AppointmentEvents = field(default_factory=AppointmentEvents)
    _email: EmailSender | None = None
    _sms: SmsSender | None = None
    _staff_verifier: StaffTokenVerifier | None = None
    _patient_sessions: PatientSessions | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from chalicelib.reminders.handlers import subscribe

        subscribe(self)  # every appointment change (re)plans its reminders
        from chalicelib.feedback.handlers import subscribe as feedback_subscribe

        feedback_subscribe(self)  # a completed visit plans its survey and may count a referral
        from chalicelib.analytics.handlers import subscribe as analytics_subscribe

        analytics_subscribe(self)  # every change keeps the analytics roll-ups in step

    @property
    def auditor(self) -> Auditor:
        return Auditor(self.audit_store, self.clock)

    @property
    def email(self) -> EmailSender:
        """The email sender, watched for sends from routes with no send limit (platform/limits.py)."""
        if self._email is None:
            self._email = SesEmailSender(get_settings().sender_email)
        return Guarded(self._email)

    @property
    def sms(self) -> SmsSender:
        if self._sms is None:
            self._sms = SnsSmsSender()
        return Guarded(self._sms)

    @property
    def staff_verifier(self) -> StaffTokenVerifier:
        if self._staff_verifier is None:
            s = get_settings()
            self._staff_verifier = StaffTokenVerifier(s.cognito_issuer, s.cognito_client_id, s.jwks_url)
        return self._staff_verifier

    @property
    def patient_sessions(self) -> PatientSessions:
        if self._patient_sessions is None:
            from chalicelib.identity.service import session_resolver

            self._patient_sessions = session_resolver(self)
        return self._patient_sessions


_current: Deps | None = None


def deps() -> Deps:
    global _current  # noqa: PLW0603 - one container per Lambda process
    if _current is None:
        _current = Deps()
    return _current


def use(replacement: Deps | None) -> None:
    """Swap the container (tests), or pass None to build a fresh one on next use."""
    global _current  # noqa: PLW0603
    _current = replacement
