"""The feedback API against moto: a completed visit's survey goes out on the minute tick, is answered
once through the public route, rolls up by month and provider; referral links lead to new-patient
requests in the staff inbox; bad input gets clear 4xx and stores nothing twice."""

from __future__ import annotations

import json
import re
from typing import Any

from chalice.test import Client

from chalicelib.appointments.events import STATUS_CHANGED
from chalicelib.feedback.handlers import feedback_rollups
from chalicelib.platform.deps import Deps
from tests.integration.conftest import StaffTokens
from tests.integration.test_reminder_api import _sign_in
from tests.integration.test_reminder_sweep import Book, maple, sent_texts, tick, utc

__all__ = ["maple"]

JSON = {"Content-Type": "application/json"}
REVIEWS = {"google": "https://g.example.test/maple", "facebook": "https://fb.example.test/maple"}


def _send(api: Client, method: str, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return getattr(api.http, method)(path, headers={**JSON, **(headers or {})}, body=raw)


def _complete(book: Book, aid: str, patient_id: str) -> None:
    a = book.book(aid, patient_id, utc("2027-04-01T13:00"))
    a.status = "completed"
    book.save(a)
    book.publish(a, STATUS_CHANGED, "staff-sub-1")


def _survey_token(phone: str) -> str:
    texts = [t for to, t in sent_texts() if to == phone and "/survey/" in t]
    assert texts, sent_texts()
    found = re.search(r"/survey/\?t=([A-Za-z0-9_.-]+)", texts[-1])
    assert found
    return found.group(1)


def _configure(api: Client, staff: StaffTokens) -> None:
    body = {"version": 0, "review_links": REVIEWS, "survey_delay_hours": 0}
    saved = _send(api, "put", "/practices/P1/feedback/settings", body, staff.headers("P1", "owner"))
    assert saved.status_code == 200, saved.body


def test_a_survey_is_answered_once_and_rolls_up(api: Client, app_deps: Deps, maple: Book, staff: StaffTokens) -> None:
    _configure(api, staff)
    _complete(maple, "A1", "PAT-A")
    tick(api, app_deps, utc("2027-04-01T15:01"))
    token = _survey_token("+15555550121")

    opened = api.http.get(f"/public/surveys/{token}")
    assert opened.status_code == 200 and opened.json_body["practice"]["name"] == "Maple Dental"
    answered = _send(api, "post", f"/public/surveys/{token}", {"score": 4, "comment": "Long wait", "language": "es"})
    assert answered.status_code == 200, answered.body
    assert {r["site"] for r in answered.json_body["review_links"]} == {"google", "facebook"}
    again = _send(api, "post", f"/public/surveys/{token}", {"score": 10})
    assert (again.status_code, again.json_body["error"]["code"]) == (409, "already_answered")

    front = staff.headers("P1", "front_desk")
    summary = api.http.get("/practices/P1/feedback/summary?months=2", headers=front).json_body
    assert summary["total"]["responses"] == 1 and summary["total"]["nps"] == -100
    assert summary["months"][-1]["by_provider"][0]["provider_id"] == "DR1"
    comments = api.http.get("/practices/P1/feedback/comments?month=2027-04", headers=front).json_body
    assert [(c["score"], c["comment"]) for c in comments["answers"]] == [(4, "Long wait")]
    inbox = api.http.get("/practices/P1/reminders/inbox", headers=front).json_body
    assert any(e["kind"] == "low_score" for e in inbox["items"]), inbox
    (rollup,) = feedback_rollups("P1", ["2027-04"])
    assert (rollup.scores.responses, rollup.scores.detractors) == (1, 1)


def test_bad_survey_input_gets_clear_4xx(api: Client, app_deps: Deps, maple: Book, staff: StaffTokens) -> None:
    _configure(api, staff)
    _complete(maple, "A1", "PAT-A")
    tick(api, app_deps, utc("2027-04-01T15:01"))
    token = _survey_token("+15555550121")
    assert _send(api, "post", f"/public/surveys/{token}", {"score": 11}).status_code == 422
    assert _send(api, "post", f"/public/surveys/{token}", {"score": 5, "comment": "x" * 5000}).status_code == 422
    assert _send(api, "post", f"/public/surveys/{token}", b"{" + b" " * 9000 + b"}").status_code == 413
    assert _send(api, "post", "/public/surveys/not.atoken", {"score": 5}).status_code == 404
    assert _send(api, "post", f"/public/surveys/{token}", {"score": 8}).status_code == 200
    assert api.http.get(f"/public/surveys/{token}").status_code == 409


def test_a_referral_link_leads_to_a_new_patient_request_and_counts_on_the_first_visit(
    api: Client, app_deps: Deps, maple: Book, staff: StaffTokens
) -> None:
    session = _sign_in(api, "+15555550121")
    mine = api.http.get("/patient/referral", headers=session)
    assert mine.status_code == 200, mine.body
    code = mine.json_body["code"]
    assert f"ref={code}" in mine.json_body["url"]
    assert api.http.get(f"/public/practices/P1/referrals/{code}").status_code == 200
    assert api.http.get("/public/practices/P1/referrals/ABCDEFGH").status_code == 404
    assert api.http.get(f"/public/practices/P2/referrals/{code}").status_code == 404

    body = {"name": "Nia Newman", "phone": "555-555-0123", "reason": "A cleaning", "referral_code": code}
    forged = _send(api, "post", "/public/practices/P1/new-patient-requests", {**body, "referral_code": "ABCDEFGH"})
    assert (forged.status_code, forged.json_body["error"]["code"]) == (404, "referral_not_found")
    sent = _send(api, "post", "/public/practices/P1/new-patient-requests", body)
    assert sent.status_code == 202, sent.body
    inbox = api.http.get("/practices/P1/reminders/inbox", headers=staff.headers("P1", "front_desk")).json_body
    assert [e["kind"] for e in inbox["items"]] == ["new_patient_request"]

    _complete(maple, "B1", "PAT-B")  # PAT-B holds (555) 555-0123: the referred friend's first visit
    _complete(maple, "B1", "PAT-B")
    tick(api, app_deps, utc("2027-04-01T15:01"))
    thanks = [t for to, t in sent_texts() if to == "+15555550121" and "referred" in t]
    assert len(thanks) == 1
    board = api.http.get("/practices/P1/feedback/referrals", headers=staff.headers("P1", "front_desk")).json_body
    assert board["total"] == 1 and board["leaderboard"][0]["patient_id"] == "PAT-A"


def test_public_links_and_settings_are_per_practice(api: Client, maple: Book, staff: StaffTokens) -> None:
    _configure(api, staff)
    links = api.http.get("/public/practices/P1/links").json_body
    assert {r["site"] for r in links["review_links"]} == {"google", "facebook"}
    assert api.http.get("/public/practices/NOPE/links").status_code == 404
    other = api.http.get("/practices/P1/feedback/settings", headers=staff.headers("P2", "owner"))
    assert other.status_code in (403, 404)
    front = _send(api, "put", "/practices/P1/feedback/settings", {"version": 1}, staff.headers("P1", "front_desk"))
    assert front.status_code == 403
    stale = _send(api, "put", "/practices/P1/feedback/settings", {"version": 0}, staff.headers("P1", "owner"))
    assert stale.status_code == 409


def test_typos_in_a_new_patient_request_do_not_lock_out_the_corrected_one_and_a_429_says_when(
    api: Client, maple: Book
) -> None:
    path = "/public/practices/P1/new-patient-requests"
    for bad in ({"name": ""}, {"name": "Nia", "phone": "12"}, {"name": "Nia"}, {"name": "Nia", "email": "x"}, {}):
        assert _send(api, "post", path, bad).status_code == 422
    assert _send(api, "post", path, {"name": "Nia Newman", "phone": "555-555-0133"}).status_code == 202
    for n in range(4):
        assert _send(api, "post", path, {"name": f"Person {n}", "email": f"p{n}@example.test"}).status_code == 202
    limited = _send(api, "post", path, {"name": "Six", "email": "p6@example.test"})
    assert (limited.status_code, limited.json_body["error"]["code"]) == (429, "rate_limited")
    assert limited.headers["Retry-After"] == "3600"  # the clock stands at the top of the hour
