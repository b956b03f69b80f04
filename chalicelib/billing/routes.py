"""Billing routes: the staff ledger, statements, refunds, pay links and plans; the patient's balance,
statements and card payments; the public pay-link pages' API; the Stripe webhook.

Amounts go in as dollars ("19.99", or an exact JSON number, read as a Decimal, never a float) and come
out as integer cents (``*_cents``) with a display string.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib.billing import service
from chalicelib.billing.model import CURRENCY, Balance, LedgerLine, Plan, Statement, display_cents
from chalicelib.billing.render import statement_html
from chalicelib.billing.service import Account, PaymentStart, StatementView, amount_or_none, parse_day
from chalicelib.platform.api import json_body, respond, route
from chalicelib.platform.deps import deps
from chalicelib.platform.errors import Unprocessable
from chalicelib.platform.limits import bounded, limit
from chalicelib.platform.permissions import roles_for
from chalicelib.platform.request import patient_caller, staff_caller

bp = Blueprint(__name__)

TAG = "billing"
BILLING_ROLES = roles_for("billing.post")
REFUND_ROLES = roles_for("billing.refund")
MAX_WEBHOOK_BYTES = 512 * 1024
SOURCE = re.compile(r"^[A-Za-z0-9._-]{1,40}$")  # as for patient imports
AMOUNT = {"type": ["string", "number"], "description": 'dollars, e.g. "19.99"; at most two decimals'}


# --- parsing and shapes -----------------------------------------------------------------------------


def _body(request: Request) -> dict[str, Any]:
    """The JSON object, with numbers read as exact Decimals so 19.99 stays 19.99."""
    json_body(request)  # size, content type and shape checks, with their 4xx answers
    data: dict[str, Any] = json.loads(request.raw_body, parse_float=Decimal, parse_constant=str)
    return data


def _raw(request: Request) -> bytes:
    raw = request.raw_body or b""
    return raw.encode() if isinstance(raw, str) else raw


def _balance(b: Balance) -> dict[str, Any]:
    return {
        "total_cents": b.total_cents,
        "pending_insurance_cents": b.pending_insurance_cents,
        "owed_now_cents": b.owed_now_cents,
        "credit_cents": b.credit_cents,
        "owed_now": display_cents(b.owed_now_cents),
        "pending_insurance": display_cents(b.pending_insurance_cents),
        "summary": b.summary,
    }


def _line(x: LedgerLine) -> dict[str, Any]:
    return {
        "id": x.id,
        "patient_id": x.patient_id,
        "kind": x.kind,
        "amount_cents": x.amount_cents,
        "effect_cents": x.effect_cents,
        "amount": display_cents(x.amount_cents),
        "posted_on": x.posted_on.isoformat(),
        "description": x.description,
        "invoice_id": x.invoice_id,
        "claim_id": x.claim_id,
        "payment_intent_id": x.payment_intent_id,
        "refund_id": x.refund_id,
        "source": x.source,
    }


def _account(a: Account) -> dict[str, Any]:
    return {
        "patient_id": a.patient.id,
        "name": a.patient.display_name,
        "balance": _balance(a.balance),
        "lines": [_line(x) for x in reversed(a.lines)],  # newest first
    }


def _plan(p: Plan) -> dict[str, Any]:
    return {
        "id": p.id,
        "patient_id": p.patient_id,
        "total_cents": p.total_cents,
        "paid_cents": p.paid_cents,
        "due_cents": p.due_cents,
        "every": p.every,
        "created_on": p.created_on.isoformat(),
        "instalments": [
            {
                "number": i.number,
                "due_on": i.due_on.isoformat(),
                "amount_cents": i.amount_cents,
                "paid_cents": i.paid_cents,
                "covered_cents": i.covered_cents,  # paid outside the plan's links (see cap_plans)
                "due_cents": i.due_cents,
                "paid": i.is_paid,
            }
            for i in p.instalments
        ],
    }


def _statement(view: StatementView) -> dict[str, Any]:
    s: Statement = view.statement
    return {
        "guarantor_id": s.guarantor_id,
        "guarantor_name": view.guarantor_name,
        "practice": {"id": view.practice.id, "name": view.practice.name, "phone": view.practice.phone},
        "month": s.period_start.strftime("%Y-%m"),
        "currency": CURRENCY,
        "period_start": s.period_start.isoformat(),
        "period_end": s.period_end.isoformat(),
        "patients": [{"id": pid, "name": view.names.get(pid, "")} for pid in s.patient_ids],
        "opening_balance_cents": s.opening_cents,
        "charges_cents": s.totals.charges_cents,
        "payments_cents": s.totals.payments_cents,
        "adjustments_cents": s.totals.adjustments_cents,
        "refunds_cents": s.totals.refunds_cents,
        "closing_balance_cents": s.closing_cents,
        "pending_insurance_cents": s.closing.pending_insurance_cents,
        "amount_due_cents": s.amount_due_cents,
        "amount_due": display_cents(s.amount_due_cents),
        "lines": [_line(x) for x in s.lines],
    }


def _html(view: StatementView) -> Response:
    p = view.practice
    address = p.address
    html = statement_html(
        view.statement,
        practice_name=p.name,
        practice_lines=[
            address.get("line", ""),
            " ".join(
                x for x in (address.get("city", ""), address.get("state", ""), address.get("postal_code", "")) if x
            ),
            p.phone,
        ],
        guarantor_name=view.guarantor_name,
        patient_names=view.names,
    )
    return Response(
        body=html,
        status_code=200,
        headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"},
    )


def _payment(start: PaymentStart) -> Response:
    return respond(
        {
            "payment_intent_id": start.payment_intent_id,
            "client_secret": start.client_secret,
            "publishable_key": start.publishable_key,
            "amount_cents": start.amount_cents,
            "amount": display_cents(start.amount_cents),
            "currency": start.currency,
            "allocation": [{"patient_id": pid, "amount_cents": c} for pid, c in start.allocation],
        },
        201,
    )


def _billing() -> service.Billing:
    return service.billing(deps())


# --- staff ------------------------------------------------------------------------------------------

LINE_BODY = {
    "type": "object",
    "required": ["kind", "amount"],
    "properties": {
        "kind": {
            "type": "string",
            "enum": ["charge", "insurance_estimate", "insurance_payment", "payment", "adjustment"],
        },
        "amount": AMOUNT,
        "posted_on": {"type": "string", "format": "date"},
        "description": {"type": "string", "maxLength": 200},
        "invoice_id": {"type": "string", "maxLength": 64},
        "claim_id": {"type": "string", "maxLength": 64, "description": "required for insurance estimates"},
        "external_id": {"type": "string", "maxLength": 64, "description": "the same id twice is refused (409)"},
    },
}


@route(
    bp,
    "/practices/{practice_id}/patients/{patient_id}/ledger",
    "POST",
    summary="Post a ledger line (charge, insurance estimate or payment, payment, adjustment)",
    auth="staff",
    tag=TAG,
    body=LINE_BODY,
    ok_status=201,
)
def post_line(practice_id: str, patient_id: str) -> Response:
    request = bp.current_request
    caller = staff_caller(request, practice_id, roles=BILLING_ROLES)
    body = _body(request)
    line = _billing().post_line(practice_id, patient_id, body, caller.user_id)
    return respond({"line": _line(line)}, 201)


@route(
    bp,
    "/practices/{practice_id}/patients/{patient_id}/ledger",
    summary="A patient's ledger and balance (newest line first)",
    auth="staff",
    tag=TAG,
)
def staff_ledger(practice_id: str, patient_id: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id, roles=BILLING_ROLES)
    return respond(_account(_billing().staff_ledger(practice_id, patient_id, caller.user_id)))


@route(
    bp,
    "/practices/{practice_id}/ledger/import",
    "POST",
    summary="Import ledger lines from CSV (columns in docs/billing.md); all or nothing",
    auth="staff",
    tag=TAG,
    body={"type": "string", "format": "binary"},
    body_type="text/csv",
    query={"source": {"type": "string", "pattern": SOURCE.pattern, "description": "the system PatNum values are from"}},
    content_types=["text/csv"],
    max_body=service.MAX_IMPORT_BYTES,
    too_large=f"the file is larger than {service.MAX_IMPORT_BYTES // (1024 * 1024)} MB",
)
def import_lines(practice_id: str) -> Response:
    request = bp.current_request
    caller = staff_caller(request, practice_id, roles=roles_for("imports.run"))
    params: dict[str, str] = dict(request.query_params or {})
    source = params.get("source") or "csv"
    if not SOURCE.match(source):
        raise Unprocessable("source is 1-40 letters, digits, dots, dashes or underscores", code="invalid_source")
    raw = _raw(request)
    result = _billing().import_lines(practice_id, raw, caller.user_id, source)
    return respond({"lines": result.lines, "patients": result.patients})


@route(
    bp,
    "/practices/{practice_id}/guarantors/{guarantor_id}/statements/{month}",
    summary="A guarantor's monthly statement (month like 2027-03); a guarantor is a guardian or a patient",
    auth="staff",
    tag=TAG,
)
def staff_statement(practice_id: str, guarantor_id: str, month: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id, roles=BILLING_ROLES)
    return respond(_statement(_billing().staff_statement(practice_id, guarantor_id, month, caller.user_id)))


@route(
    bp,
    "/practices/{practice_id}/guarantors/{guarantor_id}/statements/{month}/print",
    summary="A guarantor's monthly statement as a printable HTML page",
    auth="staff",
    tag=TAG,
)
def staff_statement_print(practice_id: str, guarantor_id: str, month: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id, roles=BILLING_ROLES)
    return _html(_billing().staff_statement(practice_id, guarantor_id, month, caller.user_id))


@route(
    bp,
    "/practices/{practice_id}/payments/{payment_intent_id}/refunds",
    "POST",
    summary="Refund a card payment in full or in part (never more than is left); owner or manager",
    auth="staff",
    tag=TAG,
    body={"type": "object", "properties": {"amount": AMOUNT}},
    ok_status=201,
)
def refund(practice_id: str, payment_intent_id: str) -> Response:
    request = bp.current_request
    caller = staff_caller(request, practice_id, roles=REFUND_ROLES)
    body = _body(request)
    key = (request.headers.get("idempotency-key") or "")[:200]
    done = _billing().refund(practice_id, payment_intent_id, amount_or_none(body.get("amount")), caller.user_id, key)
    return respond(
        {
            "refund_id": done.refund_id,
            "amount_cents": done.amount_cents,
            "status": done.status,
            "refunded_cents": done.refunded_cents,
            "refundable_cents": done.refundable_cents,
        },
        201,
    )


@route(
    bp,
    "/practices/{practice_id}/patients/{patient_id}/pay-links",
    "POST",
    summary="Text or email a signed pay link for the balance, an amount, or a plan instalment",
    auth="staff",
    tag=TAG,
    body={
        "type": "object",
        "required": ["channel"],
        "properties": {
            "channel": {"type": "string", "enum": ["sms", "email"]},
            "amount": AMOUNT,
            "plan_id": {"type": "string"},
            "instalment": {"type": "integer", "minimum": 1},
        },
    },
    ok_status=201,
    sends=limit("paylink", 20, 200),
)
def send_pay_link(practice_id: str, patient_id: str) -> Response:
    request = bp.current_request
    caller = staff_caller(request, practice_id, roles=BILLING_ROLES)
    body = _body(request)
    instalment = body.get("instalment", 0)
    if isinstance(instalment, bool) or not isinstance(instalment, int):
        raise Unprocessable("instalment is a number", code="invalid_instalment")
    plan_id = body.get("plan_id") or ""
    sent = _billing().send_pay_link(
        practice_id,
        patient_id,
        str(body.get("channel", "")),
        amount_or_none(body.get("amount")),
        caller.user_id,
        plan_id=plan_id if isinstance(plan_id, str) else "",
        instalment=instalment,
    )
    return respond(
        {
            "link_id": sent.link.id,
            "url": sent.url,
            "amount_cents": sent.link.amount_cents,
            "expires_at": sent.link.expires_at,
            "channel": sent.link.channel,
            "sent_to": sent.sent_to,
        },
        201,
    )


@route(
    bp,
    "/practices/{practice_id}/patients/{patient_id}/payment-plans",
    "POST",
    summary="Split the balance (or an amount) into instalments; the last takes the remainder",
    auth="staff",
    tag=TAG,
    body={
        "type": "object",
        "required": ["instalments", "first_due"],
        "properties": {
            "instalments": {"type": "integer", "minimum": 1, "maximum": 60},
            "first_due": {"type": "string", "format": "date"},
            "every": {"type": "string", "enum": ["month", "2weeks", "week"], "default": "month"},
            "amount": AMOUNT,
        },
    },
    ok_status=201,
)
def create_plan(practice_id: str, patient_id: str) -> Response:
    request = bp.current_request
    caller = staff_caller(request, practice_id, roles=BILLING_ROLES)
    body = _body(request)
    count = body.get("instalments")
    if isinstance(count, bool) or not isinstance(count, int):
        raise Unprocessable("instalments is a whole number", code="invalid_instalments")
    every = body.get("every", "month")
    plan = _billing().create_plan(
        practice_id,
        patient_id,
        count,
        parse_day(body.get("first_due"), "first_due"),
        every if isinstance(every, str) else "",
        amount_or_none(body.get("amount")),
        caller.user_id,
    )
    from chalicelib.reminders.handlers import plan_new_payment_plan

    plan_new_payment_plan(practice_id)  # an instalment due within the reminder's lead days is reminded on time
    return respond({"plan": _plan(plan)}, 201)


@route(
    bp,
    "/practices/{practice_id}/patients/{patient_id}/payment-plans",
    summary="A patient's payment plans and their instalments",
    auth="staff",
    tag=TAG,
)
def staff_plans(practice_id: str, patient_id: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id, roles=BILLING_ROLES)
    return respond({"plans": [_plan(p) for p in _billing().staff_plans(practice_id, patient_id, caller.user_id)]})


# --- patients ---------------------------------------------------------------------------------------


@route(
    bp,
    "/patient/billing",
    summary="What each patient of this session owes now, what is pending with insurance, statements, plans",
    auth="patient",
    tag=TAG,
)
def my_billing() -> Response:
    caller = patient_caller(bp.current_request)
    billing = _billing()
    o = billing.overview(caller)
    return respond(
        {
            "practice": {"id": o.practice.id, "name": o.practice.name, "phone": o.practice.phone},
            "currency": CURRENCY,
            "publishable_key": billing.gateway.publishable_key,
            "patients": [
                {"patient_id": a.patient.id, "name": a.patient.display_name, "balance": _balance(a.balance)}
                for a in o.accounts
            ],
            "family": _balance(o.family),
            "statements": o.months,
            "plans": [_plan(p) for p in o.plans],
        }
    )


@route(
    bp,
    "/patients/{patient_id}/ledger",
    summary="One of this session's patients' ledger and balance (another patient's id answers 404)",
    auth="patient",
    tag=TAG,
)
def my_ledger(patient_id: str) -> Response:
    caller = patient_caller(bp.current_request)
    return respond(_account(_billing().patient_ledger(caller, patient_id)))


@route(
    bp,
    "/patient/statements/{month}",
    summary="The family statement for a month (like 2027-03)",
    auth="patient",
    tag=TAG,
)
def my_statement(month: str) -> Response:
    caller = patient_caller(bp.current_request)
    return respond(_statement(_billing().patient_statement(caller, month)))


@route(
    bp,
    "/patient/statements/{month}/print",
    summary="The family statement for a month as a printable HTML page",
    auth="patient",
    tag=TAG,
)
def my_statement_print(month: str) -> Response:
    caller = patient_caller(bp.current_request)
    return _html(_billing().patient_statement(caller, month))


@route(
    bp,
    "/patient/payments",
    "POST",
    summary="Start a card payment for the balance or a chosen amount; pay with Stripe's Card Element",
    auth="patient",
    tag=TAG,
    body={
        "type": "object",
        "properties": {
            "amount": AMOUNT,
            "patient_ids": {"type": "array", "items": {"type": "string"}, "maxItems": 10},
        },
    },
    ok_status=201,
)
def start_payment() -> Response:
    request = bp.current_request
    caller = patient_caller(request)
    body = _body(request)
    patient_ids = body.get("patient_ids")
    if patient_ids is not None and (
        not isinstance(patient_ids, list) or not all(isinstance(x, str) for x in patient_ids)
    ):
        raise Unprocessable("patient_ids is a list of ids", code="invalid_field")
    return _payment(_billing().start_payment(caller, patient_ids, amount_or_none(body.get("amount"))))


@route(
    bp,
    "/payments/{payment_intent_id}/confirm",
    "POST",
    summary="Confirm a payment with a card token from Stripe.js createToken (the client secret is the proof)",
    auth="public",
    tag=TAG,
    body={
        "type": "object",
        "required": ["client_secret", "card_token"],
        "properties": {"client_secret": {"type": "string"}, "card_token": {"type": "string", "pattern": "^tok_"}},
    },
)
def confirm_card(payment_intent_id: str) -> Response:
    body = _body(bp.current_request)
    done = _billing().confirm_card(payment_intent_id, body.get("client_secret"), body.get("card_token"))
    return respond(
        {
            "payment_intent_id": done.id,
            "status": done.status,
            "requires_action": done.status == "requires_action",
            "amount_cents": done.amount_cents,
        }
    )


# --- pay links (public; the signed token is the key, the birth date the check) -------------------------


@route(bp, "/pay/{token}", summary="What a pay link is for, before the identity check", auth="public", tag=TAG)
def open_link(token: str) -> Response:
    status = _billing().open_link(token)
    p = status.practice
    return respond(
        {
            "status": status.status,
            "practice": {"name": p.name, "phone": p.phone, "zone": p.zone},
            "expires_at": status.link.expires_at,
            "check": "birth_date",
        }
    )


@route(
    bp,
    "/pay/{token}/verify",
    "POST",
    summary="Confirm the patient's date of birth; answers the balance and a 30-minute pay session",
    auth="public",
    tag=TAG,
    body={
        "type": "object",
        "required": ["birth_date"],
        "properties": {"birth_date": {"type": "string", "format": "date"}},
    },
    limited="wrong birth dates per link, an hour",
)
def verify_link(token: str) -> Response:
    body = _body(bp.current_request)
    billing = _billing()
    v = billing.verify_link(token, body.get("birth_date"))
    return respond(
        {
            "session": v.session,
            "expires_in": v.session_expires_in,
            "practice": {"name": v.practice.name, "phone": v.practice.phone, "zone": v.practice.zone},
            "patient": {"given_name": v.patient.given_name},
            "amount_cents": v.amount_cents,
            "amount": display_cents(v.amount_cents),
            "currency": CURRENCY,
            "balance": _balance(v.balance),
            "publishable_key": billing.gateway.publishable_key,
        }
    )


@route(
    bp,
    "/pay/{token}/balance",
    "POST",
    summary="After the identity check: what the link's patient owes now and whether the link is still open",
    auth="public",
    tag=TAG,
    body={"type": "object", "required": ["session"], "properties": {"session": {"type": "string"}}},
)
def link_balance(token: str) -> Response:
    body = _body(bp.current_request)
    b = _billing().link_balance(token, body.get("session"))
    return respond(
        {
            "status": b.status,
            "amount_cents": b.amount_cents,
            "amount": display_cents(b.amount_cents),
            "currency": CURRENCY,
            "balance": _balance(b.balance),
        }
    )


@route(
    bp,
    "/pay/{token}/payments",
    "POST",
    summary="Start a card payment through a verified pay link",
    auth="public",
    tag=TAG,
    body={
        "type": "object",
        "required": ["session"],
        "properties": {"session": {"type": "string"}, "amount": AMOUNT},
    },
    ok_status=201,
)
def pay_link(token: str) -> Response:
    body = _body(bp.current_request)
    return _payment(_billing().pay_link(token, body.get("session"), amount_or_none(body.get("amount"))))


# --- Stripe -----------------------------------------------------------------------------------------


@route(
    bp,
    "/stripe/webhook",
    "POST",
    summary="Stripe events; the signature is checked on the raw body; each event and PaymentIntent applies once",
    auth="public",
    tag=TAG,
    body={"type": "object"},
    content_types=["application/json"],
    max_body=MAX_WEBHOOK_BYTES,
    too_large="the event is too large",
    sends=bounded("one receipt per PaymentIntent, claimed by a conditional write; only Stripe-signed events act"),
)
def stripe_webhook() -> Response:
    request = bp.current_request
    raw = _raw(request)
    done = _billing().handle_webhook(raw, request.headers.get("stripe-signature"))
    return respond({"received": True, "outcome": done.outcome})
