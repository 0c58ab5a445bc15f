"""API for background jobs: what runs, how far it got, and why it failed."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from server.accounts.selectors import project_access
from server.core.pagination import DefaultPagination, get_paginated_response
from server.core.serializers import UserSummarySerializer
from server.jobs.models import Job
from server.jobs.selectors import job_get_for_user, job_list


class JobTargetSerializer(serializers.Serializer):
    type = serializers.CharField(help_text='"app_label.model", e.g. "media.clip".')
    id = serializers.IntegerField()

    class Meta:
        ref_name = "JobTarget"


class JobOutputSerializer(serializers.ModelSerializer):
    created_by = UserSummarySerializer(allow_null=True)
    target = serializers.SerializerMethodField(help_text="What the job works on, if anything.")

    class Meta:
        model = Job
        fields = [
            "id",
            "project",
            "kind",
            "status",
            "progress",
            "message",
            "error",
            "result",
            "target",
            "created_by",
            "created_at",
            "updated_at",
            "started_at",
            "finished_at",
        ]
        ref_name = "Job"

    @extend_schema_field(JobTargetSerializer(allow_null=True))
    def get_target(self, job: Job) -> dict[str, Any] | None:
        if job.target_type is None or job.target_id is None:
            return None
        return {"type": f"{job.target_type.app_label}.{job.target_type.model}", "id": job.target_id}


class JobListApi(APIView):
    pagination_class = DefaultPagination

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=Job.Status.choices, required=False)
        kind = serializers.ChoiceField(choices=Job.Kind.choices, required=False)

        class Meta:
            ref_name = "JobListFilter"

    @extend_schema(
        parameters=[FilterSerializer],
        responses=JobOutputSerializer(many=True),
        summary="A project's jobs, newest first (members).",
    )
    def get(self, request: Request, project_id: int) -> Response:
        project_access(user=request.user, project_id=project_id)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return get_paginated_response(
            pagination_class=self.pagination_class,
            serializer_class=JobOutputSerializer,
            queryset=job_list(project_id=project_id, filters=filters.validated_data),
            request=request,
            view=self,
        )


class JobDetailApi(APIView):
    @extend_schema(responses=JobOutputSerializer, summary="One job: status, progress, message, error (members).")
    def get(self, request: Request, job_id: int) -> Response:
        job = job_get_for_user(user=request.user, job_id=job_id)
        return Response(JobOutputSerializer(job).data)
