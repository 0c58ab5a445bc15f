from django.contrib import admin

from server.jobs.models import Job, TaskDelivery


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "kind", "status", "progress", "message", "created_at", "finished_at"]
    list_filter = ["kind", "status"]
    raw_id_fields = ["project", "created_by"]


@admin.register(TaskDelivery)
class TaskDeliveryAdmin(admin.ModelAdmin):
    """How often each task item was delivered, and how many deliveries in a row died (`server.jobs.deliveries`)."""

    list_display = ["task", "job", "item", "unfinished", "total", "updated_at"]
    list_filter = ["task"]
    raw_id_fields = ["job"]
    readonly_fields = ["task", "job", "item", "unfinished", "total", "created_at", "updated_at"]
