from django.contrib import admin

from server.media.models import AudioTrack, Clip, Frame, Label, Project


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "fps", "frame_max_side", "audio_sample_rate", "created_at"]
    search_fields = ["name"]
    raw_id_fields = ["created_by"]


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "name", "color"]
    search_fields = ["name"]
    raw_id_fields = ["project"]


@admin.register(Clip)
class ClipAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "name", "status", "duration", "fps", "width", "height", "rotation", "has_audio"]
    list_filter = ["status", "has_audio"]
    search_fields = ["name", "checksum"]
    raw_id_fields = ["project", "created_by"]


@admin.register(Frame)
class FrameAdmin(admin.ModelAdmin):
    list_display = ["id", "clip", "index", "timestamp", "width", "height"]
    raw_id_fields = ["clip"]


@admin.register(AudioTrack)
class AudioTrackAdmin(admin.ModelAdmin):
    list_display = ["id", "clip", "sample_rate", "duration", "num_samples"]
    raw_id_fields = ["clip"]
