"""Patient passwordless sign-in through the API, with moto's DynamoDB, SNS and SES."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from chalice.local import LambdaEventConverter
from chalice.test import Client
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends

from chalicelib.identity.store import OtpItem, SessionItem
from chalicelib.patients.model import guardian_links_for
from chalicelib.patients.store import PatientStore, contact_link_item
from chalicelib.platform.clock import FixedClock
from chalicelib.platform.deps import Deps
from chalicelib.platform.table import TableItem
from chalicelib.practices.store import PracticeStore
from tests import factories

AVA = "+15555550121"
REGION = "us-east-1"


def _seed() -> None:
    PracticeStore().put(factories.maple())
    PracticeStore().put(factories.birch())
    patients = PatientStore()
    patients.put("P1", factories.patient("PAT-A", phone=AVA, email="ava@example.test"))
    for kid in ("K1", "K2"):
        patients.put("P1", factories.patient(kid, phone="", email=f"{kid.lower()}@example.test"))
    for link in guardian_links_for(factories.guardian("G1", ("K1", "K2"))):
        contact_link_item("P1", link).save()


def _post(api: Client, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    return api.http.post(
        path, headers={"Content-Type": "application/json", **(headers or {})}, body=json.dumps(body).encode()
    )


def _texts_to(phone: str) -> list[str]:
    return [text for to, text in sns_backends[DEFAULT_ACCOUNT_ID][REGION].sms_messages.values() if to == phone]


def _mail_to(address: str) -> list[Any]:
    sent = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    return [m for m in sent if address in m.destinations.get("ToAddresses", [])]


def _code(text: str) -> str:
    found = re.search(r"\b(\d{6})\b", text)
    assert found, text
    return found.group(1)


def _ask(api: Client, contact: str, practice_id: str = "P1") -> Any:
    return _post(api, "/patient/auth/code", {"practice_id": practice_id, "contact": contact})


def _verify(api: Client, contact: str, code: str, practice_id: str = "P1") -> Any:
    return _post(api, "/patient/auth/verify", {"practice_id": practice_id, "contact": contact, "code": code})


def _sign_in(api: Client, contact: str = AVA) -> str:
    assert _ask(api, contact).status_code == 202
    response = _verify(api, contact, _code(_texts_to(contact)[-1]))
    assert response.status_code == 200, response.body
    return str(response.json_body["token"])


def _wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_unknown_and_known_contacts_get_identical_responses(api: Client, app_deps: Deps) -> None:
    _seed()
    known = _ask(api, "(555) 555-0121")
    unknown = _ask(api, "(555) 555-0188")
    assert known.status_code == unknown.status_code == 202
    assert known.body == unknown.body
    assert known.json_body == {"status": "sent"}
    assert dict(known.headers) == dict(unknown.headers)
    assert len(_texts_to(AVA)) == 1
    assert _texts_to("+15555550188") == []


def test_the_text_names_the_practice_and_the_code_signs_the_patient_in(api: Client, app_deps: Deps) -> None:
    _seed()
    _ask(api, "555.555.0121")
    (text,) = _texts_to(AVA)
    assert "Maple Dental" in text and "10 minutes" in text
    response = _verify(api, "555-555-0121", _code(text))
    assert response.status_code == 200, response.body
    body = response.json_body
    assert body["token"].startswith("P1.")
    assert body["expires_in"] == 900
    assert body["patients"] == [{"id": "PAT-A", "name": "Ava TestA", "relation": "self"}]


def test_an_email_contact_gets_its_code_through_ses(api: Client, app_deps: Deps) -> None:
    _seed()
    assert _ask(api, "Ava@Example.TEST").status_code == 202
    (mail,) = _mail_to("ava@example.test")
    assert mail.subject == "Your Maple Dental sign-in code"
    assert _verify(api, "ava@example.test", _code(mail.body)).status_code == 200


def test_the_code_expires_at_10_minutes(api: Client, app_deps: Deps, clock: FixedClock) -> None:
    _seed()
    _ask(api, AVA)
    clock.advance(minutes=10)
    response = _verify(api, AVA, _code(_texts_to(AVA)[-1]))
    assert response.status_code == 401
    assert response.json_body["error"]["code"] == "code_expired"


def test_the_6th_attempt_fails_even_with_the_right_code(api: Client, app_deps: Deps) -> None:
    _seed()
    _ask(api, AVA)
    code = _code(_texts_to(AVA)[-1])
    codes = [_verify(api, AVA, _wrong(code)).json_body["error"]["code"] for _ in range(5)]
    assert codes == ["invalid_code"] * 4 + ["code_exhausted"]
    response = _verify(api, AVA, code)
    assert response.status_code == 401
    assert response.json_body["error"]["code"] == "code_exhausted"
    # A new code starts over.
    _ask(api, AVA)
    assert _verify(api, AVA, _code(_texts_to(AVA)[-1])).status_code == 200


def test_a_code_is_good_for_one_sign_in(api: Client, app_deps: Deps) -> None:
    _seed()
    _ask(api, AVA)
    code = _code(_texts_to(AVA)[-1])
    assert _verify(api, AVA, code).status_code == 200
    again = _verify(api, AVA, code)
    assert again.status_code == 401
    assert again.json_body["error"]["code"] == "code_expired"


def test_code_requests_are_rate_limited_per_contact(api: Client, app_deps: Deps) -> None:
    _seed()
    assert [_ask(api, AVA).status_code for _ in range(5)] == [202] * 5
    limited = _ask(api, "(555) 555-0121")  # the same contact however it is typed
    assert limited.status_code == 429
    assert limited.json_body["error"]["code"] == "rate_limited"
    assert 0 < int(limited.headers["Retry-After"]) <= 900
    assert len(_texts_to(AVA)) == 5


def test_code_requests_are_rate_limited_per_client(
    api: Client, app_deps: Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed()
    monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", "203.0.113.7")
    assert {_ask(api, f"+1555555{1000 + i}").status_code for i in range(20)} == {202}
    assert _ask(api, AVA).status_code == 429
    monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", "198.51.100.1")
    assert _ask(api, AVA).status_code == 202


def test_a_guardian_session_lists_both_children(api: Client, app_deps: Deps) -> None:
    _seed()
    _ask(api, "555 555 0140")
    response = _verify(api, "+15555550140", _code(_texts_to("+15555550140")[-1]))
    assert response.status_code == 200, response.body
    assert response.json_body["patients"] == [
        {"id": "K1", "name": "Ava Test1", "relation": "guardian"},
        {"id": "K2", "name": "Ava Test2", "relation": "guardian"},
    ]
    me = api.http.get("/patient/me", headers=_auth(response.json_body["token"]))
    assert [p["id"] for p in me.json_body["patients"]] == ["K1", "K2"]


def test_sign_out_ends_the_session(api: Client, app_deps: Deps) -> None:
    _seed()
    token = _sign_in(api)
    assert api.http.get("/patient/me", headers=_auth(token)).status_code == 200
    out = api.http.post("/patient/auth/sign-out", headers=_auth(token))
    assert out.status_code == 204
    after = api.http.get("/patient/me", headers=_auth(token))
    assert after.status_code == 401
    assert after.json_body["error"]["code"] == "session_expired"
    assert api.http.post("/patient/auth/sign-out", headers=_auth(token)).status_code == 204


def test_an_idle_session_expires_after_15_minutes(api: Client, app_deps: Deps, clock: FixedClock) -> None:
    _seed()
    token = _sign_in(api)
    clock.advance(minutes=10)
    assert api.http.get("/patient/me", headers=_auth(token)).status_code == 200  # refreshes last_seen
    clock.advance(minutes=14)
    assert api.http.get("/patient/me", headers=_auth(token)).status_code == 200
    clock.advance(minutes=15)
    assert api.http.get("/patient/me", headers=_auth(token)).status_code == 401


def test_the_code_is_never_stored_in_clear(api: Client, app_deps: Deps) -> None:
    _seed()
    _ask(api, AVA)
    code = _code(_texts_to(AVA)[-1])
    token = _verify(api, AVA, code).json_body["token"]
    _ask(api, AVA)
    second = _code(_texts_to(AVA)[-1])
    # A test-only Scan over the whole (tiny) table: no attribute holds a code, the token or the number.
    dump = json.dumps([item.serialize() for item in TableItem.scan()])
    for secret in (code, second, token, token.split(".", 1)[1]):
        assert secret not in dump
    assert AVA not in "".join(str(i.sk) for i in OtpItem.scan() if str(i.sk).startswith("OTP#"))
    (otp,) = [i for i in OtpItem.scan() if str(i.sk).startswith("OTP#")]
    assert re.fullmatch(r"[0-9a-f]{64}", otp.code_digest)
    assert otp.expires_at is not None
    (session,) = [i for i in SessionItem.scan() if str(i.sk).startswith("SESSION#")]
    assert session.expires_at is not None


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"practice_id": "P1", "contact": "not a contact"}, 422, "invalid_contact"),
        ({"practice_id": "P404", "contact": AVA}, 404, "not_found"),
        ({"practice_id": "P1"}, 422, "invalid_field"),
    ],
)
def test_bad_code_requests_are_json_client_errors(
    api: Client, app_deps: Deps, body: dict[str, str], status: int, code: str
) -> None:
    _seed()
    response = _post(api, "/patient/auth/code", body)
    assert response.status_code == status
    assert response.json_body["error"]["code"] == code


def test_a_malformed_or_made_up_session_token_is_401(api: Client, app_deps: Deps) -> None:
    for token in ("nonsense", "P1." + "A" * 43, "P1.../etc", "x" * 500):
        response = api.http.get("/patient/me", headers=_auth(token))
        assert response.status_code == 401, token
    assert api.http.get("/patient/me").json_body["error"]["code"] == "missing_token"
