"""Resumable uploads (tus 1.0.0): the services and selectors of `Upload`. The HTTP side is `server.media.tus`.

    upload_create       a new upload of `length` bytes into a project, with the whole file's SHA-256; empty part
    upload_append       a PATCH body appended at the stored offset; at the last byte, `upload_finish`
    upload_finish       the whole file's SHA-256 checked, then `clip_create_from_file`: the same clip and ingest job
                        as a one-request upload (or the existing clip of a duplicate), or a failed upload
    upload_terminate    the upload and its part removed
    uploads_expire      uploads idle past AVS_UPLOAD_EXPIRY_SECONDS expire: parts deleted (stray parts too)

Received bytes go to a part file `<AVS_UPLOAD_DIR>/<upload id>.part` on the web server's own disk, whatever the
media storage is; only the complete, checked file is stored in media storage (a bucket too), so the workers never
read the upload folder. Memory stays bounded: bodies are read and written 1 MiB at a time.

Offsets survive dropped connections and restarts: `Upload.offset` only grows after the bytes it counts are synced
to disk (at the end of each PATCH body, and every CHECKPOINT_BYTES within a long one), and each PATCH first cuts the
part back to that offset, so bytes a request wrote past it before dying are dropped (and a part shorter than the
row, e.g. a lost disk, lowers the offset to what is there). A body cut off mid-way keeps what arrived, unless it
came with an `Upload-Checksum`, which only a whole body can match. The offset reaches `length` only once the file is
a clip: if storing it fails for a passing reason (storage unreachable), the last body is sent again and the upload
finishes then.

One request writes an upload at a time: each holds an exclusive, non-blocking lock (`flock`) on the part; another
gets 423 Locked, which tus clients retry.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO
from uuid import UUID

from django.conf import settings
from django.core.files import File
from django.db.models import F, Sum
from django.http import UnreadablePostError
from django.utils import timezone

from server.accounts.models import Role
from server.accounts.selectors import project_access
from server.core.errors import ApplicationError, ConflictError, NotFoundError, PayloadTooLargeError
from server.media.models import Upload
from server.media.services import clip_create_from_file
from server.media.upload import upload_too_large_error

logger = logging.getLogger(__name__)

READ_BYTES = 1024 * 1024  # one read of a request body, one write to the part
CHECKPOINT_BYTES = 16 * 1024 * 1024  # within one long body, the offset is stored (synced) this often
EXPIRE_PER_CREATE = 20  # stale uploads expired by each new upload (the command expires them all)
CHECKSUM_ALGORITHMS: dict[str, Callable[[], Any]] = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
METADATA_KEY = re.compile(r"^[^\s,]+$")
WHOLE_NUMBER = re.compile(r"^[0-9]{1,18}$")


class UploadLockedError(ApplicationError):
    """Another request is writing this upload right now (tus clients retry a 423)."""

    status = 423


class UploadGoneError(ApplicationError):
    """The upload failed or expired: its bytes are gone; start a new one."""

    status = 410


class OffsetConflictError(ConflictError):
    """The client's Upload-Offset is not the stored one; `offset` is (also in `extra`)."""

    def __init__(self, *, offset: int, sent: int):
        super().__init__(
            f"Upload-Offset {sent} does not match the {offset} bytes stored: continue from offset {offset} "
            "(HEAD this upload's URL to read it).",
            {"offset": offset, "sent": sent},
        )
        self.offset = offset


class ChecksumMismatchError(ApplicationError):
    """tus' 460 Checksum Mismatch: a body's `Upload-Checksum`, or the whole file's SHA-256, does not match."""

    status = 460


class InsufficientStorageError(ApplicationError):
    status = 507


# --- protocol values ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadRequest:
    """What a creation request asks for, read from its Upload-Length and Upload-Metadata."""

    project_id: int
    filename: str
    length: int
    sha256: str
    metadata: str


def is_whole_number(text: str | None) -> bool:
    """ASCII digits only (`str.isdigit` also takes "²" and other digits `int` refuses), at most 18 of them."""
    return text is not None and WHOLE_NUMBER.match(text.strip()) is not None


