"""Who may see what: every route that takes an id or a caller, called by everyone who should not get in.

Generated from the route table (``OPERATIONS``): each route is classified in ``CLASSES`` below, and
a route that is not classified fails ``test_every_route_is_classified_in_the_isolation_matrix``,
so a new route cannot be left out of the matrix.

Callers: the owner (a patient with their own session), another patient of the same practice, a
guardian with the link to the child and one without, staff of the practice and of another
practice, nobody, an expired session or staff token, and a tampered one. The invariants:
- 401 for anonymous, expired and tampered credentials, on every authenticated route;
- a foreign id answers exactly like a missing one (404 when the route has no body to reject first);
- no presigned URL and no message (email or SMS) comes out of a call for a foreign id.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib import resources

import jwt
import pytest
from chalice.test import Client
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends

import app as _app  # noqa: F401 - registers every route before parametrisation
from chalicelib.appointments.store import appointment_item
from chalicelib.identity.model import Session, new_session_token, token_digest
from chalicelib.identity.store import DynamoSessions
from chalicelib.patients.model import Patient, guardian_links_for
from chalicelib.patients.store import PatientStore, contact_link_item
from chalicelib.platform.api import OPERATIONS, Operation
from chalicelib.platform.deps import Deps
from chalicelib.platform.secrets import token_signing_key
from chalicelib.platform.settings import get_settings
from chalicelib.practices.store import PracticeStore, appointment_type_item, provider_item
from tests import factories
from tests.integration.conftest import StaffTokens, UserPool

NOW = datetime(2027, 3, 10, 15, 0, tzinfo=UTC)  # the integration clock fixture
MISSING = "NOPE-404"

# How each route is checked. Add a new route here (its path, as declared with route()):
#   "patient-id"    patient route whose path ids belong to one patient (owner sees it, others get 404)
#   "caller-scoped" patient route that only ever reads or writes the caller's own data (no foreign id)
#   "practice"      staff route under /practices/{practice_id}/... (staff of another practice get 404)
#   "signed-link"   public route whose token/id is a capability (made-up or tampered -> 4xx, nothing leaks)
#   "public-practice" public read of a practice's public facts (unknown practice -> 404)
#   "open"          public route with no id and no caller (health, sign-in, webhooks)
CLASSES: dict[str, str] = {
    "/a/{token}": "signed-link",
    "/feeds/{token}/appointments.ics": "signed-link",
    "/health": "open",
    "/l/{token}": "signed-link",
    "/openapi.json": "open",
    "/patient/appointments": "caller-scoped",
    "/patient/appointments/{appointment_id}": "patient-id",
    "/patient/appointments/{appointment_id}/calendar.ics": "patient-id",
    "/patient/appointments/{appointment_id}/cancel": "patient-id",
    "/patient/appointments/{appointment_id}/confirm": "patient-id",
    "/patient/appointments/{appointment_id}/reschedule": "patient-id",
    "/patient/auth/code": "open",
    "/patient/auth/sign-out": "open",  # signing out with any token, even a dead one, is a 204 by design
    "/patient/auth/verify": "open",
    "/patient/billing": "caller-scoped",
    "/patient/calendar-feed": "caller-scoped",
    "/patient/images": "caller-scoped",
    "/patient/images/download": "caller-scoped",
    "/patient/images/{image_id}/download": "patient-id",
    "/patient/images/{image_id}/url": "patient-id",
    "/patient/me": "caller-scoped",
    "/patient/patients/{patient_id}/access-log": "patient-id",
    "/patient/patients/{patient_id}/export": "patient-id",
    "/patient/patients/{patient_id}/preferences": "patient-id",
    "/patient/payments": "caller-scoped",
    "/patient/schedule": "caller-scoped",
    "/patient/referral": "caller-scoped",
    "/patient/shares": "caller-scoped",
    "/patient/shares/{share_id}": "patient-id",
    "/patient/statements/{month}": "caller-scoped",
    "/patient/statements/{month}/print": "caller-scoped",
    "/patient/waitlist": "caller-scoped",
    "/patient/waitlist/{entry_id}": "patient-id",
    "/patients/{patient_id}/ledger": "patient-id",
    "/pay/{token}": "signed-link",
    "/pay/{token}/balance": "signed-link",
    "/pay/{token}/payments": "signed-link",
    "/pay/{token}/verify": "signed-link",
    "/payments/{payment_intent_id}/confirm": "signed-link",
    "/practices/{practice_id}/availability": "public-practice",
    "/practices/{practice_id}/providers/{provider_id}/availability": "public-practice",
    "/public/practices/{practice_id}": "public-practice",
    "/public/practices/{practice_id}/booking": "public-practice",
    "/public/practices/{practice_id}/links": "public-practice",
    "/public/practices/{practice_id}/new-patient-requests": "public-practice",
    "/public/practices/{practice_id}/referrals/{code}": "public-practice",
    "/public/shares/open": "open",
    "/public/surveys/{token}": "signed-link",
    "/public/unsubscribe/{token}": "signed-link",
    "/staff/me": "open-staff",
    "/staff/sign-in": "open",
    "/stripe/webhook": "open",
}
KNOWN_CLASSES = {"patient-id", "caller-scoped", "practice", "signed-link", "public-practice", "open", "open-staff"}
SIGNED_URL = re.compile(r"X-Amz-Signature|Signature=|https?://[^\"\s]*[?&](?:X-Amz|AWSAccessKeyId)", re.I)


def classify(op: Operation) -> str | None:
    if op.path.startswith("/practices/{practice_id}/") and op.auth == "staff":
        return "practice"
    return CLASSES.get(op.path)


# --- the world ---------------------------------------------------------------------------------


@dataclass
class World:
    owner: str  # session tokens
    other: str
    guardian_linked: str  # guardian of K1
    guardian_unlinked: str  # guardian of K2 only, asking about OWN's and K1's things
    expired: str
    tampered: str
    staff_home: dict[str, str]
    staff_away: dict[str, str]
    staff_expired: dict[str, str]
    staff_tampered: dict[str, str]
    # path-parameter values of things the owner (OWN) and the linked child (K1) hold
    own_ids: dict[str, str]
    child_ids: dict[str, str]


def _person(pid: str, phone: str) -> Patient:
    return dataclasses.replace(factories.patient(pid, phone=phone), birth_date=date(1988, 1, 2))


def _session(holder: str, patient_ids: tuple[str, ...], relation: str, started: datetime) -> str:
    token = new_session_token("P1")
    DynamoSessions().create(
        Session(
            id=token_digest(token_signing_key(), token),
            practice_id="P1",
            holder_id=holder,
            patient_ids=patient_ids,
            relations=dict.fromkeys(patient_ids, relation),
            started_at=int(started.timestamp()),
            last_seen=int(started.timestamp()),
        )
    )
    return token


def _tamper(token: str) -> str:
    """The same token with one character of its secret part changed."""
    last = token[-2]
    return token[:-2] + ("A" if last != "A" else "B") + token[-1]


def _expired_staff_token(pool: UserPool) -> str:
    """A Cognito-shaped ID token signed with moto's key, expired an hour ago."""
    packed = resources.files("moto.cognitoidp").joinpath("resources/jwks-private.json.gz").read_bytes()
    private = json.loads(gzip.decompress(packed))
    now = int(time.time())
    claims = {
        "sub": "expired-user",
        "iss": get_settings().cognito_issuer,
        "aud": pool.client_id,
        "token_use": "id",
        "iat": now - 7200,
        "exp": now - 3600,
        "custom:practice_id": "P1",
        "custom:role": "owner",
    }
    key = jwt.PyJWK(private).key
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": private["kid"]})


