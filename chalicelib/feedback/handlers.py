"""Wiring for the feedback capability: its ports over the Deps container, and the appointment-event
subscription (a completed visit plans its survey and may count a referral)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.appointments.events import AppointmentChanged
from chalicelib.feedback.ports import FeedbackPorts
from chalicelib.platform.settings import get_settings

if TYPE_CHECKING:
    from chalicelib.feedback.model import Rollup
    from chalicelib.platform.deps import Deps


def ports_for(d: Deps) -> FeedbackPorts:
    """Tests swap the store and rate counter through ``d.extras`` (feedback_store, feedback_rates)."""
    from chalicelib.feedback.store import FeedbackStore
    from chalicelib.identity.store import DynamoRates
    from chalicelib.platform.secrets import token_signing_key
    from chalicelib.reminders.handlers import ports_for as reminder_ports

    store = d.extras.get("feedback_store")
    if store is None:
        store = d.extras["feedback_store"] = FeedbackStore()
    return FeedbackPorts(
        store=store,
        reminders=reminder_ports(d),
        rates=d.extras.get("feedback_rates") or DynamoRates(),
        clock=d.clock,
        signing_key=token_signing_key,
        web_base_url=get_settings().web_base_url,
    )


def subscribe(d: Deps) -> None:
    from chalicelib.feedback.service import on_appointment_changed

    def consume(event: AppointmentChanged) -> None:
        on_appointment_changed(ports_for(d), event)

    d.appointment_events.subscribe(consume)


def feedback_rollups(practice_id: str, months: list[str]) -> list[Rollup]:
    """The monthly roll-ups (``model.Rollup``) for analytics: one BatchGetItem, no Query."""
    from chalicelib.feedback.store import FeedbackStore

    return FeedbackStore().feedback_rollups(practice_id, months)
