"""One error type for the service; the API renders it as {"error": {code, message, details}}."""

from __future__ import annotations

from typing import Any


class InferraError(Exception):
    status_code: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.status_code = status_code or self.status_code
        self.details = details
        self.headers = headers

    def to_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class NotFound(InferraError):
    status_code = 404
    code = "not_found"


class Forbidden(InferraError):
    status_code = 403
    code = "forbidden"


class Conflict(InferraError):
    status_code = 409
    code = "conflict"


class RateLimited(InferraError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(
            message,
            details={"retry_after_seconds": retry_after},
            headers={"Retry-After": str(retry_after)},
        )


class ServiceUnavailable(InferraError):
    status_code = 503
    code = "not_ready"


class ConfigurationError(InferraError):
    """Raised at startup for a configuration that would silently corrupt data or security."""

    status_code = 500
    code = "configuration_error"
