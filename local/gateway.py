"""API Gateway's own answers, as the stack's infra/resources.yaml declares them (GatewayResponse), for the
local API: a path or method with no route is a JSON 404 in the API's error shape, never API Gateway's
403 "Missing Authentication Token", and never an echo of the Authorization header (API Gateway and chalice
local both put a bearer token into the body of that 403 when one was sent)."""

from __future__ import annotations

import json
from typing import Any

from chalice.local import ChaliceRequestHandler, ForbiddenError, LocalGatewayException

# ResponseType -> (status, error code, message); tests/unit/test_infra_template.py checks the template agrees.
GATEWAY_RESPONSES: dict[str, tuple[int | None, str, str]] = {
    "MISSING_AUTHENTICATION_TOKEN": (404, "not_found", "there is no such route"),
    "INCOMPLETE_SIGNATURE": (404, "not_found", "there is no such route"),
    "REQUEST_TOO_LARGE": (413, "payload_too_large", "the request body is too large"),
    "THROTTLED": (429, "busy", "too many requests just now; try again in a few seconds"),
    "DEFAULT_4XX": (None, "refused", "the request was refused before it reached the API"),
    "DEFAULT_5XX": (None, "unavailable", "the API could not answer just now; try again shortly"),
}


def error_body(response_type: str) -> str:
    _, code, message = GATEWAY_RESPONSES[response_type]
    return json.dumps({"error": {"code": code, "message": message}})


class RouteNotFound(LocalGatewayException):
    CODE = 404


class GatewayResponsesHandler(ChaliceRequestHandler):
    """chalice local's handler with the deployed stack's gateway responses for unknown routes."""

    def _send_error_response(self, error: LocalGatewayException) -> None:
        if isinstance(error, ForbiddenError) and error.headers.get("x-amzn-ErrorType") == "UnauthorizedException":
            headers: Any = {
                "x-amzn-RequestId": error.headers.get("x-amzn-RequestId", ""),
                "Content-Type": "application/json",
            }
            error = RouteNotFound(headers, error_body("MISSING_AUTHENTICATION_TOKEN").encode())
        super()._send_error_response(error)
