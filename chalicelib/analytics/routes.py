"""Analytics and worklist routes: figures and trends with their definitions, ROI (money roles), the
back-fill, and four worklists that point at the next action. Every read is of a roll-up or an index."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from chalice import Blueprint, Response

from chalicelib.analytics import service
from chalicelib.analytics.handlers import backfill, rollups
from chalicelib.analytics.model import RoiInputs
from chalicelib.audit.model import ACTOR_STAFF
from chalicelib.inbox.store import InboxItem, from_item, open_key
from chalicelib.patients.model import Patient
from chalicelib.platform.api import respond, route
from chalicelib.platform.auth import StaffCaller
from chalicelib.platform.deps import deps
from chalicelib.platform.errors import NotFound, Unprocessable
from chalicelib.platform.permissions import allows, roles_for
from chalicelib.platform.prices import PRICES
from chalicelib.platform.request import staff_caller
from chalicelib.practices.model import Practice

bp = Blueprint(__name__)
TAG = "analytics"
_GONE = Patient(id="", given_name="", family_name="", active=False)
_PAGE = {
    "cursor": {"type": "string", "maxLength": 2000, "description": "from the previous page's next_cursor"},
    "limit": {"type": "integer", "minimum": 1, "maximum": service.MAX_PAGE},
}


def _practice(practice_id: str) -> Practice:
    practice = deps().practices.get(practice_id)
    if practice is None:
        raise NotFound("no such practice")
    return practice


def _params() -> dict[str, str]:
    return dict(bp.current_request.query_params or {})


def _today(practice: Practice) -> date:
    return deps().clock.now().astimezone(practice.tz).date()


def _view(caller: StaffCaller, practice: Practice) -> service.View:
    from chalicelib.feedback.store import FeedbackStore
    from chalicelib.settings.store import SettingsStore

    money = allows(caller.role, "analytics.money")
    inputs = RoiInputs.from_settings(SettingsStore().current(practice).analytics) if money else RoiInputs()

    def feedback(months: list[str]) -> list[dict[str, Any]]:
        return [r.as_dict() for r in FeedbackStore().feedback_rollups(practice.id, months)]

    return service.View(practice.id, practice.zone, _today(practice), money, inputs, feedback, PRICES)


@route(
    bp,
    "/practices/{practice_id}/analytics/summary",
    summary="Appointment, message, recall and feedback figures of the last 12 months with their definitions "
    "(money, outstanding balances and ROI for roles with analytics.money); read from roll-ups",
    auth="staff",
    tag=TAG,
)
def analytics_summary(practice_id: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id, roles=roles_for("analytics.view"))
    return respond(summary_for(caller, practice_id))


def summary_for(caller: StaffCaller, practice_id: str) -> dict[str, Any]:
    """One analytics load: the practice, its settings (money roles), the month roll-ups, the feedback
    roll-ups and (money roles) the totals; ``make bench`` counts its DynamoDB requests."""
    return service.dashboard(rollups(deps()), _view(caller, _practice(practice_id)))


@route(
    bp,
    "/practices/{practice_id}/analytics/roi",
    summary="Return on the last 12 months: recovered visits, online collections, message costs, staff time, "
    "with every input and the method",
    auth="staff",
    tag=TAG,
)
def analytics_roi(practice_id: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id, roles=roles_for("analytics.money"))
    answer = summary_for(caller, practice_id)
    return respond({"months": answer["months"], "as_of": answer["as_of"], "roi": answer["roi"]})


@route(
    bp,
    "/practices/{practice_id}/analytics/backfill",
    "POST",
    summary="Count every appointment and account of the practice into the roll-ups (paged, idempotent)",
    auth="staff",
    tag=TAG,
)
def analytics_backfill(practice_id: str) -> Response:
    staff_caller(bp.current_request, practice_id, roles=roles_for("imports.run"))
    _practice(practice_id)
    return respond(backfill(deps(), practice_id))


# --- worklists ----------------------------------------------------------------------------------------


def _page_args() -> tuple[str, int]:
    params = _params()
    try:
        limit = service.page_limit(params.get("limit"))
    except ValueError as exc:
        raise Unprocessable(str(exc), code="invalid_limit") from exc
    cursor = params.get("cursor", "")
    if len(cursor) > 2000:
        raise Unprocessable("that cursor is not one of this list's", code="invalid_cursor")
    return cursor, limit


def _people(caller: StaffCaller, practice_id: str, ids: list[str], record: str) -> dict[str, Patient]:
    """The named patients (one BatchGetItem per 100), audited as a read of patient data."""
    d = deps()
    found = {p.id: p for p in d.patients.get_many(practice_id, list(dict.fromkeys(ids)))} if ids else {}
    if found:
        d.auditor.record(
            practice_id,
            actor_type=ACTOR_STAFF,
            actor_id=caller.user_id,
            action="worklist.read",
            patient_ids=sorted(found),
            record=record,
        )
    return found


def _patient_row(r: service.Row, p: Patient | None) -> dict[str, Any]:
    return {"patient_id": r.patient_id, **_person(p), **r.detail, "link": f"#patients/{r.patient_id}"}


def _person(p: Patient | None) -> dict[str, Any]:
    return {"name": p.display_name if p else "", "phone": p.phone if p else "", "email": p.email if p else ""}


@route(
    bp,
    "/practices/{practice_id}/worklists/unconfirmed",
    summary="Visits of a local day (tomorrow unless date=) that nobody has confirmed yet, by start; "
    "each links to that day's sheet",
    auth="staff",
    tag=TAG,
    query={"date": {"type": "string", "format": "date"}},
)
def worklist_unconfirmed(practice_id: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id, roles=roles_for("schedule.view"))
    practice = _practice(practice_id)
    raw = _params().get("date", "")
    try:
        day = date.fromisoformat(raw) if raw else _today(practice) + timedelta(days=1)
    except ValueError as exc:
        raise Unprocessable("date is a day like 2027-03-11", code="invalid_date") from exc
    rows = service.unconfirmed(deps().appointments.on_day(practice_id, day))
    people = _people(caller, practice_id, [a.patient_id for a in rows], f"worklist:unconfirmed:{day.isoformat()}")
    return respond(
        {
            "date": day.isoformat(),
            "zone": practice.zone,
            "link": f"#day/{day.isoformat()}",
            "rows": [
                {
                    "appointment_id": a.id,
                    "start": a.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "patient_id": a.patient_id,
                    **_person(people.get(a.patient_id)),
                    "provider_id": a.provider_id,
                    "link": f"#day/{day.isoformat()}",
                }
                for a in rows
            ],
            "next_cursor": "",
        }
    )


@route(
    bp,
    "/practices/{practice_id}/worklists/recall",
    summary="Active patients overdue for recall with no hygiene visit booked, most recently due first (paged)",
    auth="staff",
    tag=TAG,
    query=_PAGE,
)
def worklist_recall(practice_id: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id, roles=roles_for("patients.view"))
    practice = _practice(practice_id)
    cursor, limit = _page_args()
    from chalicelib.reminders.handlers import ports_for

    interval = ports_for(deps()).store.policy(practice_id).recall.interval_months
    try:
        page = service.overdue_recall(rollups(deps()), practice_id, _today(practice), interval, cursor, limit)
    except service.BadCursor as exc:
        raise Unprocessable("that cursor is not one of this list's", code="invalid_cursor") from exc
    people = _people(caller, practice_id, [r.patient_id for r in page.rows], "worklist:recall")
    rows = [_patient_row(r, people[r.patient_id]) for r in page.rows if people.get(r.patient_id, _GONE).active]
    return respond({"interval_months": interval, "rows": rows, "next_cursor": page.cursor})


@route(
    bp,
    "/practices/{practice_id}/worklists/balances",
    summary="Accounts whose oldest unpaid charge is 30, 60 or 90+ days old, oldest first (paged)",
    auth="staff",
    tag=TAG,
    query=_PAGE,
)
def worklist_balances(practice_id: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id, roles=roles_for("billing.post"))
    practice = _practice(practice_id)
    cursor, limit = _page_args()
    try:
        page = service.open_balances(rollups(deps()), practice_id, _today(practice), cursor, limit)
    except service.BadCursor as exc:
        raise Unprocessable("that cursor is not one of this list's", code="invalid_cursor") from exc
    people = _people(caller, practice_id, [r.patient_id for r in page.rows], "worklist:balances")
    rows = [
        {
            "patient_id": r.patient_id,
            **_person(people.get(r.patient_id)),
            **r.detail,
            "link": f"#patients/{r.patient_id}",
        }
        for r in page.rows
    ]
    return respond({"rows": rows, "next_cursor": page.cursor})


@route(
    bp,
    "/practices/{practice_id}/worklists/inbox",
    summary="Open inbox items nobody has answered, oldest first (the open-items index, paged)",
    auth="staff",
    tag=TAG,
    query=_PAGE,
)
def worklist_inbox(practice_id: str) -> Response:
    caller = staff_caller(bp.current_request, practice_id, roles=roles_for("inbox.work"))
    _practice(practice_id)
    cursor, limit = _page_args()
    page = rollups(deps()).index_page(open_key(practice_id), below="~", limit=limit, cursor=cursor, newest_first=False)
    if page is None:
        raise Unprocessable("that cursor is not one of this list's", code="invalid_cursor")
    items = [from_item(InboxItem.from_raw_data(raw)) for raw in page.raw]
    unanswered = [i for i in items if not i.replies]
    people = _people(caller, practice_id, [i.patient_ids[0] for i in unanswered if i.patient_ids], "worklist:inbox")
    rows = [
        {
            "ref": i.ref,
            "kind": i.kind,
            "at": i.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "patient_id": i.patient_ids[0] if i.patient_ids else "",
            **_person(people.get(i.patient_ids[0]) if i.patient_ids else None),
            "assigned_to": i.assigned_to,
            "link": "#inbox",
        }
        for i in unanswered
    ]
    return respond({"rows": rows, "next_cursor": page.cursor})
