"""Request middleware: JSON errors for every failure, and powertools context."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice import Response

from chalicelib.platform.errors import ApiError, ServiceBusy, throttled
from chalicelib.platform.observability import logger, metrics


def json_errors(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """Routes answer their own ApiErrors (see api.route); this catches what escapes, as JSON."""
    try:
        response = get_response(event)
    except ApiError as exc:
        return Response(body=exc.body(), status_code=exc.status, headers=_cors())
    except Exception as exc:
        if throttled(exc):
            return busy_response(getattr(event, "path", ""), exc)
        # The traceback carries ids only; request bodies and events are never logged.
        logger.exception("unhandled error", extra={"path": getattr(event, "path", "")})
        return Response(
            body={"error": {"code": "internal", "message": "something went wrong on our side"}},
            status_code=500,
            headers=_cors(),
        )
    return _normalise_framework_error(response)


def busy_response(path: str, exc: BaseException) -> Response:
    """503 for capacity refusals (after the SDK's and the stores' own bounded retries)."""
    logger.warning("throttled", extra={"path": path, "error": type(exc).__name__})
    metrics.add_metric(name="RequestsThrottled", unit="Count", value=1)
    busy = ServiceBusy("we are busy right now; nothing was changed, please try again in a moment")
    return Response(body=busy.body(), status_code=busy.status, headers={**_cors(), "Retry-After": "1"})


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
