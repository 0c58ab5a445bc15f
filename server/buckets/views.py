"""API of import from a bucket ("Add videos from storage" in the web app; managers): list what an `s3://` location
holds, new objects marked, and import the new ones as a job."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from server.accounts.models import Role
from server.accounts.selectors import project_access
from server.buckets.selectors import (
    bucket_location_allowed_check,
    bucket_location_parse,
    bucket_objects_list,
    import_sources,
)
from server.buckets.services import bucket_import_start
from server.jobs.models import Job
from server.jobs.views import JobOutputSerializer
from server.media.models import Project

MANAGERS = [Role.MANAGER]


class BucketObjectListApi(APIView):
    class FilterSerializer(serializers.Serializer):
        url = serializers.CharField(
            required=False,
            allow_blank=True,
            max_length=1100,
            help_text="s3://BUCKET/PREFIX/ inside one of the import sources; omitted: the first source.",
        )

        class Meta:
            ref_name = "BucketObjectListFilter"

    class OutputSerializer(serializers.Serializer):
        class ObjectSerializer(serializers.Serializer):
            key = serializers.CharField()
            name = serializers.CharField(help_text="The clip name it gets (the key's last part).")
            size_bytes = serializers.IntegerField()
            last_modified = serializers.DateTimeField(allow_null=True)
            status = serializers.ChoiceField(
                choices=["new", "in_project", "failed"],
                help_text="new: not in the project (never imported, changed since, or its clip was deleted); "
                "in_project: its video is clip clip_id; failed: the last import failed (error), an import tries again.",
            )
            clip_id = serializers.IntegerField(allow_null=True)
            error = serializers.CharField()

            class Meta:
                ref_name = "BucketObject"

        sources = serializers.ListField(
            child=serializers.CharField(),
            help_text="Where videos may be imported from (setting AVS_IMPORT_BUCKETS); empty: import is off.",
        )
        url = serializers.CharField(allow_null=True, help_text="The location listed; null when import is off.")
        objects = ObjectSerializer(many=True, help_text="Video objects under url, in key order.")
        new_count = serializers.IntegerField(help_text="Objects an import would read (new or failed).")
        truncated = serializers.BooleanField(
            help_text="More than AVS_IMPORT_MAX_OBJECTS videos: list a narrower prefix."
        )

        class Meta:
            ref_name = "BucketObjectList"

    @extend_schema(
        parameters=[FilterSerializer],
        responses={
            200: OutputSerializer,
            403: OpenApiResponse(description="Not a manager, or the location is not inside AVS_IMPORT_BUCKETS."),
            503: OpenApiResponse(description="The bucket could not be reached."),
        },
        summary="The video objects of a bucket location, new ones marked (managers).",
    )
    def get(self, request: Request, project_id: int) -> Response:
        project_access(user=request.user, project_id=project_id, roles=MANAGERS)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        sources = import_sources()
        data = {"sources": [str(source) for source in sources], "url": None, "objects": [], "new_count": 0}
        url = filters.validated_data.get("url") or (str(sources[0]) if sources else "")
        if not url:
            return Response(self.OutputSerializer({**data, "truncated": False}).data)
        location = bucket_location_parse(url)
        bucket_location_allowed_check(location)
        objects, truncated = bucket_objects_list(project_id=project_id, location=location)
        data.update(
            url=str(location),
            objects=objects,
            new_count=sum(1 for obj in objects if obj.status != "in_project"),
            truncated=truncated,
        )
        return Response(self.OutputSerializer(data).data)


class BucketImportApi(APIView):
    class InputSerializer(serializers.Serializer):
        url = serializers.CharField(max_length=1100, help_text="s3://BUCKET/PREFIX/ inside one of the import sources.")

        class Meta:
            ref_name = "BucketImportInput"

    @extend_schema(
        request=InputSerializer,
        responses={
            202: JobOutputSerializer,
            403: OpenApiResponse(description="Not a manager, or the location is not inside AVS_IMPORT_BUCKETS."),
        },
        summary="Import the new videos of a bucket location as clips (managers).",
        description="Runs as a job (GET /api/jobs/{id}/): each new object is downloaded, stored like an upload and "
        "its ingest queued; videos the project already holds (same SHA-256) add nothing. The job's result lists "
        "every object's outcome.",
    )
    def post(self, request: Request, project_id: int) -> Response:
        project_access(user=request.user, project_id=project_id, roles=MANAGERS)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = bucket_import_start(
            project=Project.objects.get(pk=project_id), url=serializer.validated_data["url"], user=request.user
        )
        job = Job.objects.select_related("created_by", "target_type").get(pk=job.pk)
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)
