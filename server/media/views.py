"""API for clips (list, upload, detail, delete) and their media files.

Media are never served from a public URL: every frame image, audio track and source video is
streamed by a view that checks project membership first. An outsider, or a guessed id of another
project's object, gets the same 404 as a missing object.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from django.db.models.fields.files import FieldFile
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from server.accounts.models import Role
from server.accounts.selectors import project_access
from server.core.errors import NotFoundError
from server.core.pagination import DefaultPagination, get_paginated_response
from server.media.models import Clip, Project
from server.media.selectors import (
    CLIP_ORDERINGS,
    audio_get_for_user,
    clip_audio,
    clip_frames,
    clip_get_for_user,
    clip_list,
    clip_list_count,
    frame_get_for_user,
)
from server.media.services import clip_create_from_file, clip_delete, clip_ingest_retry
from server.media.storage import media_response
from server.media.upload import upload_content_length_check, upload_limit_install

MEDIA_CACHE_CONTROL = "private, max-age=3600"
# Media in a bucket with AVS_MEDIA_DELIVERY=redirect: the file is at a presigned URL (membership checked first).
PRESIGNED_REDIRECT = OpenApiResponse(
    description="Media in a bucket, AVS_MEDIA_DELIVERY=redirect: Location is a presigned URL of the file that expires "
    "after AVS_S3_URL_EXPIRE_SECONDS."
)
STORAGE_UNAVAILABLE = OpenApiResponse(
    description="Media in a bucket that cannot be reached now (the message says why)."
)


def _absolute(request: Request, name: str, **kwargs: Any) -> str:
    return request.build_absolute_uri(reverse(name, kwargs=kwargs))


class ClipOutputSerializer(serializers.ModelSerializer):
    """A clip as listed. `fps` is the rate frames were kept at; `source_fps` the video's own."""

    project_id = serializers.IntegerField()
    num_frames = serializers.IntegerField()
    split = serializers.SerializerMethodField(
        help_text='The clip\'s side of the project\'s self-training split (read-only): "train" or "heldout" (never '
        "trained on; judges training rounds). From the project's learning settings; AVSBench clips keep theirs."
    )

    class Meta:
        model = Clip
        fields = [
            "id",
            "project_id",
            "name",
            "status",
            "error",
            "size_bytes",
            "duration",
            "source_fps",
            "fps",
            "width",
            "height",
            "rotation",
            "has_audio",
            "num_frames",
            "split",
            "created_at",
            "updated_at",
        ]
        ref_name = "Clip"

    @extend_schema_field(serializers.ChoiceField(choices=["train", "heldout"]))
    def get_split(self, clip: Clip) -> str:
        from server.learning.selectors import clip_split_of, learning_settings_of

        cache = self.context.setdefault("learning_settings", {}) if isinstance(self.context, dict) else {}
        if clip.project_id not in cache:  # one read per project and response, not per clip
            cache[clip.project_id] = learning_settings_of(project_id=clip.project_id)
        return clip_split_of(clip=clip, settings=cache[clip.project_id])


# --- clips -------------------------------------------------------------------------------------


class ClipListApi(APIView):
    pagination_class = DefaultPagination

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=Clip.Status.choices, required=False)
        search = serializers.CharField(required=False, allow_blank=True, help_text="Part of the clip name.")
        ordering = serializers.ChoiceField(
            choices=[*CLIP_ORDERINGS, *(f"-{field}" for field in CLIP_ORDERINGS)], required=False, default="id"
        )

        class Meta:
            ref_name = "ClipListFilter"

    @extend_schema(
        parameters=[FilterSerializer],
        responses=ClipOutputSerializer(many=True),
        summary="A project's clips (members), filtered by status or name.",
    )
    def get(self, request: Request, project_id: int) -> Response:
        project_access(user=request.user, project_id=project_id)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        known = {key: value for key, value in filters.validated_data.items() if key in ("status", "search")}
        return get_paginated_response(
            pagination_class=self.pagination_class,
            serializer_class=ClipOutputSerializer,
            queryset=clip_list(project_id=project_id, **filters.validated_data),
            request=request,
            view=self,
            count=clip_list_count(project_id=project_id, **known),
        )


