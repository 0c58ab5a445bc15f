"""The resumable upload API: tus 1.0.0 (https://tus.io/protocols/resumable-upload) with its creation, termination,
checksum and expiration extensions. The rules are in `server.media.resumable`; this module speaks HTTP.

    OPTIONS /api/uploads/               Tus-Version, Tus-Extension, Tus-Max-Size (AVS_UPLOAD_MAX_BYTES), ...
    POST    /api/uploads/               creation: Upload-Length, Upload-Metadata (filename, project, sha256)
                                        → 201, Location: the upload's URL
    HEAD    /api/uploads/{id}/          Upload-Offset (bytes stored: continue from there), Upload-Length
    PATCH   /api/uploads/{id}/          Upload-Offset + application/offset+octet-stream body (+ Upload-Checksum)
                                        → 204, the new Upload-Offset; at the last byte the file becomes a clip
    DELETE  /api/uploads/{id}/          termination
    GET     /api/uploads/{id}/          (not tus) the upload as JSON: status, error, and once done the clip and
                                        its ingest job

Authentication and roles are the API's own (a token, or the web app's session with its CSRF header): only managers
of the project upload, and an upload is seen only by the user who started it (anyone else gets 404). Every
response carries `Tus-Resumable: 1.0.0`; errors have the API's JSON error body (a HEAD's without it), with the
stored `Upload-Offset` on a 409.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.http import http_date
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from server.core.errors import ApplicationError
from server.media.models import Upload
from server.media.resumable import (
    CHECKSUM_ALGORITHMS,
    OffsetConflictError,
    checksum_parse,
    is_whole_number,
    upload_append,
    upload_create,
    upload_get_for_user,
    upload_request_parse,
    upload_stored_offset,
    upload_terminate,
)
from server.media.views import ClipOutputSerializer

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,termination,checksum,expiration"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
REASONS = {423: "Locked", 460: "Checksum Mismatch", 507: "Insufficient Storage"}

TUS_RESUMABLE = OpenApiParameter(
    "Tus-Resumable",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    enum=[TUS_VERSION],
    description="The tus protocol version: 1.0.0 (another answers 412).",
)


def _response_header(name: str, kind: Any, codes: list[int], description: str) -> OpenApiParameter:
    return OpenApiParameter(name, kind, OpenApiParameter.HEADER, required=True, response=codes, description=description)


class UploadOutputSerializer(serializers.ModelSerializer):
    """A resumable upload as stored."""

    url = serializers.SerializerMethodField(help_text="The upload's tus URL (HEAD, PATCH, DELETE; GET: this).")
    project_id = serializers.IntegerField()
    offset = serializers.SerializerMethodField(help_text="Bytes stored: the client continues from there.")
    clip = ClipOutputSerializer(allow_null=True, help_text="Once done: the clip (a duplicate's: the existing one).")
    job_id = serializers.IntegerField(allow_null=True, help_text="Once done: the clip's ingest job (null: duplicate).")

    class Meta:
        model = Upload
        fields = [
            "id",
            "url",
            "project_id",
            "filename",
            "length",
            "offset",
            "sha256",
            "status",
            "error",
            "expires_at",
            "duplicate",
            "clip",
            "job_id",
            "created_at",
        ]
        read_only_fields = fields
        ref_name = "Upload"

    def get_url(self, upload: Upload) -> str:
        return _upload_url(self.context["request"], upload)

    def get_offset(self, upload: Upload) -> int:
        return upload_stored_offset(upload=upload)


def _upload_url(request: Request | HttpRequest, upload: Upload) -> str:
    return request.build_absolute_uri(reverse("upload-detail", kwargs={"upload_id": upload.pk}))


def _offset_headers(upload: Upload) -> dict[str, str]:
    headers = {"Upload-Offset": str(upload_stored_offset(upload=upload))}
    if upload.status == Upload.Status.RECEIVING:
        headers["Upload-Expires"] = http_date(upload.expires_at.timestamp())
    return headers


class _TusApi(APIView):
    """What every tus operation shares: `Tus-Resumable` on every response and required on requests (412), tus'
    status reasons, the stored offset on a 409, bodiless HEAD answers, and OPTIONS answering the capabilities."""

    tus_required = True  # requests must send Tus-Resumable: 1.0.0

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication and permissions first: 401 before 412
        if self.tus_required and request.method not in ("OPTIONS", "GET"):
            sent = request.headers.get("Tus-Resumable")
            if sent != TUS_VERSION:
                raise ApplicationError(
                    f"This server speaks tus {TUS_VERSION}: send the header Tus-Resumable: {TUS_VERSION}"
                    + (f" (not {sent[:20]})." if sent else "."),
                    {"supported": [TUS_VERSION]},
                    status=status.HTTP_412_PRECONDITION_FAILED,
                )

    def options(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(
            status=status.HTTP_204_NO_CONTENT,
            headers={
                "Tus-Version": TUS_VERSION,
                "Tus-Extension": TUS_EXTENSIONS,
                "Tus-Max-Size": str(settings.AVS_UPLOAD_MAX_BYTES),
                "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
                "AVS-Upload-Chunk-Size": str(settings.AVS_UPLOAD_CHUNK_BYTES),
            },
        )

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        if isinstance(exc, OffsetConflictError):
            response["Upload-Offset"] = str(exc.offset)
        if getattr(exc, "status", None) == 412:
            response["Tus-Version"] = TUS_VERSION
        return response

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Tus-Resumable"] = TUS_VERSION
        if response.status_code in REASONS:
            response.reason_phrase = REASONS[response.status_code]
        if request.method == "HEAD":  # no body, whatever the server in front does with one
            bare = HttpResponse(status=response.status_code, reason=response.reason_phrase)
            for name, value in response.items():
                if name.lower() not in ("content-type", "content-length"):
                    bare[name] = value
            bare["Cache-Control"] = "no-store"
            return bare
        return response


class UploadCreateApi(_TusApi):
    """tus creation: a new upload of `Upload-Length` bytes into the project named in `Upload-Metadata`."""

    @extend_schema(
        request=None,
        parameters=[
            TUS_RESUMABLE,
            OpenApiParameter(
                "Upload-Length",
                OpenApiTypes.INT,
                OpenApiParameter.HEADER,
                required=True,
                description="The file's size in bytes: at most AVS_UPLOAD_MAX_BYTES (the Tus-Max-Size of OPTIONS).",
            ),
            OpenApiParameter(
                "Upload-Metadata",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=True,
                description="Comma-separated `key base64(value)` pairs: `filename` (the clip's name), `project` (its "
                "id) and `sha256` (the whole file's SHA-256, 64 hex digits, checked once the last byte is in).",
            ),
            _response_header("Location", OpenApiTypes.URI, [201], "The upload's URL."),
            _response_header("Upload-Expires", OpenApiTypes.STR, [201], "When the upload expires if idle."),
        ],
        responses={
            201: OpenApiResponse(UploadOutputSerializer, description="Started: PATCH its bytes to `Location`."),
            404: OpenApiResponse(description="The project in Upload-Metadata is not one of yours."),
            412: OpenApiResponse(description="Tus-Resumable is not 1.0.0."),
            413: OpenApiResponse(description="The file is above AVS_UPLOAD_MAX_BYTES."),
            503: OpenApiResponse(description="The upload folder (AVS_UPLOAD_DIR) cannot be used."),
            507: OpenApiResponse(description="No room in the upload folder for this file now."),
        },
        summary="Start a resumable (tus) upload of a video into a project (managers).",
    )
    def post(self, request: Request) -> Response:
        parsed = upload_request_parse(
            length=request.headers.get("Upload-Length"),
            metadata=request.headers.get("Upload-Metadata"),
            defer_length=request.headers.get("Upload-Defer-Length"),
        )
        upload = upload_create(user=request.user, request=parsed)
        headers = {"Location": _upload_url(request, upload), **_offset_headers(upload)}
        data = UploadOutputSerializer(upload, context={"request": request}).data
        return Response(data, status=status.HTTP_201_CREATED, headers=headers)


class UploadDetailApi(_TusApi):
    """The upload's state as JSON (GET), or its stored offset for tus (HEAD)."""

    @extend_schema(
        responses=UploadOutputSerializer,
        summary="A resumable upload's state (its creator): bytes stored, and once done its clip and ingest job.",
    )
    def get(self, request: Request, upload_id: str) -> Response:
        upload = upload_get_for_user(user=request.user, upload_id=upload_id)
        return Response(UploadOutputSerializer(upload, context={"request": request}).data)

    def head(self, request: Request, upload_id: str) -> Response:
        """tus: the stored offset (410 for a failed or expired upload)."""
        upload = upload_get_for_user(user=request.user, upload_id=upload_id)
        if upload.status in (Upload.Status.FAILED, Upload.Status.EXPIRED):
            return Response(status=status.HTTP_410_GONE)
        headers = {**_offset_headers(upload), "Upload-Length": str(upload.length)}
        if upload.metadata:
            headers["Upload-Metadata"] = upload.metadata
        return Response(status=status.HTTP_200_OK, headers=headers)


