"""The upload size limit (`AVS_UPLOAD_MAX_BYTES`), enforced twice.

1. Before the body is read: a request whose `Content-Length` exceeds the limit (plus a small
   allowance for the multipart envelope) is answered 413 at once.
2. While the body streams: `UploadLimitHandler` counts the bytes of every uploaded file and stops
   the upload when they exceed the limit (a body without a trustworthy `Content-Length`, e.g. under
   ASGI). Django then closes, and so deletes, the partial temporary file, and the view answers 413.

In both cases nothing is stored. Files above `FILE_UPLOAD_MAX_MEMORY_SIZE` still stream to a
temporary file through Django's own handlers; this one only counts.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest

from server.core.errors import PayloadTooLargeError

# Room for multipart boundaries, part headers and small form fields around the file.
MULTIPART_ALLOWANCE_BYTES = 64 * 1024


def _readable_size(num_bytes: int) -> str:
    size = float(num_bytes)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def upload_too_large_error(*, max_bytes: int, received_bytes: int | None = None) -> PayloadTooLargeError:
    extra: dict[str, Any] = {"max_bytes": max_bytes}
    if received_bytes is not None:
        extra["received_bytes"] = received_bytes
    return PayloadTooLargeError(
        f"The file is too large: uploads are limited to {_readable_size(max_bytes)} (AVS_UPLOAD_MAX_BYTES).", extra
    )


def upload_content_length_check(*, request: HttpRequest, max_bytes: int | None = None) -> None:
    """Raise 413 when the declared body size exceeds the limit. Reads headers only, never the body."""
    max_bytes = settings.AVS_UPLOAD_MAX_BYTES if max_bytes is None else max_bytes
    try:
        content_length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return  # Django treats an unreadable length as 0 and parses nothing
    if content_length > max_bytes + MULTIPART_ALLOWANCE_BYTES:
        raise upload_too_large_error(max_bytes=max_bytes, received_bytes=content_length)


class UploadLimitHandler(FileUploadHandler):
    """Counts uploaded file bytes; stops the upload and raises 413 once they exceed `max_bytes`.

    Install it first in `request.upload_handlers`, before the body is read, so that it sees each
    chunk before a later handler writes it.
    """

    def __init__(self, request: HttpRequest | None = None, *, max_bytes: int | None = None):
        super().__init__(request)
        self.max_bytes = settings.AVS_UPLOAD_MAX_BYTES if max_bytes is None else max_bytes
        self.received_bytes = 0
        self.exceeded = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received_bytes += len(raw_data)
        if self.received_bytes > self.max_bytes:
            self.exceeded = True
            # Django closes (deletes) the partial files, reads what is left of a length-bounded
            # body so the client gets our answer, and calls upload_complete().
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler (memory or temporary file) builds the uploaded file

    def upload_complete(self) -> None:
        if self.exceeded:
            raise upload_too_large_error(max_bytes=self.max_bytes)


def upload_limit_install(*, request: HttpRequest) -> UploadLimitHandler:
    """Put an `UploadLimitHandler` in front of the request's upload handlers (body not read yet)."""
    handler = UploadLimitHandler(request)
    request.upload_handlers.insert(0, handler)
    return handler
