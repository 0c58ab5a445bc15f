"""Media storage beyond a local folder: files in an S3-compatible bucket (django-storages' `S3Storage`).

- `storage_download` copies a stored file into a local file object in chunks (the worker's copy of a source video);
- `media_response` hands a stored file to a client whose access was checked: streamed through the web server, or
  (AVS_MEDIA_DELIVERY=redirect, media in a bucket) a 302 to a presigned URL that expires after
  AVS_S3_URL_EXPIRE_SECONDS;
- `storage_error_message` turns "the bucket cannot be reached" into a sentence for people, naming the settings;
- `s3_client` is a boto3 client on the configured endpoint and keys (AVS_S3_*), for listing and reading other
  buckets (import from a bucket).
"""

from __future__ import annotations

import mimetypes
from typing import Any, BinaryIO

from django.conf import settings
from django.core.files.storage import Storage
from django.http import FileResponse, HttpResponse, HttpResponseRedirect
from django.utils.http import content_disposition_header

from server.core.errors import ApplicationError, NotFoundError

CHUNK_BYTES = 1024 * 1024
S3_SETTINGS = "AVS_S3_ENDPOINT_URL, AVS_S3_BUCKET and the AVS_S3_* keys"


def is_bucket(storage: Storage) -> bool:
    """Whether `storage` keeps files in an S3-compatible bucket (django-storages' S3Storage)."""
    try:
        from storages.backends.s3 import S3Storage
    except ImportError:  # pragma: no cover - django-storages is a base requirement
        return False
    return isinstance(storage, S3Storage)  # a LazyObject (default_storage) answers for what it wraps


def _bucket_key(storage: Any, name: str) -> tuple[str, str]:
    from storages.utils import clean_name

    return storage.bucket_name, storage._normalize_name(clean_name(name))


def storage_download(*, storage: Storage, name: str, out: BinaryIO) -> int:
    """Copy the stored file `name` into `out` (open for binary writing), in chunks: memory stays bounded whatever the
    file's size. Returns the bytes written. Raises FileNotFoundError when there is no such file."""
    if is_bucket(storage):
        from botocore.exceptions import ClientError

        s3: Any = storage
        bucket, key = _bucket_key(s3, name)
        start = out.tell()
        try:
            s3.connection.meta.client.download_fileobj(bucket, key, out, Config=s3.transfer_config)
        except ClientError as exc:
            if _status(exc) == 404:
                raise FileNotFoundError(f"{name} is not in the bucket") from None
            raise
        return out.tell() - start
    with storage.open(name, "rb") as stored:
        written = 0
        while chunk := stored.read(CHUNK_BYTES):
            out.write(chunk)
            written += len(chunk)
        return written


def _status(exc: Any) -> int | None:
    return getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")


def storage_error_message(exc: BaseException) -> str | None:
    """A sentence for people when `exc` says the media bucket (or another S3 endpoint) could not be reached or
    refused us; None for any other error."""
    try:
        from botocore.exceptions import (
            ClientError,
            HTTPClientError,
            NoCredentialsError,
        )
        from botocore.exceptions import (
            ConnectionError as BotoConnectionError,
        )
    except ImportError:  # pragma: no cover
        return None
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return f"The media storage could not be reached ({exc}); check {S3_SETTINGS} and that the store is up."
    if isinstance(exc, NoCredentialsError):
        return f"The media storage needs credentials: set AVS_S3_ACCESS_KEY_ID and AVS_S3_SECRET_ACCESS_KEY ({exc})."
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"):
            return f"The media storage refused the request ({code}: {exc}); check {S3_SETTINGS}."
    return None


# --- delivery to clients -------------------------------------------------------------------------------