def _build_world(staff: StaffTokens, pool: UserPool) -> World:
    practices = PracticeStore()
    practices.put(factories.maple())
    practices.put(factories.birch())
    patients = PatientStore()
    for practice_id in ("P1", "P2"):
        provider_item(practice_id, factories.provider()).save()
        appointment_type_item(practice_id, factories.cleaning()).save()
    patients.put("P1", _person("OWN", "+15555550131"))
    patients.put("P1", _person("OTHER", "+15555550132"))
    patients.put("P1", _person("K1", ""))
    patients.put("P1", _person("K2", ""))
    for link in guardian_links_for(factories.guardian("G1", ("K1",))):
        contact_link_item("P1", link).save()
    for aid, pid, days in (("A-OWN", "OWN", 5), ("A-K1", "K1", 6), ("A-OTHER", "OTHER", 7)):
        appointment_item("P1", "America/New_York", factories.appointment(aid, pid, NOW + timedelta(days=days))).save()
    home_token = staff.token("P1", "owner")
    return World(
        owner=_session("OWN", ("OWN",), "self", NOW),
        other=_session("OTHER", ("OTHER",), "self", NOW),
        guardian_linked=_session("G1", ("K1",), "guardian", NOW),
        guardian_unlinked=_session("G2", ("K2",), "guardian", NOW),
        expired=_session("OWN", ("OWN",), "self", NOW - timedelta(days=30)),
        tampered=_tamper(_session("OWN", ("OWN",), "self", NOW)),
        staff_home={"Authorization": f"Bearer {home_token}"},
        staff_away=staff.headers("P2", "owner"),
        staff_expired={"Authorization": f"Bearer {_expired_staff_token(pool)}"},
        staff_tampered={"Authorization": f"Bearer {_tamper(home_token)}"},
        own_ids={"appointment_id": "A-OWN", "patient_id": "OWN", "practice_id": "P1"},
        child_ids={"appointment_id": "A-K1", "patient_id": "K1", "practice_id": "P1"},
    )


