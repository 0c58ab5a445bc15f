"""API for proposals (read), annotations (versioned writes, history) and reviews.

One view per operation; where two share a URL (GET/PUT of a frame's annotation, GET/POST of an
annotation's reviews), `server.core.routing.method_route` sends each method to its view.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.files.storage import default_storage
from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from server.accounts.models import Role
from server.accounts.selectors import project_access
from server.annotations.models import Annotation, AnnotationRevision, Propagation, Proposal, Review
from server.annotations.preannotation import preannotate_request
from server.annotations.propagation import propagation_accept, propagation_request
from server.annotations.sam_limits import SamClickThrottle, sam_click_throttled, sam_slot
from server.annotations.selectors import (
    annotation_count_for_project,
    annotation_get,
    annotation_get_for_frame,
    annotation_get_for_user,
    annotation_latest_review,
    annotation_list,
    annotation_list_by_ids,
    annotation_list_for_project,
    annotation_revision_list,
    clip_get_for_user,
    frame_get_for_user,
    propagation_get_for_user,
    propagation_list,
    proposal_get_for_user,
    proposal_list,
    proposal_probability_map_path,
    review_list,
)
from server.annotations.services import (
    SAM_MAX_POINTS,
    AnnotationConflictError,
    annotation_accept_proposal,
    annotation_update,
    clip_accept_proposal,
    frame_sam_predict,
    review_create,
)
from server.core.errors import NotFoundError
from server.core.pagination import DefaultPagination, get_paginated_response
from server.core.serializers import UserSummarySerializer
from server.jobs.models import Job
from server.jobs.views import JobOutputSerializer
from server.media.models import Project
from server.media.views import MEDIA_CACHE_CONTROL

# --- shapes of the JSON columns, for the schema --------------------------------------------------


class RleSerializer(serializers.Serializer):
    """COCO RLE: `size` is `[height, width]` of the frame, `counts` column-major run lengths
    (compressed string; an integer list is accepted on input)."""

    size = serializers.ListField(child=serializers.IntegerField(), min_length=2, max_length=2)
    counts = serializers.CharField()

    class Meta:
        ref_name = "CocoRle"


class AnnotationInstanceSerializer(serializers.Serializer):
    mask = RleSerializer()
    label = serializers.CharField(help_text="A label name; unknown names join the project's vocabulary.")

    class Meta:
        ref_name = "AnnotationInstance"


class ProposalInstanceSerializer(serializers.Serializer):
    mask = RleSerializer()
    label = serializers.CharField()
    score = serializers.FloatField(help_text="Model confidence in [0, 1].")
    confidence = serializers.FloatField(
        required=False,
        help_text="Mean foreground probability inside the mask, in [0, 1] (1.0 for a proposer without "
        "probabilities); absent on proposals stored before it was kept.",
    )
    provenance = serializers.JSONField(help_text="How the model got there (audio tags, prompts, boxes...).")

    class Meta:
        ref_name = "ProposalInstance"


class ProbabilityMapSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="The 8-bit grayscale PNG (members of the project): probability = value / 255.")
    size = serializers.ListField(
        child=serializers.IntegerField(), min_length=2, max_length=2, help_text="[h, w] of the map."
    )
    scale = serializers.FloatField(help_text="Map size ÷ frame size (≤ 1: the longer side is at most 256 by default).")

    class Meta:
        ref_name = "ProbabilityMap"


class ProposalFrameSerializer(serializers.Serializer):
    frame_index = serializers.IntegerField()
    instances = ProposalInstanceSerializer(many=True)
    probability_map = ProbabilityMapSerializer(
        allow_null=True, help_text="The frame's per-pixel foreground probability (max over its instances); null: none."
    )
    provenance = serializers.JSONField(
        help_text='What the proposer heard in the frame\'s audio window: `{"rms", "silent", "audio_tags", '
        '"nouns", "reason"?}` (OpenAVS; `reason` says why nothing was searched for, e.g. a silent window); {} '
        "when the proposer kept none."
    )

    class Meta:
        ref_name = "ProposalFrame"


@extend_schema_field(AnnotationInstanceSerializer(many=True))
class AnnotationInstancesField(serializers.JSONField):
    """Instances as stored (validated by the service on the way in)."""


# --- shared representations ----------------------------------------------------------------------


class ReviewOutputSerializer(serializers.ModelSerializer):
    reviewer = UserSummarySerializer(allow_null=True)

    class Meta:
        model = Review
        fields = ["id", "annotation", "annotation_version", "verdict", "comment", "reviewer", "created_at"]
        ref_name = "Review"


class AnnotationOutputSerializer(serializers.ModelSerializer):
    frame_index = serializers.IntegerField(source="frame.index")
    instances = AnnotationInstancesField()
    author = UserSummarySerializer(allow_null=True)
    latest_review = serializers.SerializerMethodField(
        help_text="The newest review (a rejection's comment tells the annotator what to fix)."
    )

    class Meta:
        model = Annotation
        fields = [
            "id",
            "clip",
            "frame",
            "frame_index",
            "instances",
            "version",
            "status",
            "author",
            "time_spent",
            "source_proposal",
            "external_source",
            "external_id",
            "latest_review",
            "created_at",
            "updated_at",
        ]
        ref_name = "Annotation"

    @extend_schema_field(ReviewOutputSerializer(allow_null=True))
    def get_latest_review(self, annotation: Annotation) -> dict[str, Any] | None:
        review = annotation_latest_review(annotation=annotation)
        if review is None:
            return None
        if not hasattr(self, "_review_serializer"):  # one for every row of a list: its fields are built once
            self._review_serializer = ReviewOutputSerializer()
        return self._review_serializer.to_representation(review)


class ProposalOutputSerializer(serializers.ModelSerializer):
    class ModelVersionSummarySerializer(serializers.Serializer):
        id = serializers.IntegerField()
        kind = serializers.CharField()
        name = serializers.CharField()
        config_hash = serializers.CharField()

        class Meta:
            ref_name = "ModelVersionSummary"

    model_version = ModelVersionSummarySerializer()
    frames = serializers.SerializerMethodField()
    evidence = serializers.SerializerMethodField(
        help_text="What the proposer computed for the clip and kept (shapes, kinds; the file itself is for the "
        "workers): {format, bytes, frames, stride, audio_tags: {top_k}, audio_embedding: {kind, shape} | null, "
        "visual_embedding: {kind, shape} | null, dropped}; null when none was kept."
    )

    class Meta:
        model = Proposal
        fields = ["id", "clip", "model_version", "frames", "evidence", "created_at"]
        ref_name = "Proposal"

    @extend_schema_field(ProposalFrameSerializer(many=True))
    def get_frames(self, proposal: Proposal) -> list[dict[str, Any]]:
        """Stored frames, each probability map's storage path replaced by the URL that serves it."""
        request = self.context.get("request")
        frames = []
        for entry in proposal.frames:
            record = entry.get("probability_map")
            probability_map = None
            if record:
                url = reverse(
                    "proposal-probability-map",
                    kwargs={"proposal_id": proposal.pk, "frame_index": entry["frame_index"]},
                )
                probability_map = {
                    "url": request.build_absolute_uri(url) if request is not None else url,
                    "size": record["size"],
                    "scale": record["scale"],
                }
            frames.append({**entry, "probability_map": probability_map, "provenance": entry.get("provenance") or {}})
        return frames

    @extend_schema_field(serializers.JSONField(allow_null=True))
    def get_evidence(self, proposal: Proposal) -> dict[str, Any] | None:
        if not proposal.evidence:
            return None
        return {key: value for key, value in proposal.evidence.items() if key != "path"}