def metadata_parse(header: str) -> dict[str, str]:
    """tus Upload-Metadata: comma-separated `key base64(value)` pairs (a value may be left out) → {key: text}.

    Raises ApplicationError naming the pair that is not well formed, not base64 or not UTF-8 text.
    """
    pairs: dict[str, str] = {}
    for item in header.split(","):
        item = item.strip()
        if not item:
            continue
        key, _, encoded = item.partition(" ")
        encoded = encoded.strip()
        if not METADATA_KEY.match(key) or " " in encoded:
            raise ApplicationError(f"Upload-Metadata: '{item[:60]}' is not a 'key base64-value' pair.")
        if key in pairs:
            raise ApplicationError(f"Upload-Metadata: the key '{key}' appears twice.")
        try:
            pairs[key] = base64.b64decode(encoded, validate=True).decode("utf-8") if encoded else ""
        except (binascii.Error, ValueError):
            raise ApplicationError(f"Upload-Metadata: the value of '{key}' is not base64-encoded UTF-8 text.") from None
    return pairs


def upload_request_parse(*, length: str | None, metadata: str | None, defer_length: str | None = None) -> UploadRequest:
    """Read a creation request's headers: Upload-Length (bytes, required) and Upload-Metadata, which must carry
    `filename`, `project` (the project's id) and `sha256` (the whole file's SHA-256, hex)."""
    if defer_length is not None:
        raise ApplicationError("Upload-Defer-Length is not supported: send Upload-Length, the file's size in bytes.")
    if length is None or not is_whole_number(length):
        raise ApplicationError("Upload-Length must be the file's size in bytes (a whole number).")
    pairs = metadata_parse(metadata or "")
    missing = [key for key in ("filename", "project", "sha256") if not pairs.get(key, "").strip()]
    if missing:
        raise ApplicationError(
            f"Upload-Metadata must carry {', '.join(missing)}: the file's name, the project's id and the whole "
            "file's SHA-256 (hex).",
            {"missing": missing},
        )
    if not is_whole_number(pairs["project"]):
        raise ApplicationError("Upload-Metadata: project must be the project's id (a whole number).")
    if "\x00" in pairs["filename"] or "\x00" in (metadata or ""):
        raise ApplicationError("Upload-Metadata: filename cannot contain NUL characters.")
    sha256 = pairs["sha256"].strip().lower()
    if not SHA256_HEX.match(sha256):
        raise ApplicationError("Upload-Metadata: sha256 must be the file's SHA-256 as 64 hexadecimal digits.")
    return UploadRequest(
        project_id=int(pairs["project"]),
        filename=pairs["filename"].strip(),
        length=int(length),
        sha256=sha256,
        metadata=(metadata or "").strip(),
    )


def checksum_parse(header: str | None) -> tuple[str, bytes] | None:
    """tus Upload-Checksum `<algorithm> <base64 digest>` → (algorithm, digest); None without the header."""
    if header is None:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise ApplicationError(
            f"Upload-Checksum: the algorithm '{algorithm[:20]}' is not supported; use one of "
            f"{', '.join(CHECKSUM_ALGORITHMS)}.",
            {"supported": list(CHECKSUM_ALGORITHMS)},
        )
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != CHECKSUM_ALGORITHMS[algorithm]().digest_size:
        raise ApplicationError(f"Upload-Checksum: the {algorithm} digest must be base64 of its bytes.")
    return algorithm, digest


# --- selectors ---------------------------------------------------------------------------------------------------


