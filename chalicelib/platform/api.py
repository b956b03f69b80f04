"""Route registration with its OpenAPI operation, JSON body parsing and JSON responses.

Every route is declared through ``route()``, which records the operation for ``/openapi.json``;
a test fails when a registered route has no operation.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalice import Blueprint, CORSConfig, Response
from chalice.app import Request

from chalicelib.platform import limits
from chalicelib.platform.errors import ApiError, BadRequest, PayloadTooLarge, UnsupportedMediaType, throttled
from chalicelib.platform.limits import SendLimit

MAX_JSON_BYTES = 64 * 1024
JSON_TYPES = ["application/json"]
JSON_HEADERS: dict[str, str | list[str]] = {"Content-Type": "application/json"}

CORS = CORSConfig(allow_origin="*", allow_headers=["Authorization", "Content-Type", "X-Session"], max_age=600)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    auth: str  # "staff" | "patient" | "public"
    tag: str
    body: dict[str, Any] | None = None
    body_type: str = "application/json"
    query: dict[str, dict[str, Any]] = field(default_factory=dict)
    ok_status: int = 200
    sends: SendLimit | None = None  # the route can make an email or SMS go out (chalicelib/platform/limits.py)
    max_body: int = MAX_JSON_BYTES  # larger request bodies are a 413 before the view runs
    too_large: str = ""  # the 413's message, when the route has a better one than the size
    limited: str = ""  # how the route limits tries by itself (it may answer 429), when it does


OPERATIONS: dict[tuple[str, str], Operation] = {}


def route(
    bp: Blueprint,
    path: str,
    method: str = "GET",
    *,
    summary: str,
    auth: str,
    tag: str,
    body: dict[str, Any] | None = None,
    body_type: str = "application/json",
    query: dict[str, dict[str, Any]] | None = None,
    ok_status: int = 200,
    content_types: list[str] | None = None,
    sends: SendLimit | None = None,
    max_body: int = MAX_JSON_BYTES,
    too_large: str = "",
    limited: str = "",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a view with its OpenAPI operation. ``sends``: the route can make a message go out
    (required then: see chalicelib/platform/limits.py). ``max_body``: the largest request body, in bytes;
    a larger one is a JSON 413 (``too_large`` its message) before the view runs. ``limited``: how the
    view limits tries itself (sign-in codes, birth-date checks), so the document lists its 429."""
    if auth not in {"staff", "patient", "public"}:
        raise ValueError(f"unknown auth {auth!r}")
    key = (method, path)
    OPERATIONS[key] = Operation(
        method, path, summary, auth, tag, body, body_type, query or {}, ok_status, sends, max_body, too_large, limited
    )
    register = bp.route(path, methods=[method], cors=CORS, content_types=content_types or JSON_TYPES)

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def answer(*args: Any, **kwargs: Any) -> Any:
            op = OPERATIONS[key]
            entered = limits.enter(op)
            try:
                if len(bp.current_request.raw_body or b"") > op.max_body:
                    raise PayloadTooLarge(op.too_large or f"the request body is over the {size(op.max_body)} limit")
                return view(*args, **kwargs)
            except ApiError as exc:
                headers: dict[str, str | list[str]] = {"Content-Type": "application/json", **exc.headers}
                return Response(body=exc.body(), status_code=exc.status, headers=headers)
            except Exception as exc:
                if not throttled(exc):
                    raise
                from chalicelib.platform.middleware import busy_response

                return busy_response(path, exc)
            finally:
                limits.leave(entered)

        return register(answer)

    return decorate


def size(n: int) -> str:
    """A byte count as people write it: 2 MB, 64 KB, 900 bytes."""
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} bytes"


def json_body(request: Request, max_bytes: int = MAX_JSON_BYTES) -> dict[str, Any]:
    """The request's JSON object, or a 4xx that says what is wrong with it."""
    raw = request.raw_body or b""
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"the request body is over the {size(max_bytes)} limit")
    ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if raw and ctype and ctype != "application/json":
        raise UnsupportedMediaType("send the body as application/json")
    if not raw.strip():
        raise BadRequest("a JSON object body is required", code="body_required")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: nested too deep
        raise BadRequest("the body is not valid JSON", code="invalid_json") from exc
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_json")
    return data


def respond(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    merged: dict[str, str | list[str]] = {**JSON_HEADERS, **(headers or {})}
    return Response(body=data, status_code=status, headers=merged)


_PARAM = re.compile(r"{([^}]+)}")


def openapi_document(title: str = "Chairside API", version: str = "0.1.0") -> dict[str, Any]:
    error = {"$ref": "#/components/schemas/Error"}
    paths: dict[str, dict[str, Any]] = {}
    for (method, path), op in sorted(OPERATIONS.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        params: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
            for name in _PARAM.findall(path)
        ]
        params += [
            {"name": name, "in": "query", "required": False, "schema": schema} for name, schema in op.query.items()
        ]
        responses: dict[str, Any] = {
            str(op.ok_status): {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}},
            "400": {"description": "Bad request", "content": {"application/json": {"schema": error}}},
            "404": {
                "description": "Not found (also for ids of others)",
                "content": {"application/json": {"schema": error}},
            },
            "422": {"description": "Invalid input", "content": {"application/json": {"schema": error}}},
        }
        if op.auth != "public":
            responses["401"] = {"description": "Not signed in", "content": {"application/json": {"schema": error}}}
        responses["413"] = {"description": "Body too large", "content": {"application/json": {"schema": error}}}
        if op.limited:
            responses["429"] = {
                "description": f"Too many tries just now ({op.limited})",
                "content": {"application/json": {"schema": error}},
            }
        elif op.sends is not None and op.sends.rules:
            responses["429"] = {
                "description": "Too many of these just now (see Retry-After)",
                "content": {"application/json": {"schema": error}},
            }
        operation: dict[str, Any] = {
            "summary": op.summary,
            "tags": [op.tag],
            "operationId": f"{method.lower()}_{_slug(path)}",
            "parameters": params,
            "responses": responses,
        }
        if op.auth == "staff":
            operation["security"] = [{"staffToken": []}]
        elif op.auth == "patient":
            operation["security"] = [{"patientSession": []}]
        if op.body is not None:
            operation["requestBody"] = {"required": True, "content": {op.body_type: {"schema": op.body}}}
        paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "staffToken": {"type": "http", "scheme": "bearer", "bearerFormat": "Cognito ID token (JWT)"},
                "patientSession": {"type": "http", "scheme": "bearer", "bearerFormat": "patient session token"},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                        }
                    },
                }
            },
        },
    }


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_") or "root"