@contextmanager
def conflicts_carry_current() -> Iterator[None]:
    """A stale write's 409 carries the stored annotation in `extra["current"]` (None when there is none)."""
    try:
        yield
    except AnnotationConflictError as exc:
        current = annotation_get(annotation_id=exc.current.pk) if exc.current is not None else None
        exc.extra["current"] = AnnotationOutputSerializer(current).data if current is not None else None
        raise


def annotation_response(annotation: Annotation) -> Response:
    """201 with the annotation when the write created it (version 1), else 200."""
    created = annotation.version == 1
    data = AnnotationOutputSerializer(annotation_get(annotation_id=annotation.pk)).data
    return Response(data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


# --- proposals ------------------------------------------------------------------------------------


class ProposalListApi(APIView):
    pagination_class = DefaultPagination

    @extend_schema(responses=ProposalOutputSerializer(many=True), summary="A clip's proposals (members).")
    def get(self, request: Request, clip_id: int) -> Response:
        clip = clip_get_for_user(user=request.user, clip_id=clip_id)
        return get_paginated_response(
            pagination_class=self.pagination_class,
            serializer_class=ProposalOutputSerializer,
            queryset=proposal_list(clip_id=clip.pk),
            request=request,
            view=self,
        )


class ProposalDetailApi(APIView):
    @extend_schema(responses=ProposalOutputSerializer, summary="One proposal (members).")
    def get(self, request: Request, proposal_id: int) -> Response:
        proposal = proposal_get_for_user(user=request.user, proposal_id=proposal_id)
        return Response(ProposalOutputSerializer(proposal, context={"request": request}).data)


class ProposalProbabilityMapApi(APIView):
    """Streams one frame's probability map. Errors stay JSON whatever image type the client accepts."""

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        responses={(200, "image/png"): OpenApiTypes.BINARY},
        summary="A proposal's probability map of one frame: 8-bit grayscale PNG, probability = value / 255 "
        "(members of its project).",
    )
    def get(self, request: Request, proposal_id: int, frame_index: int) -> FileResponse:
        proposal = proposal_get_for_user(user=request.user, proposal_id=proposal_id)
        path = proposal_probability_map_path(proposal=proposal, frame_index=frame_index)
        try:
            handle = default_storage.open(path, "rb")
        except FileNotFoundError:
            raise NotFoundError("The file is missing from media storage.") from None
        response = FileResponse(handle, content_type="image/png")
        response["Cache-Control"] = MEDIA_CACHE_CONTROL
        response["X-Content-Type-Options"] = "nosniff"
        return response


