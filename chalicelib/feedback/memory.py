"""In-memory twin of the feedback store, with the same invariants (single use, counted once)."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime

from chalicelib.feedback.model import (
    Answer,
    FeedbackSettings,
    Referral,
    Rollup,
    answer_deltas,
    referral_deltas,
    rollup_from_counters,
)


class MemoryFeedbackStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._settings: dict[str, FeedbackSettings] = {}
        self.surveyed: dict[tuple[str, str], tuple[datetime, str]] = {}
        self._answers: dict[tuple[str, str], Answer] = {}
        self.counters: dict[tuple[str, str], dict[str, int]] = {}
        self.codes: dict[tuple[str, str], str] = {}
        self.referrals: dict[tuple[str, str], Referral] = {}
        self.referred: dict[tuple[str, str], str] = {}

    def settings(self, practice_id: str) -> FeedbackSettings:
        return self._settings.get(practice_id) or FeedbackSettings()

    def save_settings(self, practice_id: str, settings: FeedbackSettings, expected_version: int) -> bool:
        with self._lock:
            if self.settings(practice_id).version != expected_version:
                return False
            self._settings[practice_id] = replace(settings, version=expected_version + 1)
            return True

    def claim_survey(
        self, practice_id: str, patient_id: str, appointment_id: str, now: datetime, cutoff: datetime
    ) -> bool:
        with self._lock:
            last = self.surveyed.get((practice_id, patient_id))
            if last is not None and last[0] >= cutoff and last[1] != appointment_id:
                return False
            if last is None or last[1] != appointment_id:
                self.surveyed[(practice_id, patient_id)] = (now, appointment_id)
            return True

    def _add(self, practice_id: str, month: str, deltas: dict[str, int]) -> None:
        counters = self.counters.setdefault((practice_id, month), {})
        for name, value in deltas.items():
            counters[name] = counters.get(name, 0) + value

    def record_answer(self, answer: Answer) -> bool:
        with self._lock:
            key = (answer.practice_id, answer.appointment_id)
            if key in self._answers:
                return False
            self._answers[key] = answer
            self._add(answer.practice_id, answer.month, answer_deltas(answer.score, answer.provider_id))
            return True

    def answer(self, practice_id: str, appointment_id: str) -> Answer | None:
        return self._answers.get((practice_id, appointment_id))

    def answers(self, practice_id: str, since: datetime, until: datetime) -> list[Answer]:
        found = [a for (p, _), a in self._answers.items() if p == practice_id and since <= a.answered_at < until]
        return sorted(found, key=lambda a: a.answered_at, reverse=True)

    def feedback_rollups(self, practice_id: str, months: list[str]) -> list[Rollup]:
        return [rollup_from_counters(m, self.counters.get((practice_id, m), {})) for m in months]

    def save_code(self, practice_id: str, code: str, patient_id: str) -> None:
        with self._lock:
            self.codes.setdefault((practice_id, code), patient_id)

    def code_owner(self, practice_id: str, code: str) -> str | None:
        return self.codes.get((practice_id, code))

    def add_referral(self, practice_id: str, referral: Referral, addresses: list[str]) -> None:
        with self._lock:
            self.referrals[(practice_id, referral.id)] = referral
            for address in addresses:
                self.referred.setdefault((practice_id, address), referral.id)

    def referral_for_address(self, practice_id: str, address: str) -> Referral | None:
        found = self.referred.get((practice_id, address))
        return self.referrals.get((practice_id, found)) if found else None

    def count_referral(self, practice_id: str, referral: Referral, patient_id: str, month: str, at: datetime) -> bool:
        with self._lock:
            current = self.referrals.get((practice_id, referral.id))
            if current is None or current.status != "pending":
                return False
            self.referrals[(practice_id, referral.id)] = replace(current, status="counted", patient_id=patient_id)
            self._add(practice_id, month, referral_deltas(referral.referrer_id))
            return True
