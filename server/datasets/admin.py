from django.contrib import admin

from server.datasets.models import DatasetClip, EvaluationReport, Export


@admin.register(DatasetClip)
class DatasetClipAdmin(admin.ModelAdmin):
    list_display = ["id", "clip", "protocol", "split", "vid", "category", "subset"]
    list_filter = ["protocol", "split"]
    search_fields = ["vid"]
    raw_id_fields = ["clip"]


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "format", "protocol", "include_submitted", "size_bytes", "created_at"]
    list_filter = ["format"]
    raw_id_fields = ["project", "job", "created_by"]


@admin.register(EvaluationReport)
class EvaluationReportAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "model_version", "split", "created_at"]
    raw_id_fields = ["project", "model_version", "job", "created_by"]