class ProjectPreannotateApi(APIView):
    class InputSerializer(serializers.Serializer):
        clips = serializers.ListField(
            child=serializers.IntegerField(min_value=1),
            required=False,
            allow_null=True,
            help_text="Ids of ready clips of the project; omitted or null: every ready clip.",
        )
        model_version = serializers.IntegerField(
            required=False,
            allow_null=True,
            help_text="Re-run this model version (OpenAVS or baseline) of the project; omitted: the project's "
            "proposer (its model_config, else AVS_MODEL_CONFIG, else the weight-free baseline).",
        )

        class Meta:
            ref_name = "ProjectPreannotateInput"

    @extend_schema(
        request=InputSerializer,
        responses={
            202: JobOutputSerializer,
            400: OpenApiResponse(description="Clips of another project or not ready, no clip, or a bad model version."),
        },
        summary="Pre-annotate clips with the project's proposer: one proposal per clip (managers).",
        description="Queues a job on the inference workers and answers at once with it; follow it at "
        "/api/jobs/{id}/. Clips that already have a proposal of the model version are skipped. The job's "
        "`result.clips` says, per clip, done / skipped / failed and why; the job fails only if every clip "
        "failed. The project's `proposer` says beforehand which model will run.",
    )
    def post(self, request: Request, project_id: int) -> Response:
        project_access(user=request.user, project_id=project_id, roles=[Role.MANAGER])
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = preannotate_request(
            project=Project.objects.get(pk=project_id),
            user=request.user,
            clip_ids=serializer.validated_data.get("clips"),
            model_version_id=serializer.validated_data.get("model_version"),
        )
        job.refresh_from_db()
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


# --- annotations ----------------------------------------------------------------------------------


class AnnotationListApi(APIView):
    pagination_class = DefaultPagination

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=Annotation.Status.choices, required=False)

        class Meta:
            ref_name = "AnnotationListFilter"

    @extend_schema(
        parameters=[FilterSerializer],
        responses=AnnotationOutputSerializer(many=True),
        summary="A clip's annotations in frame order (members).",
    )
    def get(self, request: Request, clip_id: int) -> Response:
        clip = clip_get_for_user(user=request.user, clip_id=clip_id)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return get_paginated_response(
            pagination_class=self.pagination_class,
            serializer_class=AnnotationOutputSerializer,
            queryset=annotation_list(clip_id=clip.pk, filters=filters.validated_data),
            request=request,
            view=self,
        )


class AnnotationDetailApi(APIView):
    @extend_schema(responses=AnnotationOutputSerializer, summary="A frame's annotation (members).")
    def get(self, request: Request, frame_id: int) -> Response:
        frame, _ = frame_get_for_user(user=request.user, frame_id=frame_id)
        annotation = annotation_get_for_frame(frame_id=frame.pk)
        if annotation is None:
            raise NotFoundError(
                f"Frame {frame.index} of this clip has no annotation yet; save one with version null.",
                {"current_version": None},
            )
        return Response(AnnotationOutputSerializer(annotation).data)


