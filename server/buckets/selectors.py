"""Reads for import from a bucket: what an `s3://bucket/prefix/` holds, each video object marked new or already in
the project (`BucketObject`), without reading any object's bytes."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings

from server.buckets.models import BucketObject
from server.core.errors import ApplicationError, PermissionDeniedError
from server.media.selectors import VIDEO_EXTENSIONS
from server.media.storage import s3_client, storage_error_message

# Bucket names after S3's rules: 3–63 lowercase letters, digits, dots and hyphens.
_S3_URL = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(?P<prefix>.*))?$")


@dataclass(frozen=True)
class BucketLocation:
    """`s3://bucket/prefix`: every object whose key starts with `prefix` ("" for the whole bucket)."""

    bucket: str
    prefix: str = ""

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass
class ListedObject:
    """One video object of a listing. `status`: "new" (never imported, changed since, or its clip was deleted),
    "in_project" (its video is clip `clip_id`) or "failed" (the last import failed with `error`; tried again)."""

    key: str
    size_bytes: int
    etag: str
    last_modified: datetime | None
    status: str
    clip_id: int | None = None
    error: str = ""

    @property
    def name(self) -> str:
        return posixpath.basename(self.key)


def bucket_location_parse(url: str) -> BucketLocation:
    """`s3://bucket/prefix/` → BucketLocation; ApplicationError naming the expected form otherwise."""
    match = _S3_URL.match((url or "").strip())
    if match is None:
        raise ApplicationError(
            f"{url!r} is not a bucket address: give s3://BUCKET/ or s3://BUCKET/PREFIX/ (bucket names have 3 to 63 "
            "lowercase letters, digits, dots and hyphens).",
            {"field": "url"},
        )
    return BucketLocation(bucket=match["bucket"], prefix=(match["prefix"] or "").lstrip("/"))


def import_sources() -> list[BucketLocation]:
    """The bucket locations the web app may import from (AVS_IMPORT_BUCKETS: "bucket" or "bucket/prefix")."""
    return [
        bucket_location_parse(f"s3://{entry.strip().removeprefix('s3://')}") for entry in settings.AVS_IMPORT_BUCKETS
    ]


def bucket_location_allowed_check(location: BucketLocation) -> None:
    """PermissionDeniedError unless `location` lies inside one of AVS_IMPORT_BUCKETS (the web app's limit; the
    `ingest` management command is an administrator's and is not limited)."""
    sources = import_sources()
    if not sources:
        raise PermissionDeniedError(
            "Import from a bucket is off: an administrator lists the buckets it may read in AVS_IMPORT_BUCKETS."
        )
    for source in sources:
        if location.bucket == source.bucket and location.prefix.startswith(source.prefix):
            return
    allowed = ", ".join(str(source) for source in sources)
    raise PermissionDeniedError(
        f"{location} is not a bucket location videos may be imported from ({allowed}; setting AVS_IMPORT_BUCKETS).",
        {"field": "url"},
    )


def bucket_objects_list(
    *, project_id: int, location: BucketLocation, client: Any = None, limit: int | None = None
) -> tuple[list[ListedObject], bool]:
    """The video objects under `location` (by file extension, key order), at most `limit` (AVS_IMPORT_MAX_OBJECTS),
    each with its status in the project; and whether more were left out. Raises ApplicationError 503 with a readable
    message when the bucket cannot be reached, 404 when there is no such bucket."""
    from botocore.exceptions import ClientError

    client = client or s3_client()
    limit = settings.AVS_IMPORT_MAX_OBJECTS if limit is None else limit
    found: list[dict[str, Any]] = []
    truncated = False
    try:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=location.prefix)
        for page in pages:
            for entry in page.get("Contents", ()):
                key = entry["Key"]
                if key.endswith("/") or posixpath.splitext(key)[1].lower() not in VIDEO_EXTENSIONS:
                    continue
                if len(found) == limit:
                    truncated = True
                    break
                found.append(entry)
            if truncated:
                break
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "NoSuchBucket":
            raise ApplicationError(f"There is no bucket {location.bucket}.", {"field": "url"}, status=404) from exc
        message = storage_error_message(exc) or f"The bucket could not be listed ({code}: {exc})."
        raise ApplicationError(bucket_error_message(message, location), status=503) from exc
    except Exception as exc:
        message = storage_error_message(exc)
        if message is None:
            raise
        raise ApplicationError(bucket_error_message(message, location), status=503) from exc

    keys = [entry["Key"] for entry in found]
    known: dict[tuple[str, str], BucketObject] = {}
    for row in BucketObject.objects.filter(project_id=project_id, bucket=location.bucket, key__in=keys):
        known[(row.key, row.etag)] = row
    listed: list[ListedObject] = []
    for entry in found:
        etag = str(entry.get("ETag", "")).strip('"')
        row = known.get((entry["Key"], etag))
        status, clip_id, error = "new", None, ""
        if row is not None and row.outcome == BucketObject.Outcome.FAILED:
            status, error = "failed", row.error
        elif row is not None and row.clip_id is not None:
            status, clip_id = "in_project", row.clip_id
        listed.append(
            ListedObject(
                key=entry["Key"],
                size_bytes=int(entry.get("Size", 0)),
                etag=etag,
                last_modified=entry.get("LastModified"),
                status=status,
                clip_id=clip_id,
                error=error,
            )
        )
    return listed, truncated


def bucket_error_message(message: str, location: BucketLocation) -> str:
    """`storage_error_message`'s sentence about the media storage, reworded for the bucket imported from."""
    return message.replace("The media storage", f"The bucket {location.bucket}")
