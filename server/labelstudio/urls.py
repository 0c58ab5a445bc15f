"""Routes Label Studio calls, mounted at /ls/ (outside /api/): the ML backend's (`backend`), then the signed media
URLs of pushed tasks."""

from django.urls import path

from server.labelstudio import backend, media

urlpatterns = [
    path("health", backend.health_view, name="ls-health"),
    path("setup", backend.setup_view, name="ls-setup"),
    path("predict", backend.predict_view, name="ls-predict"),
    path("webhook", backend.webhook_view, name="ls-webhook"),
    path("train", backend.train_view, name="ls-train"),
    path("metrics", backend.metrics_view, name="ls-metrics"),
    path("versions", backend.versions_view, name="ls-versions"),
    # Signed, expiring media of pushed tasks (the token is the credential; server.labelstudio.media).
    path("media/frame/<str:token>", media.frame_media_view, name="ls-media-frame"),
    path("media/audio/<str:token>", media.audio_media_view, name="ls-media-audio"),
]