# --- calling -----------------------------------------------------------------------------------


def _path(op: Operation, ids: dict[str, str], default: str = MISSING) -> str:
    return re.sub(r"{([^}]+)}", lambda m: ids.get(m.group(1), default), op.path)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _outbox_size() -> int:
    ses = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    sns = sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    return len(ses.sent_messages) + len(sns.sms_messages)


@dataclass
class Answer:
    status: int
    code: str
    body: str


def _call(api: Client, op: Operation, path: str, headers: dict[str, str]) -> Answer:
    has_body = op.method in {"POST", "PUT", "PATCH"}
    body = (b"{}" if op.body_type == "application/json" else b"x") if has_body else b""
    response = api.http.request(op.method, path, headers={"Content-Type": op.body_type, **headers}, body=body)
    text = response.body.decode("utf-8", errors="replace") if isinstance(response.body, bytes) else str(response.body)
    code = ""
    if response.status_code >= 400:
        try:
            code = str(json.loads(text)["error"]["code"])
        except (ValueError, KeyError, TypeError):
            code = "<not a JSON error>"
    return Answer(response.status_code, code, text)


def _refused(answer: Answer, what: str) -> None:
    assert answer.status == 401, f"{what}: expected 401, got {answer.status} {answer.body[:200]}"
    assert answer.code not in {"", "<not a JSON error>"}, what


def _no_leak(answer: Answer, what: str) -> None:
    assert not SIGNED_URL.search(answer.body), f"{what}: a signed URL came back: {answer.body[:200]}"


def _like_missing(foreign: Answer, missing: Answer, op: Operation, what: str) -> None:
    """A foreign id answers exactly like a missing one; without a body to reject first, that is a 404."""
    assert (foreign.status, foreign.code) == (missing.status, missing.code), (
        f"{what}: a foreign id answered {foreign.status} {foreign.code}, a missing id {missing.status} {missing.code}"
    )
    if op.method in {"GET", "DELETE"}:
        assert foreign.status == 404, (
            f"{what}: expected 404 for a foreign id, got {foreign.status} {foreign.body[:200]}"
        )


# --- the tests ---------------------------------------------------------------------------------


def test_every_route_is_classified_in_the_isolation_matrix() -> None:
    missing = sorted(f"{op.method} {op.path}" for op in OPERATIONS.values() if classify(op) is None)
    unknown = sorted(f"{path}: {kind}" for path, kind in CLASSES.items() if kind not in KNOWN_CLASSES)
    assert not missing, (
        "these routes are not in the isolation matrix; add each path to CLASSES in "
        "tests/integration/test_isolation_matrix.py with one of "
        f"{sorted(KNOWN_CLASSES)} (see the comment above CLASSES): {missing}"
    )
    assert not unknown, unknown


@pytest.fixture
def world(api: Client, staff: StaffTokens, pool: UserPool, app_deps: Deps) -> World:
    return _build_world(staff, pool)


PATIENT_ROUTES = sorted(k for k, op in OPERATIONS.items() if op.auth == "patient" and classify(op) != "open")
STAFF_ROUTES = sorted(k for k, op in OPERATIONS.items() if op.auth == "staff")
LINK_ROUTES = sorted(k for k, op in OPERATIONS.items() if classify(op) in {"signed-link", "public-practice"})


def _ident(key: tuple[str, str]) -> str:
    return f"{key[0]} {key[1]}"