class UploadAppendApi(_TusApi):
    """tus PATCH: a body of the file's bytes at the stored offset."""

    @extend_schema(
        request={OFFSET_CONTENT_TYPE: OpenApiTypes.BINARY},
        parameters=[
            TUS_RESUMABLE,
            OpenApiParameter(
                "Upload-Offset",
                OpenApiTypes.INT,
                OpenApiParameter.HEADER,
                required=True,
                description="Where the body goes: the offset the server stores (HEAD), else 409.",
            ),
            OpenApiParameter(
                "Upload-Checksum",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="`sha1|sha256 base64(digest)` of the body: a body that does not match is refused (460).",
            ),
            _response_header("Upload-Offset", OpenApiTypes.INT, [204], "Bytes stored now."),
        ],
        responses={
            204: OpenApiResponse(
                description="Stored. At the file's last byte its SHA-256 was checked and it became a clip with an "
                "ingest job (GET the upload for them)."
            ),
            409: OpenApiResponse(description="Upload-Offset is not the stored offset (sent in Upload-Offset)."),
            410: OpenApiResponse(description="The upload failed or expired: start again."),
            411: OpenApiResponse(description="No Content-Length."),
            412: OpenApiResponse(description="Tus-Resumable is not 1.0.0."),
            413: OpenApiResponse(description="The body goes past the file's length."),
            423: OpenApiResponse(description="Another request is writing this upload: retry."),
            460: OpenApiResponse(
                description="Checksum mismatch: the body's Upload-Checksum, or the whole file's SHA-256 (the upload "
                "then fails, nothing stored)."
            ),
            503: OpenApiResponse(description="The file could not be stored now: send the last body again."),
        },
        summary="Append bytes to a resumable upload (tus PATCH); the last byte makes the clip.",
    )
    def patch(self, request: Request, upload_id: str) -> Response:
        content_type = (request.content_type or "").split(";")[0].strip().lower()
        if content_type != OFFSET_CONTENT_TYPE:
            raise exceptions.UnsupportedMediaType(content_type or "none")
        upload = upload_get_for_user(user=request.user, upload_id=upload_id)
        offset = request.headers.get("Upload-Offset", "")
        if not is_whole_number(offset):
            raise ApplicationError("Upload-Offset must be the byte offset the body starts at (a whole number).")
        checksum = checksum_parse(request.headers.get("Upload-Checksum"))
        length = request.META.get("CONTENT_LENGTH") or ""
        if not is_whole_number(length):
            raise ApplicationError(
                "A PATCH needs a Content-Length header (the body's size).", status=status.HTTP_411_LENGTH_REQUIRED
            )
        upload = upload_append(
            upload=upload,
            offset=int(offset),
            read=request._request.read,
            content_length=int(length),
            checksum=checksum,
        )
        return Response(status=status.HTTP_204_NO_CONTENT, headers=_offset_headers(upload))


class UploadTerminateApi(_TusApi):
    """tus termination."""

    @extend_schema(
        parameters=[TUS_RESUMABLE],
        responses={
            204: OpenApiResponse(description="Removed with its bytes (a finished upload's clip stays)."),
            412: OpenApiResponse(description="Tus-Resumable is not 1.0.0."),
            423: OpenApiResponse(description="Another request is writing this upload: retry."),
        },
        summary="Cancel a resumable upload and delete its bytes (tus termination).",
    )
    def delete(self, request: Request, upload_id: str) -> Response:
        upload_terminate(upload=upload_get_for_user(user=request.user, upload_id=upload_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
