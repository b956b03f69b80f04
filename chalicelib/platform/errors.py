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


class ServiceBusy(ApiError):
    """Not the caller's fault: DynamoDB (or a provider) refused for capacity after the SDK's retries."""

    status = 503
    code = "busy"
