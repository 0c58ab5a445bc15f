"""API for model versions (the proposers and students a project has run, with their metrics), the review queue,
self-training rounds, the project's learning settings and its proposer, and the model configurations an administrator
chooses among (`server.learning.model_configs`)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from server.accounts.selectors import ADMIN, project_access
from server.accounts.views import ProposerSerializer
from server.core.errors import PermissionDeniedError
from server.core.pagination import DefaultPagination, get_paginated_response
from server.core.serializers import UserSummarySerializer, json_nul_free
from server.learning.acquisition import (
    BATCH_MAX_SIZE,
    TERM_LABELS,
    project_acquisition_settings,
    project_acquisition_strategy,
    review_batch_select,
    score_reason,
    strategy_settings,
    top_term_value,
)
from server.learning.model_configs import (
    model_config_choose,
    model_config_default_proposer,
    model_config_list,
    model_config_name,
    model_config_preview,
    model_root,
)
from server.learning.models import LearningSettings, ModelVersion, ProposerChange, TrainingRound
from server.learning.selectors import (
    accepted_since_last_round,
    learning_settings_of,
    model_version_get_for_user,
    model_version_list,
    model_versions_with_edit_stats,
    project_clip_splits,
    project_rounds_ran,
    review_queue_count,
    review_queue_list,
    training_round_get_for_user,
    training_round_list,
)
from server.learning.services import (
    acquisition_strategy_update,
    learning_settings_update,
    model_version_promote,
    model_version_register,
    project_proposer_rollback,
)
from server.learning.training import training_round_cancel, training_round_start
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
        if not hasattr(version, "edit_mean_iou"):  # not from model_versions_with_edit_stats (e.g. just created)
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
        config = serializers.DictField(
            help_text="Identifies the version: SHA-256 of its canonical JSON.", validators=[json_nul_free]
        )
        checkpoint_path = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")

        class Meta:
            ref_name = "ModelVersionCreateInput"

    @extend_schema(
        request=InputSerializer,
        responses={
            201: ModelVersionOutputSerializer,
            200: OpenApiResponse(ModelVersionOutputSerializer, description="Same config: the existing version."),
            403: OpenApiResponse(description="The config names code or files and you are not an administrator."),
            409: OpenApiResponse(description="Same config registered with another kind or checkpoint."),
        },
        summary="Register a model version, or get the one with the same config (managers; administrators when "
        "the config names code or files).",
        description="A config that names code or files on the servers (every OpenAVS configuration; keys such as "
        "path, checkpoint, builder; absolute paths; a checkpoint_path) is an administrator's decision: managers get "
        "403. An OpenAVS configuration must also pass the server's model policy (model files inside AVS_MODEL_ROOT, "
        "no hub downloads unless AVS_MODEL_ALLOW_NETWORK, no SAM builder outside ml_backend unless "
        "AVS_MODEL_ALLOW_CUSTOM_BUILDERS), with absolute model paths.",
    )
    def post(self, request: Request, project_id: int) -> Response:
        project_access(user=request.user, project_id=project_id, roles=())
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version, created = model_version_register(
            project=Project.objects.get(pk=project_id), user=request.user, **serializer.validated_data
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
        acquisition_strategy = serializers.SerializerMethodField(
            help_text="The strategy of the latest score (e.g. combined); null: never scored, or scored without one."
        )
        acquisition_top_term = serializers.SerializerMethodField(
            help_text="The term that contributed most to the latest score (e.g. topk_entropy)."
        )
        acquisition_top_value = serializers.SerializerMethodField(help_text="That term's value, in [0, 1].")
        acquisition_reason = serializers.SerializerMethodField(
            help_text='Why, in words: "top-k pixel entropy 0.93 (combined)".'
        )
        acquisition_model_version = serializers.IntegerField(
            allow_null=True, help_text="The model version whose proposal the latest score read."
        )

        class Meta:
            ref_name = "ReviewQueueClip"

        def get_acquisition_strategy(self, clip: Any) -> str | None:
            return clip.acquisition_strategy or None

        def get_acquisition_top_term(self, clip: Any) -> str | None:
            return clip.acquisition_top_term or None

        def get_acquisition_top_value(self, clip: Any) -> float | None:
            return top_term_value(clip.acquisition_top_term, clip.acquisition_terms)

        def get_acquisition_reason(self, clip: Any) -> str | None:
            return score_reason(clip.acquisition_strategy, clip.acquisition_top_term, clip.acquisition_terms)

    @extend_schema(
        parameters=[FilterSerializer],
        responses=OutputSerializer(many=True),
        summary="The project's ready clips in the order to annotate them (members).",
        description="By the latest acquisition score, highest first, when clips have one (whatever strategy or model "
        "version produced it; each clip says which, and its top contributing term); then clips with proposals and the "
        "fewest accepted annotations first; then by id.",
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
            count=review_queue_count(project_id=project_id, **filters.validated_data),
        )


class AcquisitionStrategyOutputSerializer(serializers.Serializer):
    strategy = serializers.DictField(help_text="The project's strategy as set (what PUT takes).")
    settings = serializers.DictField(help_text="The same with every setting filled in (defaults for those unset).")
    strategies = serializers.DictField(help_text="Every strategy by name with its default settings.")
    terms = serializers.DictField(child=serializers.CharField(), help_text="What each term measures, in words.")
    updated_at = serializers.DateTimeField(allow_null=True)
    updated_by = serializers.CharField(allow_null=True)

    class Meta:
        ref_name = "AcquisitionStrategy"

    @staticmethod
    def of(project_id: int) -> dict[str, Any]:
        from ml_backend.serving import acquisition_strategies

        current = project_acquisition_settings(project_id=project_id)
        strategy = project_acquisition_strategy(project_id=project_id)
        return {
            "strategy": strategy,
            "settings": strategy_settings(strategy),
            "strategies": acquisition_strategies(),
            "terms": TERM_LABELS,
            "updated_at": current.updated_at if current.pk else None,
            "updated_by": current.updated_by.get_username() if current.updated_by else None,
        }


class AcquisitionStrategyDetailApi(APIView):
    @extend_schema(
        responses=AcquisitionStrategyOutputSerializer,
        summary="The project's acquisition strategy, which orders its review queue (members).",
    )
    def get(self, request: Request, project_id: int) -> Response:
        project_access(user=request.user, project_id=project_id)
        return Response(AcquisitionStrategyOutputSerializer(AcquisitionStrategyOutputSerializer.of(project_id)).data)


class AcquisitionStrategyUpdateApi(APIView):
    class InputSerializer(serializers.Serializer):
        strategy = serializers.JSONField(
            help_text='A strategy name ("combined", "entropy", ...) or its settings: {"name", "weights", '
            '"top_fraction", "frame_reduction", "temporal_mode", "seed", "diverse", "min_distance", '
            '"relative_distance"}; unset settings take their defaults.'
        )
        rescore = serializers.BooleanField(
            required=False, default=True, help_text="Score the pool again with the new strategy (in the background)."
        )

        class Meta:
            ref_name = "AcquisitionStrategyInput"

    @extend_schema(
        request=InputSerializer,
        responses={
            200: AcquisitionStrategyOutputSerializer,
            400: OpenApiResponse(description="An invalid setting; the message names it (extra.setting)."),
        },
        summary="Set the project's acquisition strategy (managers).",
    )
    def put(self, request: Request, project_id: int) -> Response:
        project_access(user=request.user, project_id=project_id, roles=())
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        acquisition_strategy_update(
            project=Project.objects.get(pk=project_id), user=request.user, **serializer.validated_data
        )
        return Response(AcquisitionStrategyOutputSerializer(AcquisitionStrategyOutputSerializer.of(project_id)).data)


class ReviewBatchClipSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    score = serializers.FloatField()
    strategy = serializers.CharField(allow_null=True)
    top_term = serializers.CharField(allow_null=True)
    top_term_value = serializers.FloatField(allow_null=True)
    reason = serializers.CharField(allow_null=True)

    class Meta:
        ref_name = "ReviewBatchClip"


class ReviewBatchDuplicateSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The clip left out.")
    name = serializers.CharField()
    duplicate_of = serializers.IntegerField(help_text="The picked (or already labelled) clip it nearly repeats.")
    duplicate_of_name = serializers.CharField()

    class Meta:
        ref_name = "ReviewBatchDuplicate"


class ReviewBatchSelectApi(APIView):
    class InputSerializer(serializers.Serializer):
        size = serializers.IntegerField(
            min_value=1, max_value=BATCH_MAX_SIZE, default=10, help_text="How many clips to pick."
        )

        class Meta:
            ref_name = "ReviewBatchInput"

    class OutputSerializer(serializers.Serializer):
        size = serializers.IntegerField()
        strategy = serializers.CharField()
        method = serializers.CharField(help_text="diverse (by score, near-duplicates skipped) or top_k (by score).")
        min_distance = serializers.FloatField(
            allow_null=True, help_text="The near-duplicate threshold used (distance of normalised clip embeddings)."
        )
        reason = serializers.CharField(help_text="Why top_k ran for a diverse strategy (e.g. no clip embeddings).")
        clips = ReviewBatchClipSerializer(many=True, help_text="The picked clips, in pick order.")
        near_duplicates = ReviewBatchDuplicateSerializer(many=True, help_text="Clips skipped as near-duplicates.")
        unscored = serializers.IntegerField(help_text="Queue clips without a score (never picked).")
        without_embedding = serializers.ListField(
            child=serializers.IntegerField(), help_text="Picked by score alone: no clip embedding to compare."
        )

        class Meta:
            ref_name = "ReviewBatch"

    @extend_schema(
        request=InputSerializer,
        responses=OutputSerializer,
        summary="The next clips to label: by acquisition score, near-duplicates skipped (managers).",
        description="Picks among the review queue's scored clips with the project's strategy (select_batch): best "
        "score first, leaving out clips whose clip embedding nearly repeats a clip already picked or fully labelled "
        "(when the strategy is diverse). Nothing is assigned or stored.",
    )
    def post(self, request: Request, project_id: int) -> Response:
        project_access(user=request.user, project_id=project_id, roles=())
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        batch = review_batch_select(project=Project.objects.get(pk=project_id), **serializer.validated_data)
        return Response(self.OutputSerializer(batch).data)


# --- self-training: rounds, learning settings, the proposer -------------------------------------------------


class ModelVersionSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=ModelVersion.Kind.choices)
    name = serializers.CharField()

    class Meta:
        ref_name = "ModelVersionBrief"  # "ModelVersionSummary" is the proposals' (with config_hash)


class TrainingProgressSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="The job's status.")
    percent = serializers.IntegerField()
    message = serializers.CharField()
    phase = serializers.CharField(allow_null=True, help_text="queued, training, judging, or how the round ended.")
    epoch = serializers.IntegerField(allow_null=True)
    epochs = serializers.IntegerField(allow_null=True)
    loss = serializers.FloatField(allow_null=True, help_text="Mean training loss so far in this epoch.")
    eta_seconds = serializers.FloatField(allow_null=True, help_text="Estimated seconds of training left.")

    class Meta:
        ref_name = "TrainingRoundProgress"


class TrainingRoundOutputSerializer(serializers.ModelSerializer):
    base_proposer = ModelVersionSummarySerializer(allow_null=True)
    model_version = ModelVersionSummarySerializer(allow_null=True)
    created_by = UserSummarySerializer(allow_null=True)
    job_id = serializers.IntegerField(allow_null=True)
    progress = serializers.SerializerMethodField(help_text="The round's job: epoch, loss and ETA while training.")
    items = serializers.SerializerMethodField(help_text="What the round trains on (counts), once planned.")

    class Meta:
        model = TrainingRound
        fields = [
            "id",
            "project",
            "status",
            "trigger",
            "student_kind",
            "config",
            "base_proposer",
            "model_version",
            "promoted",
            "reason",
            "error",
            "metrics",
            "curve",
            "items",
            "cancel_requested",
            "job_id",
            "progress",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        ref_name = "TrainingRound"

    @extend_schema_field(TrainingProgressSerializer(allow_null=True))
    def get_progress(self, training_round: TrainingRound) -> dict[str, Any] | None:
        job = training_round.job
        if job is None:
            return None
        result = job.result if isinstance(job.result, dict) else {}
        return {
            "status": job.status,
            "percent": job.progress,
            "message": job.message,
            "phase": result.get("phase"),
            "epoch": result.get("epoch"),
            "epochs": result.get("epochs"),
            "loss": result.get("loss"),
            "eta_seconds": result.get("eta_seconds"),
        }

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField()))
    def get_items(self, training_round: TrainingRound) -> dict[str, int]:
        counts = (training_round.plan or {}).get("counts") if isinstance(training_round.plan, dict) else None
        return dict(counts or {})


class TrainingRoundListApi(APIView):
    pagination_class = DefaultPagination

    @extend_schema(
        responses=TrainingRoundOutputSerializer(many=True),
        summary="A project's training rounds, newest first, with progress and held-out figures (members).",
    )
    def get(self, request: Request, project_id: int) -> Response:
        project_access(user=request.user, project_id=project_id)
        return get_paginated_response(
            pagination_class=self.pagination_class,
            serializer_class=TrainingRoundOutputSerializer,
            queryset=training_round_list(project_id=project_id),
            request=request,
            view=self,
        )


class TrainingRoundCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        student = serializers.ChoiceField(
            choices=LearningSettings.StudentKind.choices,
            required=False,
            help_text="Which student to train; default: the project's learning settings.",
        )
        config = serializers.DictField(
            required=False,
            validators=[json_nul_free],
            help_text="Overrides of the student's training settings (e.g. {\"epochs\": 4}), on top of the project's "
            "student_config; checked before the round is queued (400 naming the setting, e.g. "
            "config.epochs must be a positive integer, got 0).",
        )

        class Meta:
            ref_name = "TrainingRoundCreateInput"

    @extend_schema(
        request=InputSerializer,
        responses={
            202: TrainingRoundOutputSerializer,
            400: OpenApiResponse(description="An unknown student, or a setting it cannot train with (named)."),
            409: OpenApiResponse(description="A round of the project is queued or running."),
        },
        summary="Start a self-training round on the training queue (managers).",
        description="Trains a student on the train split's accepted annotations and the current proposer's "
        "pseudo-labels, judges it against the proposer on the held-out split and promotes it when it is better "
        "(mIoU, ties by F). Follow it with GET /api/training-rounds/{id}/.",
    )
    def post(self, request: Request, project_id: int) -> Response:
        project_access(user=request.user, project_id=project_id, roles=())
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        training_round = training_round_start(
            project=Project.objects.get(pk=project_id),
            user=request.user,
            student_kind=data.get("student"),
            config=data.get("config"),
        )
        training_round = training_round_get_for_user(user=request.user, round_id=training_round.pk)
        return Response(TrainingRoundOutputSerializer(training_round).data, status=status.HTTP_202_ACCEPTED)


class TrainingRoundDetailApi(APIView):
    @extend_schema(responses=TrainingRoundOutputSerializer, summary="One training round with its progress (members).")
    def get(self, request: Request, round_id: int) -> Response:
        training_round = training_round_get_for_user(user=request.user, round_id=round_id)
        return Response(TrainingRoundOutputSerializer(training_round).data)


class TrainingRoundCancelApi(APIView):
    @extend_schema(
        request=None,
        responses={
            200: TrainingRoundOutputSerializer,
            409: OpenApiResponse(description="The round is finished."),
        },
        summary="Cancel a queued or running round (managers); the proposer is kept.",
        description="A queued round is cancelled at once; a running one stops within a few training steps "
        "(cancel_requested is true until then).",
    )
    def post(self, request: Request, round_id: int) -> Response:
        training_round = training_round_get_for_user(user=request.user, round_id=round_id, roles=())
        training_round_cancel(training_round=training_round, user=request.user)
        training_round = training_round_get_for_user(user=request.user, round_id=round_id)
        return Response(TrainingRoundOutputSerializer(training_round).data)


class ProposerChangeSerializer(serializers.ModelSerializer):
    model_version = ModelVersionSummarySerializer(allow_null=True, help_text="null: the configured proposer.")
    previous = ModelVersionSummarySerializer(allow_null=True)
    changed_by = UserSummarySerializer(allow_null=True, help_text="null: a training round.")

    class Meta:
        model = ProposerChange
        fields = ["id", "action", "model_version", "previous", "training_round", "changed_by", "reason", "created_at"]
        ref_name = "ProposerChange"


class LearningSettingsOutputSerializer(serializers.ModelSerializer):
    proposer = ModelVersionSummarySerializer(
        allow_null=True, help_text="The model version pre-annotation runs; null: the configured proposer."
    )
    split_locked = serializers.SerializerMethodField(
        help_text="True once a round has run: heldout_fraction and split_seed can no longer change."
    )
    split_counts = serializers.SerializerMethodField(help_text='Clips per side: {"train": n, "heldout": m}.')
    accepted_since_last_round = serializers.SerializerMethodField(
        help_text="Annotations accepted since the latest round (what auto_round_after counts)."
    )
    proposer_history = serializers.SerializerMethodField(help_text="The latest changes of the proposer.")

    class Meta:
        model = LearningSettings
        fields = [
            "heldout_fraction",
            "split_seed",
            "split_locked",
            "split_counts",
            "student_kind",
            "student_config",
            "auto_round_after",
            "accepted_since_last_round",
            "proposer",
            "proposer_history",
        ]
        ref_name = "LearningSettings"

    def get_split_locked(self, learning: LearningSettings) -> bool:
        return project_rounds_ran(project_id=learning.project_id)

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField()))
    def get_split_counts(self, learning: LearningSettings) -> dict[str, int]:
        splits = project_clip_splits(project_id=learning.project_id, settings=learning)
        values = list(splits.values())
        return {"train": values.count("train"), "heldout": values.count("heldout")}

    def get_accepted_since_last_round(self, learning: LearningSettings) -> int:
        return accepted_since_last_round(project_id=learning.project_id)

    @extend_schema_field(ProposerChangeSerializer(many=True))
    def get_proposer_history(self, learning: LearningSettings) -> list[dict[str, Any]]:
        changes = ProposerChange.objects.filter(project_id=learning.project_id).select_related(
            "model_version", "previous", "changed_by"
        )[:20]
        return ProposerChangeSerializer(changes, many=True).data


class LearningSettingsDetailApi(APIView):
    @extend_schema(
        responses=LearningSettingsOutputSerializer, summary="A project's self-training settings and proposer (members)."
    )
    def get(self, request: Request, project_id: int) -> Response:
        project_access(user=request.user, project_id=project_id)
        return Response(LearningSettingsOutputSerializer(learning_settings_of(project_id=project_id)).data)


class LearningSettingsUpdateApi(APIView):
    class InputSerializer(serializers.Serializer):
        heldout_fraction = serializers.FloatField(
            required=False, min_value=0.0, max_value=0.9, help_text="Share of clips held out, in [0, 0.9]."
        )
        split_seed = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
        student_kind = serializers.ChoiceField(choices=LearningSettings.StudentKind.choices, required=False)
        student_config = serializers.DictField(
            required=False,
            validators=[json_nul_free],
            help_text="Overrides of the student's training settings (e.g. epochs), checked when saved as a "
            "round would use them, over the student's defaults (400 naming the setting, e.g. student_config.epochs "
            "must be a positive integer, got 0; nothing is saved).",
        )
        auto_round_after = serializers.IntegerField(
            required=False,
            min_value=0,
            max_value=1_000_000,
            help_text="Start a round after this many newly accepted annotations; 0: never.",
        )

        class Meta:
            ref_name = "LearningSettingsInput"

    @extend_schema(
        request=InputSerializer,
        responses={
            200: LearningSettingsOutputSerializer,
            400: OpenApiResponse(description="A setting out of range, or a student setting it cannot train with."),
            409: OpenApiResponse(description="The split cannot change once a round has run."),
        },
        summary="Change a project's self-training settings (managers).",
    )
    def patch(self, request: Request, project_id: int) -> Response:
        project_access(user=request.user, project_id=project_id, roles=())
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        learning = learning_settings_update(project=Project.objects.get(pk=project_id), data=serializer.validated_data)
        return Response(LearningSettingsOutputSerializer(learning).data)


class ModelVersionPromoteApi(APIView):
    @extend_schema(
        request=None,
        responses={200: LearningSettingsOutputSerializer, 400: OpenApiResponse(description="It cannot run.")},
        summary="Make this model version the project's proposer (managers).",
    )
    def post(self, request: Request, model_version_id: int) -> Response:
        version = model_version_get_for_user(user=request.user, model_version_id=model_version_id)
        project_access(user=request.user, project_id=version.project_id, roles=())
        model_version_promote(model_version=ModelVersion.objects.get(pk=version.pk), user=request.user)
        return Response(LearningSettingsOutputSerializer(learning_settings_of(project_id=version.project_id)).data)


class ProposerRollbackApi(APIView):
    class InputSerializer(serializers.Serializer):
        model_version = serializers.IntegerField(
            required=False, help_text="An earlier proposer to put back; default: the one the current one replaced."
        )
        to_configured = serializers.BooleanField(
            required=False, default=False, help_text="Put back the configured proposer (OpenAVS or the baseline)."
        )

        class Meta:
            ref_name = "ProposerRollbackInput"

    @extend_schema(
        request=InputSerializer,
        responses={
            200: LearningSettingsOutputSerializer,
            400: OpenApiResponse(description="Nothing to roll back to, or that version cannot run."),
        },
        summary="Put back an earlier proposer (managers).",
    )
    def post(self, request: Request, project_id: int) -> Response:
        project_access(user=request.user, project_id=project_id, roles=())
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project_proposer_rollback(
            project=Project.objects.get(pk=project_id),
            user=request.user,
            model_version_id=serializer.validated_data.get("model_version"),
            to_configured=serializer.validated_data["to_configured"],
        )
        return Response(LearningSettingsOutputSerializer(learning_settings_of(project_id=project_id)).data)


# --- model configurations -----------------------------------------------------------------------------------


def _administrator_only(*, user: Any, project_id: int, action: str) -> None:
    """404 for outsiders; 403 for members who are not administrators (superusers): a model configuration names
    files the servers read."""
    role = project_access(user=user, project_id=project_id)
    if role != ADMIN:
        raise PermissionDeniedError(
            f"Only administrators can {action}: a model configuration names files on the servers.", {"role": role}
        )


class ModelConfigEntrySerializer(serializers.Serializer):
    config = serializers.CharField(help_text='Path relative to AVS_MODEL_ROOT, e.g. "openavs/config.json".')
    path = serializers.CharField(help_text="Absolute path on the servers.")
    proposer = ProposerSerializer(
        allow_null=True, help_text="What it would run (decided without loading a model); null when it is invalid."
    )
    error = serializers.CharField(allow_null=True, help_text="Why it cannot be used (loader or model policy).")
    current = serializers.BooleanField(help_text="The project's configuration.")

    class Meta:
        ref_name = "ModelConfigEntry"


class ModelConfigListOutputSerializer(serializers.Serializer):
    model_root = serializers.CharField(allow_null=True, help_text="AVS_MODEL_ROOT; null when it is not set.")
    model_config = serializers.CharField(allow_blank=True, help_text="The project's configuration; blank: default.")
    current = serializers.CharField(
        allow_null=True,
        help_text='The listed name of the project\'s configuration; "" for the default, null when '
        "it is not in the list.",
    )
    default_config = serializers.CharField(allow_blank=True, help_text="AVS_MODEL_CONFIG, the server's default.")
    default_proposer = ProposerSerializer(help_text="What the server's default would run.")
    configs = ModelConfigEntrySerializer(many=True)
    truncated = serializers.BooleanField(help_text="The folder holds more than the list shows.")

    class Meta:
        ref_name = "ModelConfigList"


class ModelConfigListApi(APIView):
    @extend_schema(
        responses={200: ModelConfigListOutputSerializer, 403: OpenApiResponse(description="Not an administrator.")},
        summary="The model configurations in the model folder, each with what it would run (administrators).",
        description='JSON files holding a "models" section in AVS_MODEL_ROOT or one folder down, each read under '
        "the server's model policy without loading a model: its proposer (kind, name, reason) or its error.",
    )
    def get(self, request: Request, project_id: int) -> Response:
        _administrator_only(user=request.user, project_id=project_id, action="list the model configurations")
        project = Project.objects.get(pk=project_id)
        entries, truncated = model_config_list()
        current = "" if not project.model_config else model_config_name(path=project.model_config)
        data = {
            "model_root": model_root(),
            "model_config": project.model_config,
            "current": current,
            "default_config": settings.AVS_MODEL_CONFIG or "",
            "default_proposer": model_config_default_proposer(),
            "configs": [{**asdict(entry), "current": entry.config == current} for entry in entries],
            "truncated": truncated,
        }
        return Response(ModelConfigListOutputSerializer(data).data)


class ModelConfigPreviewOutputSerializer(serializers.Serializer):
    config = serializers.CharField(allow_blank=True)
    model_config = serializers.CharField(allow_blank=True, help_text="The absolute path it would set; blank: default.")
    proposer = ProposerSerializer(help_text="What pre-annotating the project would run with it.")
    note = serializers.CharField(allow_null=True, help_text="When the learning settings' proposer runs first.")

    class Meta:
        ref_name = "ModelConfigPreview"


class ModelConfigPreviewApi(APIView):
    class FilterSerializer(serializers.Serializer):
        config = serializers.CharField(
            required=False,
            allow_blank=True,
            default="",
            max_length=1000,
            help_text="A listed configuration (relative to AVS_MODEL_ROOT); blank: the server's default.",
        )

        class Meta:
            ref_name = "ModelConfigPreviewQuery"

    @extend_schema(
        parameters=[FilterSerializer],
        responses={
            200: ModelConfigPreviewOutputSerializer,
            400: OpenApiResponse(description="Not a usable configuration inside the model folder."),
            403: OpenApiResponse(description="Not an administrator."),
        },
        summary="What pre-annotation would run with this configuration chosen; nothing is saved (administrators).",
    )
    def get(self, request: Request, project_id: int) -> Response:
        _administrator_only(user=request.user, project_id=project_id, action="preview model configurations")
        query = self.FilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        preview = model_config_preview(
            project=Project.objects.get(pk=project_id), config=query.validated_data["config"]
        )
        return Response(ModelConfigPreviewOutputSerializer(preview).data)


class ModelConfigChooseApi(APIView):
    class InputSerializer(serializers.Serializer):
        config = serializers.CharField(
            allow_blank=True,
            max_length=1000,
            help_text="A listed configuration (relative to AVS_MODEL_ROOT); blank: the server's default.",
        )

        class Meta:
            ref_name = "ModelConfigChooseInput"

    @extend_schema(
        request=InputSerializer,
        responses={
            200: ModelConfigPreviewOutputSerializer,
            400: OpenApiResponse(description="Not a usable configuration inside the model folder; nothing changed."),
            403: OpenApiResponse(description="Not an administrator."),
        },
        summary="Choose the project's model configuration among those in the model folder (administrators).",
    )
    def put(self, request: Request, project_id: int) -> Response:
        _administrator_only(user=request.user, project_id=project_id, action="choose the model configuration")
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        config = serializer.validated_data["config"]
        project = model_config_choose(project=Project.objects.get(pk=project_id), config=config)
        return Response(ModelConfigPreviewOutputSerializer(model_config_preview(project=project, config=config)).data)
