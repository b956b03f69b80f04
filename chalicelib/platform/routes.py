"""Health and the API description."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.platform.api import openapi_document, respond, route

bp = Blueprint(__name__)


@route(bp, "/health", summary="Liveness check", auth="public", tag="platform")
def health() -> Response:
    return respond({"status": "ok"})


@route(bp, "/openapi.json", summary="This API's OpenAPI 3 document", auth="public", tag="platform")
def openapi() -> Response:
    return respond(openapi_document())