class AnnotationUpdateApi(APIView):
    class InputSerializer(serializers.Serializer):
        instances = AnnotationInstancesField(help_text="[{mask: COCO RLE of the frame's size, label: str}]")
        version = serializers.IntegerField(
            min_value=0, allow_null=True, help_text="The version your edit is based on: null (or 0) to create."
        )
        status = serializers.ChoiceField(
            choices=[Annotation.Status.DRAFT, Annotation.Status.SUBMITTED],
            required=False,
            help_text="Omitted: unchanged (draft for a new annotation). submitted sends it to review.",
        )
        time_spent_delta = serializers.FloatField(
            min_value=0, max_value=24 * 3600, default=0.0, help_text="Seconds worked since the last save."
        )
        source_proposal = serializers.IntegerField(
            required=False, allow_null=True, help_text="The proposal this edit started from."
        )

        class Meta:
            ref_name = "AnnotationUpdateInput"

    @extend_schema(
        request=InputSerializer,
        responses={
            200: AnnotationOutputSerializer,
            201: AnnotationOutputSerializer,
            400: OpenApiResponse(description="Invalid instances, e.g. a mask not of the frame's size."),
            409: OpenApiResponse(
                description="Stale version: `extra` has `current_version` and `current` (the stored annotation), "
                "nothing was saved; or the annotation is accepted and locked for annotators."
            ),
        },
        summary="Create (version null) or update (current version) a frame's annotation (annotators).",
    )
    def put(self, request: Request, frame_id: int) -> Response:
        frame, role = frame_get_for_user(user=request.user, frame_id=frame_id, roles=[Role.ANNOTATOR])
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with conflicts_carry_current():
            annotation = annotation_update(
                frame=frame,
                user=request.user,
                role=role,
                instances=data["instances"],
                version=data["version"],
                status=data.get("status"),
                time_spent_delta=data["time_spent_delta"],
                source_proposal_id=data.get("source_proposal"),
            )
        return annotation_response(annotation)


class AnnotationAcceptProposalApi(APIView):
    class InputSerializer(serializers.Serializer):
        proposal = serializers.IntegerField(help_text="A proposal of this frame's clip.")
        version = serializers.IntegerField(
            min_value=0, allow_null=True, help_text="The annotation version you see: null (or 0) when there is none."
        )
        instances = serializers.ListField(
            child=serializers.IntegerField(min_value=0),
            required=False,
            allow_null=True,
            help_text="Indexes of the proposal's instances on this frame to accept; omitted or null: all.",
        )

        class Meta:
            ref_name = "AnnotationAcceptProposalInput"

    @extend_schema(
        request=InputSerializer,
        responses={
            200: AnnotationOutputSerializer,
            201: AnnotationOutputSerializer,
            400: OpenApiResponse(description="Not a proposal of this clip, an unknown instance, nothing to accept."),
            409: OpenApiResponse(description="Stale version (as for PUT): `extra.current` is the stored annotation."),
        },
        summary="Add a proposal's instances on this frame to the frame's annotation (annotators).",
        description="Creates a draft when the frame has none. Instances already in the annotation are not "
        "added twice; the annotation records the proposal as its source_proposal.",
    )
    def post(self, request: Request, frame_id: int) -> Response:
        frame, role = frame_get_for_user(user=request.user, frame_id=frame_id, roles=[Role.ANNOTATOR])
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with conflicts_carry_current():
            annotation = annotation_accept_proposal(
                frame=frame,
                user=request.user,
                role=role,
                proposal_id=data["proposal"],
                version=data["version"],
                instance_indexes=data.get("instances"),
            )
        return annotation_response(annotation)


class ClipAcceptProposalsApi(APIView):
    class InputSerializer(serializers.Serializer):
        proposal = serializers.IntegerField(help_text="A proposal of this clip.")

        class Meta:
            ref_name = "ClipAcceptProposalsInput"

    class OutputSerializer(serializers.Serializer):
        created = serializers.IntegerField(help_text="Drafts created from the proposal.")
        skipped = serializers.IntegerField(help_text="Frames left alone: they already had an annotation.")
        skipped_frames = serializers.ListField(
            child=serializers.IntegerField(), help_text="Indexes of the frames left alone, in order."
        )

        class Meta:
            ref_name = "ClipAcceptProposals"

    @extend_schema(
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            400: OpenApiResponse(description="Not a proposal of this clip, or a proposal mask that does not fit."),
            409: OpenApiResponse(description="Frames kept being annotated concurrently; nothing was stored."),
        },
        summary="A draft from the proposal for every frame of the clip without an annotation (annotators).",
        description="One request whatever the clip's length: the drafts are written in bulk, all or nothing.",
    )
    def post(self, request: Request, clip_id: int) -> Response:
        clip = clip_get_for_user(user=request.user, clip_id=clip_id, roles=[Role.ANNOTATOR])
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        role = project_access(user=request.user, project_id=clip.project_id)
        counts = clip_accept_proposal(
            clip=clip, user=request.user, role=role, proposal_id=serializer.validated_data["proposal"]
        )
        return Response(self.OutputSerializer(counts).data)


