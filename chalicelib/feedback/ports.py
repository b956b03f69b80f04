"""The ports the feedback capability works through. ``store.py`` implements them on DynamoDB,
``memory.py`` in memory for the service tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from chalicelib.feedback.model import Answer, FeedbackSettings, Referral, Rollup
from chalicelib.platform.clock import Clock
from chalicelib.reminders.ports import Ports as ReminderPorts


class FeedbackStorePort(Protocol):
    def settings(self, practice_id: str) -> FeedbackSettings: ...
    def save_settings(self, practice_id: str, settings: FeedbackSettings, expected_version: int) -> bool: ...
    def claim_survey(
        self, practice_id: str, patient_id: str, appointment_id: str, now: datetime, cutoff: datetime
    ) -> bool: ...
    def record_answer(self, answer: Answer) -> bool: ...
    def answer(self, practice_id: str, appointment_id: str) -> Answer | None: ...
    def answers(self, practice_id: str, since: datetime, until: datetime) -> list[Answer]: ...
    def feedback_rollups(self, practice_id: str, months: list[str]) -> list[Rollup]: ...
    def save_code(self, practice_id: str, code: str, patient_id: str) -> None: ...
    def code_owner(self, practice_id: str, code: str) -> str | None: ...
    def add_referral(self, practice_id: str, referral: Referral, addresses: list[str]) -> None: ...
    def referral_for_address(self, practice_id: str, address: str) -> Referral | None: ...
    def count_referral(
        self, practice_id: str, referral: Referral, patient_id: str, month: str, at: datetime
    ) -> bool: ...


class RateCounter(Protocol):
    def hit(self, practice_id: str, counter_key: str, limit: int, expires_at: int) -> bool: ...


@dataclass
class FeedbackPorts:
    store: FeedbackStorePort
    reminders: ReminderPorts  # practices, patients, appointments, the touch store and its inbox, senders
    rates: RateCounter
    clock: Clock
    signing_key: Callable[[], bytes]
    web_base_url: str = "http://127.0.0.1:8080"