@pytest.mark.parametrize("key", PATIENT_ROUTES, ids=_ident)
def test_a_patient_route_refuses_strangers_and_answers_foreign_ids_like_missing_ones(
    key: tuple[str, str], api: Client, world: World
) -> None:
    op = OPERATIONS[key]
    kind = classify(op)
    own_path = _path(op, world.own_ids)
    for label, headers in (
        ("anonymous", {}),
        ("expired session", _bearer(world.expired)),
        ("tampered session", _bearer(world.tampered)),
        ("staff token on a patient route", world.staff_home),
    ):
        answer = _call(api, op, own_path, headers)
        _refused(answer, f"{op.method} {own_path} as {label}")
        _no_leak(answer, label)
    if kind != "patient-id":
        return
    sent_before = _outbox_size()
    owner_missing = _call(api, op, _path(op, {}), _bearer(world.owner))
    for label, token, ids in (
        ("another patient", world.other, world.own_ids),
        ("a guardian without the link", world.guardian_unlinked, world.child_ids),
        ("a guardian without the link (adult's id)", world.guardian_unlinked, world.own_ids),
    ):
        seeded = any(name in op.path for name in ("{appointment_id}", "{patient_id}"))
        # For ids the world does not seed (images, shares, waitlist entries) a made-up id stands in.
        foreign = _call(api, op, _path(op, ids if seeded else {}), _bearer(token))
        _like_missing(foreign, owner_missing, op, f"{op.method} {op.path} as {label}")
        _no_leak(foreign, label)
    assert _outbox_size() == sent_before, f"{op.method} {op.path}: a call for a foreign id sent a message"
    if any(name in op.path for name in ("{appointment_id}", "{patient_id}")):
        for label, token, ids in (
            ("its owner", world.owner, world.own_ids),
            ("the linked guardian", world.guardian_linked, world.child_ids),
        ):
            answer = _call(api, op, _path(op, ids), _bearer(token))
            assert answer.status not in {401, 403, 404}, f"{op.method} {op.path} as {label}: {answer.body[:200]}"
            assert answer.status < 500, answer.body[:300]


@pytest.mark.parametrize("key", STAFF_ROUTES, ids=_ident)
def test_a_staff_route_refuses_strangers_and_other_practices(key: tuple[str, str], api: Client, world: World) -> None:
    op = OPERATIONS[key]
    own_path = _path(op, world.own_ids)
    for label, headers in (
        ("anonymous", {}),
        ("expired staff token", world.staff_expired),
        ("tampered staff token", world.staff_tampered),
        ("patient session on a staff route", _bearer(world.owner)),
    ):
        answer = _call(api, op, own_path, headers)
        _refused(answer, f"{op.method} {own_path} as {label}")
        _no_leak(answer, label)
    if "{practice_id}" not in op.path:
        return
    sent_before = _outbox_size()
    away = _call(api, op, own_path, world.staff_away)
    missing = _call(api, op, _path(op, {**world.own_ids, "practice_id": "NOPRACTICE"}), world.staff_away)
    _like_missing(away, missing, op, f"{op.method} {own_path} as staff of another practice")
    assert away.status == 404, f"{op.method} {own_path} as staff of another practice: {away.status} {away.body[:200]}"
    _no_leak(away, "staff of another practice")
    assert _outbox_size() == sent_before, f"{op.method} {op.path}: another practice's staff made a message go out"
    home = _call(api, op, own_path, world.staff_home)
    assert home.status not in {401, 403} and home.status < 500, (
        f"{op.method} {own_path} as its staff: {home.body[:300]}"
    )


@pytest.mark.parametrize("key", LINK_ROUTES, ids=_ident)
def test_a_made_up_or_tampered_link_opens_nothing(key: tuple[str, str], api: Client, world: World) -> None:
    op = OPERATIONS[key]
    sent_before = _outbox_size()
    ids = {"practice_id": "NOPRACTICE", "token": "P1.bm90LWEtcmVhbC10b2tlbg.AAAA", "payment_intent_id": "pi_made_up"}
    answer = _call(api, op, _path(op, ids), {})
    assert 400 <= answer.status < 500, f"{op.method} {op.path}: {answer.status} {answer.body[:200]}"
    assert answer.code not in {"", "<not a JSON error>"} or answer.status == 404, answer.body[:200]
    _no_leak(answer, "made-up link")
    assert _outbox_size() == sent_before, f"{op.method} {op.path}: a made-up link made a message go out"
