"""Entry points app.py wires: the minute sweep job, the appointment-event consumer, and the SNS
handlers for inbound SMS and SES feedback. Each builds the ports from the Deps container and calls
one use case; none logs an event or a message body."""

from __future__ import annotations

import json
import os
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.appointments.events import AppointmentChanged
from chalicelib.platform import jobs
from chalicelib.platform.jobs import scheduled
from chalicelib.platform.observability import logger, metrics
from chalicelib.platform.settings import get_settings
from chalicelib.reminders.ports import PayLinkRefused, Ports

if TYPE_CHECKING:
    from chalicelib.billing.model import DueInstalment
    from chalicelib.platform.deps import Deps

INBOUND_SMS_TOPIC = os.environ.get("INBOUND_SMS_TOPIC", "chairside-inbound-sms")
SES_FEEDBACK_TOPIC = os.environ.get("SES_FEEDBACK_TOPIC", "chairside-ses-feedback")


class BillingInstalments:
    """The instalment port over the billing service (chalicelib/billing/service.py). Billing is
    imported on first use, so the API handler's import path does not grow by it."""

    def due_between(self, practice_id: str, start: date, end: date) -> list[DueInstalment]:
        from chalicelib.billing.service import instalments_due_between

        return instalments_due_between(practice_id, start, end)

    def pay_url(self, practice_id: str, plan_id: str, number: int) -> str:
        from chalicelib.billing.service import instalment_pay_url
        from chalicelib.platform.errors import ApiError

        try:
            return instalment_pay_url(practice_id, plan_id, number)
        except ApiError as exc:  # billing's answer (paid, no birth date, no such plan), not a fault
            raise PayLinkRefused(exc.code) from exc


def ports_for(d: Deps) -> Ports:
    """The reminder ports over a Deps container; tests swap parts through ``d.extras``."""
    from chalicelib.platform.secrets import token_signing_key
    from chalicelib.reminders.carrier import SnsOptOuts
    from chalicelib.reminders.store import ReminderStore, StoreConfirmer

    store = d.extras.get("reminder_store")
    if store is None:
        store = d.extras["reminder_store"] = ReminderStore()
    settings = get_settings()
    return Ports(
        store=store,
        practices=d.practices,
        patients=d.patients,
        appointments=d.appointments,
        email=d.email,
        sms=d.sms,
        carrier=d.extras.get("carrier") or SnsOptOuts(),
        confirmer=d.extras.get("confirmer") or StoreConfirmer(d.appointment_events.publish),
        clock=d.clock,
        signing_key=token_signing_key,
        web_base_url=settings.web_base_url,
        api_base_url=settings.api_base_url,
        patient_lister=d.extras.get("patient_lister") or store,
        hygiene_types=d.extras.setdefault("hygiene_types", {}),
        instalments=d.extras.get("instalments") or BillingInstalments(),
        time_left=jobs.time_left,
    )


def subscribe(d: Deps) -> None:
    """Make the container's appointment events (re)plan reminders. Called once per container."""
    from chalicelib.reminders.service import on_appointment_changed

    def consume(event: AppointmentChanged) -> None:
        on_appointment_changed(ports_for(d), event)

    d.appointment_events.subscribe(consume)


def plan_new_payment_plan(practice_id: str) -> None:
    """Plan a new payment plan's reminders at once rather than at the next daily pass, so an instalment
    due within the lead days is not reminded a day late (best effort: the plan is saved already)."""
    from chalicelib.platform.deps import deps
    from chalicelib.reminders.service import plan_instalment_reminders

    ports = ports_for(deps())
    plan_instalment_reminders(ports, practice_id, ports.clock.now())


@scheduled("reminders")
def sweep_job(now: datetime) -> None:
    from chalicelib.platform.deps import deps
    from chalicelib.reminders.service import sweep

    sweep(ports_for(deps()), now)


def _parse(message: str) -> dict[str, Any] | None:
    try:
        body = json.loads(message)
    except (TypeError, ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def inbound_sms(message: str) -> dict[str, Any]:
    """An inbound text from the SMS topic. Malformed messages are counted and dropped, never retried."""
    from chalicelib.platform.deps import deps
    from chalicelib.reminders.inbound import handle_inbound_sms

    body = _parse(message)
    if body is None:
        logger.warning("inbound SMS message is not JSON")
        metrics.add_metric(name="InboundSmsUnreadable", unit="Count", value=1)
        return {"status": 200, "outcome": "unreadable"}
    result = handle_inbound_sms(ports_for(deps()), body)
    metrics.add_metric(name="InboundSms", unit="Count", value=1)
    return {"status": 200, "outcome": result.outcome, "practice_id": result.practice_id}


def ses_feedback(message: str) -> dict[str, Any]:
    """A bounce, complaint or delivery notice from SES. Every notice is acknowledged (200)."""
    from chalicelib.platform.deps import deps
    from chalicelib.reminders.feedback import handle_ses_notice

    body = _parse(message)
    if body is None:
        logger.warning("SES notice is not JSON")
        return {"status": 200, "outcome": "unreadable"}
    try:
        result = handle_ses_notice(ports_for(deps()), body)
    except (KeyError, TypeError, ValueError, AttributeError):
        logger.exception("SES notice could not be used")
        return {"status": 200, "outcome": "unusable"}
    return {"status": 200, "outcome": result.kind, "actions": [a for _, a, _ in result.actions]}
