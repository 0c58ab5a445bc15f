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
    path("model-versions/<int:model_version_id>/", views.ModelVersionDetailApi.as_view(), name="model-version-detail"),
]