class ProjectAnnotationListApi(APIView):
    pagination_class = DefaultPagination

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=Annotation.Status.choices, required=False)
        clip = serializers.IntegerField(required=False, help_text="Only this clip's annotations.")
        ordering = serializers.ChoiceField(
            choices=["updated_at", "-updated_at", "clip"],
            required=False,
            default="updated_at",
            help_text="updated_at: oldest change first (a review queue); clip: by clip, then frame.",
        )

        class Meta:
            ref_name = "ProjectAnnotationListFilter"

    class OutputSerializer(AnnotationOutputSerializer):
        clip_name = serializers.CharField(source="clip.name")
        clip_num_frames = serializers.IntegerField(help_text="Frames of the clip (frame_index is 0-based).")
        clip_fps = serializers.FloatField(
            source="clip.fps", allow_null=True, help_text="Frame k covers [k/fps, (k+1)/fps) seconds of the clip."
        )

        class Meta(AnnotationOutputSerializer.Meta):
            fields = [*AnnotationOutputSerializer.Meta.fields, "clip_name", "clip_num_frames", "clip_fps"]
            ref_name = "ProjectAnnotation"

    @extend_schema(
        parameters=[FilterSerializer],
        responses=OutputSerializer(many=True),
        summary="A project's annotations, e.g. ?status=submitted for reviewers (members).",
    )
    def get(self, request: Request, project_id: int) -> Response:
        project_access(user=request.user, project_id=project_id)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return get_paginated_response(
            pagination_class=self.pagination_class,
            serializer_class=self.OutputSerializer,
            queryset=annotation_list_for_project(project_id=project_id, filters=filters.validated_data),
            request=request,
            view=self,
            count=annotation_count_for_project(project_id=project_id, filters=filters.validated_data),
        )


# --- interactive SAM ------------------------------------------------------------------------------


class FrameSamClickApi(APIView):
    throttle_classes = [SamClickThrottle]

    class InputSerializer(serializers.Serializer):
        class PointSerializer(serializers.Serializer):
            x = serializers.FloatField(help_text="Pixels from the frame's left edge.")
            y = serializers.FloatField(help_text="Pixels from the frame's top edge.")
            positive = serializers.BooleanField(default=True, help_text="true: on the object; false: background.")

            class Meta:
                ref_name = "SamPoint"

        points = PointSerializer(many=True, required=False, default=list, max_length=SAM_MAX_POINTS)
        box = serializers.ListField(
            child=serializers.FloatField(),
            min_length=4,
            max_length=4,
            required=False,
            allow_null=True,
            default=None,
            help_text="[x0, y0, x1, y1] in pixels of the frame, or null.",
        )

        class Meta:
            ref_name = "SamClickInput"

    class OutputSerializer(serializers.Serializer):
        mask = RleSerializer(help_text="The mask SAM selects, of the frame's size.")
        score = serializers.FloatField(help_text="SAM's predicted IoU of the mask.")
        cached = serializers.BooleanField(help_text="The frame's image embedding was reused (no image encoder run).")

        class Meta:
            ref_name = "SamClick"

    @extend_schema(
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            400: OpenApiResponse(description="No point and no box, or a point or box outside the frame."),
            429: OpenApiResponse(description="More clicks than AVS_SAM_CLICK_RATE for this user (Retry-After)."),
            503: OpenApiResponse(
                description="No SAM configured (AVS_MODEL_CONFIG) or it failed to load; or every SAM slot of the "
                "server is busy (AVS_SAM_MAX_CONCURRENT; Retry-After)."
            ),
        },
        summary="SAM's mask for clicks (and/or a box) on a frame (annotators).",
        description="The frame is embedded on its first click, then kept in an in-memory cache: later clicks "
        "on it answer in a fraction of the time (`cached: true`). Clicks are limited per user "
        "(AVS_SAM_CLICK_RATE) and per server process (AVS_SAM_MAX_CONCURRENT at once).",
    )
    def post(self, request: Request, frame_id: int) -> Response:
        frame, _ = frame_get_for_user(user=request.user, frame_id=frame_id, roles=[Role.ANNOTATOR])
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with sam_slot():
            result = frame_sam_predict(frame=frame, **serializer.validated_data)
        return Response(self.OutputSerializer(result).data)

    def throttled(self, request: Request, wait: float | None) -> None:
        raise sam_click_throttled(wait)


