from django.contrib import admin

from server.learning.models import ModelVersion


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
