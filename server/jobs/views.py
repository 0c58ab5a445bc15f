"""API for background jobs: what runs, how far it got, and why it failed."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from server.accounts.selectors import project_access, worker_health_visible
from server.core.errors import PermissionDeniedError
from server.core.pagination import DefaultPagination, get_paginated_response
from server.core.serializers import UserSummarySerializer
from server.jobs.models import Job
from server.jobs.selectors import job_get_for_user, job_list
from server.jobs.workers import job_waiting_reason, worker_health


class JobTargetSerializer(serializers.Serializer):
    type = serializers.CharField(help_text='"app_label.model", e.g. "media.clip".')
    id = serializers.IntegerField()

    class Meta:
        ref_name = "JobTarget"


class JobOutputSerializer(serializers.ModelSerializer):
    created_by = UserSummarySerializer(allow_null=True)
    target = serializers.SerializerMethodField(help_text="What the job works on, if anything.")
    waiting_reason = serializers.SerializerMethodField(
        help_text="Why a queued job cannot start now (no alive worker serves its queue, or the broker is "
        "unreachable), with what to do; null when it is not queued, a worker will take it, or the workers' health "
        "is not known yet (it is read from the cached answer of GET /api/workers/, refreshed in the background)."
    )

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
            "waiting_reason",
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

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_waiting_reason(self, job: Job) -> str | None:
        # One health snapshot per response (the context is shared by a list's items), read only for queued jobs.
        return job_waiting_reason(job, memo=self.context.setdefault("worker_health", {}))


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


class WorkerOutputSerializer(serializers.Serializer):
    name = serializers.CharField(help_text='The worker\'s hostname, e.g. "inference@gpu-1".')
    queues = serializers.ListField(child=serializers.CharField(), help_text="The queues it consumes from.")

    class Meta:
        ref_name = "Worker"


class WorkerQueueOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    length = serializers.IntegerField(
        allow_null=True, help_text="Messages waiting for a worker (not counting those being run); null if unknown."
    )
    length_note = serializers.CharField(help_text="Why the length is unknown, if it is.")
    workers = serializers.ListField(child=serializers.CharField(), help_text="Alive workers that serve it.")
    served = serializers.BooleanField(help_text="Whether any alive worker serves it.")
    waiting_reason = serializers.CharField(
        allow_null=True, help_text="Why a job queued here cannot start now, with what to do; null when it can."
    )

    class Meta:
        ref_name = "WorkerQueue"


class WorkerBrokerOutputSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text='The broker\'s transport: "redis", "filesystem", ...')
    reachable = serializers.BooleanField()
    error = serializers.CharField(help_text='"broker unreachable (...): ..." when it is not.')

    class Meta:
        ref_name = "WorkerBroker"


class WorkerHealthOutputSerializer(serializers.Serializer):
    checked_at = serializers.DateTimeField(
        help_text="When the workers were asked (the answer is cached a few seconds)."
    )
    probe_seconds = serializers.FloatField(help_text="How long asking took.")
    mode = serializers.ChoiceField(
        choices=["workers", "eager"], help_text='"eager": tasks run inside the web process, no workers are needed.'
    )
    broker = WorkerBrokerOutputSerializer()
    inspect_error = serializers.CharField(help_text="Why the workers could not be asked, if they could not.")
    workers = WorkerOutputSerializer(many=True, help_text="Workers that answered, by name.")
    queues = WorkerQueueOutputSerializer(many=True)

    class Meta:
        ref_name = "WorkerHealth"


class WorkerHealthApi(APIView):
    class FilterSerializer(serializers.Serializer):
        refresh = serializers.BooleanField(required=False, default=False, help_text="Ask the workers now.")

        class Meta:
            ref_name = "WorkerHealthFilter"

    @extend_schema(
        parameters=[FilterSerializer],
        responses=WorkerHealthOutputSerializer,
        summary="Alive workers, the queues each serves, queue lengths, and queues nobody serves (admins, managers).",
    )
    def get(self, request: Request) -> Response:
        if not worker_health_visible(user=request.user):
            raise PermissionDeniedError("Only administrators and project managers see the workers.")
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return Response(WorkerHealthOutputSerializer(worker_health(refresh=filters.validated_data["refresh"])).data)
