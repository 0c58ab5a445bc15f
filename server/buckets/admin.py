from django.contrib import admin

from server.buckets.models import BucketObject


@admin.register(BucketObject)
class BucketObjectAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "bucket", "key", "outcome", "clip", "created_at"]
    search_fields = ["key"]
    list_filter = ["outcome"]
    raw_id_fields = ["project", "clip"]
