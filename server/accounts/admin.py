from django.contrib import admin

from server.accounts.models import Membership


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "user", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "project__name"]
    raw_id_fields = ["project", "user"]
