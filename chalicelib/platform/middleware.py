"""Request middleware: JSON errors for every failure, and powertools context."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice import Response

from chalicelib.platform.errors import ApiError, ServiceBusy
from chalicelib.platform.observability import logger, metrics


def json_errors(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """Routes answer their own ApiErrors (see api.route); this catches what escapes, as JSON."""
    try:
        response = get_response(event)
    except ApiError as exc:
        return Response(body=exc.body(), status_code=exc.status, headers=_cors())
    except Exception as exc:
        if throttled(exc):
            logger.warning("throttled", extra={"path": getattr(event, "path", ""), "error": type(exc).__name__})
            metrics.add_metric(name="RequestsThrottled", unit="Count", value=1)
            busy = ServiceBusy("we are busy right now; nothing was changed, please try again in a moment")
            return Response(body=busy.body(), status_code=busy.status, headers={**_cors(), "Retry-After": "1"})
        # The traceback carries ids only; request bodies and events are never logged.
        logger.exception("unhandled error", extra={"path": getattr(event, "path", "")})
        return Response(
            body={"error": {"code": "internal", "message": "something went wrong on our side"}},
            status_code=500,
            headers=_cors(),
        )
    return _normalise_framework_error(response)


THROTTLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ProvisionedThroughputExceeded",
        "ThrottlingException",
        "ThrottlingError",
        "RequestLimitExceeded",
        "Throttling",
        "TooManyRequestsException",
    }
)


def throttled(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is AWS refusing for capacity, after the SDK's own retries."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        code = getattr(current, "cause_response_code", None)  # pynamodb wraps botocore's error
        response = getattr(current, "response", None)
        if code is None and isinstance(response, dict):
            code = response.get("Error", {}).get("Code")
        reasons = [getattr(r, "code", None) for r in getattr(current, "cancellation_reasons", None) or [] if r]
        if code in THROTTLE_CODES or any(r in THROTTLE_CODES for r in reasons):
            return True
        current = current.__cause__ or current.__context__
    return False


def _cors() -> dict[str, str | list[str]]:
    return {"Access-Control-Allow-Origin": "*", "Content-Type": "application/json"}


def _normalise_framework_error(response: Response) -> Response:
    """Chalice answers some failures itself ({"Code", "Message"}); give them our error shape."""
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and "Code" in body and "error" not in body:
        code = str(body.get("Code", "error"))
        response.body = {"error": {"code": _snake(code), "message": str(body.get("Message", ""))}}
    return response


def _snake(name: str) -> str:
    out = "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
    return out.removesuffix("_error") or "error"


def observed(app: Any) -> Callable[[Any, Callable[[Any], Any]], Any]:
    """Powertools context for every invocation (routes, schedules, events): request id on each log
    line, metrics flushed at the end. Never logs the event itself."""

    def observe(event: Any, get_response: Callable[[Any], Any]) -> Any:
        context = getattr(app, "lambda_context", None)
        request_id = getattr(context, "aws_request_id", "") if context is not None else ""
        logger.append_keys(request_id=request_id or None)
        try:
            return get_response(event)
        finally:
            if getattr(metrics.provider, "metric_set", None):
                metrics.flush_metrics()
            logger.remove_keys(["request_id"])

    return observe
