from django.contrib import admin

from server.annotations.models import Annotation, AnnotationRevision, Propagation, Proposal, Review


@admin.register(Proposal)
class ProposalAdmin(admin.ModelAdmin):
    list_display = ["id", "clip", "model_version", "created_at"]
    raw_id_fields = ["clip", "model_version"]


@admin.register(Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    """Read the work here; edit it through the API, which checks versions and keeps revisions."""

    list_display = ["id", "clip", "frame", "status", "version", "author", "time_spent", "updated_at"]
    list_filter = ["status", "external_source"]
    raw_id_fields = ["clip", "frame", "author", "source_proposal"]
    readonly_fields = ["version"]


@admin.register(AnnotationRevision)
class AnnotationRevisionAdmin(admin.ModelAdmin):
    list_display = ["id", "annotation", "version", "status", "author", "created_at"]
    raw_id_fields = ["annotation", "author"]


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ["id", "annotation", "annotation_version", "verdict", "reviewer", "created_at"]
    list_filter = ["verdict"]
    raw_id_fields = ["annotation", "reviewer"]


@admin.register(Propagation)
class PropagationAdmin(admin.ModelAdmin):
    list_display = ["id", "clip", "source_frame_index", "direction", "start_frame_index", "end_frame_index", "job"]
    list_filter = ["direction"]
    raw_id_fields = ["clip", "created_by", "job"]