def media_response(
    *,
    storage: Storage,
    name: str,
    content_type: str | None = None,
    filename: str | None = None,
    cache_control: str = "private, max-age=3600",
    missing: str = "The file is missing from media storage.",
) -> HttpResponse:
    """The response that hands the stored file `name` to a client whose permission was checked already.

    A local file, and a file in a bucket with AVS_MEDIA_DELIVERY=stream, is streamed in chunks (a bucket's object is
    read as it is sent, never buffered whole); with AVS_MEDIA_DELIVERY=redirect a file in a bucket is a 302 to a
    presigned URL that expires after AVS_S3_URL_EXPIRE_SECONDS (never cached). `filename` makes it an attachment.
    Raises NotFoundError (`missing`) when there is no such file, ApplicationError 503 when the bucket is unreachable.
    """
    content_type = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    if not is_bucket(storage):
        try:
            handle = storage.open(name, "rb")
        except FileNotFoundError:
            raise NotFoundError(missing) from None
        response: HttpResponse = FileResponse(
            handle, content_type=content_type, as_attachment=filename is not None, filename=filename or ""
        )
    elif settings.AVS_MEDIA_DELIVERY == "redirect":
        response = _presigned_redirect(storage=storage, name=name, content_type=content_type, filename=filename)
        response["Cache-Control"] = "private, no-store"
        return response
    else:
        response = _bucket_stream(storage=storage, name=name, content_type=content_type, missing=missing)
        if filename is not None:
            response["Content-Disposition"] = content_disposition_header(True, filename)
    response["Cache-Control"] = cache_control
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _bucket_stream(*, storage: Storage, name: str, content_type: str, missing: str) -> HttpResponse:
    from botocore.exceptions import ClientError

    s3: Any = storage
    bucket, key = _bucket_key(s3, name)
    try:
        obj = s3.connection.meta.client.get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if _status(exc) == 404:
            raise NotFoundError(missing) from None
        raise _unavailable(exc) from exc
    except Exception as exc:
        if storage_error_message(exc) is None:
            raise
        raise _unavailable(exc) from exc
    response = FileResponse(_Body(obj["Body"]), content_type=content_type)
    response["Content-Length"] = str(obj["ContentLength"])
    return response


class _Body:
    """A bucket object's body as FileResponse reads it: `read(n)` in blocks, `close()` at the end."""

    def __init__(self, body: Any):
        self.body = body

    def read(self, size: int = -1) -> bytes:
        return self.body.read(size if size and size > 0 else None)

    def close(self) -> None:
        self.body.close()


def _presigned_redirect(*, storage: Storage, name: str, content_type: str, filename: str | None) -> HttpResponse:
    s3: Any = storage
    parameters = {"ResponseContentType": content_type}
    if filename is not None:
        parameters["ResponseContentDisposition"] = content_disposition_header(True, filename)
    try:
        if not s3.exists(name):
            raise NotFoundError("The file is missing from media storage.")
        url = s3.url(name, parameters=parameters, expire=settings.AVS_S3_URL_EXPIRE_SECONDS)
    except NotFoundError:
        raise
    except Exception as exc:
        if storage_error_message(exc) is None:
            raise
        raise _unavailable(exc) from exc
    return HttpResponseRedirect(url)


def _unavailable(exc: BaseException) -> ApplicationError:
    return ApplicationError(storage_error_message(exc) or f"The media storage failed ({exc}).", status=503)


# --- other buckets (import) ----------------------------------------------------------------------------


def s3_client() -> Any:
    """A boto3 S3 client on AVS_S3_ENDPOINT_URL / AVS_S3_REGION with AVS_S3_ACCESS_KEY_ID / AVS_S3_SECRET_ACCESS_KEY
    (boto3's own credential chain when they are empty), with the configured timeouts and attempts."""
    import boto3
    from botocore.config import Config

    style = settings.AVS_S3_ADDRESSING_STYLE
    return boto3.session.Session().client(
        "s3",
        endpoint_url=settings.AVS_S3_ENDPOINT_URL or None,
        region_name=settings.AVS_S3_REGION or None,
        aws_access_key_id=settings.AVS_S3_ACCESS_KEY_ID or None,
        aws_secret_access_key=settings.AVS_S3_SECRET_ACCESS_KEY or None,
        config=Config(
            connect_timeout=settings.AVS_S3_TIMEOUT,
            read_timeout=settings.AVS_S3_TIMEOUT,
            retries={"max_attempts": settings.AVS_S3_MAX_ATTEMPTS, "mode": "standard"},
            s3={"addressing_style": style},
            signature_version="s3v4",
        ),
    )