class AnnotationRevisionListApi(APIView):
    pagination_class = DefaultPagination

    class OutputSerializer(serializers.ModelSerializer):
        instances = AnnotationInstancesField()
        author = UserSummarySerializer(allow_null=True)

        class Meta:
            model = AnnotationRevision
            fields = ["id", "version", "instances", "status", "author", "created_at"]
            ref_name = "AnnotationRevision"

    @extend_schema(responses=OutputSerializer(many=True), summary="An annotation's history, oldest first (members).")
    def get(self, request: Request, annotation_id: int) -> Response:
        annotation = annotation_get_for_user(user=request.user, annotation_id=annotation_id)
        return get_paginated_response(
            pagination_class=self.pagination_class,
            serializer_class=self.OutputSerializer,
            queryset=annotation_revision_list(annotation_id=annotation.pk),
            request=request,
            view=self,
        )


# --- reviews --------------------------------------------------------------------------------------


class ReviewListApi(APIView):
    pagination_class = DefaultPagination

    @extend_schema(responses=ReviewOutputSerializer(many=True), summary="An annotation's reviews, newest first.")
    def get(self, request: Request, annotation_id: int) -> Response:
        annotation = annotation_get_for_user(user=request.user, annotation_id=annotation_id)
        return get_paginated_response(
            pagination_class=self.pagination_class,
            serializer_class=ReviewOutputSerializer,
            queryset=review_list(annotation_id=annotation.pk),
            request=request,
            view=self,
        )


class ReviewCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        verdict = serializers.ChoiceField(choices=Review.Verdict.choices)
        comment = serializers.CharField(
            required=False, allow_blank=True, default="", help_text="Required when rejecting."
        )
        annotation_version = serializers.IntegerField(min_value=1, help_text="The version you reviewed.")

        class Meta:
            ref_name = "ReviewCreateInput"

    @extend_schema(
        request=InputSerializer,
        responses={
            201: ReviewOutputSerializer,
            400: OpenApiResponse(description="Not submitted, or a rejection without a comment."),
            409: OpenApiResponse(description="The annotation changed since annotation_version."),
        },
        summary="Accept or reject a submitted annotation (reviewers).",
    )
    def post(self, request: Request, annotation_id: int) -> Response:
        annotation = annotation_get_for_user(user=request.user, annotation_id=annotation_id, roles=[Role.REVIEWER])
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        review = review_create(annotation_id=annotation.pk, reviewer=request.user, **serializer.validated_data)
        return Response(ReviewOutputSerializer(review).data, status=status.HTTP_201_CREATED)


# --- mask propagation -----------------------------------------------------------------------------


class PropagationInstanceSerializer(serializers.Serializer):
    track = serializers.IntegerField(help_text="Which prompt (its index in the propagation's instances).")
    mask = RleSerializer(help_text="The tracked mask, of the frame's size (empty when the tracker lost the object).")
    label = serializers.CharField()
    area = serializers.IntegerField(help_text="Pixels of the mask.")
    confidence = serializers.FloatField(
        help_text="The tracker's mean foreground probability inside the mask, in [0, 1] (1.0 on the source frame, "
        "0.0 for an empty mask)."
    )
    score = serializers.FloatField(help_text="= confidence (the key proposal instances have).")
    sounding = serializers.BooleanField(
        help_text="The frame's audio window supports the label (a kept audio tag meets it in the audio-visual tree); "
        "false: the object is visible but silent here, background in AVS ground truth (not accepted by default)."
    )
    low_confidence = serializers.BooleanField(help_text="confidence is below the tracker's min_confidence setting.")
    provenance = serializers.JSONField(
        help_text='{"rms", "audio_tags": [[tag, score], ...], "supported_by": [tag, ...], "reason": str | null '
        '(why it is not sounding), "tracker", "object_score"}'
    )

    class Meta:
        ref_name = "PropagationInstance"


class PropagationFrameSerializer(serializers.Serializer):
    frame_index = serializers.IntegerField()
    timestamp = serializers.FloatField(help_text="Seconds of the frame's picture in the clip.")
    silent = serializers.BooleanField(help_text="No instance sounds in this frame's window.")
    low_confidence = serializers.BooleanField(help_text="Some instance's tracking confidence is low: worth a look.")
    provenance = serializers.JSONField(
        help_text='What was heard in the window: {"rms", "silent", "audio_tags": [[tag, score], ...], "reason"?}.'
    )
    instances = PropagationInstanceSerializer(many=True)

    class Meta:
        ref_name = "PropagationFrame"


