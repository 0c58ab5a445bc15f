"""API of a project's Label Studio connection (managers and admins): read and set it, push and pull now.

The token is write-only: it is accepted by PUT and never returned (`has_token` says whether one is set).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from server.accounts.selectors import project_access
from server.jobs.models import Job
from server.jobs.views import JobOutputSerializer
from server.labelstudio.models import AnnotationLink, Connection
from server.labelstudio.sync import (
    PULL,
    PUSH,
    connection_set,
    labelstudio_job_request,
    ls_project_url,
    ml_backend_url,
)
from server.media.models import Project

COUNT_KEYS = ("tasks", "predictions", "annotations_imported", "conflicts")


CONFLICTS_SHOWN = 50


class ConflictSerializer(serializers.Serializer):
    ls_annotation_id = serializers.IntegerField(help_text="The Label Studio annotation that was not imported.")
    clip_id = serializers.IntegerField()
    clip_name = serializers.CharField()
    frame_index = serializers.IntegerField()
    detail = serializers.CharField(help_text="What happened and what to do, for people.")
    updated_at = serializers.DateTimeField()

    class Meta:
        ref_name = "LabelStudioConflict"


class ConnectionOutputSerializer(serializers.Serializer):
    connected = serializers.BooleanField(help_text="Whether the project has been pushed to a Label Studio project.")
    url = serializers.URLField(allow_null=True, help_text="Label Studio's base URL, as this server reaches it.")
    ls_project_id = serializers.IntegerField(allow_null=True)
    ls_project_url = serializers.URLField(allow_null=True, help_text="The project's tasks in Label Studio.")
    has_token = serializers.BooleanField(help_text="Whether a Label Studio token is stored (it is never returned).")
    import_status = serializers.ChoiceField(choices=Connection.ImportStatus.choices)
    ml_backend_url = serializers.URLField(
        allow_null=True,
        help_text="Our ML-backend URL for Label Studio's Model settings (null while the bridge is off: "
        "AVS_LS_BASIC_AUTH_USER/PASS unset).",
    )
    last_push_at = serializers.DateTimeField(allow_null=True)
    last_pull_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(allow_blank=True, help_text="The last push or pull's error, for people.")
    counts = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="tasks, predictions (last push), annotations_imported, conflicts (last pull).",
    )
    latest_job = JobOutputSerializer(allow_null=True, help_text="The latest push or pull job.")
    conflicts = ConflictSerializer(
        many=True,
        help_text=f"Label Studio annotations not imported because the frame was edited here (the latest "
        f"{CONFLICTS_SHOWN}; `counts.conflicts` counts them all, as of now).",
    )

    class Meta:
        ref_name = "LabelStudioConnection"


def connection_state(*, project_id: int) -> dict[str, Any]:
    """The connection as the API shows it (nulls when there is none yet)."""
    connection = Connection.objects.filter(project_id=project_id).first()
    bridge_on = bool(settings.AVS_LS_BASIC_AUTH_USER and settings.AVS_LS_BASIC_AUTH_PASS)
    stored = connection.counts if connection is not None else {}
    counts = {key: int(stored.get(key, 0) or 0) for key in COUNT_KEYS}
    counts.update({k: v for k, v in stored.items() if k not in counts and isinstance(v, int)})
    conflicts = (
        AnnotationLink.objects.filter(connection=connection, state=AnnotationLink.State.CONFLICT)
        if connection is not None
        else AnnotationLink.objects.none()
    )
    counts["conflicts"] = conflicts.count()  # as of now: webhooks settle or make conflicts between pulls
    shown = [
        {
            "ls_annotation_id": link.ls_annotation_id,
            "clip_id": link.frame.clip_id,
            "clip_name": link.frame.clip.name,
            "frame_index": link.frame.index,
            "detail": link.detail,
            "updated_at": link.updated_at,
        }
        for link in conflicts.select_related("frame__clip").order_by("-updated_at", "-id")[:CONFLICTS_SHOWN]
    ]
    latest_job = (
        Job.objects.filter(project_id=project_id, kind=Job.Kind.LABELSTUDIO)
        .select_related("created_by", "target_type")
        .order_by("-created_at", "-id")
        .first()
    )
    return {
        "connected": bool(connection and connection.ls_project_id),
        "url": connection.url if connection else None,
        "ls_project_id": connection.ls_project_id if connection else None,
        "ls_project_url": ls_project_url(connection) if connection else None,
        "has_token": bool(connection and connection.token),
        "import_status": connection.import_status if connection else Connection.ImportStatus.SUBMITTED,
        "ml_backend_url": ml_backend_url() if bridge_on else None,
        "last_push_at": connection.last_push_at if connection else None,
        "last_pull_at": connection.last_pull_at if connection else None,
        "last_error": connection.last_error if connection else "",
        "counts": counts,
        "latest_job": latest_job,
        "conflicts": shown,
    }


class ConnectionDetailApi(APIView):
    @extend_schema(
        responses=ConnectionOutputSerializer,
        summary="The project's Label Studio connection (managers): URL, last sync, counts, the last error.",
        description="Answers with `connected` false and nulls when no connection is set yet.",
    )
    def get(self, request: Request, project_id: int) -> Response:
        project_access(user=request.user, project_id=project_id, roles=())
        return Response(ConnectionOutputSerializer(connection_state(project_id=project_id)).data)


class ConnectionUpdateApi(APIView):
    class InputSerializer(serializers.Serializer):
        url = serializers.URLField(
            max_length=500, help_text="Label Studio's base URL as this server reaches it, e.g. http://ls:8080."
        )
        token = serializers.CharField(
            required=False,
            allow_blank=True,
            write_only=True,
            max_length=200,
            help_text="A Label Studio API token (write-only; leave out to keep the stored one).",
        )
        import_status = serializers.ChoiceField(
            choices=Connection.ImportStatus.choices,
            required=False,
            help_text="Status of imported annotations: submitted (reviewed here) or accepted (trusted).",
        )

        class Meta:
            ref_name = "LabelStudioConnectionInput"

    @extend_schema(
        request=InputSerializer,
        responses={
            200: ConnectionOutputSerializer,
            400: OpenApiResponse(description="A malformed URL or import status (named)."),
        },
        summary="Set the project's Label Studio URL, token and import status (managers).",
        description="A different URL means another Label Studio: the links to the old one are forgotten and the "
        "next push creates a new Label Studio project. Nothing is sent to Label Studio until a push.",
    )
    def put(self, request: Request, project_id: int) -> Response:
        project_access(user=request.user, project_id=project_id, roles=())
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        connection_set(
            project=Project.objects.get(pk=project_id),
            url=data["url"],
            token=data.get("token") or None,
            import_status=data.get("import_status"),
            user=request.user,
        )
        return Response(ConnectionOutputSerializer(connection_state(project_id=project_id)).data)


class _JobStartedSerializer(serializers.Serializer):
    job = JobOutputSerializer()

    class Meta:
        ref_name = "LabelStudioJobStarted"


class _SyncApi(APIView):
    action = PUSH

    def post(self, request: Request, project_id: int) -> Response:
        project_access(user=request.user, project_id=project_id, roles=())
        job = labelstudio_job_request(project=Project.objects.get(pk=project_id), action=self.action, user=request.user)
        return Response(_JobStartedSerializer({"job": job}).data, status=status.HTTP_202_ACCEPTED)


class ConnectionPushApi(_SyncApi):
    action = PUSH

    @extend_schema(
        request=None,
        responses={
            202: _JobStartedSerializer,
            400: OpenApiResponse(description="No URL or token set yet."),
            409: OpenApiResponse(description="A push or pull of the project is queued or running."),
        },
        summary="Push the project to Label Studio now (managers): a job on the ingest queue.",
        description="Creates or updates the Label Studio project, its tasks, predictions, webhook and ML backend; "
        "never duplicates. Follow it with GET /api/jobs/{id}/; its error says what to fix.",
    )
    def post(self, request: Request, project_id: int) -> Response:
        return super().post(request, project_id)


class ConnectionPullApi(_SyncApi):
    action = PULL

    @extend_schema(
        request=None,
        responses={
            202: _JobStartedSerializer,
            400: OpenApiResponse(description="Not pushed yet."),
            409: OpenApiResponse(description="A push or pull of the project is queued or running."),
        },
        summary="Import the Label Studio annotations now (managers): a job on the ingest queue.",
        description="Idempotent; updated annotations become new versions, local edits are reported as conflicts.",
    )
    def post(self, request: Request, project_id: int) -> Response:
        return super().post(request, project_id)
