"""The project's one error vocabulary.

Domain code raises `ApplicationError` (or Django's `ValidationError`); the API exception handler
in `server.core.exceptions` shapes every error body the same way:
`{"message": str, "extra": {...}}` with an HTTP status.
"""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A failure a user can understand and act on.

    `status` is the HTTP status the API answers with (400 unless stated); `extra` carries
    machine-readable details (field errors, ids of conflicting objects, current versions).
    """

    status: int = 400

    def __init__(self, message: str, extra: dict[str, Any] | None = None, *, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
        if status is not None:
            self.status = status


class NotFoundError(ApplicationError):
    status = 404


class ConflictError(ApplicationError):
    """A write lost a race (stale `version`) or duplicates existing data."""

    status = 409


class PermissionDeniedError(ApplicationError):
    status = 403


class PayloadTooLargeError(ApplicationError):
    status = 413


class TooManyRequestsError(ApplicationError):
    """Too many attempts: the API answers 429 with `Retry-After: <retry_after>` (seconds, also in `extra`)."""

    status = 429

    def __init__(self, message: str, extra: dict[str, Any] | None = None, *, retry_after: int):
        super().__init__(message, {**(extra or {}), "retry_after": retry_after})
        self.retry_after = retry_after


class ServiceUnavailableError(ApplicationError):
    """Something the request needs (a model, a broker) is not available right now; the message says which
    setting to fix."""

    status = 503
