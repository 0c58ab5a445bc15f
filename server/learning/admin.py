from django.contrib import admin

from server.learning.models import AcquisitionScore, LearningSettings, ModelVersion, ProposerChange, TrainingRound


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    """Versions are registered through `model_version_get_or_create`, which computes the config hash."""

    list_display = ["id", "project", "kind", "name", "config_hash", "created_at"]
    list_filter = ["kind"]
    search_fields = ["name", "config_hash"]
    raw_id_fields = ["project"]
    readonly_fields = ["config", "config_hash"]

    def has_add_permission(self, request):
        return False


@admin.register(AcquisitionScore)
class AcquisitionScoreAdmin(admin.ModelAdmin):
    list_display = ["id", "clip", "model_version", "score", "strategy", "top_term", "created_at"]
    list_filter = ["strategy"]
    raw_id_fields = ["clip", "model_version", "compared_with"]


@admin.register(LearningSettings)
class LearningSettingsAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "heldout_fraction", "split_seed", "student_kind", "auto_round_after", "proposer"]
    raw_id_fields = ["project", "proposer"]


@admin.register(TrainingRound)
class TrainingRoundAdmin(admin.ModelAdmin):
    """Rounds are started through `training_round_start` (API, `manage.py train`, the automatic trigger)."""

    list_display = ["id", "project", "status", "student_kind", "promoted", "model_version", "created_at"]
    list_filter = ["status", "student_kind", "promoted"]
    raw_id_fields = ["project", "base_proposer", "model_version", "job", "created_by"]
    readonly_fields = ["plan", "metrics", "curve"]

    def has_add_permission(self, request):
        return False


@admin.register(ProposerChange)
class ProposerChangeAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "action", "model_version", "previous", "training_round", "created_at"]
    raw_id_fields = ["project", "model_version", "previous", "training_round", "changed_by"]
