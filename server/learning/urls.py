from django.urls import path

from server.core.routing import method_route
from server.learning import views

urlpatterns = [
    path(
        "projects/<int:project_id>/model-versions/",
        method_route(get=views.ModelVersionListApi, post=views.ModelVersionCreateApi),
        name="project-model-versions",
    ),
    path("projects/<int:project_id>/review-queue/", views.ReviewQueueListApi.as_view(), name="project-review-queue"),
    path("projects/<int:project_id>/queue/batch/", views.ReviewBatchSelectApi.as_view(), name="project-queue-batch"),
    path(
        "projects/<int:project_id>/acquisition-strategy/",
        method_route(get=views.AcquisitionStrategyDetailApi, put=views.AcquisitionStrategyUpdateApi),
        name="project-acquisition-strategy",
    ),
    path("model-versions/<int:model_version_id>/", views.ModelVersionDetailApi.as_view(), name="model-version-detail"),
    path(
        "model-versions/<int:model_version_id>/promote/",
        views.ModelVersionPromoteApi.as_view(),
        name="model-version-promote",
    ),
    path(
        "projects/<int:project_id>/training-rounds/",
        method_route(get=views.TrainingRoundListApi, post=views.TrainingRoundCreateApi),
        name="project-training-rounds",
    ),
    path("training-rounds/<int:round_id>/", views.TrainingRoundDetailApi.as_view(), name="training-round-detail"),
    path(
        "training-rounds/<int:round_id>/cancel/", views.TrainingRoundCancelApi.as_view(), name="training-round-cancel"
    ),
    path(
        "projects/<int:project_id>/learning-settings/",
        method_route(get=views.LearningSettingsDetailApi, patch=views.LearningSettingsUpdateApi),
        name="project-learning-settings",
    ),
    path("projects/<int:project_id>/model-configs/", views.ModelConfigListApi.as_view(), name="project-model-configs"),
    path(
        "projects/<int:project_id>/model-configs/preview/",
        views.ModelConfigPreviewApi.as_view(),
        name="project-model-config-preview",
    ),
    path("projects/<int:project_id>/model-config/", views.ModelConfigChooseApi.as_view(), name="project-model-config"),
    path(
        "projects/<int:project_id>/proposer/rollback/",
        views.ProposerRollbackApi.as_view(),
        name="project-proposer-rollback",
    ),
]
