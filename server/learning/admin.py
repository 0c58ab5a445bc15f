from django.contrib import admin

from server.learning.models import AcquisitionScore, ModelVersion


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
    list_display = ["id", "clip", "model_version", "score", "created_at"]
    raw_id_fields = ["clip", "model_version"]
