"""One DRF exception handler: every error body is `{"message": str, "extra": {...}}`."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousFileOperation,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler

from server.core.errors import ApplicationError, TooManyRequestsError


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            inner = _first_message(value)
            return inner if key in ("detail", "non_field_errors") else f"{key}: {inner}"
        return "Invalid input."
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else "Invalid input."
    return str(detail)


def _suspicious_response(exc: SuspiciousOperation, context: dict[str, Any]) -> Response:
    """Django's SuspiciousOperation family in the API's shape (Django itself would answer an HTML 400):
    a body above DATA_UPLOAD_MAX_MEMORY_SIZE is 413, the rest 400. Logged to `django.security.<Name>` as
    Django does; messages that could carry a server path (SuspiciousFileOperation) are not passed on."""
    reason = type(exc).__name__
    request = context.get("request")
    logging.getLogger(f"django.security.{reason}").warning(
        str(exc), extra={"request": getattr(request, "_request", request)}
    )
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response(
            {
                "message": f"The request body is larger than the {limit} bytes this server accepts "
                "(setting AVS_REQUEST_BODY_MAX_BYTES).",
                "extra": {"limit_bytes": limit},
            },
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        message = str(exc)  # Django's own wording, naming the setting
    elif isinstance(exc, SuspiciousFileOperation):
        message = "A file name or path in the request is not allowed."
    else:
        message = "The request was refused as unsafe."
    return Response({"message": message, "extra": {"reason": reason}}, status=status.HTTP_400_BAD_REQUEST)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequestsError) else None
        return Response({"message": exc.message, "extra": exc.extra}, status=exc.status, headers=headers)
    if isinstance(exc, SuspiciousOperation):
        return _suspicious_response(exc, context)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    extra: dict[str, Any] = {}
    if isinstance(exc, exceptions.ValidationError):
        extra = {"fields": detail if isinstance(detail, dict) else {"non_field_errors": detail}}
    response.data = {"message": _first_message(detail), "extra": extra}
    if response.status_code == status.HTTP_400_BAD_REQUEST and not response.data["message"]:
        response.data["message"] = "Invalid input."
    return response
