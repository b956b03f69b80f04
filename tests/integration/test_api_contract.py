from __future__ import annotations

import json

from chalice.test import Client

from chalicelib.platform.api import OPERATIONS


def test_health_answers_ok(api: Client) -> None:
    response = api.http.get("/health")
    assert response.status_code == 200
    assert response.json_body == {"status": "ok"}


def test_every_registered_route_is_in_the_openapi_document(api: Client) -> None:
    from app import app

    document = api.http.get("/openapi.json").json_body
    assert document["openapi"].startswith("3.")
    for path, entry in app.routes.items():
        for method in entry:
            if method == "OPTIONS":
                continue
            assert method.lower() in document["paths"].get(path, {}), f"{method} {path} missing from openapi"


def test_every_route_was_declared_through_the_route_helper() -> None:
    from app import app

    registered = {(m, p) for p, entry in app.routes.items() for m in entry if m != "OPTIONS"}
    assert registered <= set(OPERATIONS)


def test_unknown_practice_profile_is_a_json_404(api: Client) -> None:
    response = api.http.get("/public/practices/nope")
    assert response.status_code == 404
    assert set(json.loads(response.body)["error"]) == {"code", "message"}


SELF_LIMITED = [
    ("POST", "/patient/auth/code"),
    ("POST", "/staff/sign-in"),
    ("POST", "/public/practices/{practice_id}/new-patient-requests"),
    ("POST", "/pay/{token}/verify"),
]


def test_routes_that_limit_tries_themselves_list_their_429_in_the_openapi_document(api: Client) -> None:
    document = api.http.get("/openapi.json").json_body
    for method, path in SELF_LIMITED:
        responses = document["paths"][path][method.lower()]["responses"]
        assert "429" in responses, f"{method} {path}"
        assert responses["429"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_a_route_that_sends_under_a_note_but_never_limits_lists_no_429(api: Client) -> None:
    document = api.http.get("/openapi.json").json_body
    never_limited = [
        (method, path)
        for (method, path), op in OPERATIONS.items()
        if op.sends is not None and not op.sends.rules and not op.limited
    ]
    assert never_limited, "the Stripe webhook sends receipts and is bounded by payments, not by a rate"
    for method, path in never_limited:
        assert "429" not in document["paths"][path][method.lower()]["responses"], f"{method} {path}"
