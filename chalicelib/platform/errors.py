"""Errors a request can end in, each with its HTTP status and a stable code.

Every error leaves the API as {"error": {"code": ..., "message": ...}} with a 4xx status, except
``ServiceBusy`` (503): the table or a provider is throttling us, nothing was changed, try again soon.
"""

from __future__ import annotations


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code

    def body(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}

    @property
    def headers(self) -> dict[str, str]:
        """Extra response headers (a 429's Retry-After)."""
        return {}


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    """Also the answer for ids that exist but belong to someone else."""

    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"


class Unprocessable(ApiError):
    status = 422
    code = "invalid"


class TooManyRequests(ApiError):
    status = 429
    code = "rate_limited"


class RetryLater(TooManyRequests):
    """A 429 whose ``Retry-After`` says how many seconds until the caller's window ends."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, code="rate_limited")
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class ServiceBusy(ApiError):
    """Not the caller's fault: DynamoDB (or a provider) refused for capacity after the SDK's retries."""

    status = 503
    code = "busy"


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
