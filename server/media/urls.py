from django.urls import path

from server.core.routing import method_route
from server.media import views

urlpatterns = [
    path(
        "projects/<int:project_id>/clips/",
        method_route(get=views.ClipListApi, post=views.ClipUploadApi),
        name="project-clips",
    ),
    path(
        "clips/<int:clip_id>/",
        method_route(get=views.ClipDetailApi, delete=views.ClipDeleteApi),
        name="clip-detail",
    ),
    path("clips/<int:clip_id>/ingest/", views.ClipIngestRetryApi.as_view(), name="clip-ingest"),
    path("clips/<int:clip_id>/audio/", views.ClipAudioApi.as_view(), name="clip-audio"),
    path("clips/<int:clip_id>/source/", views.ClipSourceApi.as_view(), name="clip-source"),
    path("frames/<int:frame_id>/image/", views.FrameImageApi.as_view(), name="frame-image"),
]