def upload_dir() -> Path:
    folder = Path(settings.AVS_UPLOAD_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def upload_part_path(*, upload: Upload) -> Path:
    return Path(settings.AVS_UPLOAD_DIR) / f"{upload.pk}.part"


def upload_get_for_user(*, user: Any, upload_id: UUID | str) -> Upload:
    """The user's own upload, while they may still upload into its project (managers). Anyone else's: 404."""
    upload = Upload.objects.select_related("project", "clip").filter(pk=upload_id).first()
    if upload is None or not user.is_authenticated or upload.created_by_id != user.pk:
        raise NotFoundError("Upload not found.")
    project_access(user=user, project_id=upload.project_id, roles=[Role.MANAGER])
    return upload


def upload_stored_offset(*, upload: Upload) -> int:
    """Bytes stored for good: the row's offset, or less when the part holds less (never more)."""
    if upload.status == Upload.Status.DONE:
        return upload.length
    try:
        size = upload_part_path(upload=upload).stat().st_size
    except FileNotFoundError:
        size = 0
    return min(upload.offset, size)


def upload_is_expired(*, upload: Upload, now: datetime | None = None) -> bool:
    return upload.status == Upload.Status.RECEIVING and upload.expires_at <= (now or timezone.now())


# --- services ----------------------------------------------------------------------------------------------------


def _expiry(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.AVS_UPLOAD_EXPIRY_SECONDS)


def upload_create(*, user: Any, request: UploadRequest, now: datetime | None = None) -> Upload:
    """Start an upload into `request.project_id` (managers): a row and an empty part.

    Refused (nothing kept) for an empty file (400), one above AVS_UPLOAD_MAX_BYTES (413) or when AVS_UPLOAD_DIR
    has no room for it beside the bytes the uploads in progress still expect (507). Each call also expires a few
    stale uploads (`uploads_expire`).
    """
    project_access(user=user, project_id=request.project_id, roles=[Role.MANAGER])
    if request.length == 0:
        raise ApplicationError("The file is empty.")
    if request.length > settings.AVS_UPLOAD_MAX_BYTES:
        raise upload_too_large_error(max_bytes=settings.AVS_UPLOAD_MAX_BYTES, received_bytes=request.length)
    now = now or timezone.now()
    uploads_expire(now=now, limit=EXPIRE_PER_CREATE)
    try:
        folder = upload_dir()
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        raise ApplicationError(
            f"The upload folder cannot be used ({exc.strerror or type(exc).__name__}; setting AVS_UPLOAD_DIR).",
            status=503,
        ) from exc
    expected = (
        Upload.objects.filter(status=Upload.Status.RECEIVING).aggregate(n=Sum(F("length") - F("offset"))).get("n") or 0
    )
    if free - expected < request.length:
        raise InsufficientStorageError(
            f"The server has no room for this upload now: {free / 1024**2:.0f} MiB free in its upload folder, "
            f"{expected / 1024**2:.0f} MiB of it expected by uploads in progress (setting AVS_UPLOAD_DIR).",
            {"free_bytes": free, "reserved_bytes": expected, "length": request.length},
        )
    upload = Upload.objects.create(
        project_id=request.project_id,
        created_by=user,
        filename=os.path.basename(request.filename.replace("\\", "/"))[:255] or "video",
        length=request.length,
        sha256=request.sha256,
        metadata=request.metadata,
        expires_at=_expiry(now),
    )
    try:
        upload_part_path(upload=upload).touch(exist_ok=False)
    except OSError as exc:
        upload.delete()
        raise ApplicationError(
            f"The upload could not be started: {exc.strerror or type(exc).__name__} (setting AVS_UPLOAD_DIR).",
            status=503,
        ) from exc
    return upload


@contextmanager
def _part_locked(*, upload: Upload) -> Iterator[BinaryIO]:
    """The upload's part, open for reading and writing under an exclusive lock (423 if another request holds it).
    A lost part (an upload still receiving) starts again empty."""
    path = upload_part_path(upload=upload)
    try:
        handle = open(path, "r+b")  # noqa: SIM115 (closed below, with the lock)
    except FileNotFoundError:
        upload_dir()
        handle = open(path, "a+b")  # noqa: SIM115
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UploadLockedError(
                "Another request is writing this upload right now; retry in a moment.", {"upload": str(upload.pk)}
            ) from None
        yield handle
    finally:
        handle.close()


def _gone(upload: Upload) -> UploadGoneError:
    if upload.status == Upload.Status.EXPIRED:
        return UploadGoneError(
            "This upload expired: it received nothing for too long (setting AVS_UPLOAD_EXPIRY_SECONDS) and its "
            "bytes were deleted. Start the upload again."
        )
    return UploadGoneError(f"This upload failed: {upload.error} Start the upload again.", {"error": upload.error})


def upload_append(
    *,
    upload: Upload,
    offset: int,
    read: Callable[[int], bytes],
    content_length: int,
    checksum: tuple[str, bytes] | None = None,
    now: datetime | None = None,
) -> Upload:
    """Append a PATCH body (`content_length` bytes, read with `read(n)`) at `offset`, which must be the stored
    offset (409 otherwise, with the stored one). At the file's last byte the upload finishes (`upload_finish`).

    Refused: a body that would go past the file's length (413); a body whose `checksum` (algorithm, digest) does
    not match (460: nothing of it is kept); a failed or expired upload (410); a part another request is writing
    (423). A body that ends early (the client went away) keeps the bytes that arrived. Returns the upload as stored.
    """
    now = now or timezone.now()
    if upload.status == Upload.Status.RECEIVING and upload_is_expired(upload=upload, now=now):
        uploads_expire(now=now, only=upload.pk)
        upload.refresh_from_db()
    if upload.status in (Upload.Status.FAILED, Upload.Status.EXPIRED):
        raise _gone(upload)
    if upload.status == Upload.Status.DONE:
        _check_body(upload=upload, stored=upload.length, offset=offset, content_length=content_length)
        return upload  # nothing more to receive: an empty PATCH at the end is answered with the length

    with _part_locked(upload=upload) as part:
        upload.refresh_from_db()
        if upload.status != Upload.Status.RECEIVING:
            return upload_append(upload=upload, offset=offset, read=read, content_length=content_length, now=now)
        stored = _reconcile(upload=upload, part=part)
        _check_body(upload=upload, stored=stored, offset=offset, content_length=content_length)
        part.seek(stored)
        written, complete = _receive(
            upload=upload, part=part, start=stored, read=read, content_length=content_length, checksum=checksum
        )
        end = stored + written
        if complete and end == upload.length:
            _sync(part)
            upload_finish(upload=upload)
            return upload
        if end > upload.offset:
            _sync(part)
            _offset_store(upload=upload, offset=end, now=now)
        if not complete:
            logger.info("upload %s: the body ended after %s of %s bytes", upload.pk, written, content_length)
    return upload


def _check_body(*, upload: Upload, stored: int, offset: int, content_length: int) -> None:
    if offset != stored:
        raise OffsetConflictError(offset=stored, sent=offset)
    if offset + content_length > upload.length:
        raise PayloadTooLargeError(
            f"The body ({content_length} bytes at offset {offset}) goes past the file's length, {upload.length} "
            "bytes (Upload-Length).",
            {"offset": offset, "length": upload.length, "content_length": content_length},
        )


def _reconcile(*, upload: Upload, part: BinaryIO) -> int:
    """Cut the part back to the stored offset (dropping bytes a dead request wrote past it); lower the offset
    when the part holds less. Returns the stored offset."""
    size = os.fstat(part.fileno()).st_size
    stored = min(upload.offset, size)
    if size != stored:
        part.truncate(stored)
    if stored != upload.offset:
        logger.warning("upload %s: its part holds %s bytes, not %s: continuing from there", upload.pk, size, stored)
        Upload.objects.filter(pk=upload.pk).update(offset=stored)
        upload.offset = stored
    return stored


def _receive(
    *,
    upload: Upload,
    part: BinaryIO,
    start: int,
    read: Callable[[int], bytes],
    content_length: int,
    checksum: tuple[str, bytes] | None,
) -> tuple[int, bool]:
    """Copy the body into the part at `start`; returns (bytes written, whether the whole body came)."""
    digest = CHECKSUM_ALGORITHMS[checksum[0]]() if checksum else None
    written = 0
    since_checkpoint = 0
    complete = True
    while written < content_length:
        try:
            data = read(min(READ_BYTES, content_length - written))
        except (OSError, UnreadablePostError):
            data = b""
        if not data:
            complete = False
            break
        part.write(data)
        written += len(data)
        since_checkpoint += len(data)
        if digest is not None:
            digest.update(data)
        elif since_checkpoint >= CHECKPOINT_BYTES and start + written < upload.length:
            _sync(part)
            _offset_store(upload=upload, offset=start + written, now=timezone.now())
            since_checkpoint = 0
    if checksum is not None:
        assert digest is not None
        if not complete:
            part.truncate(start)
            return 0, False
        if digest.digest() != checksum[1]:
            part.truncate(start)
            raise ChecksumMismatchError(
                f"Upload-Checksum: the body's {checksum[0]} does not match the one sent; nothing of it was kept. "
                f"Send it again from offset {start}.",
                {"offset": start, "algorithm": checksum[0]},
            )
    return written, complete


def _sync(part: BinaryIO) -> None:
    part.flush()
    os.fsync(part.fileno())


def _offset_store(*, upload: Upload, offset: int, now: datetime) -> None:
    expires_at = _expiry(now)
    Upload.objects.filter(pk=upload.pk, status=Upload.Status.RECEIVING).update(
        offset=offset, expires_at=expires_at, updated_at=now
    )
    upload.offset, upload.expires_at = offset, expires_at


class _Part(File):
    """The complete part as the file `clip_create_from_file` stores: read from its path (media on local disk: moved
    into place rather than copied, as Django does with its temporary upload files)."""

    def __init__(self, handle: BinaryIO, *, name: str, path: Path):
        super().__init__(handle, name=name)
        self._path = path

    def temporary_file_path(self) -> str:
        return str(self._path)


def upload_finish(*, upload: Upload) -> None:
    """Turn a fully received upload into a clip (called by `upload_append`, holding the part's lock).

    The whole file's SHA-256 must be the one declared at creation: otherwise the upload fails (460) and nothing is
    stored. Then `clip_create_from_file` stores the file and queues its ingest job exactly as for a one-request
    upload (a duplicate of a clip of the project stores nothing and links that clip). Errors of the file itself
    (not a video, above the limits) fail the upload with their message; passing ones (5xx: storage unreachable)
    leave it receiving at its stored offset, so that the client's retry of the last body finishes it.
    """
    path = upload_part_path(upload=upload)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(READ_BYTES):
            digest.update(chunk)
    received = digest.hexdigest()
    if received != upload.sha256:
        message = (
            f"The file received has SHA-256 {received}, not the {upload.sha256} declared when the upload started: "
            "it changed or was damaged on the way. Nothing was stored."
        )
        _fail(upload=upload, error=message)
        raise ChecksumMismatchError(message, {"declared": upload.sha256, "received": received})
    try:
        with open(path, "rb") as handle:
            clip, job, created = clip_create_from_file(
                project=upload.project,
                file=_Part(handle, name=upload.filename, path=path),
                name=upload.filename,
                user=upload.created_by,
            )
    except ApplicationError as exc:
        if exc.status >= 500:
            raise
        _fail(upload=upload, error=exc.message)
        raise
    Upload.objects.filter(pk=upload.pk).update(
        status=Upload.Status.DONE,
        offset=upload.length,
        clip=clip,
        job=job,
        duplicate=not created,
        updated_at=timezone.now(),
    )
    upload.refresh_from_db()
    path.unlink(missing_ok=True)  # moved into media storage, or copied (a bucket), or a duplicate's


def _fail(*, upload: Upload, error: str) -> None:
    Upload.objects.filter(pk=upload.pk).update(status=Upload.Status.FAILED, error=error, updated_at=timezone.now())
    upload.status, upload.error = Upload.Status.FAILED, error
    upload_part_path(upload=upload).unlink(missing_ok=True)


def upload_terminate(*, upload: Upload) -> None:
    """Remove the upload and its part (tus termination). A finished upload's clip stays. 423 while a request
    writes it."""
    if upload.status == Upload.Status.RECEIVING:
        with _part_locked(upload=upload):
            upload_part_path(upload=upload).unlink(missing_ok=True)
            Upload.objects.filter(pk=upload.pk).delete()
        return
    upload_part_path(upload=upload).unlink(missing_ok=True)
    Upload.objects.filter(pk=upload.pk).delete()


def uploads_expire(*, now: datetime | None = None, limit: int | None = None, only: Any = None) -> int:
    """Expire incomplete uploads idle past their `expires_at`: their parts are deleted and they become `expired`
    (a client then gets 410 and starts again). One being written right now is left alone. Without a `limit`,
    also deletes stray parts (no upload receiving into them, e.g. of a deleted project) older than
    AVS_UPLOAD_EXPIRY_SECONDS. Returns how many uploads expired."""
    now = now or timezone.now()
    stale = Upload.objects.filter(status=Upload.Status.RECEIVING, expires_at__lte=now).order_by("expires_at")
    if only is not None:
        stale = stale.filter(pk=only)
    expired = 0
    for upload in list(stale[:limit] if limit else stale):
        try:
            with _part_locked(upload=upload):
                changed = Upload.objects.filter(
                    pk=upload.pk, status=Upload.Status.RECEIVING, expires_at__lte=now
                ).update(status=Upload.Status.EXPIRED, error="Expired.", updated_at=now)
                if changed:
                    upload_part_path(upload=upload).unlink(missing_ok=True)
                    expired += changed
        except UploadLockedError:
            continue
    if limit is None and only is None:
        _stray_parts_delete(now=now)
    return expired


def _stray_parts_delete(*, now: datetime) -> int:
    folder = Path(settings.AVS_UPLOAD_DIR)
    if not folder.is_dir():
        return 0
    receiving = {str(pk) for pk in Upload.objects.filter(status=Upload.Status.RECEIVING).values_list("pk", flat=True)}
    cutoff = now.timestamp() - settings.AVS_UPLOAD_EXPIRY_SECONDS
    deleted = 0
    for path in folder.glob("*.part"):
        try:
            if path.stem not in receiving and path.stat().st_mtime < cutoff:
                path.unlink()
                deleted += 1
        except FileNotFoundError:
            continue
    return deleted
