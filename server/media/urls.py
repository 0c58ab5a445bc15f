from django.urls import path

from server.core.routing import method_route
from server.media import tus, views

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
    # Resumable uploads (tus 1.0.0): OPTIONS and HEAD are answered by the first view given (see server.media.tus).
    path("uploads/", tus.UploadCreateApi.as_view(), name="uploads"),
    path(
        "uploads/<uuid:upload_id>/",
        method_route(get=tus.UploadDetailApi, patch=tus.UploadAppendApi, delete=tus.UploadTerminateApi),
        name="upload-detail",
    ),
]