class PropagationPromptSerializer(serializers.Serializer):
    track = serializers.IntegerField()
    label = serializers.CharField()
    mask = RleSerializer()

    class Meta:
        ref_name = "PropagationPrompt"


class PropagationOutputSerializer(serializers.ModelSerializer):
    kind = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField(help_text="The job's status: queued, running, succeeded or failed.")
    progress = serializers.SerializerMethodField(help_text="0 to 1.")
    message = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField(help_text="Why it failed (empty unless failed).")
    job = serializers.SerializerMethodField()
    instances = serializers.SerializerMethodField(help_text="The prompts, one track each.")
    frames = serializers.SerializerMethodField(
        help_text="One entry per frame of the range, in tracking order, the source frame first; filled while the job "
        "runs."
    )
    created_by = UserSummarySerializer(allow_null=True)

    class Meta:
        model = Propagation
        fields = [
            "id",
            "kind",
            "clip",
            "source_frame_index",
            "direction",
            "start_frame_index",
            "end_frame_index",
            "tracker",
            "status",
            "progress",
            "message",
            "error",
            "job",
            "instances",
            "frames",
            "created_by",
            "created_at",
        ]
        ref_name = "Propagation"

    @extend_schema_field(serializers.ChoiceField(choices=["propagation"]))
    def get_kind(self, propagation: Propagation) -> str:
        return "propagation"

    @extend_schema_field(serializers.ChoiceField(choices=Job.Status.choices))
    def get_status(self, propagation: Propagation) -> str:
        return propagation.job.status if propagation.job is not None else Job.Status.FAILED

    @extend_schema_field(serializers.FloatField())
    def get_progress(self, propagation: Propagation) -> float:
        return propagation.job.progress / 100 if propagation.job is not None else 0.0

    @extend_schema_field(serializers.CharField())
    def get_message(self, propagation: Propagation) -> str:
        return propagation.job.message if propagation.job is not None else "Its job record was deleted."

    @extend_schema_field(serializers.CharField())
    def get_error(self, propagation: Propagation) -> str:
        return propagation.job.error if propagation.job is not None else "Its job record was deleted."

    @extend_schema_field(JobOutputSerializer(allow_null=True))
    def get_job(self, propagation: Propagation) -> dict[str, Any] | None:
        if propagation.job is None:
            return None
        return JobOutputSerializer(propagation.job, context=self.context).data

    @extend_schema_field(PropagationPromptSerializer(many=True))
    def get_instances(self, propagation: Propagation) -> list[dict[str, Any]]:
        return propagation.instances

    @extend_schema_field(PropagationFrameSerializer(many=True))
    def get_frames(self, propagation: Propagation) -> list[dict[str, Any]]:
        return propagation.frames


class PropagationListApi(APIView):
    pagination_class = DefaultPagination

    @extend_schema(
        responses=PropagationOutputSerializer(many=True), summary="A clip's mask propagations, newest first (members)."
    )
    def get(self, request: Request, clip_id: int) -> Response:
        clip = clip_get_for_user(user=request.user, clip_id=clip_id)
        return get_paginated_response(
            pagination_class=self.pagination_class,
            serializer_class=PropagationOutputSerializer,
            queryset=propagation_list(clip_id=clip.pk),
            request=request,
            view=self,
        )


class PropagationCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        frame_index = serializers.IntegerField(min_value=0, help_text="The frame the masks are on (0-based).")
        instances = AnnotationInstancesField(
            help_text="1 to 20 objects to track: [{mask: COCO RLE of the frame's size, label: str}]."
        )
        direction = serializers.ChoiceField(choices=Propagation.Direction.choices)
        end_frame_index = serializers.IntegerField(
            min_value=0,
            required=False,
            allow_null=True,
            default=None,
            help_text="The last frame to track to (inclusive); null or omitted: to the clip's end (forward) or start "
            "(backward), at most AVS_PROPAGATION_MAX_FRAMES frames.",
        )

        class Meta:
            ref_name = "PropagationCreateInput"

    @extend_schema(
        request=InputSerializer,
        responses={
            202: PropagationOutputSerializer,
            400: OpenApiResponse(
                description="Bad instances (mask not of the frame's size, empty, more than 20), a frame the clip does "
                "not have, an end on the wrong side of the frame or too far, a clip not ready."
            ),
            503: OpenApiResponse(
                description="No tracker configured: the project's model_config / AVS_MODEL_CONFIG names no "
                "models.tracker, or its folder is missing."
            ),
        },
        summary="Propagate masks of a frame through the clip with the video tracker (annotators).",
        description="Queues a job on the inference workers and answers at once with the propagation (status queued); "
        "follow it at /api/propagations/{id}/. Each propagated mask says whether its object sounds in that frame's "
        "audio window (`sounding`) and how sure the tracker is (`low_confidence`).",
    )
    def post(self, request: Request, clip_id: int) -> Response:
        clip = clip_get_for_user(user=request.user, clip_id=clip_id, roles=[Role.ANNOTATOR])
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        propagation = propagation_request(
            clip=clip,
            user=request.user,
            frame_index=data["frame_index"],
            instances=data["instances"],
            direction=data["direction"],
            end_frame_index=data["end_frame_index"],
        )
        propagation = propagation_get_for_user(user=request.user, propagation_id=propagation.pk)
        return Response(
            PropagationOutputSerializer(propagation, context={"request": request}).data,
            status=status.HTTP_202_ACCEPTED,
        )


class PropagationDetailApi(APIView):
    @extend_schema(responses=PropagationOutputSerializer, summary="One mask propagation, with its frames (members).")
    def get(self, request: Request, propagation_id: int) -> Response:
        propagation = propagation_get_for_user(user=request.user, propagation_id=propagation_id)
        return Response(PropagationOutputSerializer(propagation, context={"request": request}).data)


class PropagationAcceptApi(APIView):
    class InputSerializer(serializers.Serializer):
        frame_indexes = serializers.ListField(
            child=serializers.IntegerField(min_value=0),
            required=False,
            allow_null=True,
            default=None,
            help_text="Frames of the range to accept; null or omitted: every frame but the source.",
        )
        include_silent = serializers.BooleanField(
            default=False, help_text="Accept instances that do not sound in their frame's window too."
        )
        base_versions = serializers.DictField(
            child=serializers.IntegerField(min_value=0, allow_null=True),
            required=False,
            default=dict,
            help_text='{"<frame index>": the annotation version you have, null when the frame has none}; a frame '
            "left out counts as null.",
        )

        class Meta:
            ref_name = "PropagationAcceptInput"

    class OutputSerializer(serializers.Serializer):
        class AcceptedSerializer(serializers.Serializer):
            frame_index = serializers.IntegerField()
            annotation = AnnotationOutputSerializer()

            class Meta:
                ref_name = "PropagationAccepted"

        class SkippedSerializer(serializers.Serializer):
            frame_index = serializers.IntegerField()
            reason = serializers.ChoiceField(
                choices=["silent", "no instances"],
                help_text="silent: every instance is silent in the window (include_silent accepts them); no "
                "instances: the tracker lost every object there.",
            )

            class Meta:
                ref_name = "PropagationSkipped"

        accepted = AcceptedSerializer(many=True)
        skipped = SkippedSerializer(many=True)

        class Meta:
            ref_name = "PropagationAcceptResult"

    @extend_schema(
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            400: OpenApiResponse(description="A frame outside the propagation's range."),
            409: OpenApiResponse(
                description="Nothing stored: some frame's annotation is not at the version base_versions says "
                "(`extra.stale_frames`, `extra.current_versions`), is accepted and locked for annotators "
                "(`extra.locked_frames`), or the propagation has not succeeded."
            ),
        },
        summary="Accept a propagation's masks into the frames' annotations, all or nothing (annotators).",
        description="Per frame, the propagated instances replace those the frame's annotation got from the same track "
        "of this propagation (instance key `track_of`), else are appended; a frame without an annotation gets a "
        "draft. Instances that do not sound in their window are left out unless include_silent.",
    )
    def post(self, request: Request, propagation_id: int) -> Response:
        propagation = propagation_get_for_user(user=request.user, propagation_id=propagation_id, roles=[Role.ANNOTATOR])
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        role = project_access(user=request.user, project_id=propagation.clip.project_id)
        result = propagation_accept(propagation=propagation, user=request.user, role=role, **serializer.validated_data)
        written = annotation_list_by_ids(annotation_ids=[a["annotation"].pk for a in result["accepted"]])
        data = {
            "accepted": [
                {"frame_index": a["frame_index"], "annotation": written[a["annotation"].pk]} for a in result["accepted"]
            ],
            "skipped": result["skipped"],
        }
        return Response(self.OutputSerializer(data).data)
