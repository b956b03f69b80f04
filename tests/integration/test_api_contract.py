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
