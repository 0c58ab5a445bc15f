"""API for model versions: the proposers and students a project has run, with their metrics."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from server.accounts.selectors import project_access
from server.core.pagination import DefaultPagination, get_paginated_response
from server.learning.models import ModelVersion
from server.learning.selectors import (
    model_version_get_for_user,
    model_version_list,
    model_versions_with_edit_stats,
    review_queue_list,
)
from server.learning.services import model_version_get_or_create
from server.media.models import Project


class EditStatsSerializer(serializers.Serializer):
    annotations = serializers.IntegerField(help_text="Annotations started from this version's proposals.")
    mean_iou = serializers.FloatField(
        allow_null=True,
        help_text="Mean IoU of those annotations' current masks with the proposal's (union per frame; 1: kept "
        "as proposed); null without any.",
    )

    class Meta:
        ref_name = "ModelVersionEditStats"


class ModelVersionOutputSerializer(serializers.ModelSerializer):
    edit_stats = serializers.SerializerMethodField(
        help_text="How much human editing this version's proposals needed (annotations that record a "
        "source_proposal of it)."
    )

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "project",
            "kind",
            "name",
            "config",
            "config_hash",
            "checkpoint_path",
            "metrics",
            "note",
            "edit_stats",
            "created_at",
            "updated_at",
        ]
        ref_name = "ModelVersion"

    @extend_schema_field(EditStatsSerializer)
    def get_edit_stats(self, version: ModelVersion) -> dict[str, Any]:
        if not hasattr(version, "edit_annotations"):  # not from model_versions_with_edit_stats (e.g. just created)
            version = model_versions_with_edit_stats(ModelVersion.objects.filter(pk=version.pk)).get()
        mean = version.edit_mean_iou
        return {"annotations": version.edit_annotations, "mean_iou": float(mean) if mean is not None else None}


class ModelVersionListApi(APIView):
    pagination_class = DefaultPagination

    class FilterSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=ModelVersion.Kind.choices, required=False)

        class Meta:
            ref_name = "ModelVersionListFilter"

    @extend_schema(
        parameters=[FilterSerializer],
        responses=ModelVersionOutputSerializer(many=True),
        summary="A project's model versions, newest first, with metrics (members).",
    )
    def get(self, request: Request, project_id: int) -> Response:
        project_access(user=request.user, project_id=project_id)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return get_paginated_response(
            pagination_class=self.pagination_class,
            serializer_class=ModelVersionOutputSerializer,
            queryset=model_version_list(project_id=project_id, filters=filters.validated_data),
            request=request,
            view=self,
        )


class ModelVersionCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=ModelVersion.Kind.choices)
        name = serializers.CharField(max_length=200)
        config = serializers.DictField(help_text="Identifies the version: SHA-256 of its canonical JSON.")
        checkpoint_path = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")

        class Meta:
            ref_name = "ModelVersionCreateInput"

    @extend_schema(
        request=InputSerializer,
        responses={
            201: ModelVersionOutputSerializer,
            200: OpenApiResponse(ModelVersionOutputSerializer, description="Same config: the existing version."),
            409: OpenApiResponse(description="Same config registered with another kind or checkpoint."),
        },
        summary="Register a model version, or get the one with the same config (managers).",
    )
    def post(self, request: Request, project_id: int) -> Response:
        project_access(user=request.user, project_id=project_id, roles=())
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version, created = model_version_get_or_create(
            project=Project.objects.get(pk=project_id), **serializer.validated_data
        )
        return Response(
            ModelVersionOutputSerializer(version).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class ModelVersionDetailApi(APIView):
    @extend_schema(responses=ModelVersionOutputSerializer, summary="One model version (members).")
    def get(self, request: Request, model_version_id: int) -> Response:
        version = model_version_get_for_user(user=request.user, model_version_id=model_version_id)
        return Response(ModelVersionOutputSerializer(version).data)


class ReviewQueueListApi(APIView):
    pagination_class = DefaultPagination

    class FilterSerializer(serializers.Serializer):
        include_done = serializers.BooleanField(
            required=False, default=False, help_text="Also list clips whose every frame is accepted."
        )

        class Meta:
            ref_name = "ReviewQueueFilter"

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        name = serializers.CharField()
        duration = serializers.FloatField(allow_null=True)
        has_audio = serializers.BooleanField()
        num_frames = serializers.IntegerField()
        proposal_count = serializers.IntegerField()
        annotated_count = serializers.IntegerField(help_text="Frames with an annotation (any status).")
        accepted_count = serializers.IntegerField()
        submitted_count = serializers.IntegerField()
        rejected_count = serializers.IntegerField()
        acquisition_score = serializers.FloatField(
            allow_null=True, help_text="The clip's latest acquisition score (higher: more informative); null: none."
        )
        acquisition_scored_at = serializers.DateTimeField(allow_null=True)

        class Meta:
            ref_name = "ReviewQueueClip"

    @extend_schema(
        parameters=[FilterSerializer],
        responses=OutputSerializer(many=True),
        summary="The project's ready clips in the order to annotate them (members).",
        description="By the latest acquisition score, highest first, when clips have one; then clips with "
        "proposals and the fewest accepted annotations first; then by id.",
    )
    def get(self, request: Request, project_id: int) -> Response:
        project_access(user=request.user, project_id=project_id)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return get_paginated_response(
            pagination_class=self.pagination_class,
            serializer_class=self.OutputSerializer,
            queryset=review_queue_list(project_id=project_id, **filters.validated_data),
            request=request,
            view=self,
        )
