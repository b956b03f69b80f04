"""SES bounce, complaint and delivery notices (published by SES to an SNS topic).

Classification is ``model.classify_feedback`` (case C12): a permanent bounce, a complaint, or a
transient bounce with a 5.x.x status suppresses the address; a 4.x.x soft bounce is counted once per
sent message and suppresses at ``SOFT_BOUNCE_LIMIT``; a delivery resets the count.

The practice comes from our ``X-Chairside-Practice`` header (SES includes original headers when the
notification topic is set to) or else every practice holding the address: a dead mailbox is dead for
all of them. Whatever a notice holds, handling it never raises for its content, so SNS sees success
and does not retry a notice we cannot use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.platform.observability import logger
from chalicelib.reminders.model import (
    DELIVERED,
    SOFT,
    SOFT_BOUNCE_LIMIT,
    SUPPRESS,
    classify_feedback,
    normal_email,
)
from chalicelib.reminders.ports import Ports

PRACTICE_HEADER = "x-chairside-practice"


@dataclass
class FeedbackResult:
    kind: str
    actions: list[tuple[str, str, str]] = field(default_factory=list)  # (practice id, action, reason)


def _recipients(notice: dict[str, Any], kind: str) -> list[tuple[str, str]]:
    """(address, status) pairs the notice is about."""
    if kind == "bounce":
        bounce = notice.get("bounce") or {}
        return [
            (str(r.get("emailAddress", "")), str(r.get("status", "")))
            for r in bounce.get("bouncedRecipients") or []
            if isinstance(r, dict)
        ]
    if kind == "complaint":
        complaint = notice.get("complaint") or {}
        return [
            (str(r.get("emailAddress", "")), "")
            for r in complaint.get("complainedRecipients") or []
            if isinstance(r, dict)
        ]
    if kind == "delivery":
        delivery = notice.get("delivery") or {}
        return [(str(r), "") for r in delivery.get("recipients") or []]
    return []


def _practice_hint(mail: dict[str, Any]) -> str:
    for header in mail.get("headers") or []:
        if isinstance(header, dict) and str(header.get("name", "")).lower() == PRACTICE_HEADER:
            return str(header.get("value", ""))
    tags = mail.get("tags") or {}
    values = tags.get("practice") if isinstance(tags, dict) else None
    return str(values[0]) if isinstance(values, list) and values else ""


def handle_ses_notice(ports: Ports, notice: dict[str, Any]) -> FeedbackResult:
    now = ports.clock.now()
    kind = str(notice.get("notificationType") or notice.get("eventType") or "").lower()
    mail = notice.get("mail") or {}
    message_id = str(mail.get("messageId", "")) or "unknown"
    bounce = notice.get("bounce") or {}
    complaint = notice.get("complaint") or {}
    result = FeedbackResult(kind or "unknown")
    hint = _practice_hint(mail)
    for raw_address, status in _recipients(notice, kind):
        email = normal_email(raw_address)
        if not email:
            continue
        verdict = classify_feedback(
            kind, str(bounce.get("bounceType", "")), status, str(complaint.get("complaintFeedbackType", ""))
        )
        practice_ids = (
            [hint] if hint else list(dict.fromkeys(p for p, _ in ports.patients.practices_for_address(email)))
        )
        for practice_id in practice_ids:
            action = _apply(ports, practice_id, email, message_id, verdict.action, verdict.reason, now)
            result.actions.append((practice_id, action, verdict.reason))
    logger.info("SES notice", extra={"kind": result.kind, "actions": [a for _, a, _ in result.actions]})
    return result


def _apply(ports: Ports, practice_id: str, email: str, message_id: str, action: str, reason: str, now: Any) -> str:
    store = ports.store
    if action == SUPPRESS:
        store.suppress_email(practice_id, email, reason, now)
        return "suppressed"
    if action == SOFT:
        state = store.count_soft_bounce(practice_id, email, message_id)
        if state is None:
            return "already_counted"
        if state.soft_bounces >= SOFT_BOUNCE_LIMIT and not state.email_suppressed:
            store.suppress_email(practice_id, email, "soft_bounces", now)
            return "suppressed"
        return "soft_bounce"
    if action == DELIVERED:
        store.reset_soft_bounces(practice_id, email)
        return "delivered"
    return "ignored"