class ClipUploadApi(APIView):
    """Multipart upload of one video file. The size limit (`AVS_UPLOAD_MAX_BYTES`) is checked on
    `Content-Length` before the body is read, and again while it streams (`server.media.upload`)."""

    parser_classes = [MultiPartParser]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField(help_text="A video file (mp4, webm, mkv, mov...) with or without audio.")
        name = serializers.CharField(required=False, max_length=255, help_text="Defaults to the file's name.")

        class Meta:
            ref_name = "ClipUploadInput"

    class OutputSerializer(serializers.Serializer):
        duplicate = serializers.BooleanField(help_text="True: this project already has this file; nothing was stored.")
        clip = ClipOutputSerializer()
        job_id = serializers.IntegerField(allow_null=True, help_text="The ingest job; null for a duplicate.")

        class Meta:
            ref_name = "ClipUpload"

    def initialize_request(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Request:
        upload_limit_install(request=request)  # before anything (even CSRF checks) reads the body
        return super().initialize_request(request, *args, **kwargs)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        upload_content_length_check(request=request._request)  # headers only: 413 before the body is read
        super().initial(request, *args, **kwargs)

    @extend_schema(
        request={"multipart/form-data": InputSerializer},
        responses={
            201: OpenApiResponse(
                OutputSerializer, description="Stored; ingest (frames, audio) runs in the background."
            ),
            200: OpenApiResponse(OutputSerializer, description="The project already has this file (same SHA-256)."),
            413: OpenApiResponse(description="The file exceeds AVS_UPLOAD_MAX_BYTES."),
        },
        summary="Upload a video into a project (managers).",
    )
    def post(self, request: Request, project_id: int) -> Response:
        project_access(user=request.user, project_id=project_id, roles=[Role.MANAGER])
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        clip, job, created = clip_create_from_file(
            project=Project.objects.get(pk=project_id),
            file=upload,
            name=serializer.validated_data.get("name") or upload.name,
            user=request.user,
        )
        clip = clip_list(project_id=project_id).get(pk=clip.pk)  # fresh status and frame count
        data = self.OutputSerializer({"duplicate": not created, "clip": clip, "job_id": job.pk if job else None}).data
        return Response(data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ClipDetailApi(APIView):
    class OutputSerializer(ClipOutputSerializer):
        class FrameSerializer(serializers.Serializer):
            id = serializers.IntegerField()
            index = serializers.IntegerField(help_text="0-based window index: covers [index/fps, (index+1)/fps).")
            timestamp = serializers.FloatField(help_text="Presentation time of the kept picture, in seconds.")
            width = serializers.IntegerField()
            height = serializers.IntegerField()
            image_url = serializers.SerializerMethodField()

            class Meta:
                ref_name = "ClipFrame"

            def get_image_url(self, frame: Any) -> str:
                return _absolute(self.context["request"], "frame-image", frame_id=frame.pk)

        class AudioSerializer(serializers.Serializer):
            sample_rate = serializers.IntegerField(help_text="Hz.")
            duration = serializers.FloatField(help_text="Seconds.")
            num_samples = serializers.IntegerField()
            url = serializers.SerializerMethodField(help_text="Mono 16-bit PCM WAV.")

            class Meta:
                ref_name = "ClipAudio"

            def get_url(self, audio: Any) -> str:
                return _absolute(self.context["request"], "clip-audio", clip_id=audio.clip_id)

        frames = FrameSerializer(source="frame_list", many=True)
        audio = AudioSerializer(source="audio_track", allow_null=True)
        source_url = serializers.SerializerMethodField()

        class Meta(ClipOutputSerializer.Meta):
            fields = [*ClipOutputSerializer.Meta.fields, "frames", "audio", "source_url"]
            ref_name = "ClipDetail"

        def get_source_url(self, clip: Clip) -> str | None:
            if not clip.source:
                return None
            return _absolute(self.context["request"], "clip-source", clip_id=clip.pk)

    @extend_schema(responses=OutputSerializer, summary="A clip with its frames (in order) and audio track (members).")
    def get(self, request: Request, clip_id: int) -> Response:
        clip = clip_get_for_user(user=request.user, clip_id=clip_id)
        clip.frame_list = list(clip_frames(clip=clip))
        clip.audio_track = clip_audio(clip=clip)
        return Response(self.OutputSerializer(clip, context={"request": request}).data)


class ClipDeleteApi(APIView):
    @extend_schema(
        responses={204: None}, summary="Delete a clip with its frames, audio, files and annotations (managers)."
    )
    def delete(self, request: Request, clip_id: int) -> Response:
        clip_delete(clip=clip_get_for_user(user=request.user, clip_id=clip_id, roles=[Role.MANAGER]))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ClipIngestRetryApi(APIView):
    class OutputSerializer(serializers.Serializer):
        clip = ClipOutputSerializer()
        job_id = serializers.IntegerField()

        class Meta:
            ref_name = "ClipIngestRetry"

    @extend_schema(
        request=None,
        responses={
            202: OutputSerializer,
            409: OpenApiResponse(description="The clip is ready or processing, or its ingest is already queued."),
            503: OpenApiResponse(
                description="Media in a bucket that cannot be reached: the earlier output cannot be removed."
            ),
        },
        summary="Ingest a failed clip again from its stored source (managers).",
    )
    def post(self, request: Request, clip_id: int) -> Response:
        clip = clip_get_for_user(user=request.user, clip_id=clip_id, roles=[Role.MANAGER])
        job = clip_ingest_retry(clip=clip, user=request.user)
        clip = clip_list(project_id=clip.project_id).get(pk=clip.pk)
        return Response(self.OutputSerializer({"clip": clip, "job_id": job.pk}).data, status=status.HTTP_202_ACCEPTED)


# --- media files -------------------------------------------------------------------------------


class _MediaFileApi(APIView):
    """Streams a stored file. Errors stay JSON whatever image/audio/video type the client accepts."""

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        return super().perform_content_negotiation(request, force=True)

    @staticmethod
    def file_response(
        field: FieldFile, *, content_type: str | None = None, filename: str | None = None
    ) -> HttpResponse:
        """The file, streamed, or (media in a bucket, AVS_MEDIA_DELIVERY=redirect) a 302 to a short-lived presigned
        URL (`server.media.storage.media_response`); called once membership was checked."""
        return media_response(
            storage=field.storage,
            name=field.name,
            content_type=content_type,
            filename=filename,
            cache_control=MEDIA_CACHE_CONTROL,
        )


class FrameImageApi(_MediaFileApi):
    @extend_schema(
        responses={(200, "image/jpeg"): OpenApiTypes.BINARY, 302: PRESIGNED_REDIRECT, 503: STORAGE_UNAVAILABLE},
        summary="A frame's JPEG image (members of its project).",
    )
    def get(self, request: Request, frame_id: int) -> HttpResponse:
        frame = frame_get_for_user(user=request.user, frame_id=frame_id)
        return self.file_response(frame.image, content_type="image/jpeg")


class ClipAudioApi(_MediaFileApi):
    @extend_schema(
        responses={(200, "audio/wav"): OpenApiTypes.BINARY, 302: PRESIGNED_REDIRECT, 503: STORAGE_UNAVAILABLE},
        summary="A clip's audio track as mono 16-bit PCM WAV (members of its project).",
    )
    def get(self, request: Request, clip_id: int) -> HttpResponse:
        audio = audio_get_for_user(user=request.user, clip_id=clip_id)
        return self.file_response(audio.file, content_type="audio/wav")


class ClipSourceApi(_MediaFileApi):
    @extend_schema(
        responses={
            (200, "video/*"): OpenApiTypes.BINARY,
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            302: PRESIGNED_REDIRECT,
            503: STORAGE_UNAVAILABLE,
        },
        summary="The clip's uploaded video file, as an attachment (members of its project): typed after its "
        "name's extension when that names a video type, else application/octet-stream.",
    )
    def get(self, request: Request, clip_id: int) -> HttpResponse:
        clip = clip_get_for_user(user=request.user, clip_id=clip_id)
        if not clip.source:
            raise NotFoundError("This clip has no source file.")
        guessed = mimetypes.guess_type(clip.source.name)[0] or ""
        content_type = guessed if guessed.startswith("video/") else "application/octet-stream"
        return self.file_response(clip.source, content_type=content_type, filename=clip.name)
