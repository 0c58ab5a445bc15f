"""API for exports (queue, download) and evaluation reports (queue, list)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from server.accounts.selectors import project_access
from server.core.errors import ApplicationError
from server.core.pagination import DefaultPagination, get_paginated_response
from server.datasets.models import PROTOCOL_CHOICES, EvaluationReport, Export
from server.datasets.selectors import evaluation_report_list, export_get_for_user
from server.datasets.services.evaluation import ALL, evaluation_start
from server.datasets.services.export import export_create
from server.jobs.models import Job
from server.jobs.views import JobOutputSerializer
from server.learning.models import ModelVersion
from server.learning.selectors import model_version_get_for_user
from server.media.models import Project
from server.media.storage import media_response
from server.media.views import PRESIGNED_REDIRECT, STORAGE_UNAVAILABLE

MANAGERS: tuple[str, ...] = ()  # project_access admits managers and admins for any role list


class ExportCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        format = serializers.ChoiceField(choices=Export.Format.choices)
        include_submitted = serializers.BooleanField(
            required=False, default=False, help_text="Also export submitted annotations (default: accepted only)."
        )
        protocol = serializers.ChoiceField(
            choices=PROTOCOL_CHOICES,
            required=False,
            allow_null=True,
            default=None,
            help_text="AVSBench layout (format avsbench). Default: the one the project's clips were imported from.",
        )

        class Meta:
            ref_name = "ExportCreateInput"

    @extend_schema(
        request=InputSerializer,
        responses={202: JobOutputSerializer, 400: OpenApiResponse(description="Nothing to export, or no protocol.")},
        summary="Export the project's annotations as a zip archive (managers).",
        description="Runs as a job (GET /api/jobs/{id}/ shows progress); when it succeeds, members download the "
        "archive from GET /api/exports/{job id}/download/.",
    )
    def post(self, request: Request, project_id: int) -> Response:
        project_access(user=request.user, project_id=project_id, roles=MANAGERS)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        export = export_create(
            project=Project.objects.get(pk=project_id),
            user=request.user,
            fmt=data["format"],
            include_submitted=data["include_submitted"],
            protocol=data["protocol"],
        )
        job = Job.objects.select_related("created_by", "target_type").get(pk=export.job_id)
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ExportDownloadApi(APIView):
    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        return super().perform_content_negotiation(request, force=True)  # errors stay JSON

    @extend_schema(
        responses={
            (200, "application/zip"): OpenApiTypes.BINARY,
            302: PRESIGNED_REDIRECT,
            503: STORAGE_UNAVAILABLE,
            409: OpenApiResponse(description="The export job has not finished, or failed."),
        },
        summary="Download an export archive (members of its project).",
    )
    def get(self, request: Request, job_id: int) -> HttpResponse:
        export = export_get_for_user(user=request.user, job_id=job_id)
        # Streamed, or (media in a bucket, AVS_MEDIA_DELIVERY=redirect) a 302 to a short-lived presigned URL.
        return media_response(
            storage=export.file.storage,
            name=export.file.name,
            content_type="application/zip",
            filename=export.file.name.rsplit("/", 1)[-1],
            cache_control="private, no-store",
            missing="The export archive is missing from media storage; export again.",
        )


@extend_schema_field({"oneOf": [{"type": "string", "enum": [ALL]}, {"type": "array", "items": {"type": "integer"}}]})
class SplitField(serializers.Field):
    """`"all"` or a non-empty list of clip ids."""

    default_error_messages = {"invalid": 'Give "all" or a non-empty list of clip ids.'}

    def to_internal_value(self, data: Any) -> str | list[int]:
        if data == ALL:
            return ALL
        if isinstance(data, list) and data and all(isinstance(v, int) and not isinstance(v, bool) for v in data):
            return data
        self.fail("invalid")

    def to_representation(self, value: Any) -> Any:
        return value


class EvaluationStartApi(APIView):
    class InputSerializer(serializers.Serializer):
        model_version = serializers.IntegerField(help_text="Id of the model version whose proposals are scored.")
        split = SplitField(
            required=False,
            default=ALL,
            help_text='"all": every ready clip with accepted annotations; or a list of clip ids.',
        )
        name = serializers.CharField(
            required=False,
            allow_blank=True,
            default="",
            max_length=120,
            help_text='Key of the results in the model version\'s metrics (default "all", or one made from the ids).',
        )

        class Meta:
            ref_name = "EvaluationStartInput"

    @extend_schema(
        request=InputSerializer,
        responses={
            202: JobOutputSerializer,
            400: OpenApiResponse(description="Unknown model version, clips without proposals or ground truth."),
        },
        summary="Score a model version's proposals against the accepted annotations (managers).",
        description="Runs as a job; the results land in the model version's metrics under "
        'metrics["evaluation"][split] and in its evaluation reports (per clip).',
    )
    def post(self, request: Request, project_id: int) -> Response:
        project_access(user=request.user, project_id=project_id, roles=MANAGERS)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        model_version = ModelVersion.objects.filter(pk=data["model_version"], project_id=project_id).first()
        if model_version is None:
            raise ApplicationError(
                f"Model version {data['model_version']} is not a model version of this project.",
                {"field": "model_version"},
            )
        job = evaluation_start(
            project=Project.objects.get(pk=project_id),
            model_version=model_version,
            split=data["split"],
            name=data["name"],
            user=request.user,
        )
        job = Job.objects.select_related("created_by", "target_type").get(pk=job.pk)
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class EvaluationReportOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = EvaluationReport
        fields = ["id", "model_version", "job", "split", "clip_ids", "summary", "per_clip", "created_at"]
        ref_name = "EvaluationReport"


class EvaluationReportListApi(APIView):
    pagination_class = DefaultPagination

    @extend_schema(
        responses=EvaluationReportOutputSerializer(many=True),
        summary="A model version's evaluation reports with per-clip scores, newest first (members).",
    )
    def get(self, request: Request, model_version_id: int) -> Response:
        version = model_version_get_for_user(user=request.user, model_version_id=model_version_id)
        return get_paginated_response(
            pagination_class=self.pagination_class,
            serializer_class=EvaluationReportOutputSerializer,
            queryset=evaluation_report_list(model_version_id=version.pk),
            request=request,
            view=self,
        )
