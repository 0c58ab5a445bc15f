"""The Label Studio connection's API routes, under /api/ (`server.labelstudio.views`)."""

from django.urls import path

from server.core.routing import method_route
from server.labelstudio import views

urlpatterns = [
    path(
        "projects/<int:project_id>/labelstudio/",
        method_route(get=views.ConnectionDetailApi, put=views.ConnectionUpdateApi),
        name="project-labelstudio",
    ),
    path(
        "projects/<int:project_id>/labelstudio/push/",
        views.ConnectionPushApi.as_view(),
        name="project-labelstudio-push",
    ),
    path(
        "projects/<int:project_id>/labelstudio/pull/",
        views.ConnectionPullApi.as_view(),
        name="project-labelstudio-pull",
    ),
]
